/*
 * vfile.c: the bytes of a vtable's files (see vtable.h). Meta texts, .npy headers,
 * .valid.npy and .offsets.npy come from the row index in memory; the data of <col>.npy and
 * <col>.bin is decoded in chunks of rows through the cache. A chunk is decoded from the
 * pages of its rows (their ctids), checked against the index (a value whose size or
 * dimensions differ from what the index saw is corrupt), with NULL rows as 0 / NaN in .npy.
 * In a MADlib-packed table (madlib.h) a tuple is a buffer of rows: it is decoded once for
 * the rows of a chunk it holds, and each row is cut from it.
 * Also cd_vtable_open and cd_vtable_close: the index (vtable.c) plus the prefetch threads
 * that read ahead here, so that vtable.c never calls this file.
 */
#include <stdlib.h>
#include <string.h>

#include "madlib.h"
#include "npy.h"
#include "page.h"
#include "pgdisk.h"
#include "sorted.h"
#include "vtable_int.h"

/* Copy [off, off + n) of a memory image of len bytes into buf; returns bytes copied. */
static size_t copy_mem(const void *src, uint64_t len, uint64_t off, size_t n, uint8_t *buf)
{
    if (off >= len)
        return 0;
    size_t k = (size_t)(len - off < n ? len - off : n);
    memcpy(buf, (const uint8_t *)src + off, k);
    return k;
}

/* ---- decoding a chunk ---- */

typedef struct chunk_job {
    cd_vtable *v;
    int shard, col;
    const vshard *vs; /* the shard's index, or an early chunk's copy (vt_early) */
    const vcol *c;    /* the column's, or that copy's */
    uint64_t r0, r1;  /* rows [r0, r1) of vs */
    size_t cursor;    /* run of the last tuple looked up (ctidx.h) */
    bool early;       /* during the index pass: the pinning connection is busy */
} chunk_job;

/* A job for rows [r0, r1) of column col of shard `shard`, as the index describes them. */
static chunk_job job_of(cd_vtable *v, int shard, int col, uint64_t r0, uint64_t r1)
{
    const vshard *vs = &v->shards[shard];
    return (chunk_job){
        .v = v, .shard = shard, .col = col, .vs = vs, .c = &vs->cols[col], .r0 = r0, .r1 = r1};
}

/* What the shapes of a packed tuple say of its buffer of pair `pair` (the caller checks it
 * against the index). */
static cd_code packed_buffer(chunk_job *j, const cd_datum *datums, cd_valctx *ctx, int pair,
                             cd_madlib_buf *buf, cd_err *err)
{
    const cd_table *t = j->v->t;
    size_t np = (size_t)t->madlib->npairs;
    cd_madlib_buf *bufs = calloc(np, sizeof *bufs);
    int *elemsize = calloc(np, sizeof *elemsize);
    uint64_t rows = 0;
    cd_code rc = bufs && elemsize ? CD_OK : cd_fail(err, CD_ENOMEM, "out of memory");
    if (rc == CD_OK)
        rc = cd_madlib_tuple(t, &t->shards[j->shard], ctx, datums, elemsize, bufs, &rows, err);
    if (rc == CD_OK)
        *buf = bufs[pair];
    free(elemsize);
    free(bufs);
    return rc;
}

/* Pages of a chunk's rows, read DECODE_RUN at a time (one pread instead of DECODE_RUN) but
 * never past the last block the chunk needs. */
#define DECODE_RUN 16

typedef struct page_run {
    uint8_t *buf;      /* DECODE_RUN pages */
    uint32_t first, n; /* blocks [first, first + n) are in buf */
    uint32_t last;     /* block of the chunk's last tuple */
} page_run;

/* Block blk from the run, read with the blocks after it when it is not there. A run that
 * fails is read block by block, so an error is the block's own, as it was before runs. */
