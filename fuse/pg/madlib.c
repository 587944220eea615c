/*
 * madlib.c: MADlib-packed buffers (see madlib.h). Format: reference/pg-format.md section 9.
 */
#include "madlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PAYLOAD 0x3FFFFFFFu /* 1 GB - 1: the largest varlena */

/* ---- detection ---- */

static bool is_bytea(const cd_attr *a)
{
    return a->kind == CD_KIND_VARLENA && a->typoid == PGD_BYTEAOID;
}

/* Index into s's attrs of column <name>_shape when it is an int4[] or int2[], else -1. */
static int shape_attr_of(const cd_shard *s, const char *name)
{
    char want[sizeof s->attrs[0].name + 8];
    snprintf(want, sizeof want, "%s_shape", name);
    for (int i = 0; i < s->natts; i++) {
        const cd_attr *a = &s->attrs[i];
        if (a->dropped || strcmp(a->name, want) != 0)
            continue;
        bool ints = a->elemoid == PGD_INT4OID || a->elemoid == PGD_INT2OID;
        return a->kind == CD_KIND_ARRAY && ints ? i : -1;
    }
    return -1;
}

/* Is output column k the bytea half of a pair in every shard? */
static bool is_packed(const cd_table *t, int k)
{
    if (!is_bytea(&t->cols[k]))
        return false;
    for (int i = 0; i < t->nshards; i++)
        if (shape_attr_of(&t->shards[i], t->cols[k].name) < 0)
            return false;
    return true;
}

static int col_named(const cd_table *t, const char *name)
{
    for (int k = 0; k < t->ncols; k++)
        if (strcmp(t->cols[k].name, name) == 0)
            return k;
    return -1;
}

/* Take output column j out of the table (and out of every shard's column map). */
static void drop_col(cd_table *t, int j)
{
    size_t tail = (size_t)(t->ncols - j - 1);
    memmove(&t->cols[j], &t->cols[j + 1], tail * sizeof *t->cols);
    for (int i = 0; i < t->nshards; i++)
        memmove(&t->shards[i].colmap[j], &t->shards[i].colmap[j + 1],
                tail * sizeof *t->shards[i].colmap);
    t->ncols--;
}

static cd_madlib *madlib_new(const cd_table *t, int npairs)
{
    cd_madlib *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->npairs = npairs;
    m->pairs = calloc((size_t)npairs, sizeof *m->pairs);
    m->pair_of = calloc((size_t)t->ncols + 1, sizeof *m->pair_of);
    m->shape_attr = calloc((size_t)t->nshards * (size_t)npairs + 1, sizeof *m->shape_attr);
    if (m->pairs == NULL || m->pair_of == NULL || m->shape_attr == NULL)
        cd_madlib_free(&m);
    return m;
}

/* Record pair p (data column k) and where its shape column is in every shard. */
static void note_pair(cd_madlib *m, const cd_table *t, int p, int k)
{
    const cd_shard *s0 = &t->shards[0];
    m->pairs[p].col = k;
    m->pairs[p].shape = s0->attrs[shape_attr_of(s0, t->cols[k].name)];
    m->pairs[p].shape.missing = NULL; /* owned by the shard */
    m->pairs[p].shape.has_missing = false;
    for (int i = 0; i < t->nshards; i++)
        m->shape_attr[i * m->npairs + p] = shape_attr_of(&t->shards[i], t->cols[k].name);
}

