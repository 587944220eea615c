/*
 * colfile.c: streaming column files (see colfile.h).
 */
#include "colfile.h"

#include "fsname.h"
#include "madlib.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BIN_BUFFER (1 << 20)

static void path_of(char *buf, size_t size, const cd_colfile *c, const char *suffix)
{
    snprintf(buf, size, "%s/%s%s", c->dir, c->fname, suffix);
}

static cd_code open_bin(cd_colfile *c, cd_err *err)
{
    char path[4200];
    path_of(path, sizeof path, c, ".bin");
    c->bin = malloc(sizeof *c->bin);
    if (c->bin == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    cd_code rc = cd_atomic_fopen(c->bin, path, 0644, err);
    if (rc != CD_OK) {
        free(c->bin);
        c->bin = NULL;
        return rc;
    }
    setvbuf(c->bin->f, NULL, _IOFBF, BIN_BUFFER);
    uint64_t zero = 0;
    path_of(path, sizeof path, c, ".offsets.npy");
    rc = cd_npy_writer_open(&c->offsets, path, "<i8", 0, NULL, err);
    if (rc == CD_OK)
        rc = cd_npy_writer_append(c->offsets, &zero, sizeof zero, err);
    return rc;
}

/* The data file: .npy of the column's rows, written through c->bg when there is one. */
static cd_code open_data(cd_colfile *c, const char *path, int ndim_tail, const uint64_t *tail,
                         cd_err *err)
{
    cd_code rc = cd_npy_writer_open(&c->data, path, c->dtype, ndim_tail, tail, err);
    if (rc == CD_OK && c->bg != NULL)
        rc = cd_npy_writer_async(c->data, c->bg, err);
    return rc;
}

cd_code cd_colfile_open(cd_colfile *c, const cd_attr *attr, const char *dir, bool var,
                        cd_bgwrite *bg, cd_err *err)
{
    memset(c, 0, sizeof *c);
    c->attr = attr;
    c->bg = bg;
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    if (cd_fsname(attr->name, c->fname, sizeof c->fname) == 0)
        return cd_fail(err, CD_EINVAL, "column name \"%s\" is too long for a file name",
                       attr->name);
    c->var = var || attr->kind == CD_KIND_VARLENA;
    snprintf(c->dtype, sizeof c->dtype, "%s", attr->dtype);
    c->esz = cd_attr_elem_bytes(attr);
    char path[4200];
    cd_code rc = c->var ? open_bin(c, err) : CD_OK;
    if (rc == CD_OK && !c->var && attr->kind != CD_KIND_ARRAY) {
        c->dims_known = true;
        c->rowbytes = c->esz;
        path_of(path, sizeof path, c, ".npy");
        rc = open_data(c, path, 0, NULL, err);
    }
    return rc;
}

/* NULL row of a fixed column: zeros, NaN for floats, in chunks. */
static cd_code append_fill(cd_colfile *c, uint64_t rows, cd_err *err)
{
    uint8_t buf[4096];
    size_t esz = c->esz, per = sizeof buf / esz * esz;
    memset(buf, 0, sizeof buf);
    if (c->dtype[1] == 'f') {
        float f = NAN;
        double d = NAN;
        for (size_t k = 0; k < per; k += esz)
            memcpy(buf + k, esz == 4 ? (void *)&f : (void *)&d, esz);
    }
    uint64_t left = rows * c->rowbytes;
    cd_code rc = CD_OK;
    while (left > 0 && rc == CD_OK) {
        size_t n = left < per ? (size_t)left : per;
        rc = cd_npy_writer_append(c->data, buf, n, err);
        left -= n;
    }
    return rc;
}

/* First non-null row of a fixed array column: its dimensions fix the file's shape (and a
 * packed column's bytes per element its dtype). */
static cd_code open_array(cd_colfile *c, const cd_value *v, cd_err *err)
{
    uint64_t tail[PGD_MAXDIM], elems = 1;
    c->dims_known = true;
    c->ndim = v->ndim;
    memcpy(c->dims, v->dims, sizeof c->dims);
    for (int i = 0; i < v->ndim; i++) {
        tail[i] = (uint64_t)v->dims[i];
        elems *= tail[i];
    }
    if (c->packed && elems > 0 && cd_madlib_dtype((int)(v->len / elems))[0] != '\0') {
        c->esz = v->len / elems;
        snprintf(c->dtype, sizeof c->dtype, "%s", cd_madlib_dtype((int)c->esz));
    }
    c->rowbytes = c->esz * elems;
    char path[4200];
    path_of(path, sizeof path, c, ".npy");
    cd_code rc = open_data(c, path, v->ndim, tail, err);
    if (rc == CD_OK)
        rc = append_fill(c, c->pending_nulls, err);
    c->pending_nulls = 0;
    return rc;
}

static bool same_dims(const cd_colfile *c, const cd_value *v)
{
    return v->ndim == c->ndim && memcmp(v->dims, c->dims, sizeof(int) * (size_t)c->ndim) == 0;
}

static cd_code append_fixed(cd_colfile *c, const cd_value *v, cd_err *err)
{
    if (v->isnull)
        return c->dims_known ? append_fill(c, 1, err) : (c->pending_nulls++, CD_OK);
    if (c->attr->kind == CD_KIND_ARRAY) {
        if (!c->dims_known) {
            cd_code rc = open_array(c, v, err);
            if (rc != CD_OK)
                return rc;
        } else if (!same_dims(c, v)) {
            c->ragged = true;
            return cd_fail(err, CD_EUNSUPPORTED, "column \"%s\" is ragged", c->attr->name);
        }
    }
    if (c->packed && v->len != c->rowbytes)
        return cd_fail(err, CD_ECORRUPT, "a row of column \"%s\" has %zu bytes, the file's %zu",
                       c->attr->name, v->len, c->rowbytes);
    return cd_npy_writer_append(c->data, v->data, v->len, err);
}

static cd_code append_var(cd_colfile *c, const cd_value *v, cd_err *err)
{
    if (!v->isnull && v->len > 0 && fwrite(v->data, 1, v->len, c->bin->f) != v->len)
        return cd_fail(err, CD_EIO, "could not write column \"%s\": %s", c->attr->name,
                       strerror(errno));
    c->bin_len += v->isnull ? 0 : v->len;
    return cd_npy_writer_append(c->offsets, &c->bin_len, sizeof c->bin_len, err);
}

bool cd_colfile_dest(cd_colfile *c, cd_value_dest *d)
{
    if (c->var || c->packed || !c->dims_known || c->attr->kind != CD_KIND_ARRAY)
        return false;
    d->len = c->rowbytes;
    d->p = cd_npy_writer_room(c->data, c->rowbytes, &d->headroom);
    return d->p != NULL;
}

/* The validity file at a column's first NULL: opened, with a 1 for each row before it. */
static cd_code open_valid(cd_colfile *c, cd_err *err)
{
    char path[4200];
    uint8_t ones[4096];
    path_of(path, sizeof path, c, ".valid.npy");
    cd_code rc = cd_npy_writer_open(&c->valid, path, "|b1", 0, NULL, err);
    memset(ones, 1, sizeof ones);
    for (uint64_t left = c->nrows; left > 0 && rc == CD_OK;) {
        size_t n = left < sizeof ones ? (size_t)left : sizeof ones;
        rc = cd_npy_writer_append(c->valid, ones, n, err);
        left -= n;
    }
    return rc;
}

cd_code cd_colfile_append(cd_colfile *c, const cd_value *v, cd_err *err)
{
    uint8_t ok = !v->isnull;
    cd_code rc = c->var ? append_var(c, v, err) : append_fixed(c, v, err);
    if (rc == CD_OK && c->valid == NULL && v->isnull)
        rc = open_valid(c, err);
    if (rc == CD_OK && c->valid != NULL)
        rc = cd_npy_writer_append(c->valid, &ok, 1, err);
    if (rc != CD_OK)
        return rc;
    c->nrows++;
    c->nnull += v->isnull;
    c->null_elems += v->null_elems;
    return CD_OK;
}

static cd_code close_bin(cd_colfile *c, cd_err *err)
{
    cd_code rc = cd_atomic_commit(c->bin, err);
    free(c->bin);
    c->bin = NULL;
    if (rc != CD_OK)
        return rc;
    cd_npy_writer *w = c->offsets;
    c->offsets = NULL;
    return cd_npy_writer_close(w, c->nrows + 1, err);
}

/* A fixed array column whose rows were all NULL: shape (N, 0). */
static cd_code close_all_null(cd_colfile *c, cd_err *err)
{
    char path[4200];
    uint64_t shape[2] = {c->nrows, 0};
    path_of(path, sizeof path, c, ".npy");
    return cd_npy_write(path, c->dtype, shape, 2, "", 0, err);
}

cd_code cd_colfile_close(cd_colfile *c, cd_err *err)
{
    cd_code rc = CD_OK;
    if (c->var) {
        rc = close_bin(c, err);
    } else if (c->data != NULL) {
        cd_npy_writer *w = c->data;
        c->data = NULL;
        rc = cd_npy_writer_close(w, c->nrows, err);
    } else {
        rc = close_all_null(c, err);
    }
    cd_npy_writer *v = c->valid;
    c->valid = NULL;
    if (rc == CD_OK && c->nnull > 0)
        return cd_npy_writer_close(v, c->nrows, err);
    cd_npy_writer_abort(v);
    if (rc != CD_OK)
        cd_colfile_abort(c);
    return rc;
}

void cd_colfile_abort(cd_colfile *c)
{
    if (c->bin != NULL) {
        cd_atomic_abort(c->bin);
        free(c->bin);
        c->bin = NULL;
    }
    cd_npy_writer *ws[3] = {c->data, c->offsets, c->valid};
    for (int i = 2; i >= 0; i--)
        if (ws[i] != NULL)
            cd_npy_writer_abort(ws[i]);
    c->data = c->offsets = c->valid = NULL;
}