static cd_code run_page(const cd_relfile *rel, uint32_t blcksz, page_run *pr, uint32_t blk,
                        const uint8_t **page, cd_err *err)
{
    if (blk - pr->first < pr->n) {
        *page = pr->buf + (size_t)(blk - pr->first) * blcksz;
        return CD_OK;
    }
    uint32_t want = 1;
    if (blk <= pr->last)
        want = pr->last - blk < DECODE_RUN ? pr->last - blk + 1 : DECODE_RUN;
    uint32_t n = want;
    cd_code rc = want > 1 ? cd_relfile_read_run(rel, blk, &n, pr->buf, err) : CD_EIO;
    if (want == 1 || rc != CD_OK) {
        n = 1;
        rc = cd_relfile_read(rel, blk, pr->buf, err);
    }
    pr->first = blk;
    pr->n = rc == CD_OK ? n : 0;
    *page = pr->buf;
    return rc;
}

/* The value of tuple tu (its page read through pr); in a MADlib-packed column, the whole
 * buffer, and what its shape says in *buf. */
static cd_code row_value(chunk_job *j, uint64_t tu, page_run *pr, cd_datum *datums, cd_valctx *ctx,
                         const cd_value_dest *dest, cd_value *val, cd_madlib_buf *buf, cd_err *err)
{
    const cd_shard *s = &j->v->t->shards[j->shard];
    uint32_t blk;
    uint16_t item16;
    cd_ctidx_get(&j->vs->ctids, tu, &j->cursor, &blk, &item16);
    unsigned item = item16, flags;
    const uint8_t *page = NULL;
    cd_code rc = run_page(&s->rel, j->v->pin->blcksz, pr, blk, &page, err);
    const uint8_t *tup;
    uint32_t len;
    if (rc == CD_OK)
        rc = cd_page_item(page, j->v->pin->blcksz, item, &flags, &tup, &len, err);
    if (rc == CD_OK && flags != PGD_LP_NORMAL)
        rc = cd_fail(err, CD_EREWRITTEN, "a row of the snapshot is gone from its page");
    int ai = s->colmap[j->col], pair = cd_madlib_pair_of(j->v->t, j->col);
    /* one attribute (the index pass deformed and checked the whole tuple); a packed
     * column needs its sibling's too */
    if (rc == CD_OK && pair >= 0)
        rc = cd_tuple_deform(tup, len, s->attrs, s->natts, datums, err);
    else if (rc == CD_OK)
        rc = cd_tuple_attr(tup, len, s->attrs, s->natts, j->vs->fixoff, ai, &datums[ai], err);
    if (rc == CD_OK && pair >= 0)
        rc = packed_buffer(j, datums, ctx, pair, buf, err);
    if (rc == CD_OK && (pair >= 0 || !cd_value_plain(&s->attrs[ai], &datums[ai], val)))
        rc = cd_value_into(ctx, &s->attrs[ai], &datums[ai], pair >= 0 ? NULL : dest, val, err);
    if (rc != CD_OK)
        cd_context(err, "relation file \"%s\", block %u, item %u", s->relpath, blk, item);
    return rc;
}

/* Check a decoded value against the index and copy it to dst. */
static cd_code place(const chunk_job *j, uint64_t r, const cd_value *val, uint8_t *dst,
                     uint64_t want, cd_err *err)
{
    const vcol *c = j->c;
    const cd_attr *a = &j->v->t->cols[j->col];
    bool dims_ok =
        c->var || a->kind != CD_KIND_ARRAY ||
        (val->ndim == c->ndim && memcmp(val->dims, c->dims, sizeof(int) * (size_t)c->ndim) == 0);
    bool null_ok = val->isnull == (c->valid != NULL && !c->valid[r]);
    if (!dims_ok || !null_ok || (!val->isnull && val->len != want)) {
        cd_fail(err, CD_ECORRUPT, "column \"%s\" changed since the snapshot was indexed", a->name);
        return cd_detail(err, "row %llu of shard %s: %zu bytes, the index says %llu",
                         (unsigned long long)r, j->vs->dir, val->len, (unsigned long long)want);
    }
    if (val->isnull)
        vt_fill_null_row(a, dst, want);
    else if (val->data != dst) /* else decoded in place (cd_value_into) */
        memcpy(dst, val->data, want);
    return CD_OK;
}

