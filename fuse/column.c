/*
 * column.c: column accumulation and the column files (see column.h).
 */
#include "column.h"

#include <stdlib.h>

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
