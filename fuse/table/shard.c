/*
 * shard.c: block scan with visibility, and decoding into columns (see shard.h).
 */
#include "shard.h"

#include <stdlib.h>

#include "madlib.h"
#include "page.h"
#include "pgdisk.h"

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* Mix a visible tuple's block, item and xmin (the first 4 bytes of its header) into h. */
static uint64_t content_mix(uint64_t h, uint32_t blkno, uint16_t item, const uint8_t *tup)
{
    uint8_t key[10] = {(uint8_t)blkno,
                       (uint8_t)(blkno >> 8),
                       (uint8_t)(blkno >> 16),
                       (uint8_t)(blkno >> 24),
                       (uint8_t)item,
                       (uint8_t)(item >> 8),
                       tup[0],
                       tup[1],
                       tup[2],
                       tup[3]};
    for (size_t i = 0; i < sizeof key; i++)
        h = (h ^ key[i]) * FNV_PRIME;
    return h;
}

/* The datums of a scan and what deforms a tuple of all fixed-width attributes at once. */
typedef struct scan_buf {
    cd_datum *datums; /* [natts + 1] */
    int32_t *fixoff;  /* [natts + 1] cd_tuple_fixed_offsets */
    int32_t fixlen;   /* cd_tuple_fixed_len */
} scan_buf;

static cd_code scan_page(cd_pin *p, const cd_shard *s, const uint8_t *page, uint32_t blkno,
                         const scan_buf *sb, cd_tuple_fn fn, void *arg, uint64_t *content,
                         cd_err *err)
{
    cd_datum *datums = sb->datums;
    unsigned n = cd_page_nitems(page);
    int all_visible = cd_page_all_visible(page);
    for (unsigned i = 1; i <= n; i++) {
        unsigned flags;
        const uint8_t *tup;
        uint32_t len;
        int visible = 0;
        cd_code rc = cd_page_item(page, p->blcksz, i, &flags, &tup, &len, err);
        if (rc == CD_OK && flags == PGD_LP_NORMAL)
            rc = cd_tuple_visible(p->xact, &p->snap, tup, len, all_visible, &visible, err);
        if (rc == CD_OK && visible)
            rc = cd_tuple_deform_fixed(tup, len, s->attrs, s->natts, sb->fixoff, sb->fixlen, datums,
                                       err);
        if (rc == CD_OK && visible)
            rc = fn(arg, blkno, (uint16_t)i, tup, len, datums, err);
        if (rc == CD_OK && visible)
            *content = content_mix(*content, blkno, (uint16_t)i, tup);
        if (rc != CD_OK)
            return cd_context(err, "relation file \"%s\", block %u, item %u", s->relpath, blkno, i);
    }
    return CD_OK;
}

#define SCAN_RUN 16 /* blocks read at once (one pread instead of 16) */

cd_code cd_shard_scan(cd_pin *p, const cd_shard *s, uint32_t blk_start, uint32_t blk_end,
                      cd_tuple_fn fn, void *arg, uint64_t *content, cd_err *err)
{
    uint64_t h = FNV_OFFSET;
    uint8_t *pages = malloc((size_t)SCAN_RUN * p->blcksz);
    scan_buf sb = {.datums = calloc((size_t)s->natts + 1, sizeof *sb.datums),
                   .fixoff = calloc((size_t)s->natts + 1, sizeof *sb.fixoff)};
    cd_code rc = CD_OK;
    if (pages == NULL || sb.datums == NULL || sb.fixoff == NULL)
        rc = cd_fail(err, CD_ENOMEM, "out of memory");
    if (rc == CD_OK) {
        cd_tuple_fixed_offsets(s->attrs, s->natts, sb.fixoff);
        sb.fixlen = cd_tuple_fixed_len(s->attrs, s->natts, sb.fixoff);
    }
    for (uint32_t b = blk_start; b < blk_end && rc == CD_OK;) {
        if (cd_interrupted) {
            rc = cd_fail(err, CD_EINTERRUPTED, "interrupted");
            break;
        }
        uint32_t n = blk_end - b < SCAN_RUN ? blk_end - b : SCAN_RUN;
        rc = cd_relfile_read_run(&s->rel, b, &n, pages, err);
        for (uint32_t i = 0; i < n && rc == CD_OK; i++)
            rc = scan_page(p, s, pages + (size_t)i * p->blcksz, b + i, &sb, fn, arg, &h, err);
        b += n;
    }
    if (content != NULL)
        *content = h;
    free(sb.fixoff);
    free(sb.datums);
    free(pages);
    return rc;
}

#define PROGRESS_BLOCKS 4096 /* blocks between progress calls */

typedef struct decode_state {
    const cd_table *t;
    const cd_shard *s;
    const cd_row_sink *sink;
    uint64_t nrows;
    uint64_t ntuples;
    uint32_t reported; /* block of the last progress call */
    cd_valctx ctx;
    /* MADlib-packed tables (madlib.h) only: */
    cd_valctx *ctxs;     /* [ncols]: each column's value stays valid while its rows go out */
    cd_value *vals;      /* [ncols] the tuple's values */
    cd_madlib_buf *bufs; /* [npairs] the tuple's buffers */
    int *elemsize;       /* [npairs] element size of each pair in this shard, 0 until known */
} decode_state;

static void progress(decode_state *st, uint32_t blkno)
{
    if (st->sink->progress != NULL && blkno - st->reported >= PROGRESS_BLOCKS) {
        st->reported = blkno;
        st->sink->progress(st->sink->arg, blkno - st->s->blk_start,
                           st->s->blk_end - st->s->blk_start);
    }
}

