/*
 * value.c: datum -> cd_value conversion (see value.h). Formats: reference/pg-format.md
 * sections 3 (varlena, TOAST) and 4 (arrays).
 */
#include "value.h"

#include <lz4.h>
#include <math.h>
#include <stdlib.h>

#include "numeric.h"
#include "pgcopy.h"
#include "pglz.h"

#define MAX_VALUE_BYTES 0x3FFFFFFFu /* 1 GB - 1: the largest varlena */

void cd_valctx_free(cd_valctx *ctx)
{
    free(ctx->elems);
    free(ctx->raw);
    free(ctx->ext);
    ctx->elems = ctx->raw = ctx->ext = NULL;
    ctx->elems_cap = ctx->raw_cap = ctx->ext_cap = 0;
}

static cd_code reserve(uint8_t **buf, size_t *cap, size_t need, cd_err *err)
{
    if (need <= *cap)
        return CD_OK;
    size_t ncap = *cap ? *cap : 4096;
    while (ncap < need)
        ncap *= 2;
    uint8_t *n = realloc(*buf, ncap);
    if (n == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory for a value of %zu bytes", need);
    *buf = n;
    *cap = ncap;
    return CD_OK;
}

/* The most bytes srclen bytes of a stream can decompress to. pglz: a control byte and its
 * 8 items, at most 3 bytes each, in 25 bytes give at most 8 matches of 273 bytes. LZ4: a
 * match grows by 255 bytes per byte of its length. A larger raw size is corrupt, and is
 * refused before its buffer is allocated (a page could claim 1 GB from a few bytes). */
static uint64_t max_expansion(int method, size_t srclen)
{
    if (method == PGD_CMP_PGLZ)
        return (uint64_t)srclen * (8 * 273) / 25 + 8 * 273;
    return (uint64_t)srclen * 255 + 255;
}

/* Decompress a stream (src, after va_tcinfo) of rawsize bytes into target (rawsize bytes
 * the caller provides) or, target NULL, into ctx->raw. */
static cd_code decompress(cd_valctx *ctx, int method, const uint8_t *src, size_t srclen,
                          uint32_t rawsize, uint8_t *target, const uint8_t **out, cd_err *err)
{
    if (rawsize > MAX_VALUE_BYTES)
        return cd_fail(err, CD_ECORRUPT, "compressed value claims %u bytes", rawsize);
    if (rawsize > max_expansion(method, srclen)) { /* corrupt: checked before allocating */
        cd_fail(err, CD_ECORRUPT, "compressed value claims %u bytes", rawsize);
        return cd_detail(err, "its %zu compressed bytes can hold at most %llu", srclen,
                         (unsigned long long)max_expansion(method, srclen));
    }
    cd_code rc =
        target != NULL ? CD_OK : reserve(&ctx->raw, &ctx->raw_cap, rawsize ? rawsize : 1, err);
    if (rc != CD_OK)
        return rc;
    uint8_t *dst = target != NULL ? target : ctx->raw;
    if (method == PGD_CMP_PGLZ) {
        rc = cd_pglz_decompress(src, srclen, dst, rawsize, err);
    } else if (method == PGD_CMP_LZ4) {
        if (srclen > INT32_MAX)
            return cd_fail(err, CD_ECORRUPT, "lz4 value too large");
        int n = LZ4_decompress_safe((const char *)src, (char *)dst, (int)srclen, (int)rawsize);
        if (n < 0 || (uint32_t)n != rawsize) {
            cd_fail(err, CD_ECORRUPT, "invalid lz4 compressed value");
            return cd_detail(err, "lz4 returned %d, expected %u bytes", n, rawsize);
        }
    } else {
        return cd_fail(err, CD_EUNSUPPORTED, "unknown compression method %d", method);
    }
    *out = dst;
    return rc;
}

static cd_code detoast_external(cd_valctx *ctx, const uint8_t *p, uint8_t *target,
                                const uint8_t **out, size_t *outlen, cd_err *err)
{
    uint8_t ptr[PGD_TOAST_POINTER_SIZE];
    memcpy(ptr, p + 2, sizeof ptr);
    uint32_t rawsize = cd_rd32(ptr), extinfo = cd_rd32(ptr + 4);
    uint32_t valueid = cd_rd32(ptr + 8), relid = cd_rd32(ptr + 12);
    uint32_t extsize = extinfo & PGD_VARLENA_EXTSIZE_MASK;
    if (ctx->toast == NULL || cd_toast_relid(ctx->toast) != relid) {
        cd_fail(err, CD_ECORRUPT, "toast pointer to an unexpected relation %u", relid);
        return cd_detail(err, "value %u; the table's toast relation is %u", valueid,
                         ctx->toast ? cd_toast_relid(ctx->toast) : 0);
    }
    if (rawsize < 4 || rawsize - 4 > MAX_VALUE_BYTES || extsize > rawsize - 4) {
        cd_fail(err, CD_ECORRUPT, "invalid toast pointer");
        return cd_detail(err, "value %u: raw size %u, stored size %u", valueid, rawsize, extsize);
    }
    cd_code rc = reserve(&ctx->ext, &ctx->ext_cap, extsize ? extsize : 1, err);
    if (rc == CD_OK)
        rc = cd_toast_fetch(ctx->toast, valueid, extsize, ctx->ext, err);
    if (rc != CD_OK)
        return rc;
    if (extsize == rawsize - 4) {
        *out = ctx->ext;
        *outlen = extsize;
        return CD_OK;
    }
    if (extsize < 4)
        return cd_fail(err, CD_ECORRUPT, "compressed toast value %u is too short", valueid);
    uint32_t tcinfo = cd_rd32(ctx->ext), raw = tcinfo & PGD_VARLENA_EXTSIZE_MASK;
    if (raw != rawsize - 4) {
        cd_fail(err, CD_ECORRUPT, "compressed toast value has an inconsistent size");
        return cd_detail(err, "value %u: pointer says %u bytes, data says %u", valueid, rawsize - 4,
                         raw);
    }
    *outlen = raw;
    return decompress(ctx, (int)(tcinfo >> 30), ctx->ext + 4, extsize - 4, raw, target, out, err);
}

/* cd_detoast; a compressed value is decompressed into target when not NULL (the caller
 * provides its raw size, compressed_rawsize). */
static cd_code detoast(cd_valctx *ctx, const uint8_t *p, uint32_t len, uint8_t *target,
                       const uint8_t **out, size_t *outlen, cd_err *err)
{
    uint8_t b0 = p[0];
    if (b0 == 0x01)
        return detoast_external(ctx, p, target, out, outlen, err);
    if (b0 & 1) {
        *out = p + 1;
        *outlen = len - 1;
        return CD_OK;
    }
    if ((b0 & 3) == 0) {
        *out = p + 4;
        *outlen = len - 4;
        return CD_OK;
    }
    if ((b0 & 3) != 2 || len < 8)
        return cd_fail(err, CD_ECORRUPT, "invalid varlena header 0x%02x", b0);
    uint32_t tcinfo = cd_rd32(p + 4);
    *outlen = tcinfo & PGD_VARLENA_EXTSIZE_MASK;
    return decompress(ctx, (int)(tcinfo >> 30), p + 8, len - 8, (uint32_t)*outlen, target, out,
                      err);
}

cd_code cd_detoast(cd_valctx *ctx, const uint8_t *p, uint32_t len, const uint8_t **out,
                   size_t *outlen, cd_err *err)
{
    return detoast(ctx, p, len, NULL, out, outlen, err);
}

/* Raw (decompressed) payload size of a compressed varlena (len bytes at p), 0 when it is not
 * compressed or its header is not sound (the general path reports that). */
static uint32_t compressed_rawsize(const uint8_t *p, uint32_t len)
{
    if (p[0] == 0x01 && len >= 2 + PGD_TOAST_POINTER_SIZE) {
        uint32_t rawsize = cd_rd32(p + 2), extsize = cd_rd32(p + 6) & PGD_VARLENA_EXTSIZE_MASK;
        return rawsize >= 4 && extsize < rawsize - 4 ? rawsize - 4 : 0;
    }
    if ((p[0] & 3) == 2 && len >= 8)
        return cd_rd32(p + 4) & PGD_VARLENA_EXTSIZE_MASK;
    return 0;
}

static bool elem_is_float(uint32_t elemoid)
{
    return elemoid == PGD_FLOAT4OID || elemoid == PGD_FLOAT8OID;
}

/* Fill n elements of size sz at dst with the NULL value (NaN for floats, else 0). */
static void fill_null(uint8_t *dst, size_t n, size_t sz, uint32_t elemoid)
{
    if (!elem_is_float(elemoid)) {
        memset(dst, 0, n * sz);
        return;
    }
    float f = NAN;
    double d = NAN;
    for (size_t i = 0; i < n; i++)
        memcpy(dst + i * sz, sz == 4 ? (const void *)&f : (const void *)&d, sz);
}

static cd_code array_dims(const cd_attr *a, const uint8_t *pl, size_t plen, cd_value *v,
                          size_t *nitems, cd_err *err)
{
    if (plen < 12)
        return cd_fail(err, CD_ECORRUPT, "array of %zu bytes is shorter than its header", plen);
    int32_t ndim = (int32_t)cd_rd32(pl);
    uint32_t elemtype = cd_rd32(pl + 8);
    if (ndim < 0 || ndim > PGD_MAXDIM || plen < 12 + 8 * (size_t)ndim)
        return cd_fail(err, CD_ECORRUPT, "array has an invalid number of dimensions %d", ndim);
    if (ndim > 0 && elemtype != a->elemoid) {
        cd_fail(err, CD_ECORRUPT, "array element type %u does not match column \"%s\"", elemtype,
                a->name);
        return cd_detail(err, "expected element type %u", a->elemoid);
    }
    uint64_t n = ndim > 0 ? 1 : 0;
    for (int i = 0; i < ndim; i++) {
        int32_t dim = (int32_t)cd_rd32(pl + 12 + 4 * i);
        if (dim < 0 || (n *= (uint64_t)dim) > MAX_VALUE_BYTES)
            return cd_fail(err, CD_ECORRUPT, "array has an invalid dimension %d", dim);
        v->dims[i] = dim;
    }
    v->ndim = ndim;
    *nitems = (size_t)n;
    return CD_OK;
}

/* Element data of an array whose payload (after the varlena header) is pl[0..plen). */
static cd_code array_value(cd_valctx *ctx, const cd_attr *a, const uint8_t *pl, size_t plen,
                           cd_value *v, cd_err *err)
{
    size_t n = 0, sz = (size_t)a->elemlen;
    cd_code rc = array_dims(a, pl, plen, v, &n, err);
    if (rc != CD_OK)
        return rc;
    int32_t dataoffset = (int32_t)cd_rd32(pl + 4);
    size_t hdr = 16 + 8 * (size_t)v->ndim; /* with a virtual 4-byte header */
    size_t nulls_at = hdr - 4, data_at = ((hdr + 7) & ~(size_t)7) - 4;
    if (dataoffset != 0) {
        if (dataoffset < 0 || (size_t)dataoffset < hdr + (n + 7) / 8 || dataoffset % 8 != 0 ||
            (size_t)dataoffset - 4 > plen)
            return cd_fail(err, CD_ECORRUPT, "array has an invalid data offset %d", dataoffset);
        data_at = (size_t)dataoffset - 4;
    }
    v->len = n * sz;
    v->null_elems = 0;
    if (dataoffset == 0) {
        if (plen - data_at != n * sz || data_at > plen) {
            cd_fail(err, CD_ECORRUPT, "array data size does not match its dimensions");
            return cd_detail(err, "%zu elements of %zu bytes, %zu bytes of data", n, sz,
                             plen > data_at ? plen - data_at : 0);
        }
        v->data = pl + data_at;
        return CD_OK;
    }
    if ((rc = reserve(&ctx->elems, &ctx->elems_cap, v->len ? v->len : 1, err)) != CD_OK)
        return rc;
    const uint8_t *bits = pl + nulls_at, *src = pl + data_at, *end = pl + plen;
    for (size_t i = 0; i < n; i++) {
        uint8_t *dst = ctx->elems + i * sz;
        if (!(bits[i >> 3] & (1 << (i & 7)))) {
            fill_null(dst, 1, sz, a->elemoid);
            v->null_elems++;
            continue;
        }
        if ((size_t)(end - src) < sz)
            return cd_fail(err, CD_ECORRUPT, "array elements extend beyond the array");
        memcpy(dst, src, sz);
        src += sz;
    }
    if (src != end)
        return cd_fail(err, CD_ECORRUPT, "array has %zu trailing bytes", (size_t)(end - src));
    v->data = ctx->elems;
    return CD_OK;
}

/* Bytes of the array header before the elements when a compressed array of rawsize bytes
 * would have exactly dest->len bytes of elements and no NULL bitmap (12 + 8 * ndim), 0 when
 * it cannot or dest has too little room before p for it. */
static size_t direct_headroom(const cd_value_dest *dest, uint32_t rawsize)
{
    if (dest == NULL || rawsize <= dest->len)
        return 0;
    size_t h = rawsize - dest->len;
    bool shape = h >= 20 && (h - 12) % 8 == 0 && (h - 12) / 8 <= PGD_MAXDIM;
    return shape && h <= dest->headroom ? h : 0;
}

/* An array decompressed at dest->p - h (h bytes of header, then the elements at dest->p):
 * its value, the h bytes before dest->p restored. v->data is dest->p, or ctx->elems when
 * the array turned out to have NULLs or another layout. */
static cd_code array_in_place(cd_valctx *ctx, const cd_attr *a, const cd_datum *d,
                              const cd_value_dest *dest, size_t h, cd_value *v, cd_err *err)
{
    uint8_t saved[12 + 8 * PGD_MAXDIM], *at = dest->p - h;
    memcpy(saved, at, h);
    const uint8_t *pl;
    size_t plen;
    cd_code rc = detoast(ctx, d->p, d->len, at, &pl, &plen, err);
    if (rc == CD_OK)
        rc = array_value(ctx, a, pl, plen, v, err);
    uintptr_t x = (uintptr_t)v->data, lo = (uintptr_t)at, hi = (uintptr_t)(dest->p + dest->len);
    bool inside = rc == CD_OK && x >= lo && x < hi;
    if (inside && v->data != dest->p) { /* elements elsewhere in the region: move them out */
        rc = reserve(&ctx->elems, &ctx->elems_cap, v->len ? v->len : 1, err);
        if (rc == CD_OK)
            memmove(ctx->elems, v->data, v->len);
        v->data = ctx->elems;
    }
    memcpy(at, saved, h);
    return rc;
}

static cd_code varlena_value(cd_valctx *ctx, const cd_attr *a, const cd_datum *d,
                             const cd_value_dest *dest, cd_value *v, cd_err *err)
{
    size_t h =
        a->kind == CD_KIND_ARRAY ? direct_headroom(dest, compressed_rawsize(d->p, d->len)) : 0;
    if (h > 0)
        return array_in_place(ctx, a, d, dest, h, v, err);
    const uint8_t *pl;
    size_t plen;
    cd_code rc = cd_detoast(ctx, d->p, d->len, &pl, &plen, err);
    if (rc != CD_OK)
        return rc;
    if (a->kind == CD_KIND_VARLENA) {
        v->data = pl;
        v->len = plen;
        return CD_OK;
    }
    if (a->kind == CD_KIND_NUMERIC) {
        double x;
        rc = cd_numeric_disk_to_double(pl, plen, &x, err);
        memcpy(v->scalar, &x, sizeof x);
        v->data = v->scalar;
        v->len = sizeof x;
        return rc;
    }
    return array_value(ctx, a, pl, plen, v, err);
}

static cd_code missing_value(cd_valctx *ctx, const cd_attr *a, cd_value *v, cd_err *err);

cd_code cd_value_from_datum(cd_valctx *ctx, const cd_attr *a, const cd_datum *d, cd_value *v,
                            cd_err *err)
{
    return cd_value_into(ctx, a, d, NULL, v, err);
}

cd_code cd_value_into(cd_valctx *ctx, const cd_attr *a, const cd_datum *d,
                      const cd_value_dest *dest, cd_value *v, cd_err *err)
{
    v->isnull = false;
    v->ndim = 0;
    v->null_elems = 0;
    if (d->missing)
        return missing_value(ctx, a, v, err);
    if (d->isnull) {
        v->isnull = true;
        v->data = NULL;
        v->len = 0;
        return CD_OK;
    }
    if (a->kind == CD_KIND_SCALAR) {
        if (d->len != (uint32_t)a->elemlen)
            return cd_fail(err, CD_ECORRUPT, "column \"%s\" has a value of %u bytes", a->name,
                           d->len);
        memcpy(v->scalar, d->p, d->len);
        v->data = v->scalar;
        v->len = d->len;
        return CD_OK;
    }
    if (a->kind == CD_KIND_UNSUPPORTED)
        return cd_fail(err, CD_EUNSUPPORTED, "column \"%s\" has unsupported type %s", a->name,
                       a->typname);
    cd_code rc = varlena_value(ctx, a, d, dest, v, err);
    if (rc != CD_OK)
        cd_context(err, "column \"%s\"", a->name);
    return rc;
}

/* ---- COPY BINARY side ---- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

cd_code cd_value_from_copybin(cd_valctx *ctx, const cd_attr *a, const uint8_t *p, int32_t len,
                              cd_value *v, cd_err *err)
{
    v->isnull = len < 0;
    v->ndim = 0;
    v->null_elems = 0;
    v->data = NULL;
    v->len = 0;
    if (v->isnull)
        return CD_OK;
    switch (a->kind) {
    case CD_KIND_SCALAR:
        v->data = v->scalar;
        v->len = (size_t)a->elemlen;
        if ((int32_t)v->len != len)
            return cd_fail(err, CD_ECORRUPT, "binary value of column \"%s\" has %d bytes", a->name,
                           len);
        return cd_copybin_scalar(a->typoid, p, len, v->scalar, err);
    case CD_KIND_NUMERIC: {
        double x;
        cd_code rc = cd_numeric_copybin_to_double(p, (size_t)len, &x, err);
        memcpy(v->scalar, &x, sizeof x);
        v->data = v->scalar;
        v->len = sizeof x;
        return rc;
    }
    case CD_KIND_VARLENA:
        v->data = p;
        v->len = (size_t)len;
        return CD_OK;
    case CD_KIND_ARRAY:
        break;
    default:
        return cd_fail(err, CD_EUNSUPPORTED, "column \"%s\" has unsupported type %s", a->name,
                       a->typname);
    }
    size_t cap = (size_t)len; /* elements never take more room than their wire form */
    cd_code rc = reserve(&ctx->elems, &ctx->elems_cap, cap ? cap : 1, err);
    int has_null = 0;
    size_t nbytes = 0;
    if (rc == CD_OK)
        rc = cd_copybin_array(p, len, a->elemoid, &v->ndim, v->dims, &has_null, ctx->elems,
                              ctx->elems_cap, &nbytes, err);
    v->data = ctx->elems;
    v->len = nbytes;
    v->null_elems = has_null ? 1 : 0;
    return rc;
}