cd_code cd_madlib_detect(cd_table *t, cd_err *err)
{
    int npairs = 0;
    for (int k = 0; k < t->ncols && t->nshards > 0; k++)
        npairs += is_packed(t, k);
    if (npairs == 0)
        return CD_OK;
    cd_madlib *m = madlib_new(t, npairs);
    if (m == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    for (int k = 0, p = 0; k < t->ncols; k++)
        if (is_packed(t, k))
            note_pair(m, t, p++, k);
    for (int p = 0; p < npairs; p++) { /* the shape columns are not served */
        int j = col_named(t, m->pairs[p].shape.name);
        for (int q = 0; j >= 0 && q < npairs; q++)
            m->pairs[q].col -= m->pairs[q].col > j;
        if (j >= 0)
            drop_col(t, j);
    }
    for (int k = 0; k < t->ncols; k++)
        m->pair_of[k] = -1;
    for (int p = 0; p < npairs; p++) {
        cd_attr *a = &t->cols[m->pairs[p].col];
        m->pair_of[m->pairs[p].col] = p;
        a->kind = CD_KIND_ARRAY; /* of the dtype its buffers hold: "<f4" until one is seen */
        a->elemoid = 0;
        a->elemlen = 4;
        snprintf(a->dtype, sizeof a->dtype, "%s", cd_madlib_dtype(4));
    }
    t->madlib = m;
    return CD_OK;
}

void cd_madlib_free(cd_madlib **mp)
{
    cd_madlib *m = *mp;
    if (m == NULL)
        return;
    free(m->shape_attr);
    free(m->pair_of);
    free(m->pairs);
    free(m);
    *mp = NULL;
}

int cd_madlib_pair_of(const cd_table *t, int k)
{
    return t->madlib != NULL && k >= 0 && k < t->ncols ? t->madlib->pair_of[k] : -1;
}

const char *cd_madlib_dtype(int elemsize)
{
    return elemsize == 4 ? "<f4" : elemsize == 2 ? "<i2" : "";
}

/* ---- buffers ---- */

/* The hint for data that is not in MADlib's layout after all. */
static cd_code as_stored(cd_err *err)
{
    return cd_hint(err, "read the table as stored, its buffers and shapes as bytea and arrays: "
                        "cerebro-ds --no-unpack");
}

/* The shape value {rows, dims...} of a buffer of column name into b. */
static cd_code read_shape(cd_valctx *ctx, const cd_attr *a, const cd_datum *d, const char *name,
                          cd_madlib_buf *b, cd_err *err)
{
    cd_value v;
    cd_code rc = cd_value_from_datum(ctx, a, d, &v, err);
    if (rc != CD_OK)
        return rc;
    if (v.isnull) {
        cd_fail(err, CD_EUNSUPPORTED, "packed column \"%s\" has a buffer whose %s is NULL", name,
                a->name);
        return as_stored(err);
    }
    int n = v.ndim == 1 ? v.dims[0] : 0;
    if (n < 1 || n > PGD_MAXDIM || v.null_elems > 0) {
        cd_fail(err, CD_ECORRUPT, "%s of packed column \"%s\" is not a shape", a->name, name);
        return cd_detail(err, "want a 1-d array of 1 to %d numbers without NULLs: {rows, dims...}",
                         PGD_MAXDIM);
    }
    for (int i = 0; i < n; i++) {
        int32_t x = 0;
        if (a->elemlen == 2) {
            int16_t h;
            memcpy(&h, v.data + 2 * i, 2);
            x = h;
        } else {
            memcpy(&x, v.data + 4 * i, 4);
        }
        if (x < 1)
            return cd_fail(err, CD_ECORRUPT, "%s of packed column \"%s\" holds %d", a->name, name,
                           x);
        if (i == 0)
            b->rows = (uint64_t)x;
        else
            b->dims[i - 1] = x;
    }
    b->ndim = n - 1;
    return CD_OK;
}

/* Shape text "{500,28,28}" of b. */
static void shape_text(const cd_madlib_buf *b, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "{%llu", (unsigned long long)b->rows);
    for (int i = 0; i < b->ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, ",%d", b->dims[i]);
    if (len < size)
        snprintf(buf + len, size - len, "}");
}

