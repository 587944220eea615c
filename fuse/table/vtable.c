/*
 * vtable.c: a pinned table served as files (see vtable.h). The row index is built here;
 * the files' bytes come from vfile.c: headers and index-backed files from memory, column
 * data from chunks decoded on demand through the cache.
 */
#include "vtable_int.h"

#include <math.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fsname.h"
#include "madlib.h"
#include "meta.h"
#include "npy.h"

static atomic_uint_fast64_t next_file_id = 1;

void vt_fill_null_row(const cd_attr *a, uint8_t *dst, uint64_t bytes)
{
    size_t esz = cd_attr_elem_bytes(a);
    if (a->dtype[1] != 'f') {
        memset(dst, 0, bytes);
        return;
    }
    float f = NAN;
    double d = NAN;
    for (uint64_t k = 0; k + esz <= bytes; k += esz)
        memcpy(dst + k, esz == 4 ? (void *)&f : (void *)&d, esz);
}

/* ---- growable arrays for the index pass ---- */

static cd_code grow(void **p, size_t *cap, size_t n, size_t elem, cd_err *err)
{
    if (n < *cap)
        return CD_OK;
    size_t ncap = *cap ? *cap : 1024; /* n may be far past cap: a column's first NULL at row n */
    while (ncap <= n && ncap <= SIZE_MAX / 2 / elem)
        ncap *= 2;
    void *q = ncap > n ? realloc(*p, ncap * elem) : NULL;
    if (q == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory indexing the table");
    *p = q;
    *cap = ncap;
    return CD_OK;
}

/* ---- the visibility pass ---- */

/* A scalar column's rows from its next early chunk on (early_next), taken by the index pass
 * from the tuples it has deformed and written straight into that chunk in the cache (claimed
 * at its first row, kept when its rows are all there): no second read of its pages, no copy.
 * Off for good when a value does not decode as a row of the column, or no room is left for a
 * chunk (its chunks are then decoded as the other columns' are, and a read reports an
 * error). */
typedef struct capture {
    uint8_t *buf;        /* the claimed chunk's bytes, NULL between chunks */
    cd_cache_slot *slot; /* its claim */
    uint64_t claimed;    /* its bytes, taken from the plan's budget */
    bool off;
} capture;

typedef struct index_state {
    cd_vtable *v;
    int shard;
    const cd_table *t;
    const cd_shard *s;
    vshard *vs;
    uint64_t *early_next; /* [ncols] first row of each column not yet queued (vt_early) */
    uint64_t early_check; /* rows at which early_queue looks again */
    uint32_t est_blk;     /* block (from the shard's first) of the last estimate, early_queue */
    capture *caps;        /* [ncols] */
    uint32_t blkno;       /* block of the last tuple */
    uint32_t count_at;    /* block at which the row counts hear of the pass again */
    size_t *valid_cap;    /* [ncols] */
    size_t *off_cap;      /* [ncols] */
    cd_valctx ctx;
    /* MADlib-packed tables (madlib.h) only: */
    size_t first_cap;
    cd_value_shape *shapes; /* [ncols] one tuple's */
    cd_madlib_buf *bufs;    /* [npairs] one tuple's */
    int *elemsize;          /* [npairs] element size of each pair in this shard, 0 until known */
} index_state;

static cd_code note_shape(vcol *c, const cd_value_shape *sh, uint64_t row, bool array)
{
    if (sh->isnull) {
        c->nnull++;
        return CD_OK;
    }
    c->null_elems += sh->null_elems;
    if (!array)
        return CD_OK;
    if (!c->dims_known) {
        c->dims_known = true;
        c->ndim = sh->ndim;
        memcpy(c->dims, sh->dims, sizeof c->dims);
        c->rowbytes = sh->len;
    } else if (sh->ndim != c->ndim || memcmp(sh->dims, c->dims, sizeof(int) * (size_t)sh->ndim)) {
        c->ragged = true;
    }
    return CD_OK;
}

/* valid[row] (1: not NULL), kept from a column's first NULL on: the rows before it were not
 * NULL. A column without NULL costs nothing per row. */
static cd_code note_valid(index_state *st, int k, uint64_t row, bool isnull, cd_err *err)
{
    vcol *c = &st->vs->cols[k];
    if (c->valid == NULL && !isnull)
        return CD_OK;
    bool first = c->valid == NULL;
    cd_code rc = grow((void **)&c->valid, &st->valid_cap[k], row + 1, 1, err);
    if (rc != CD_OK)
        return rc;
    if (first)
        memset(c->valid, 1, row);
    c->valid[row] = !isnull;
    return CD_OK;
}

/* offsets[row + 1]: kept for variable-width columns only (text and bytea from the first
 * row, arrays from the row that makes them ragged: each row before it had rowbytes, or 0
 * when NULL). Fixed-width columns cost nothing per row. */
static cd_code note_offset(index_state *st, int k, uint64_t row, const cd_value_shape *sh,
                           cd_err *err)
{
    vcol *c = &st->vs->cols[k];
    if (st->t->cols[k].kind != CD_KIND_VARLENA && !c->ragged)
        return CD_OK;
    bool first = c->offsets == NULL;
    cd_code rc = grow((void **)&c->offsets, &st->off_cap[k], row + 2, sizeof *c->offsets, err);
    if (rc != CD_OK)
        return rc;
    if (first) {
        c->offsets[0] = 0;
        for (uint64_t i = 0; i < row; i++)
            c->offsets[i + 1] = c->offsets[i] + (c->valid && !c->valid[i] ? 0 : c->rowbytes);
    }
    c->offsets[row + 1] = c->offsets[row] + (sh->isnull ? 0 : sh->len);
    return CD_OK;
}

static cd_code index_value(index_state *st, int k, uint64_t row, const cd_value_shape *sh,
                           cd_err *err)
{
    vcol *c = &st->vs->cols[k];
    cd_code rc = note_shape(c, sh, row, st->t->cols[k].kind == CD_KIND_ARRAY);
    if (rc == CD_OK)
        rc = note_valid(st, k, row, sh->isnull, err);
    if (rc == CD_OK)
        rc = note_offset(st, k, row, sh, err);
    return rc;
}

/* ---- chunks decoded during the index pass ---- */

uint32_t vt_chunk_rows(uint64_t per_row)
{
    uint64_t rows = CD_VT_CHUNK_BYTES / (per_row ? per_row : 1);
    return rows < 1 ? 1 : rows > UINT32_MAX ? UINT32_MAX : (uint32_t)rows;
}

/* Bytes of a row of column k when its rows are known to be that wide (scalars, arrays whose
 * rows so far all have one shape), else 0: not decoded during the index pass. */
static uint64_t early_rowbytes(const index_state *st, int k)
{
    const cd_attr *a = &st->t->cols[k];
    const vcol *c = &st->vs->cols[k];
    if (a->kind == CD_KIND_SCALAR || a->kind == CD_KIND_NUMERIC)
        return cd_attr_elem_bytes(a);
    return a->kind == CD_KIND_ARRAY && c->dims_known && !c->ragged ? c->rowbytes : 0;
}

void vt_early_free(vt_early *e)
{
    if (e == NULL)
        return;
    free(e->c.valid);
    free(e->vs.fixoff);
    cd_ctidx_free(&e->vs.ctids);
    free(e);
}

/* Copy what the index knows of rows [r0, r1) of column k into a new vt_early; NULL when out
 * of memory (the chunk is then decoded when read, as without this). */
static vt_early *early_copy(const index_state *st, int k, uint64_t r0, uint64_t r1,
                            uint64_t rowbytes)
{
    const vcol *c = &st->vs->cols[k];
    vt_early *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    *e = (vt_early){
        .shard = st->shard, .col = k, .file = c->data_id, .chunk = r0 / vt_chunk_rows(rowbytes)};
    e->vs.nrows = e->vs.ntuples = r1 - r0;
    e->vs.fixoff = malloc(((size_t)st->s->natts + 1) * sizeof *e->vs.fixoff);
    e->c = (vcol){.dims_known = true, .ndim = c->ndim, .rowbytes = rowbytes};
    memcpy(e->c.dims, c->dims, sizeof e->c.dims);
    e->c.valid = c->valid != NULL ? malloc(r1 - r0) : NULL;
    cd_err err = {0};
    bool ok = e->vs.fixoff != NULL && (c->valid == NULL || e->c.valid != NULL);
    size_t cursor = 0;
    for (uint64_t r = r0; r < r1 && ok; r++) {
        uint32_t blk;
        uint16_t item;
        cd_ctidx_get(&st->vs->ctids, r, &cursor, &blk, &item);
        ok = cd_ctidx_add(&e->vs.ctids, blk, item, &err) == CD_OK;
    }
    if (!ok) {
        vt_early_free(e);
        return NULL;
    }
    memcpy(e->vs.fixoff, st->vs->fixoff, (size_t)st->s->natts * sizeof *e->vs.fixoff);
    if (c->valid != NULL)
        memcpy(e->c.valid, c->valid + r0, r1 - r0);
    return e;
}

/* Give up column k's claimed chunk, if any: forgotten, its bytes back in the budget. */
static void capture_release(cd_vtable *v, capture *cp)
{
    if (cp->slot == NULL)
        return;
    cd_cache_claim_done(v->cache, cp->slot, 0);
    v->plan.budget += cp->claimed;
    *cp = (capture){.off = cp->off};
}

/* Hand rows [r0, r1) of column k to v->early (a captured scalar straight to the cache), within
 * the budget. */
static void early_chunk(index_state *st, int k, uint64_t r0, uint64_t r1, uint64_t rowbytes)
{
    cd_vtable *v = st->v;
    uint64_t bytes = (r1 - r0) * rowbytes;
    capture *cp = &st->caps[k];
    if (cp->slot != NULL) { /* rows [r0, r1) are in the claimed chunk: keep it */
        cd_cache_claim_done(v->cache, cp->slot, (size_t)bytes);
        v->plan.budget += cp->claimed - bytes;
        *cp = (capture){0};
        st->vs->cols[k].early = true;
        return;
    }
    if (v->plan.off || bytes > v->plan.budget || v->cache == NULL)
        return;
    vt_early *e = early_copy(st, k, r0, r1, rowbytes);
    if (e == NULL)
        return;
    v->early(v, e);
    v->plan.budget -= bytes;
    st->vs->cols[k].early = true;
}

/* Whether the index pass hands chunks over: a taker is set, the table is not MADlib-packed and
 * the plan is not off (checked once a tuple, before its columns' captures and early_queue). */
static bool early_on(const index_state *st)
{
    return st->v->early != NULL && st->t->madlib == NULL && !st->v->plan.off;
}

/* The table's fixed-width bytes as `rows` rows in the shard's first `seen` blocks (and the
 * shards indexed before it) predict them; over the plan's limit, the plan is off. */
static void early_estimate(index_state *st, uint64_t rows, uint64_t seen)
{
    vt_early_plan *pl = &st->v->plan;
    uint64_t row_bytes = 0;
    for (int k = 0; k < st->t->ncols; k++)
        row_bytes += early_rowbytes(st, k);
    double per_block = (double)(pl->rows_done + rows) / (double)(pl->blocks_done + seen);
    if (per_block * (double)pl->blocks * (double)row_bytes > (double)pl->limit)
        pl->off = true;
}

/* The estimate before the shard's first row is captured, from the size of its first tuple
 * (a block holding as many as its line pointers and aligned copies allow): a table far over
 * the limit claims no chunk at all, instead of one per column until the blocks say so. */
static void early_first_estimate(index_state *st, uint32_t len)
{
    uint32_t blcksz = st->v->pin->blcksz;
    uint64_t room = blcksz > PGD_PAGE_HEADER_SIZE ? blcksz - PGD_PAGE_HEADER_SIZE : 0;
    uint64_t per_tuple = ((uint64_t)len + 7) / 8 * 8 + PGD_ITEMID_SIZE; /* MAXALIGN'd */
    uint64_t rows = room / per_tuple;
    early_estimate(st, rows ? rows : 1, 1);
}

/* Blocks at whose first tuple the estimate is made again from the blocks before it (then
 * complete): a check at the first row alone would see one row a block, and let the first
 * chunks' captures run on a table far over the limit. */
#define EARLY_EST_BLOCKS 8

/* Queue the chunks whose rows are all indexed now; at the end of the shard (last) also the
 * short one at its end. Between the row counts at which a chunk completes (or an array
 * column without a row yet may get its shape), a tuple costs one comparison. */
static void early_queue(index_state *st, bool last)
{
    uint64_t n = st->vs->nrows;
    if (!early_on(st)) { /* off now: no chunk is handed over, none stays claimed */
        for (int k = 0; k < st->t->ncols; k++)
            capture_release(st->v, &st->caps[k]);
        return;
    }
    uint32_t blk = st->blkno - st->s->blk_start;
    if (!last && n < st->early_check) {
        if (blk != st->est_blk && blk <= EARLY_EST_BLOCKS) { /* a new block: rows n - 1 before */
            st->est_blk = blk;
            early_estimate(st, n - 1, blk);
        }
        return;
    }
    early_estimate(st, n, last ? st->s->blk_end - st->s->blk_start : blk + 1);
    uint64_t check = UINT64_MAX;
    for (int k = 0; k < st->t->ncols; k++) {
        uint64_t rb = early_rowbytes(st, k);
        if (rb == 0 && st->t->cols[k].kind == CD_KIND_ARRAY && !st->vs->cols[k].dims_known)
            check = n + 1; /* its first row with a shape may come next */
        if (rb == 0)
            continue;
        uint64_t cr = vt_chunk_rows(rb), *next = &st->early_next[k];
        for (; *next + cr <= n; *next += cr)
            early_chunk(st, k, *next, *next + cr, rb);
        if (last && *next < n)
            early_chunk(st, k, *next, n, rb);
        *next = last ? n : *next;
        check = *next + cr < check ? *next + cr : check;
    }
    st->early_check = check;
}

/* Forget the chunks decoded during the index pass of shard vs (it failed, or is indexed
 * again): their ids are never served. */
static void early_drop(cd_vtable *v, const vshard *vs)
{
    for (int k = 0; v->cache && vs->cols && k < v->t->ncols; k++)
        if (vs->cols[k].early)
            cd_cache_drop_file(v->cache, vs->cols[k].data_id);
}

/* Claim the chunk of column k that starts at its next early row, within the plan's budget. */
static bool capture_claim(index_state *st, int k, capture *cp, uint64_t rowbytes)
{
    cd_vtable *v = st->v;
    uint64_t cr = vt_chunk_rows(rowbytes), bytes = cr * rowbytes;
    if (v->cache == NULL || bytes > v->plan.budget)
        return false;
    cd_cache_key key = {st->vs->cols[k].data_id, st->early_next[k] / cr};
    cp->buf = cd_cache_claim(v->cache, key, (size_t)bytes, &cp->slot);
    if (cp->buf == NULL)
        return false;
    cp->claimed = bytes;
    v->plan.budget -= bytes;
    return true;
}

/* Row `row` of column k (d, as deformed) into its capture, when the column is a scalar (the
 * caller checks early_on). */
static void capture_value(index_state *st, int k, uint64_t row, const cd_datum *d, bool isnull)
{
    capture *cp = &st->caps[k];
    const cd_attr *a = &st->t->cols[k];
    if (cp->off || (a->kind != CD_KIND_SCALAR && a->kind != CD_KIND_NUMERIC))
        return;
    size_t rb = cd_attr_elem_bytes(a), at = (size_t)(row - st->early_next[k]) * rb;
    cd_value val = {0};
    bool ok = cp->slot != NULL || capture_claim(st, k, cp, rb);
    if (ok && isnull) {
        vt_fill_null_row(a, cp->buf + at, rb);
        return;
    }
    const cd_attr *sa = &st->s->attrs[st->s->colmap[k]];
    if (ok && !cd_value_plain(sa, d, &val)) { /* an error here is the read's to report */
        cd_err err = {0};
        ok = cd_value_into(&st->ctx, sa, d, NULL, &val, &err) == CD_OK;
    }
    if (ok && !val.isnull && val.len == rb) {
        memcpy(cp->buf + at, val.data, rb);
        return;
    }
    cp->off = true;
    capture_release(st->v, cp);
}

/* Free the captures, giving up the chunks still claimed (a pass that failed). */
static void capture_free(cd_vtable *v, capture *caps, int ncols)
{
    for (int k = 0; caps != NULL && k < ncols; k++)
        capture_release(v, &caps[k]);
    free(caps);
}

/* Tell the row counts (cd_shard_counts_advance) how far the pass is when they ask to hear:
 * the server counts the next range of the shard before the pass reads it. */
static void count_progress(index_state *st, uint32_t blkno)
{
    if (blkno >= st->count_at)
        st->count_at = cd_shard_counts_advance(st->v->pin, st->t, st->shard, blkno);
}

static cd_code index_tuple(void *arg, uint32_t blkno, uint16_t item, const uint8_t *tup,
                           uint32_t len, const cd_datum *datums, cd_err *err)
{
    index_state *st = arg;
    count_progress(st, blkno);
    uint64_t row = st->vs->nrows;
    cd_code rc = CD_OK;
    st->blkno = blkno;
    if (row == 0 && early_on(st))
        early_first_estimate(st, len);
    bool capturing = early_on(st);
    for (int k = 0; k < st->t->ncols && rc == CD_OK; k++) {
        int ai = st->s->colmap[k];
        cd_value_shape sh;
        rc = cd_value_shape_of(&st->ctx, &st->s->attrs[ai], &datums[ai], &sh, err);
        if (rc == CD_OK)
            rc = index_value(st, k, row, &sh, err);
        if (rc == CD_OK && capturing)
            capture_value(st, k, row, &datums[ai], sh.isnull);
    }
    if (rc == CD_OK)
        rc = cd_ctidx_add(&st->vs->ctids, blkno, item, err);
    if (rc != CD_OK)
        return rc;
    st->vs->nrows++;
    st->vs->ntuples++;
    early_queue(st, false);
    return CD_OK;
}

/* The shape of one row of a packed column's buffer b. */
static void packed_shape(const cd_madlib_buf *b, cd_value_shape *sh)
{
    memset(sh, 0, sizeof *sh);
    sh->len = b->rowbytes;
    sh->ndim = b->ndim;
    memcpy(sh->dims, b->dims, sizeof sh->dims);
}

/* A tuple of a packed table: one row of the index per row of its buffers, the tuple's other
 * columns repeated for each. */
static cd_code index_packed(void *arg, uint32_t blkno, uint16_t item, const uint8_t *tup,
                            uint32_t len, const cd_datum *datums, cd_err *err)
{
    index_state *st = arg;
    count_progress(st, blkno);
    vshard *vs = st->vs;
    uint64_t n = vs->ntuples, rows = 0;
    cd_code rc = grow((void **)&vs->first_row, &st->first_cap, n + 2, sizeof *vs->first_row, err);
    if (rc == CD_OK)
        rc = cd_madlib_tuple(st->t, st->s, &st->ctx, datums, st->elemsize, st->bufs, &rows, err);
    for (int k = 0; k < st->t->ncols && rc == CD_OK; k++) {
        int p = cd_madlib_pair_of(st->t, k), ai = st->s->colmap[k];
        if (p >= 0)
            packed_shape(&st->bufs[p], &st->shapes[k]);
        else
            rc = cd_value_shape_of(&st->ctx, &st->s->attrs[ai], &datums[ai], &st->shapes[k], err);
    }
    for (uint64_t j = 0; j < rows && rc == CD_OK; j++)
        for (int k = 0; k < st->t->ncols && rc == CD_OK; k++)
            rc = index_value(st, k, vs->nrows + j, &st->shapes[k], err);
    if (rc == CD_OK)
        rc = cd_ctidx_add(&vs->ctids, blkno, item, err);
    if (rc != CD_OK)
        return rc;
    vs->first_row[0] = 0;
    vs->nrows += rows;
    vs->first_row[n + 1] = vs->nrows;
    vs->ntuples++;
    return CD_OK;
}

static cd_code packed_state(index_state *st, cd_err *err)
{
    size_t np = (size_t)st->t->madlib->npairs;
    st->shapes = calloc((size_t)st->t->ncols + 1, sizeof *st->shapes);
    st->bufs = calloc(np, sizeof *st->bufs);
    st->elemsize = calloc(np, sizeof *st->elemsize);
    if (st->shapes == NULL || st->bufs == NULL || st->elemsize == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    return CD_OK;
}

/* The dtypes the packed columns' buffers hold in this shard. */
static void packed_dtypes(const index_state *st)
{
    for (int k = 0; k < st->t->ncols; k++) {
        int p = cd_madlib_pair_of(st->t, k);
        if (p >= 0 && st->elemsize[p] != 0)
            snprintf(st->vs->cols[k].dtype, sizeof st->vs->cols[k].dtype, "%s",
                     cd_madlib_dtype(st->elemsize[p]));
    }
}

static cd_code index_shard(cd_vtable *v, int i, cd_err *err)
{
    const cd_shard *s = &v->t->shards[i];
    vshard *vs = &v->shards[i];
    vs->cols = calloc((size_t)v->t->ncols + 1, sizeof *vs->cols);
    vs->fixoff = calloc((size_t)s->natts + 1, sizeof *vs->fixoff);
    size_t *caps = calloc(2 * (size_t)v->t->ncols + 2, sizeof *caps);
    if (vs->cols == NULL || vs->fixoff == NULL || caps == NULL) {
        free(caps);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    cd_tuple_fixed_offsets(s->attrs, s->natts, vs->fixoff);
    for (int k = 0; k < v->t->ncols; k++)
        vs->cols[k].data_id = atomic_fetch_add(&next_file_id, 1);
    index_state st = {.v = v,
                      .shard = i,
                      .t = v->t,
                      .s = s,
                      .vs = vs,
                      .early_next = calloc((size_t)v->t->ncols + 1, sizeof *st.early_next),
                      .caps = calloc((size_t)v->t->ncols + 1, sizeof *st.caps),
                      .valid_cap = caps,
                      .off_cap = caps + v->t->ncols + 1,
                      .ctx = {.toast = s->toast}};
    bool packed = v->t->madlib != NULL;
    cd_code rc = st.early_next == NULL || st.caps == NULL ? cd_fail(err, CD_ENOMEM, "out of memory")
                 : packed                                 ? packed_state(&st, err)
                                                          : CD_OK;
    if (rc == CD_OK)
        rc = cd_shard_scan(v->pin, s, s->blk_start, s->blk_end, packed ? index_packed : index_tuple,
                           &st, &vs->content, err);
    if (rc == CD_OK && packed)
        packed_dtypes(&st);
    if (rc == CD_OK)
        early_queue(&st, true);
    capture_free(v, st.caps, v->t->ncols);
    free(st.early_next);
    free(st.elemsize);
    free(st.bufs);
    free(st.shapes);
    cd_valctx_free(&st.ctx);
    free(caps);
    return rc;
}

/* ---- file layout of a shard ---- */

static cd_code finish_col(const cd_attr *a, uint64_t nrows, vcol *c, cd_err *err)
{
    c->var = a->kind == CD_KIND_VARLENA || c->ragged;
    if (c->var && c->offsets == NULL) /* no row: offsets [0] */
        c->offsets = calloc(1, sizeof *c->offsets);
    if (c->var && c->offsets == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    if (a->kind == CD_KIND_SCALAR || a->kind == CD_KIND_NUMERIC) {
        c->rowbytes = cd_attr_elem_bytes(a);
        c->dims_known = true;
    }
    if (!c->dims_known) /* every row NULL: shape (N, 0) */
        c->rowbytes = 0;
    uint64_t total = c->var ? c->offsets[nrows] : nrows * c->rowbytes;
    uint64_t per_row = nrows ? (total + nrows - 1) / nrows : 1;
    c->chunk_rows = vt_chunk_rows(per_row);
    if (c->nnull == 0) {
        free(c->valid);
        c->valid = NULL;
    }
    if (!c->var) {
        free(c->offsets);
        c->offsets = NULL;
    }
    return CD_OK;
}

static cd_code add_file(vshard *vs, cd_vfile_kind kind, int shard, int col, const char *stem,
                        const char *suffix, uint64_t size, cd_err *err)
{
    cd_vfile *f = &vs->files[vs->nfiles++];
    f->kind = kind;
    f->shard = shard;
    f->col = col;
    snprintf(f->name, sizeof f->name, "%s%s", stem, suffix);
    f->size = size;
    f->id = kind == CD_VF_NPY ? vs->cols[col].data_id : atomic_fetch_add(&next_file_id, 1);
    return CD_OK;
}

size_t vt_npy_header(const cd_table *t, const vshard *vs, int k, cd_vfile_kind kind, char *buf,
                     size_t cap)
{
    const vcol *c = &vs->cols[k];
    uint64_t shape[PGD_MAXDIM + 1] = {vs->nrows};
    int nd = 1;
    const char *descr = c->dtype[0] ? c->dtype : t->cols[k].dtype;
    if (kind == CD_VF_VALID) {
        descr = "|b1";
    } else if (kind == CD_VF_OFFSETS) {
        descr = "<i8";
        shape[0] = vs->nrows + 1;
    } else if (t->cols[k].kind == CD_KIND_ARRAY && !c->dims_known) {
        shape[nd++] = 0;
    } else if (t->cols[k].kind == CD_KIND_ARRAY) {
        for (int i = 0; i < c->ndim; i++)
            shape[nd++] = (uint64_t)c->dims[i];
    }
    return cd_npy_header(buf, cap, descr, shape, nd);
}

static cd_code col_files(cd_vtable *v, int i, int k, cd_err *err)
{
    vshard *vs = &v->shards[i];
    vcol *c = &vs->cols[k];
    char hdr[CD_VT_HEADER_MAX];
    if (cd_fsname(v->t->cols[k].name, c->fname, sizeof c->fname) == 0)
        return cd_fail(err, CD_EINVAL, "column name \"%s\" is too long for a file name",
                       v->t->cols[k].name);
    if (c->var && c->early) { /* became ragged: its chunks decoded as fixed rows are void */
        cd_cache_drop_file(v->cache, c->data_id);
        c->early = false;
    }
    if (c->var) {
        add_file(vs, CD_VF_BIN, i, k, c->fname, ".bin", c->offsets[vs->nrows], err);
        size_t h = vt_npy_header(v->t, vs, k, CD_VF_OFFSETS, hdr, sizeof hdr);
        add_file(vs, CD_VF_OFFSETS, i, k, c->fname, ".offsets.npy", h + (vs->nrows + 1) * 8, err);
    } else {
        size_t h = vt_npy_header(v->t, vs, k, CD_VF_NPY, hdr, sizeof hdr);
        add_file(vs, CD_VF_NPY, i, k, c->fname, ".npy", h + vs->nrows * c->rowbytes, err);
    }
    if (c->nnull > 0) {
        size_t h = vt_npy_header(v->t, vs, k, CD_VF_VALID, hdr, sizeof hdr);
        add_file(vs, CD_VF_VALID, i, k, c->fname, ".valid.npy", h + vs->nrows, err);
    }
    return CD_OK;
}

static void colsum_of(const cd_table *t, const vshard *vs, int k, cd_colsum *sum)
{
    const vcol *c = &vs->cols[k];
    sum->attr = &t->cols[k];
    snprintf(sum->dtype, sizeof sum->dtype, "%s", c->dtype);
    sum->buffers = vs->ntuples;
    sum->fname = c->fname;
    sum->var = c->var;
    cd_shape_text(sum->shape, sizeof sum->shape, c->var, c->dims_known, c->ndim, c->dims);
    if (t->cols[k].kind != CD_KIND_ARRAY)
        sum->shape[0] = '\0';
    sum->nnull = c->nnull;
    sum->null_elems = c->null_elems;
}

static cd_code shard_layout(cd_vtable *v, int i, cd_colsum *sums, cd_err *err)
{
    vshard *vs = &v->shards[i];
    int ncols = v->t->ncols;
    vs->files = calloc(3 * (size_t)ncols + 1, sizeof *vs->files);
    if (vs->files == NULL || cd_fsname(v->t->shards[i].name, vs->dir, sizeof vs->dir) == 0)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    cd_code rc = CD_OK;
    for (int k = 0; k < ncols && rc == CD_OK; k++) {
        rc = finish_col(&v->t->cols[k], vs->nrows, &vs->cols[k], err);
        if (rc == CD_OK)
            rc = col_files(v, i, k, err);
        colsum_of(v->t, vs, k, &sums[k]);
    }
    if (rc != CD_OK)
        return rc;
    vs->meta = cd_meta_shard(v->pin, v->t, &v->t->shards[i], vs->nrows, vs->content, sums, ncols);
    if (vs->meta == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    /* meta first in the listing */
    memmove(vs->files + 1, vs->files, sizeof *vs->files * (size_t)vs->nfiles);
    vs->nfiles++;
    cd_vfile *m = &vs->files[0];
    memset(m, 0, sizeof *m);
    m->kind = CD_VF_SHARD_META;
    m->shard = i;
    m->col = -1;
    snprintf(m->name, sizeof m->name, "meta");
    m->size = strlen(vs->meta);
    m->id = atomic_fetch_add(&next_file_id, 1);
    return CD_OK;
}

static cd_code table_layout(cd_vtable *v, cd_colsum *sums, cd_err *err)
{
    uint64_t *rows = calloc((size_t)v->t->nshards + 1, sizeof *rows);
    if (rows == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    for (int i = 0; i < v->t->nshards; i++)
        rows[i] = v->shards[i].nrows;
    v->meta = cd_meta_table(v->pin, v->t, rows, sums);
    free(rows);
    if (v->meta == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    cd_vfile *m = &v->meta_file;
    m->kind = CD_VF_TABLE_META;
    m->shard = -1;
    m->col = -1;
    snprintf(m->name, sizeof m->name, "meta");
    m->size = strlen(v->meta);
    m->id = atomic_fetch_add(&next_file_id, 1);
    return CD_OK;
}

/* ---- open / close ---- */

/* Errors of one shard's data: the shard is left out, the others are served. */
static bool shard_local(cd_code rc)
{
    return rc == CD_ECORRUPT || rc == CD_EREWRITTEN || rc == CD_EUNDECIDED || rc == CD_EMISMATCH ||
           rc == CD_EUNSUPPORTED;
}

static void shard_failed(cd_vtable *v, int i, const cd_err *err)
{
    vshard *vs = &v->shards[i];
    early_drop(v, vs);
    free_vshard(vs, v->t->ncols);
    vs->failed = true;
    vs->err = *err;
    cd_fsname(v->t->shards[i].name, vs->dir, sizeof vs->dir);
    v->failed++;
}

/* Each indexed shard's rows against the server's count(*) (cd_shard_counts_send): a shard
 * that differs is left out (shard_failed), the others are served. */
static cd_code check_counts(cd_vtable *v, int64_t *want, cd_colsum *sums, cd_err *err)
{
    size_t nc = (size_t)v->t->ncols;
    cd_code rc = CD_OK;
    for (int i = 0; i < v->t->nshards && rc == CD_OK; i++) {
        rc = cd_shard_counts_wait(v->pin, v->t, i, &want[i], err); /* failed ones too */
        if (rc != CD_OK || v->shards[i].failed)
            continue;
        rc = cd_check_count(v->pin, &v->t->shards[i], v->shards[i].ntuples, want[i], err);
        if (shard_local(rc)) {
            shard_failed(v, i, err);
            memset(sums + (size_t)i * nc, 0, nc * sizeof *sums);
            rc = CD_OK;
        }
    }
    return rc;
}

static cd_code index_all(cd_vtable *v, const cd_vtable_opts *o, cd_err *err)
{
    int ns = v->t->nshards, nc = v->t->ncols;
    v->shards = calloc((size_t)ns + 1, sizeof *v->shards);
    cd_colsum *sums = calloc((size_t)ns * (size_t)nc + 1, sizeof *sums);
    int64_t *want = calloc((size_t)ns + 1, sizeof *want);
    cd_code rc = v->shards && sums && want ? CD_OK : cd_fail(err, CD_ENOMEM, "out of memory");
    /* the server counts the rows while we index them; checked after */
    if (rc == CD_OK && !o->skip_count)
        rc = cd_shard_counts_send(v->pin, v->t, err);
    for (int i = 0; i < ns; i++)
        v->plan.blocks += v->t->shards[i].blk_end - v->t->shards[i].blk_start;
    for (int i = 0; i < ns && rc == CD_OK; i++) {
        rc = index_shard(v, i, err);
        if (rc == CD_EUNDECIDED) { /* a multixact newer than the checkpoint: once more */
            early_drop(v, &v->shards[i]);
            free_vshard(&v->shards[i], nc);
            rc = cd_pin_recheckpoint(v->pin, err);
            if (rc == CD_OK)
                rc = index_shard(v, i, err);
        }
        if (rc == CD_OK)
            rc = shard_layout(v, i, sums + (size_t)i * (size_t)nc, err);
        v->plan.blocks_done += v->t->shards[i].blk_end - v->t->shards[i].blk_start;
        v->plan.rows_done += v->shards[i].nrows;
        if (shard_local(rc)) {
            shard_failed(v, i, err);
            rc = CD_OK;
            continue;
        }
        if (rc == CD_OK && o->progress)
            fprintf(stderr, "cerebro-ds-fuse: indexed %s shard %s (%llu rows)\n", v->t->qualname,
                    v->t->shards[i].name, (unsigned long long)v->shards[i].nrows);
    }
    if (rc == CD_OK && !o->skip_count)
        rc = check_counts(v, want, sums, err);
    if (rc == CD_OK)
        rc = table_layout(v, sums, err);
    free(want);
    free(sums);
    return rc;
}

cd_code cd_vt_new(cd_vtable **out, const cd_vtable_opts *o, cd_err *err)
{
    *out = NULL;
    cd_vtable *v = calloc(1, sizeof *v);
    if (v == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    v->cache = o->cache;
    v->plan.limit = v->plan.budget = o->cache ? cd_cache_bound(o->cache) / 2 : 0;
    pthread_mutex_init(&v->conn_lock, NULL);
    pthread_rwlockattr_t la;
    pthread_rwlockattr_init(&la);
    /* a release waits for the decodes running, not for every one that follows */
    pthread_rwlockattr_setkind_np(&la, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&v->life, &la);
    pthread_rwlockattr_destroy(&la);
    *out = v;
    return CD_OK;
}

cd_code cd_vt_index(cd_vtable *v, const cd_vtable_opts *o, const char *table, cd_err *err)
{
    cd_code rc = cd_pin_table(&o->pin, table, &v->pin, &v->t, err);
    if (rc == CD_OK)
        rc = index_all(v, o, err);
    if (rc != CD_OK)
        return rc;
    atomic_store(&v->indexed, true);
    snprintf(v->name, sizeof v->name, "%s.%s", v->t->schema, v->t->name);
    for (int i = 0; i < v->t->nshards; i++)
        v->rows += v->shards[i].nrows;
    return CD_OK;
}

void cd_vt_close_index(cd_vtable **vp)
{
    cd_vtable *v = *vp;
    if (v == NULL)
        return;
    for (int i = (v->t ? v->t->nshards : 0) - 1; i >= 0 && v->shards; i--) {
        for (int f = 0; v->cache && f < v->shards[i].nfiles; f++)
            cd_cache_drop_file(v->cache, v->shards[i].files[f].id);
        early_drop(v, &v->shards[i]); /* a shard whose layout was not made */
        free_vshard(&v->shards[i], v->t->ncols);
    }
    free(v->shards);
    free(v->meta);
    cd_table_free(&v->t);
    cd_pin_close(&v->pin);
    pthread_rwlock_destroy(&v->life);
    pthread_mutex_destroy(&v->conn_lock);
    free(v);
    *vp = NULL;
}

void free_vshard(vshard *vs, int ncols)
{
    for (int k = ncols - 1; vs->cols && k >= 0; k--) {
        free(vs->cols[k].offsets);
        free(vs->cols[k].valid);
    }
    free(vs->cols);
    free(vs->fixoff);
    free(vs->files);
    free(vs->first_row);
    cd_ctidx_free(&vs->ctids);
    free(vs->meta);
    memset(vs, 0, sizeof *vs);
}

/* ---- accessors ---- */

const char *cd_vtable_name(const cd_vtable *v)
{
    return v->name;
}

const char *cd_vtable_snapshot(const cd_vtable *v)
{
    return v->pin->snaptext;
}

uint32_t cd_vtable_oid(const cd_vtable *v)
{
    return v->t->oid;
}

uint64_t cd_vtable_rows(const cd_vtable *v)
{
    return v->rows;
}

int cd_vtable_nshards(const cd_vtable *v)
{
    return v->t->nshards;
}

const char *cd_vtable_shard_dir(const cd_vtable *v, int shard)
{
    return v->shards[shard].dir;
}

cd_code cd_vtable_shard_error(const cd_vtable *v, int shard, cd_err *err)
{
    const vshard *vs = &v->shards[shard];
    if (!vs->failed)
        return CD_OK;
    if (err != NULL)
        *err = vs->err;
    return vs->err.code;
}

int cd_vtable_nfiles(const cd_vtable *v, int shard)
{
    return shard < 0 ? 1 : v->shards[shard].nfiles;
}

const cd_vfile *cd_vtable_file(const cd_vtable *v, int shard, int i)
{
    if (shard < 0)
        return i == 0 ? &v->meta_file : NULL;
    return i >= 0 && i < v->shards[shard].nfiles ? &v->shards[shard].files[i] : NULL;
}

const cd_vfile *cd_vtable_lookup(const cd_vtable *v, int shard, const char *name)
{
    for (int i = 0; i < cd_vtable_nfiles(v, shard); i++) {
        const cd_vfile *f = cd_vtable_file(v, shard, i);
        if (strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

/* ---- release ---- */

/* Drop the cached chunks of every file of v. */
static void drop_cached(cd_vtable *v)
{
    for (int i = 0; v->cache && i < v->t->nshards; i++)
        for (int f = 0; f < v->shards[i].nfiles; f++)
            cd_cache_drop_file(v->cache, v->shards[i].files[f].id);
}

void cd_vt_release_index(cd_vtable *v)
{
    pthread_rwlock_wrlock(&v->life); /* no decode runs after this */
    pthread_mutex_lock(&v->conn_lock);
    atomic_store(&v->released, true);
    v->dead = true;
    cd_pin_release(v->pin);
    pthread_mutex_unlock(&v->conn_lock);
    cd_table_close_files(v->t);
    pthread_rwlock_unlock(&v->life);
    drop_cached(v);
}

cd_code cd_vt_released_error(const cd_vtable *v, cd_err *err)
{
    cd_fail(err, CD_EIO, "snapshot %s of %s was released", v->pin->snaptext, v->name);
    return cd_hint(err, "a refresh replaced it and its grace period is over: open the file "
                        "again to read the current snapshot");
}

bool cd_vtable_released(const cd_vtable *v)
{
    return atomic_load(&v->released);
}

/* ---- the pinning connection ---- */

/* Without a round trip: a connection that the server closed (its backend terminated, the
 * server stopped) has something to read, an error and then the end of the stream; an idle
 * live one has nothing. */
bool cd_vtable_alive(cd_vtable *v)
{
    pthread_mutex_lock(&v->conn_lock);
    if (!v->dead) {
        PGconn *c = v->pin->conn;
        struct pollfd p = {.fd = c != NULL ? PQsocket(c) : -1, .events = POLLIN | POLLRDHUP};
        if (p.fd < 0)
            v->dead = true;
        else if (poll(&p, 1, 0) != 0)
            v->dead = !PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK;
    }
    bool alive = !v->dead;
    pthread_mutex_unlock(&v->conn_lock);
    return alive;
}

cd_code cd_vtable_may_select(cd_vtable *v, const char *role, bool *yes, cd_err *err)
{
    char oid[16];
    snprintf(oid, sizeof oid, "%u", v->t->oid);
    const char *params[2] = {role, oid};
    *yes = false;
    pthread_mutex_lock(&v->conn_lock);
    if (v->pin->conn == NULL) {
        pthread_mutex_unlock(&v->conn_lock);
        return cd_vt_released_error(v, err);
    }
    PGresult *r = PQexecParams(v->pin->conn,
                               "SELECT has_table_privilege(r.oid, $2::oid, 'SELECT') "
                               "FROM pg_roles r WHERE r.rolname = $1",
                               2, NULL, params, NULL, NULL, 0);
    cd_code rc = CD_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        v->dead = PQstatus(v->pin->conn) != CONNECTION_OK;
        rc = cd_fail(err, CD_EIO, "could not check the privileges of role \"%s\": %s", role,
                     PQerrorMessage(v->pin->conn));
    } else {
        *yes = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    }
    PQclear(r);
    pthread_mutex_unlock(&v->conn_lock);
    return rc;
}