/* The tuple of row r: r itself, or in a packed table the one whose buffer holds it. */
static uint64_t tuple_of(const vshard *vs, uint64_t r)
{
    return vs->first_row == NULL ? r : cd_last_at_most(vs->first_row, vs->ntuples, r);
}

/* Where the rows of a chunk come from: the tuple last decoded and its value. */
typedef struct row_source {
    page_run pages;
    cd_datum *datums;
    cd_valctx ctx;
    uint64_t tuple; /* tuple of val, UINT64_MAX none */
    cd_value val;
    cd_madlib_buf buf; /* a packed column's buffer in val */
} row_source;

/* The value of row r: its tuple's (decoded once for all the rows of a buffer), or in a packed
 * column that row of the tuple's buffer. */
static cd_code value_of_row(chunk_job *j, uint64_t r, row_source *src, const cd_value_dest *dest,
                            cd_value *val, cd_err *err)
{
    const vshard *vs = j->vs;
    uint64_t tu = tuple_of(vs, r);
    cd_code rc = CD_OK;
    if (tu != src->tuple) {
        src->tuple = UINT64_MAX;
        rc = row_value(j, tu, &src->pages, src->datums, &src->ctx, dest, &src->val, &src->buf, err);
        if (rc != CD_OK)
            return rc;
        src->tuple = tu;
    }
    if (cd_madlib_pair_of(j->v->t, j->col) < 0) {
        *val = src->val;
        return CD_OK;
    }
    if (src->buf.rows != vs->first_row[tu + 1] - vs->first_row[tu]) {
        cd_fail(err, CD_ECORRUPT, "column \"%s\" changed since the snapshot was indexed",
                j->v->t->cols[j->col].name);
        return cd_detail(err, "a buffer of shard %s holds %llu rows, the index says %llu", vs->dir,
                         (unsigned long long)src->buf.rows,
                         (unsigned long long)(vs->first_row[tu + 1] - vs->first_row[tu]));
    }
    return cd_madlib_row(&src->val, &src->buf, r - vs->first_row[tu], val, err);
}

/* The block of the last tuple of the chunk's rows (0 when it has none). */
static uint32_t last_block(const chunk_job *j)
{
    const vshard *vs = j->vs;
    if (j->r1 <= j->r0)
        return 0;
    size_t cursor = 0;
    uint32_t blk;
    uint16_t item;
    cd_ctidx_get(&vs->ctids, tuple_of(vs, j->r1 - 1), &cursor, &blk, &item);
    return blk;
}

static cd_code decode_rows(chunk_job *j, uint8_t *buf, cd_err *err)
{
    const cd_shard *s = &j->v->t->shards[j->shard];
    const vcol *c = j->c;
    row_source src = {
        .pages = {.buf = malloc((size_t)DECODE_RUN * j->v->pin->blcksz), .last = last_block(j)},
        .datums = calloc((size_t)s->natts + 1, sizeof *src.datums),
        .ctx = {.toast = s->toast},
        .tuple = UINT64_MAX};
    cd_code rc = src.pages.buf && src.datums ? CD_OK : cd_fail(err, CD_ENOMEM, "out of memory");
    uint8_t *dst = buf;
    for (uint64_t r = j->r0; r < j->r1 && rc == CD_OK; r++) {
        uint64_t want = c->var ? c->offsets[r + 1] - c->offsets[r] : c->rowbytes;
        cd_value val;
        if (c->valid != NULL && !c->valid[r] && !c->var) {
            vt_fill_null_row(&j->v->t->cols[j->col], dst, want); /* no need to read the row */
        } else if (c->valid == NULL || c->valid[r]) {
            /* a fixed row may be decompressed in place, its header over the row before */
            cd_value_dest dest = {dst, (size_t)want, (size_t)(dst - buf)};
            rc = value_of_row(j, r, &src, c->var ? NULL : &dest, &val, err);
            if (rc == CD_OK)
                rc = place(j, r, &val, dst, want, err);
        }
        dst += want;
    }
    cd_valctx_free(&src.ctx);
    free(src.datums);
    free(src.pages.buf);
    return rc;
}