/* The element size that makes len bytes fit b's shape, checked against the shard's. */
static cd_code fit(const char *name, const char *shape, uint64_t len, cd_madlib_buf *b,
                   int *elemsize, cd_err *err)
{
    uint64_t per_row = 1, elems = b->rows;
    for (int i = 0; i < b->ndim && elems <= len; i++) {
        per_row *= (uint64_t)b->dims[i];
        elems *= (uint64_t)b->dims[i];
    }
    uint64_t size = elems <= len && len % elems == 0 ? len / elems : 0;
    if (size != 4 && size != 2) {
        char text[160];
        shape_text(b, text, sizeof text);
        cd_fail(err, CD_ECORRUPT, "packed column \"%s\" does not match its shape", name);
        return cd_detail(err,
                         "%llu bytes for %s %s: not 2 (int16) or 4 (float32) bytes for each of "
                         "its elements",
                         (unsigned long long)len, shape, text);
    }
    if (*elemsize != 0 && *elemsize != (int)size) {
        cd_fail(err, CD_ECORRUPT, "packed column \"%s\" changes its element size", name);
        return cd_detail(err, "%d bytes an element in this buffer, %d in the shard's earlier ones",
                         (int)size, *elemsize);
    }
    *elemsize = (int)size;
    b->elemsize = (int)size;
    b->rowbytes = per_row * size;
    return CD_OK;
}

/* One pair of a tuple: its shape, its payload's length, its element size. */
static cd_code read_pair(const cd_table *t, const cd_shard *s, int p, cd_valctx *ctx,
                         const cd_datum *datums, int *elemsize, cd_madlib_buf *b, cd_err *err)
{
    const cd_madlib *m = t->madlib;
    const cd_madlib_pair *pr = &m->pairs[p];
    const char *name = t->cols[pr->col].name;
    int ai = s->colmap[pr->col], si = m->shape_attr[(s - t->shards) * m->npairs + p];
    cd_code rc = read_shape(ctx, &s->attrs[si], &datums[si], name, b, err);
    cd_value_shape sh;
    if (rc == CD_OK)
        rc = cd_value_shape_of(ctx, &s->attrs[ai], &datums[ai], &sh, err);
    if (rc == CD_OK && sh.isnull) {
        cd_fail(err, CD_EUNSUPPORTED, "packed column \"%s\" has a NULL buffer", name);
        return as_stored(err);
    }
    if (rc == CD_OK && sh.len > MAX_PAYLOAD)
        return cd_fail(err, CD_ECORRUPT, "packed column \"%s\" claims %llu bytes", name,
                       (unsigned long long)sh.len);
    return rc == CD_OK ? fit(name, s->attrs[si].name, sh.len, b, elemsize, err) : rc;
}

cd_code cd_madlib_tuple(const cd_table *t, const cd_shard *s, cd_valctx *ctx,
                        const cd_datum *datums, int *elemsize, cd_madlib_buf *bufs, uint64_t *rows,
                        cd_err *err)
{
    const cd_madlib *m = t->madlib;
    for (int p = 0; p < m->npairs; p++) {
        cd_code rc = read_pair(t, s, p, ctx, datums, &elemsize[p], &bufs[p], err);
        if (rc != CD_OK)
            return rc;
        if (bufs[p].rows != bufs[0].rows) {
            cd_fail(err, CD_ECORRUPT,
                    "packed columns \"%s\" and \"%s\" disagree on the rows of a "
                    "buffer",
                    t->cols[m->pairs[0].col].name, t->cols[m->pairs[p].col].name);
            return cd_detail(err, "%s says %llu rows, %s says %llu", m->pairs[0].shape.name,
                             (unsigned long long)bufs[0].rows, m->pairs[p].shape.name,
                             (unsigned long long)bufs[p].rows);
        }
    }
    *rows = bufs[0].rows;
    return CD_OK;
}

cd_code cd_madlib_row(const cd_value *pay, const cd_madlib_buf *b, uint64_t j, cd_value *row,
                      cd_err *err)
{
    if (pay->isnull || pay->len != b->rows * b->rowbytes || j >= b->rows) {
        cd_fail(err, CD_ECORRUPT, "a packed buffer has %zu bytes, its shape says %llu",
                pay->isnull ? 0 : pay->len, (unsigned long long)(b->rows * b->rowbytes));
        return cd_detail(err, "row %llu of %llu", (unsigned long long)j,
                         (unsigned long long)b->rows);
    }
    memset(row, 0, sizeof *row);
    row->data = pay->data + j * b->rowbytes;
    row->len = (size_t)b->rowbytes;
    row->ndim = b->ndim;
    memcpy(row->dims, b->dims, sizeof row->dims);
    return CD_OK;
}