/* attmissingval as array_send(): a one-element array whose element is the value. */
static cd_code missing_value(cd_valctx *ctx, const cd_attr *a, cd_value *v, cd_err *err)
{
    if (!a->has_missing || a->missing_null) {
        v->isnull = true;
        v->data = NULL;
        v->len = 0;
        return CD_OK;
    }
    const uint8_t *m = a->missing;
    if (a->missing_len < 24 || be32(m) != 1 || be32(m + 12) != 1)
        return cd_fail(err, CD_ECORRUPT, "unexpected missing value of column \"%s\"", a->name);
    int32_t elen = (int32_t)be32(m + 20);
    if (elen >= 0 && (uint32_t)elen > a->missing_len - 24)
        return cd_fail(err, CD_ECORRUPT, "truncated missing value of column \"%s\"", a->name);
    return cd_value_from_copybin(ctx, a, m + 24, elen, v, err);
}

/* ---- shapes without decoding ---- */

#define ARRAY_HEADER_MAX (12 + 8 * PGD_MAXDIM) /* ndim, dataoffset, elemtype, dims, lbounds */

/* First want bytes of a compressed stream (src, after va_tcinfo) into ctx->raw. */
static cd_code decompress_prefix(cd_valctx *ctx, int method, const uint8_t *src, size_t srclen,
                                 size_t want, cd_err *err)
{
    cd_code rc = reserve(&ctx->raw, &ctx->raw_cap, want ? want : 1, err);
    if (rc != CD_OK)
        return rc;
    if (method == PGD_CMP_PGLZ)
        return cd_pglz_decompress_prefix(src, srclen, ctx->raw, want, err);
    if (method != PGD_CMP_LZ4)
        return cd_fail(err, CD_EUNSUPPORTED, "unknown compression method %d", method);
    int n = LZ4_decompress_safe_partial((const char *)src, (char *)ctx->raw, (int)srclen, (int)want,
                                        (int)want);
    if (n < (int)want)
        return cd_fail(err, CD_ECORRUPT, "lz4 stream truncated before %zu bytes", want);
    return CD_OK;
}