/* Decode a chunk, under the vtable's life lock (shared): a release waits for it. */
static cd_code fill_chunk(void *arg, uint8_t *buf, size_t len, cd_err *err)
{
    chunk_job *j = arg;
    cd_code rc;
    pthread_rwlock_rdlock(&j->v->life);
    if (atomic_load(&j->v->released)) {
        rc = cd_vt_released_error(j->v, err);
    } else if ((!j->early || atomic_load(&j->v->indexed)) && !cd_vtable_alive(j->v)) {
        /* during the index pass, the pass has the connection and checks it at its end */
        cd_fail(err, CD_EIO, "the connection that pins the snapshot of %s is lost",
                j->v->t->qualname);
        rc = cd_hint(err,
                     "rows of that snapshot may be vacuumed away; take a new snapshot "
                     "(cerebro-ds refresh MOUNTPOINT %s)",
                     j->v->name);
    } else {
        rc = decode_rows(j, buf, err);
    }
    pthread_rwlock_unlock(&j->v->life);
    return rc;
}

/* Byte range [b0, b1) of the data region held by chunk ch of a data file. */
static void chunk_range(const vcol *c, uint64_t nrows, uint64_t ch, uint64_t *r0, uint64_t *r1,
                        uint64_t *b0, uint64_t *b1)
{
    *r0 = ch * c->chunk_rows;
    *r1 = *r0 + c->chunk_rows < nrows ? *r0 + c->chunk_rows : nrows;
    *b0 = c->var ? c->offsets[*r0] : *r0 * c->rowbytes;
    *b1 = c->var ? c->offsets[*r1] : *r1 * c->rowbytes;
}

/* Row holding data byte o of a var column: the last r with offsets[r] <= o, skipping rows
 * with empty payloads. */
static uint64_t row_at(const vcol *c, uint64_t nrows, uint64_t o)
{
    return cd_last_at_most(c->offsets, nrows, o);
}

/* ---- read-ahead ---- */

static uint64_t nchunks_of(const vcol *c, uint64_t nrows)
{
    return (nrows + c->chunk_rows - 1) / c->chunk_rows;
}

/* Decode chunk ch of data file f into the cache (a one-byte read does it). */
static void prefetch_one(cd_vtable *v, const cd_vfile *f, uint64_t ch)
{
    const vshard *vs = &v->shards[f->shard];
    const vcol *c = &vs->cols[f->col];
    uint64_t r0, r1, b0, b1;
    chunk_range(c, vs->nrows, ch, &r0, &r1, &b0, &b1);
    if (b1 == b0)
        return;
    chunk_job job = job_of(v, f->shard, f->col, r0, r1);
    cd_cache_key key = {f->id, ch};
    uint8_t byte;
    cd_err err = {0};
    cd_cache_read(v->cache, key, (size_t)(b1 - b0), 0, 1, &byte, fill_chunk, &job, &err);
}

/* Decode a chunk handed over by the index pass into the cache, and free it. */
static void early_one(cd_vtable *v, vt_early *e)
{
    chunk_job job = {.v = v,
                     .shard = e->shard,
                     .col = e->col,
                     .vs = &e->vs,
                     .c = &e->c,
                     .r1 = e->vs.nrows,
                     .early = true};
    cd_cache_key key = {e->file, e->chunk};
    uint8_t byte;
    cd_err err = {0};
    cd_cache_read(v->cache, key, (size_t)(e->vs.nrows * e->c.rowbytes), 0, 1, &byte, fill_chunk,
                  &job, &err);
    vt_early_free(e);
}