/* One output row of a packed tuple: row j of each packed column, the tuple's own value of
 * the others. */
static cd_code packed_row(decode_state *st, uint32_t blkno, uint16_t item, uint64_t j, cd_err *err)
{
    const cd_row_sink *sink = st->sink;
    cd_code rc = sink->row_start ? sink->row_start(sink->arg, blkno, item, err) : CD_OK;
    for (int k = 0; k < st->t->ncols && rc == CD_OK; k++) {
        int p = cd_madlib_pair_of(st->t, k);
        cd_value row;
        if (p >= 0)
            rc = cd_madlib_row(&st->vals[k], &st->bufs[p], j, &row, err);
        if (rc == CD_OK)
            rc = sink->value(sink->arg, k, p >= 0 ? &row : &st->vals[k], err);
    }
    if (rc == CD_OK)
        st->nrows++;
    return rc == CD_OK ? sink->row_done(sink->arg, blkno, item, err) : rc;
}

/* A tuple of a packed table: its buffers' rows, one output row each. */
static cd_code decode_packed(decode_state *st, uint32_t blkno, uint16_t item,
                             const cd_datum *datums, cd_err *err)
{
    uint64_t rows = 0;
    cd_code rc =
        cd_madlib_tuple(st->t, st->s, &st->ctx, datums, st->elemsize, st->bufs, &rows, err);
    for (int k = 0; k < st->t->ncols && rc == CD_OK; k++) {
        int ai = st->s->colmap[k];
        rc = cd_value_from_datum(&st->ctxs[k], &st->s->attrs[ai], &datums[ai], &st->vals[k], err);
    }
    for (uint64_t j = 0; j < rows && rc == CD_OK; j++)
        rc = packed_row(st, blkno, item, j, err);
    st->ntuples++;
    progress(st, blkno);
    return rc;
}

static cd_code decode_tuple(void *arg, uint32_t blkno, uint16_t item, const uint8_t *tup,
                            uint32_t len, const cd_datum *datums, cd_err *err)
{
    decode_state *st = arg;
    if (st->t->madlib != NULL)
        return decode_packed(st, blkno, item, datums, err);
    if (st->sink->row_start != NULL) {
        cd_code rc = st->sink->row_start(st->sink->arg, blkno, item, err);
        if (rc != CD_OK)
            return rc;
    }
    for (int k = 0; k < st->t->ncols; k++) {
        int ai = st->s->colmap[k];
        const cd_attr *a = &st->s->attrs[ai];
        cd_value v;
        cd_code rc = CD_OK;
        if (!cd_value_plain(a, &datums[ai], &v)) { /* a scalar needs no dest */
            cd_value_dest d;
            bool to = st->sink->dest != NULL && st->sink->dest(st->sink->arg, k, &d);
            rc = cd_value_into(&st->ctx, a, &datums[ai], to ? &d : NULL, &v, err);
        }
        if (rc == CD_OK)
            rc = st->sink->value(st->sink->arg, k, &v, err);
        if (rc != CD_OK)
            return rc;
    }
    st->nrows++;
    st->ntuples++;
    progress(st, blkno);
    return st->sink->row_done(st->sink->arg, blkno, item, err);
}

/* The per-column contexts and buffers of a packed table's decoding. */
static cd_code packed_state(decode_state *st, cd_err *err)
{
    size_t nc = (size_t)st->t->ncols + 1, np = (size_t)st->t->madlib->npairs;
    st->ctxs = calloc(nc, sizeof *st->ctxs);
    st->vals = calloc(nc, sizeof *st->vals);
    st->bufs = calloc(np, sizeof *st->bufs);
    st->elemsize = calloc(np, sizeof *st->elemsize);
    if (st->ctxs == NULL || st->vals == NULL || st->bufs == NULL || st->elemsize == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    for (int k = 0; k < st->t->ncols; k++)
        st->ctxs[k].toast = st->s->toast;
    return CD_OK;
}

static void packed_state_free(decode_state *st)
{
    for (int k = st->t->ncols - 1; st->ctxs != NULL && k >= 0; k--)
        cd_valctx_free(&st->ctxs[k]);
    free(st->elemsize);
    free(st->bufs);
    free(st->vals);
    free(st->ctxs);
}

cd_code cd_shard_decode_to(cd_pin *p, const cd_table *t, const cd_shard *s, const cd_row_sink *sink,
                           uint64_t *nrows, uint64_t *ntuples, uint64_t *content, cd_err *err)
{
    decode_state st = {
        .t = t, .s = s, .sink = sink, .reported = s->blk_start, .ctx = {.toast = s->toast}};
    cd_code rc = t->madlib != NULL ? packed_state(&st, err) : CD_OK;
    if (rc == CD_OK)
        rc = cd_shard_scan(p, s, s->blk_start, s->blk_end, decode_tuple, &st, content, err);
    packed_state_free(&st);
    cd_valctx_free(&st.ctx);
    *nrows = st.nrows;
    if (ntuples != NULL)
        *ntuples = st.ntuples;
    return rc;
}

cd_code cd_check_count(const cd_pin *p, const cd_shard *s, uint64_t decoded, int64_t want,
                       cd_err *err)
{
    if (want < 0 || (uint64_t)want == decoded)
        return CD_OK;
    cd_fail(err, CD_EMISMATCH, "shard %s: decoded %llu rows, the database counts %lld", s->name,
            (unsigned long long)decoded, (long long)want);
    cd_detail(err, "relation %s, file %s, snapshot %s", s->relsql, s->relpath, p->snaptext);
    return cd_hint(err, "this is a bug or an unsupported on-disk state; please report it");
}