/* The first want bytes of the payload of an external value into *out. */
static cd_code external_prefix(cd_valctx *ctx, const uint8_t *p, size_t want, const uint8_t **out,
                               cd_err *err)
{
    uint8_t ptr[PGD_TOAST_POINTER_SIZE];
    memcpy(ptr, p + 2, sizeof ptr);
    uint32_t rawsize = cd_rd32(ptr), extsize = cd_rd32(ptr + 4) & PGD_VARLENA_EXTSIZE_MASK;
    if (ctx->toast == NULL || cd_toast_relid(ctx->toast) != cd_rd32(ptr + 12) ||
        extsize > rawsize - 4 || extsize <= 4) {
        size_t len; /* the general path reports what is wrong */
        return cd_detoast(ctx, p, 2 + PGD_TOAST_POINTER_SIZE, out, &len, err);
    }
    if (extsize == rawsize - 4) { /* stored uncompressed: its first chunks are the prefix */
        cd_code rc = reserve(&ctx->ext, &ctx->ext_cap, want, err);
        if (rc == CD_OK)
            rc = cd_toast_fetch_prefix(ctx->toast, cd_rd32(ptr + 8), extsize, (uint32_t)want,
                                       ctx->ext, err);
        *out = ctx->ext;
        return rc;
    }
    /* compressed: the first chunk is usually enough; else the whole value */
    uint32_t stored = extsize < 4096 ? extsize : 4096;
    cd_code rc = reserve(&ctx->ext, &ctx->ext_cap, stored, err);
    if (rc == CD_OK)
        rc = cd_toast_fetch_prefix(ctx->toast, cd_rd32(ptr + 8), extsize, stored, ctx->ext, err);
    if (rc == CD_OK)
        rc = decompress_prefix(ctx, (int)(cd_rd32(ctx->ext) >> 30), ctx->ext + 4, stored - 4, want,
                               err);
    if (rc == CD_ECORRUPT && stored < extsize) {
        size_t len;
        return cd_detoast(ctx, p, 2 + PGD_TOAST_POINTER_SIZE, out, &len, err);
    }
    *out = ctx->raw;
    return rc;
}