/* v->early: queue e behind the readers' jobs (freed unread when no thread runs). */
static void early_push(cd_vtable *v, vt_early *e)
{
    vprefetch *p = &v->prefetch;
    pthread_mutex_lock(&p->lock);
    if (p->started == 0 || p->stop) {
        pthread_mutex_unlock(&p->lock);
        vt_early_free(e);
        return;
    }
    e->next = NULL;
    if (p->early_tail != NULL)
        p->early_tail->next = e;
    else
        p->early_head = e;
    p->early_tail = e;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

static void *prefetch_main(void *arg)
{
    cd_vtable *v = arg;
    vprefetch *p = &v->prefetch;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->count == 0 && p->early_head == NULL)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop)
            break;
        if (p->count == 0) { /* the readers' jobs first */
            vt_early *e = p->early_head;
            p->early_head = e->next;
            p->early_tail = p->early_head != NULL ? p->early_tail : NULL;
            pthread_mutex_unlock(&p->lock);
            early_one(v, e);
            pthread_mutex_lock(&p->lock);
            continue;
        }
        vprefetch_job j = p->queue[p->head];
        p->head = (p->head + 1) % CD_VT_PREFETCH_QUEUE;
        p->count--;
        pthread_mutex_unlock(&p->lock);
        prefetch_one(v, j.f, j.chunk);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void cd_vt_prefetch_start(cd_vtable *v)
{
    vprefetch *p = &v->prefetch;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->inited = true;
    while (p->started < CD_VT_PREFETCH_THREADS &&
           pthread_create(&p->threads[p->started], NULL, prefetch_main, v) == 0)
        p->started++;
}

void cd_vt_prefetch_stop(cd_vtable *v)
{
    vprefetch *p = &v->prefetch;
    if (!p->inited)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = p->started - 1; i >= 0; i--)
        pthread_join(p->threads[i], NULL);
    for (vt_early *e = p->early_head, *next; e != NULL; e = next) { /* not decoded */
        next = e->next;
        vt_early_free(e);
    }
    p->early_head = p->early_tail = NULL;
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    p->started = 0;
    p->inited = false;
}

