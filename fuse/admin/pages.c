/*
 * pages.c: cerebro-ds pages: page-level facts of every block of a table's shards, as the
 * decoder sees them: header fields, line pointers, tuple xmin/xmax/infomask and whether the
 * tuple is visible to the pinned snapshot. For debugging and for comparing with
 * pg_filedump; nothing is decoded beyond tuple headers.
 */
#include <stdlib.h>

#include "admin.h"
#include "page.h"
#include "pgdisk.h"

static const char *lp_name(unsigned flags)
{
    static const char *names[4] = {"UNUSED", "NORMAL", "REDIRECT", "DEAD"};
    return names[flags & 3];
}

static cd_code print_items(cd_pin *p, const uint8_t *page, FILE *out, cd_err *err)
{
    unsigned n = cd_page_nitems(page);
    for (unsigned i = 1; i <= n; i++) {
        uint32_t w = cd_rd32(page + PGD_PAGE_HEADER_SIZE + (i - 1) * PGD_ITEMID_SIZE);
        unsigned flags;
        const uint8_t *tup;
        uint32_t len;
        cd_code rc = cd_page_item(page, p->blcksz, i, &flags, &tup, &len, err);
        if (rc != CD_OK)
            return cd_context(err, "item %u", i);
        fprintf(out, "  item %u offset %u length %u flags %s", i, w & 0x7FFF, w >> 17,
                lp_name(flags));
        if (flags == PGD_LP_NORMAL) {
            int visible = 0;
            rc = cd_tuple_visible(p->xact, &p->snap, tup, len, cd_page_all_visible(page), &visible,
                                  err);
            if (rc != CD_OK)
                return cd_context(err, "item %u", i);
            fprintf(out, " xmin %u xmax %u infomask 0x%04x natts %u hoff %u visible %s",
                    cd_rd32(tup + PGD_TUP_OFF_XMIN), cd_rd32(tup + PGD_TUP_OFF_XMAX),
                    cd_rd16(tup + PGD_TUP_OFF_INFOMASK),
                    cd_rd16(tup + PGD_TUP_OFF_INFOMASK2) & PGD_HEAP_NATTS_MASK,
                    tup[PGD_TUP_OFF_HOFF], visible ? "yes" : "no");
        }
        fputc('\n', out);
    }
    return CD_OK;
}

static cd_code print_shard(cd_pin *p, const cd_shard *s, FILE *out, cd_err *err)
{
    uint8_t *page = malloc(p->blcksz);
    if (page == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    cd_code rc = CD_OK;
    fprintf(out, "shard %s file %s blocks %u-%u\n", s->name, s->relpath, s->blk_start, s->blk_end);
    for (uint32_t b = s->blk_start; b < s->blk_end && rc == CD_OK; b++) {
        rc = cd_relfile_read(&s->rel, b, page, err);
        if (rc != CD_OK)
            break;
        fprintf(out,
                "block %u lower %u upper %u special %u flags 0x%04x checksum 0x%04x items %u\n", b,
                cd_rd16(page + PGD_OFF_LOWER), cd_rd16(page + PGD_OFF_UPPER),
                cd_rd16(page + PGD_OFF_SPECIAL), cd_rd16(page + PGD_OFF_FLAGS),
                cd_rd16(page + PGD_OFF_CHECKSUM), cd_page_nitems(page));
        rc = print_items(p, page, out, err);
        if (rc != CD_OK)
            cd_context(err, "relation file \"%s\", block %u", s->relpath, b);
    }
    free(page);
    return rc;
}

cd_code cd_cmd_pages(const cd_admin_opts *o, const char *table, FILE *out, cd_err *err)
{
    cd_pin *p;
    cd_table *t;
    cd_code rc = cd_pin_table(&o->pin, table, &p, &t, err);
    for (int i = 0; rc == CD_OK && i < t->nshards; i++)
        rc = print_shard(p, &t->shards[i], out, err);
    cd_table_free(&t);
    cd_pin_close(&p);
    return rc;
}