/* Payload size of a varlena from its header, and the first want (<= size) payload bytes. */
static cd_code varlena_prefix(cd_valctx *ctx, const uint8_t *p, uint32_t len, size_t want,
                              const uint8_t **out, uint64_t *size, cd_err *err)
{
    uint8_t b0 = p[0];
    if (b0 == 0x01) {
        uint32_t rawsize = cd_rd32(p + 2);
        if (rawsize < 4)
            return cd_fail(err, CD_ECORRUPT, "invalid toast pointer raw size %u", rawsize);
        *size = rawsize - 4;
        want = want < *size ? want : (size_t)*size;
        return want ? external_prefix(ctx, p, want, out, err) : CD_OK;
    }
    if ((b0 & 1) || (b0 & 3) == 0) {
        size_t hdr = (b0 & 1) ? 1 : 4;
        *size = len - hdr;
        *out = p + hdr;
        return CD_OK;
    }
    if ((b0 & 3) != 2 || len < 8)
        return cd_fail(err, CD_ECORRUPT, "invalid varlena header 0x%02x", b0);
    uint32_t tcinfo = cd_rd32(p + 4);
    *size = tcinfo & PGD_VARLENA_EXTSIZE_MASK;
    want = want < *size ? want : (size_t)*size;
    cd_code rc =
        want ? decompress_prefix(ctx, (int)(tcinfo >> 30), p + 8, len - 8, want, err) : CD_OK;
    *out = ctx->raw; /* after decompress_prefix: it may move ctx->raw */
    return rc;
}