/* Queue the chunks after ch of f that are not queued yet (a full queue drops hints). */
static void prefetch_after(cd_vtable *v, const cd_vfile *f, uint64_t ch, uint64_t nchunks)
{
    vprefetch *p = &v->prefetch;
    if (!p->started)
        return;
    pthread_mutex_lock(&p->lock);
    uint64_t next = p->last_file == f->id && p->last_chunk > ch ? p->last_chunk + 1 : ch + 1;
    for (; next <= ch + CD_VT_PREFETCH_DEPTH && next < nchunks; next++) {
        if (p->count == CD_VT_PREFETCH_QUEUE)
            break;
        p->queue[(p->head + p->count++) % CD_VT_PREFETCH_QUEUE] = (vprefetch_job){f, next};
        p->last_file = f->id;
        p->last_chunk = next;
        pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Read from the data region of a data file (o: offset in the region). */
static cd_code read_data(cd_vtable *v, const cd_vfile *f, uint64_t o, size_t n, uint8_t *buf,
                         size_t *got, cd_err *err)
{
    const vshard *vs = &v->shards[f->shard];
    const vcol *c = &vs->cols[f->col];
    uint64_t row = c->var ? row_at(c, vs->nrows, o) : o / (c->rowbytes ? c->rowbytes : 1);
    uint64_t r0, r1, b0, b1;
    chunk_range(c, vs->nrows, row / c->chunk_rows, &r0, &r1, &b0, &b1);
    size_t k = (size_t)(b1 - o < n ? b1 - o : n);
    chunk_job job = job_of(v, f->shard, f->col, r0, r1);
    cd_cache_key key = {f->id, row / c->chunk_rows};
    *got = k;
    prefetch_after(v, f, key.chunk, nchunks_of(c, vs->nrows));
    return cd_cache_read(v->cache, key, (size_t)(b1 - b0), (size_t)(o - b0), k, buf, fill_chunk,
                         &job, err);
}

static cd_code read_some(cd_vtable *v, const cd_vfile *f, uint64_t off, size_t n, uint8_t *buf,
                         size_t *got, cd_err *err)
{
    char hdr[CD_VT_HEADER_MAX];
    for (int i = 0; f->kind == CD_VF_TABLE_META && v->failed && i < v->t->nshards; i++)
        if (cd_vtable_shard_error(v, i, err) != CD_OK)
            return err->code; /* its rows and shapes are unknown */
    if (f->kind == CD_VF_TABLE_META) {
        *got = copy_mem(v->meta, f->size, off, n, buf);
        return CD_OK;
    }
    const vshard *vs = &v->shards[f->shard];
    if (f->kind == CD_VF_SHARD_META) {
        *got = copy_mem(vs->meta, f->size, off, n, buf);
        return CD_OK;
    }
    const vcol *c = &vs->cols[f->col];
    /* headers are regenerated on each read: a few hundred bytes */
    size_t hlen =
        f->kind == CD_VF_BIN ? 0 : vt_npy_header(v->t, vs, f->col, f->kind, hdr, sizeof hdr);
    if (off < hlen) {
        *got = copy_mem(hdr, hlen, off, n, buf);
        return CD_OK;
    }
    uint64_t o = off - hlen;
    switch (f->kind) {
    case CD_VF_VALID:
        *got = copy_mem(c->valid, vs->nrows, o, n, buf);
        return CD_OK;
    case CD_VF_OFFSETS:
        *got = copy_mem(c->offsets, (vs->nrows + 1) * 8, o, n, buf);
        return CD_OK;
    default:
        return read_data(v, f, o, n, buf, got, err);
    }
}

cd_code cd_vtable_read(cd_vtable *v, const cd_vfile *f, uint64_t off, size_t n, uint8_t *buf,
                       size_t *got, cd_err *err)
{
    *got = 0;
    if (atomic_load(&v->released))
        return cd_vt_released_error(v, err);
    if (off >= f->size)
        return CD_OK;
    if (n > f->size - off)
        n = (size_t)(f->size - off);
    while (*got < n) {
        size_t k = 0;
        cd_code rc = read_some(v, f, off + *got, n - *got, buf + *got, &k, err);
        if (rc != CD_OK)
            return rc;
        if (k == 0)
            break;
        *got += k;
    }
    return CD_OK;
}

/* ---- reads without a copy: pieces of chunks held in the cache ---- */

typedef struct iov_read {
    cd_vtable *v;
    const cd_vfile *f;
    struct iovec iov[CD_VT_IOV_MAX];
    int cnt;
    int held;     /* chunks among the pieces (held in the cache) */
    uint64_t o;   /* next offset in the data region */
    uint64_t end; /* end of the read in the data region */
    cd_vtable_iov_fn done;
    void *arg;
    char hdr[CD_VT_HEADER_MAX];
} iov_read;

static cd_code iov_next(iov_read *r, cd_err *err);

/* A chunk's piece, held until the read is handed over; then the next one. */
static cd_code iov_piece(void *arg, const uint8_t *p, size_t n, cd_err *err)
{
    iov_read *r = arg;
    r->iov[r->cnt++] = (struct iovec){(void *)p, n};
    r->held++;
    r->o += n;
    return iov_next(r, err);
}

/* The piece at r->o from its chunk (CD_EBUSY: the read needs more pieces than fit, or a
 * chunk another reader is filling), or, all there, the read handed to done. */
static cd_code iov_next(iov_read *r, cd_err *err)
{
    if (r->o >= r->end)
        return r->done(r->arg, r->iov, r->cnt, err);
    const vshard *vs = &r->v->shards[r->f->shard];
    const vcol *c = &vs->cols[r->f->col];
    uint64_t row = c->var ? row_at(c, vs->nrows, r->o) : r->o / (c->rowbytes ? c->rowbytes : 1);
    uint64_t r0, r1, b0, b1;
    chunk_range(c, vs->nrows, row / c->chunk_rows, &r0, &r1, &b0, &b1);
    size_t k = (size_t)(b1 - r->o < r->end - r->o ? b1 - r->o : r->end - r->o);
    if (r->cnt == CD_VT_IOV_MAX || k == 0)
        return cd_fail(err, CD_EBUSY, "a read of more than %d pieces", CD_VT_IOV_MAX);
    chunk_job job = job_of(r->v, r->f->shard, r->f->col, r0, r1);
    cd_cache_key key = {r->f->id, row / c->chunk_rows};
    prefetch_after(r->v, r->f, key.chunk, nchunks_of(c, vs->nrows));
    return cd_cache_use(r->v->cache, key, (size_t)(b1 - b0), (size_t)(r->o - b0), k, fill_chunk,
                        &job, iov_piece, r, r->held > 0, err);
}

cd_code cd_vtable_read_iov(cd_vtable *v, const cd_vfile *f, uint64_t off, size_t n,
                           cd_vtable_iov_fn done, void *arg, bool *served, cd_err *err)
{
    *served = false;
    if (atomic_load(&v->released))
        return cd_vt_released_error(v, err);
    if ((f->kind != CD_VF_NPY && f->kind != CD_VF_BIN) || off >= f->size || n == 0)
        return CD_OK;
    if (n > f->size - off)
        n = (size_t)(f->size - off);
    iov_read *r = calloc(1, sizeof *r);
    if (r == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    *r = (iov_read){.v = v, .f = f, .done = done, .arg = arg};
    const vshard *vs = &v->shards[f->shard];
    size_t hlen =
        f->kind == CD_VF_BIN ? 0 : vt_npy_header(v->t, vs, f->col, f->kind, r->hdr, sizeof r->hdr);
    if (off < hlen) {
        size_t k = hlen - off < n ? hlen - (size_t)off : n;
        r->iov[r->cnt++] = (struct iovec){r->hdr + off, k};
    }
    r->o = off > hlen ? off - hlen : 0;
    r->end = off + n > hlen ? off + n - hlen : 0;
    cd_code rc = off + n > hlen ? iov_next(r, err) : done(arg, r->iov, r->cnt, err);
    free(r);
    *served = rc != CD_EBUSY;
    return rc == CD_EBUSY ? CD_OK : rc;
}

/* ---- open and close: the index (vtable.c), then the prefetch threads of the readers ---- */

/* The prefetch threads start before the index pass: they decode the chunks it hands over
 * (early_push) while it goes on. */
cd_code cd_vtable_open(cd_vtable **out, const cd_vtable_opts *o, const char *table, cd_err *err)
{
    cd_vtable *v = NULL;
    cd_code rc = cd_vt_new(&v, o, err);
    if (rc != CD_OK)
        return rc;
    cd_vt_prefetch_start(v);
    v->early = early_push;
    rc = cd_vt_index(v, o, table, err);
    if (rc != CD_OK) {
        cd_vt_prefetch_stop(v); /* before the index they may be decoding from */
        cd_vt_close_index(&v);
    }
    *out = v;
    return rc;
}

void cd_vtable_release(cd_vtable *v)
{
    cd_vt_prefetch_stop(v);
    cd_vt_release_index(v);
}

void cd_vtable_close(cd_vtable **vp)
{
    if (vp == NULL || *vp == NULL)
        return;
    cd_vt_prefetch_stop(*vp);
    cd_vt_close_index(vp);
}
