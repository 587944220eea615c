/*
 * column.c: column accumulation and the column files (see column.h).
 */
#include "column.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "npy.h"

cd_code cd_bytes_append(cd_bytes *b, const void *p, size_t n, cd_err *err)
{
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < b->len + n)
            ncap *= 2;
        uint8_t *q = realloc(b->p, ncap);
        if (q == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory (%zu bytes) for a column", ncap);
        b->p = q;
        b->cap = ncap;
    }
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return CD_OK;
}

void cd_bytes_free(cd_bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void cd_column_init(cd_column *c, const cd_attr *attr)
{
    memset(c, 0, sizeof *c);
    c->attr = attr;
}

void cd_column_free(cd_column *c)
{
    cd_bytes_free(&c->valid);
    cd_bytes_free(&c->offsets);
    cd_bytes_free(&c->data);
}

static bool same_dims(const cd_column *c, const cd_value *v)
{
    if (v->ndim != c->ndim)
        return false;
    for (int i = 0; i < v->ndim; i++)
        if (v->dims[i] != c->dims[i])
            return false;
    return true;
}

static void track_dims(cd_column *c, const cd_value *v)
{
    if (c->attr->kind != CD_KIND_ARRAY || v->isnull)
        return;
    if (!c->dims_known) {
        c->dims_known = true;
        c->ndim = v->ndim;
        memcpy(c->dims, v->dims, sizeof c->dims);
    } else if (!same_dims(c, v)) {
        c->ragged = true;
    }
    c->null_elems += v->null_elems;
}

cd_code cd_column_append(cd_column *c, const cd_value *v, cd_err *err)
{
    uint64_t zero = 0;
    if (c->nrows == 0 && c->offsets.len == 0) {
        cd_code rc = cd_bytes_append(&c->offsets, &zero, sizeof zero, err);
        if (rc != CD_OK)
            return rc;
    }
    uint8_t ok = v->isnull ? 0 : 1;
    cd_code rc = cd_bytes_append(&c->data, v->data, v->isnull ? 0 : v->len, err);
    uint64_t end = c->data.len;
    if (rc == CD_OK)
        rc = cd_bytes_append(&c->offsets, &end, sizeof end, err);
    if (rc == CD_OK)
        rc = cd_bytes_append(&c->valid, &ok, 1, err);
    if (rc != CD_OK)
        return rc;
    c->nnull += v->isnull;
    c->nrows++;
    track_dims(c, v);
    return CD_OK;
}

bool cd_column_is_var(const cd_column *c)
{
    return c->attr->kind == CD_KIND_VARLENA || (c->attr->kind == CD_KIND_ARRAY && c->ragged);
}

int cd_column_shape(const cd_column *c, uint64_t *shape)
{
    shape[0] = c->nrows;
    if (c->attr->kind != CD_KIND_ARRAY)
        return 1;
    if (!c->dims_known) { /* every row NULL: (N, 0) */
        shape[1] = 0;
        return 2;
    }
    for (int i = 0; i < c->ndim; i++)
        shape[1 + i] = (uint64_t)c->dims[i];
    return 1 + c->ndim;
}

static uint64_t off_at(const cd_column *c, uint64_t i)
{
    uint64_t o;
    memcpy(&o, c->offsets.p + i * sizeof o, sizeof o);
    return o;
}

void cd_column_row(const cd_column *c, uint64_t i, cd_value *v)
{
    memset(v, 0, sizeof *v);
    v->isnull = c->valid.p[i] == 0;
    uint64_t a = off_at(c, i), b = off_at(c, i + 1);
    v->data = c->data.p + a;
    v->len = (size_t)(b - a);
}

static size_t row_bytes(const cd_column *c)
{
    uint64_t shape[PGD_MAXDIM + 1];
    int nd = cd_column_shape(c, shape);
    size_t n = (size_t)c->attr->elemlen;
    if (c->attr->kind == CD_KIND_NUMERIC)
        n = 8;
    for (int i = 1; i < nd; i++)
        n *= (size_t)shape[i];
    return n;
}

static cd_code write_fixed(const cd_column *c, const char *path, cd_err *err)
{
    uint64_t shape[PGD_MAXDIM + 1];
    int nd = cd_column_shape(c, shape);
    size_t rb = row_bytes(c), esz = c->attr->kind == CD_KIND_NUMERIC ? 8 : (size_t)c->attr->elemlen;
    bool isfloat = c->attr->dtype[1] == 'f';
    if (c->nnull == 0)
        return cd_npy_write(path, c->attr->dtype, shape, nd, c->data.p, c->data.len, err);
    cd_npy_writer *w;
    cd_code rc = cd_npy_writer_open(&w, path, c->attr->dtype, nd - 1, shape + 1, err);
    if (rc != CD_OK)
        return rc;
    uint8_t *fill = calloc(1, rb ? rb : 1);
    if (fill == NULL) {
        cd_npy_writer_abort(w);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    for (size_t k = 0; isfloat && k < rb / esz; k++) {
        float f = NAN;
        double d = NAN;
        memcpy(fill + k * esz, esz == 4 ? (void *)&f : (void *)&d, esz);
    }
    for (uint64_t i = 0; i < c->nrows && rc == CD_OK; i++) {
        cd_value v;
        cd_column_row(c, i, &v);
        rc = cd_npy_writer_append(w, v.isnull ? fill : v.data, rb, err);
    }
    free(fill);
    if (rc != CD_OK) {
        cd_npy_writer_abort(w);
        return rc;
    }
    return cd_npy_writer_close(w, c->nrows, err);
}

static cd_code write_bin(const char *path, const cd_bytes *b, cd_err *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        return cd_fail(err, CD_EIO, "could not create file \"%s\": %m", tmp);
    bool ok = (b->len == 0 || fwrite(b->p, 1, b->len, f) == b->len);
    ok = (fflush(f) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return cd_fail(err, CD_EIO, "could not write file \"%s\": %m", path);
    }
    return CD_OK;
}

cd_code cd_column_write(const cd_column *c, const char *dir, cd_err *err)
{
    char path[4096];
    cd_code rc;
    const char *name = c->attr->name;
    if (cd_column_is_var(c)) {
        snprintf(path, sizeof path, "%s/%s.bin", dir, name);
        rc = write_bin(path, &c->data, err);
        uint64_t n1 = c->nrows + 1;
        snprintf(path, sizeof path, "%s/%s.offsets.npy", dir, name);
        if (rc == CD_OK) {
            uint64_t zero = 0;
            rc = cd_npy_write(path, "<i8", &n1, 1, c->offsets.len ? c->offsets.p : (uint8_t *)&zero,
                              n1 * 8, err);
        }
    } else {
        snprintf(path, sizeof path, "%s/%s.npy", dir, name);
        rc = write_fixed(c, path, err);
    }
    if (rc == CD_OK && c->nnull > 0) {
        snprintf(path, sizeof path, "%s/%s.valid.npy", dir, name);
        rc = cd_npy_write(path, "|b1", &c->nrows, 1, c->valid.p, c->nrows, err);
    }
    return rc;
}
