/*
 * inspect.c: cerebro-ds inspect: what a table looks like to the decoder, without decoding.
 */
#include "admin.h"

static const char *kind_name(cd_kind k)
{
    switch (k) {
    case CD_KIND_SCALAR:
        return "scalar";
    case CD_KIND_NUMERIC:
        return "numeric";
    case CD_KIND_VARLENA:
        return "bytes";
    case CD_KIND_ARRAY:
        return "array";
    default:
        return "unsupported";
    }
}

static void print_columns(const cd_table *t, FILE *out)
{
    fprintf(out, "columns:\n");
    for (int k = 0; k < t->ncols; k++) {
        const cd_attr *a = &t->cols[k];
        fprintf(out, "  %-24s %-20s %-8s %s\n", a->name, a->typname, kind_name(a->kind),
                a->dtype[0] ? a->dtype : "bin+offsets");
    }
    for (int k = 0; k < t->nskipped; k++)
        fprintf(out, "  %-24s %-20s skipped (unsupported type)\n", t->skipped[k].name,
                t->skipped[k].typname);
}

static cd_code print_shards(cd_pin *p, const cd_table *t, FILE *out, cd_err *err)
{
    fprintf(out, "shards: %d\n", t->nshards);
    int64_t total = 0;
    for (int i = 0; i < t->nshards; i++) {
        const cd_shard *s = &t->shards[i];
        int64_t n;
        cd_code rc = cd_shard_count(p, s, &n, err);
        if (rc != CD_OK)
            return rc;
        total += n;
        fprintf(out, "  %s: relation %s, file %s (%d segment%s, %u blocks), blocks %u-%u, ",
                s->name, s->relsql, s->relpath, s->rel.nseg, s->rel.nseg == 1 ? "" : "s",
                s->rel.nblocks, s->blk_start, s->blk_end);
        if (s->toastoid != 0)
            fprintf(out, "toast %s (%u blocks), ", s->toastpath, s->toastrel.nblocks);
        fprintf(out, "rows %lld\n", (long long)n);
    }
    fprintf(out, "rows: %lld\n", (long long)total);
    return CD_OK;
}

cd_code cd_cmd_inspect(const cd_admin_opts *o, const char *table, FILE *out, cd_err *err)
{
    cd_pin *p;
    cd_table *t;
    cd_code rc = cd_pin_table(&o->pin, table, &p, &t, err);
    if (rc == CD_OK) {
        fprintf(out, "table: %s (oid %u, %s)\n", t->qualname, t->oid,
                t->relkind == 'p' ? "partitioned" : "heap");
        fprintf(out, "database: %s\ndata directory: %s\n", p->dbname, p->datadir);
        fprintf(out, "block size: %u\nblocks per segment: %u\ntoast chunk: %u\n", p->blcksz,
                p->blocks_per_seg, p->toast_chunk);
        fprintf(out, "data checksums: %s\nsnapshot: %s\n", p->checksums ? "on" : "off",
                p->snaptext);
        print_columns(t, out);
        rc = print_shards(p, t, out, err);
    }
    cd_table_free(&t);
    cd_pin_close(&p);
    return rc;
}