/* Count the zero bits of the first n bits of a null bitmap. */
static uint64_t count_nulls(const uint8_t *bits, size_t n)
{
    uint64_t nulls = 0;
    for (size_t i = 0; i < n; i++)
        nulls += !(bits[i >> 3] & (1 << (i & 7)));
    return nulls;
}

/* Dimensions and NULL elements of an array from its header (pl: a prefix of the payload,
 * size: the payload's size); the null bitmap is peeked at only when the array has one. */
static cd_code array_shape(cd_valctx *ctx, const cd_attr *a, const cd_datum *d, const uint8_t *pl,
                           uint64_t size, cd_value_shape *sh, cd_err *err)
{
    cd_value v = {0};
    size_t n = 0;
    size_t have = size < ARRAY_HEADER_MAX ? (size_t)size : ARRAY_HEADER_MAX;
    cd_code rc = array_dims(a, pl, have, &v, &n, err);
    if (rc != CD_OK)
        return rc;
    sh->ndim = v.ndim;
    memcpy(sh->dims, v.dims, sizeof sh->dims);
    sh->len = (uint64_t)n * (uint64_t)a->elemlen;
    if (cd_rd32(pl + 4) == 0 || n == 0) /* dataoffset 0: no null bitmap */
        return CD_OK;
    size_t bits_at = 12 + 8 * (size_t)v.ndim, want = bits_at + (n + 7) / 8;
    if (want > size)
        return cd_fail(err, CD_ECORRUPT, "array null bitmap extends beyond the array");
    uint64_t ignored;
    rc = varlena_prefix(ctx, d->p, d->len, want, &pl, &ignored, err);
    if (rc == CD_OK)
        sh->null_elems = count_nulls(pl + bits_at, n);
    return rc;
}

static void shape_from_value(const cd_value *v, cd_value_shape *sh)
{
    sh->isnull = v->isnull;
    sh->len = v->isnull ? 0 : v->len;
    sh->ndim = v->ndim;
    memcpy(sh->dims, v->dims, sizeof sh->dims);
    sh->null_elems = v->null_elems;
}

cd_code cd_value_shape_of(cd_valctx *ctx, const cd_attr *a, const cd_datum *d, cd_value_shape *sh,
                          cd_err *err)
{
    memset(sh, 0, sizeof *sh);
    if (d->missing || a->kind == CD_KIND_SCALAR || a->kind == CD_KIND_NUMERIC) {
        cd_value v; /* cheap: no decompression */
        cd_code rc = cd_value_plain(a, d, &v) ? CD_OK : cd_value_from_datum(ctx, a, d, &v, err);
        shape_from_value(&v, sh);
        return rc;
    }
    if (d->isnull) {
        sh->isnull = true;
        return CD_OK;
    }
    if (a->kind == CD_KIND_UNSUPPORTED)
        return cd_fail(err, CD_EUNSUPPORTED, "column \"%s\" has unsupported type %s", a->name,
                       a->typname);
    const uint8_t *pl = NULL;
    uint64_t size = 0;
    size_t want = a->kind == CD_KIND_ARRAY ? ARRAY_HEADER_MAX : 0;
    cd_code rc = varlena_prefix(ctx, d->p, d->len, want, &pl, &size, err);
    if (rc == CD_OK && a->kind == CD_KIND_VARLENA)
        sh->len = size;
    if (rc == CD_OK && a->kind == CD_KIND_ARRAY)
        rc = array_shape(ctx, a, d, pl, size, sh, err);
    if (rc != CD_OK)
        cd_context(err, "column \"%s\"", a->name);
    return rc;
}
