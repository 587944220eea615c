/*
 * pgcopy.c: COPY BINARY stream parser and binary send-format decoders (see pgcopy.h).
 *
 * The parser works on the unconsumed bytes: from the caller's buffer directly while nothing is
 * pending, from an internal accumulation buffer otherwise (a partial tuple is copied there
 * and completed by later feeds). A tuple is retried only once enough bytes have arrived to
 * get past the point where it stopped, so byte-by-byte feeding stays linear.
 * Format: PostgreSQL src/backend/commands/copyto.c (CopySendInt16/32, CopyOneRowTo) and
 * src/backend/utils/adt/arrayfuncs.c array_send; all integers big-endian.
 */
#include "pgcopy.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pgdisk.h"

#define COPY_FLAG_OIDS (1u << 16)
#define COPY_FLAG_CRITICAL 0xFFFFu
#define COPY_MAX_EXTENSION (1u << 20)

enum copy_state { ST_HEADER, ST_TUPLES, ST_DONE, ST_FAILED };

struct cd_copybin {
    enum copy_state state;
    uint8_t *buf;          /* [cap] pending bytes of an incomplete header or tuple */
    size_t len, cap;       /* bytes pending, allocated */
    size_t need;           /* do not retry before this many bytes are pending */
    uint64_t offset;       /* stream offset of the first unconsumed byte */
    uint64_t rows;         /* tuples delivered */
    int nfields;           /* fields per tuple, -1 before the first tuple */
    const uint8_t **field; /* [fcap] pointers handed to the callback */
    int32_t *flen;         /* [fcap] lengths handed to the callback */
    int fcap;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* ------------------------------------------------------------------ parser state */

cd_code cd_copybin_new(cd_copybin **out, cd_err *err)
{
    if (out == NULL)
        return cd_fail(err, CD_EINVAL, "copy parser pointer is null");
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    (*out)->state = ST_HEADER;
    (*out)->nfields = -1;
    return CD_OK;
}

void cd_copybin_free(cd_copybin **p)
{
    if (p == NULL || *p == NULL)
        return;
    free((*p)->buf);
    free((*p)->field);
    free((*p)->flen);
    free(*p);
    *p = NULL;
}

uint64_t cd_copybin_rows(const cd_copybin *p)
{
    return p ? p->rows : 0;
}

static cd_code grow_fields(cd_copybin *p, int n, cd_err *err)
{
    if (n <= p->fcap)
        return CD_OK;
    const uint8_t **f = realloc(p->field, (size_t)n * sizeof *f);
    if (f != NULL)
        p->field = f;
    int32_t *l = realloc(p->flen, (size_t)n * sizeof *l);
    if (l != NULL)
        p->flen = l;
    if (f == NULL || l == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    p->fcap = n;
    return CD_OK;
}

/* Append n bytes to the pending buffer. */
static cd_code pend(cd_copybin *p, const uint8_t *buf, size_t n, cd_err *err)
{
    if (n > SIZE_MAX / 2 - p->len)
        return cd_fail(err, CD_ENOMEM, "copy row too large");
    if (p->len + n > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + n)
            cap *= 2;
        uint8_t *b = realloc(p->buf, cap);
        if (b == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory");
        p->buf = b;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, buf, n);
    p->len += n;
    return CD_OK;
}

/* Mark the parser dead and add where it failed to the error. */
static cd_code dead(cd_copybin *p, cd_code rc, cd_err *err)
{
    p->state = ST_FAILED;
    cd_context(err, "copy row %" PRIu64 ", stream offset %" PRIu64, p->rows + 1, p->offset);
    return rc;
}

/* ------------------------------------------------------------------ header and tuples */

/* Parse the file header from d[n]. *used = bytes consumed, 0 when more are needed. */
static cd_code parse_header(cd_copybin *p, const uint8_t *d, size_t n, size_t *used, cd_err *err)
{
    *used = 0;
    size_t chk = n < CD_COPYBIN_SIGLEN ? n : CD_COPYBIN_SIGLEN;
    if (memcmp(d, CD_COPYBIN_SIGNATURE, chk) != 0)
        return cd_fail(err, CD_ECORRUPT, "bad copy binary signature");
    if (n < CD_COPYBIN_HEADER) {
        p->need = CD_COPYBIN_HEADER;
        return CD_OK;
    }
    uint32_t flags = be32(d + CD_COPYBIN_SIGLEN);
    uint32_t ext = be32(d + CD_COPYBIN_SIGLEN + 4);
    if (flags & COPY_FLAG_OIDS)
        return cd_fail(err, CD_EUNSUPPORTED, "copy data with oids is not supported");
    if (flags & COPY_FLAG_CRITICAL) {
        cd_fail(err, CD_EUNSUPPORTED, "unknown critical copy header flags");
        return cd_detail(err, "flags 0x%08x", flags);
    }
    if (ext > COPY_MAX_EXTENSION) {
        cd_fail(err, CD_ECORRUPT, "copy header extension too long");
        return cd_detail(err, "extension length %" PRId32, (int32_t)ext);
    }
    if (n < CD_COPYBIN_HEADER + ext) {
        p->need = CD_COPYBIN_HEADER + ext;
        return CD_OK;
    }
    *used = CD_COPYBIN_HEADER + ext;
    p->state = ST_TUPLES;
    return CD_OK;
}

/* Field count of a tuple, checked against the first tuple's. */
static cd_code check_count(cd_copybin *p, int16_t fc, cd_err *err)
{
    if (fc < 0) {
        cd_fail(err, CD_ECORRUPT, "invalid copy field count");
        return cd_detail(err, "field count %d", fc);
    }
    if (p->nfields >= 0 && fc != p->nfields) {
        cd_fail(err, CD_ECORRUPT, "copy field count changed");
        return cd_detail(err, "%d fields, earlier rows had %d", fc, p->nfields);
    }
    p->nfields = fc;
    return grow_fields(p, fc, err);
}

/* Locate the fields of the tuple at d[2..n). *used = tuple length, 0 when incomplete. */
static cd_code scan_fields(cd_copybin *p, int fc, const uint8_t *d, size_t n, size_t *used,
                           cd_err *err)
{
    size_t pos = 2;
    *used = 0;
    for (int i = 0; i < fc; i++) {
        if (n - pos < 4) {
            p->need = pos + 4;
            return CD_OK;
        }
        int32_t l = (int32_t)be32(d + pos);
        pos += 4;
        if (l < -1 || l > CD_COPYBIN_MAX_FIELD) {
            cd_fail(err, CD_ECORRUPT, "invalid copy field length");
            return cd_detail(err, "field %d has length %" PRId32, i + 1, l);
        }
        if (l >= 0 && n - pos < (size_t)l) {
            p->need = pos + (size_t)l;
            return CD_OK;
        }
        p->field[i] = l < 0 ? NULL : d + pos;
        p->flen[i] = l;
        pos += l < 0 ? 0 : (size_t)l;
    }
    *used = pos;
    return CD_OK;
}

/* Parse one tuple or the trailer from d[n]. *used = bytes consumed, 0 when more needed. */
static cd_code parse_tuple(cd_copybin *p, const uint8_t *d, size_t n, size_t *used,
                           cd_copybin_row_fn fn, void *arg, cd_err *err)
{
    *used = 0;
    if (n < 2) {
        p->need = 2;
        return CD_OK;
    }
    int16_t fc = (int16_t)be16(d);
    if (fc == -1) {
        if (n > 2)
            return cd_fail(err, CD_ECORRUPT, "data after the copy trailer");
        p->state = ST_DONE;
        *used = 2;
        return CD_OK;
    }
    cd_code rc = check_count(p, fc, err);
    if (rc == CD_OK)
        rc = scan_fields(p, fc, d, n, used, err);
    if (rc != CD_OK || *used == 0)
        return rc;
    rc = fn ? fn(arg, fc, p->field, p->flen, err) : CD_OK;
    if (rc != CD_OK)
        *used = 0;
    else
        p->rows++;
    return rc;
}

/* Parse as much of d[n] as possible; *used = bytes consumed. */
static cd_code parse_some(cd_copybin *p, const uint8_t *d, size_t n, size_t *used,
                          cd_copybin_row_fn fn, void *arg, cd_err *err)
{
    *used = 0;
    p->need = 0;
    while (p->state == ST_HEADER || (p->state == ST_TUPLES && *used < n)) {
        size_t k = 0;
        cd_code rc = p->state == ST_HEADER ? parse_header(p, d + *used, n - *used, &k, err)
                                           : parse_tuple(p, d + *used, n - *used, &k, fn, arg, err);
        if (rc != CD_OK)
            return dead(p, rc, err);
        if (k == 0)
            break;
        *used += k;
        p->offset += k;
    }
    return CD_OK;
}

/* Parse the pending buffer and keep only its unconsumed tail. */
static cd_code parse_pending(cd_copybin *p, cd_copybin_row_fn fn, void *arg, cd_err *err)
{
    size_t used = 0;
    cd_code rc = parse_some(p, p->buf, p->len, &used, fn, arg, err);
    if (rc != CD_OK)
        return rc;
    memmove(p->buf, p->buf + used, p->len - used);
    p->len -= used;
    return CD_OK;
}

cd_code cd_copybin_feed(cd_copybin *p, const uint8_t *buf, size_t n, cd_copybin_row_fn fn,
                        void *arg, cd_err *err)
{
    if (p == NULL || (buf == NULL && n > 0))
        return cd_fail(err, CD_EINVAL, "copy parser or buffer is null");
    if (p->state == ST_FAILED)
        return cd_fail(err, CD_EINVAL, "copy parser failed earlier");
    if (n == 0)
        return CD_OK;
    if (p->state == ST_DONE) {
        cd_fail(err, CD_ECORRUPT, "data after the copy trailer");
        return dead(p, CD_ECORRUPT, err);
    }
    if (p->len > 0) {
        cd_code rc = pend(p, buf, n, err);
        if (rc != CD_OK)
            return dead(p, rc, err);
        return p->len >= p->need ? parse_pending(p, fn, arg, err) : CD_OK;
    }
    size_t used = 0;
    cd_code rc = parse_some(p, buf, n, &used, fn, arg, err);
    if (rc == CD_OK && used < n)
        rc = pend(p, buf + used, n - used, err);
    return rc;
}

cd_code cd_copybin_finish(cd_copybin *p, cd_err *err)
{
    if (p == NULL)
        return cd_fail(err, CD_EINVAL, "copy parser is null");
    if (p->state == ST_FAILED)
        return cd_fail(err, CD_EINVAL, "copy parser failed earlier");
    if (p->state == ST_DONE)
        return CD_OK;
    cd_fail(err, CD_ECORRUPT, "%s",
            p->state == ST_HEADER ? "copy data ended before its header"
                                  : "copy data ended without a trailer");
    cd_detail(err, "%zu bytes of an incomplete %s left", p->len,
              p->state == ST_HEADER ? "header" : "row");
    return dead(p, CD_ECORRUPT, err);
}

/* ------------------------------------------------------------------ value decoders */

static size_t type_size(uint32_t oid)
{
    switch (oid) {
    case PGD_BOOLOID:
        return 1;
    case PGD_INT2OID:
        return 2;
    case PGD_INT4OID:
    case PGD_FLOAT4OID:
        return 4;
    case PGD_INT8OID:
    case PGD_FLOAT8OID:
        return 8;
    default:
        return 0;
    }
}

/* Big-endian value of size bytes at p to the native value at out. */
static void decode_be(size_t size, const uint8_t *p, uint8_t *out)
{
    if (size == 1) {
        out[0] = p[0] != 0;
    } else if (size == 2) {
        uint16_t v = be16(p);
        memcpy(out, &v, 2);
    } else if (size == 4) {
        uint32_t v = be32(p);
        memcpy(out, &v, 4);
    } else {
        uint64_t v = be64(p);
        memcpy(out, &v, 8);
    }
}

/* The value a NULL element becomes: NaN for floats, 0 otherwise. */
static void null_value(uint32_t oid, size_t size, uint8_t *out)
{
    if (oid == PGD_FLOAT4OID) {
        float f = NAN;
        memcpy(out, &f, 4);
    } else if (oid == PGD_FLOAT8OID) {
        double d = NAN;
        memcpy(out, &d, 8);
    } else {
        memset(out, 0, size);
    }
}

cd_code cd_copybin_scalar(uint32_t typoid, const uint8_t *p, int32_t len, void *out, cd_err *err)
{
    size_t size = type_size(typoid);
    if (size == 0)
        return cd_fail(err, CD_EUNSUPPORTED, "unsupported scalar type oid %" PRIu32, typoid);
    if (len == -1)
        return cd_fail(err, CD_EINVAL, "null value passed to the scalar decoder");
    if (p == NULL || out == NULL)
        return cd_fail(err, CD_EINVAL, "scalar decoder buffer is null");
    if (len < 0 || (size_t)len != size) {
        cd_fail(err, CD_ECORRUPT, "binary value has the wrong length");
        return cd_detail(err, "type oid %" PRIu32 ": %" PRId32 " bytes, expected %zu", typoid, len,
                         size);
    }
    decode_be(size, p, out);
    return CD_OK;
}

/* Array header: ndim, flags, element oid, dims (lower bounds skipped). Sets *nitems. */
static cd_code array_header(const uint8_t *p, size_t len, uint32_t elemoid, int *ndim, int dims[6],
                            uint64_t *nitems, cd_err *err)
{
    if (len < 12)
        return cd_fail(err, CD_ECORRUPT, "binary array shorter than its header");
    int32_t nd = (int32_t)be32(p), flags = (int32_t)be32(p + 4);
    uint32_t oid = be32(p + 8);
    if (nd < 0 || nd > CD_COPYBIN_MAXDIM) {
        cd_fail(err, CD_ECORRUPT, "invalid number of array dimensions");
        return cd_detail(err, "%" PRId32 " dimensions", nd);
    }
    if (flags != 0 && flags != 1) {
        cd_fail(err, CD_ECORRUPT, "invalid array flags");
        return cd_detail(err, "flags %" PRId32, flags);
    }
    if (oid != elemoid) {
        cd_fail(err, CD_ECORRUPT, "array element type does not match the column");
        return cd_detail(err, "element type oid %" PRIu32 ", expected %" PRIu32, oid, elemoid);
    }
    if (len - 12 < (size_t)nd * 8)
        return cd_fail(err, CD_ECORRUPT, "binary array shorter than its dimensions");
    uint64_t n = nd > 0, bound = (len - 12 - (size_t)nd * 8) / 4; /* >= 4 bytes per item */
    for (int i = 0; i < nd; i++) {
        int32_t d = (int32_t)be32(p + 12 + 8 * i);
        if (d < 0) {
            cd_fail(err, CD_ECORRUPT, "negative array dimension");
            return cd_detail(err, "dimension %d is %" PRId32, i + 1, d);
        }
        dims[i] = d;
        n = (n == 0 || d == 0) ? 0 : (n > bound ? bound + 1 : n * (uint64_t)d);
    }
    if (n > bound)
        return cd_fail(err, CD_ECORRUPT, "binary array shorter than its element count");
    *ndim = nd;
    *nitems = n;
    return CD_OK;
}

/* Decode nitems elements starting at p[pos]; returns the position after the last one. */
static cd_code array_elems(const uint8_t *p, size_t len, size_t *pos, uint32_t oid, uint64_t nitems,
                           int *has_null, uint8_t *out, cd_err *err)
{
    size_t size = type_size(oid);
    for (uint64_t i = 0; i < nitems; i++) {
        if (len - *pos < 4)
            return cd_fail(err, CD_ECORRUPT, "binary array truncated");
        int32_t l = (int32_t)be32(p + *pos);
        *pos += 4;
        if (l == -1) {
            null_value(oid, size, out + i * size);
            *has_null = 1;
            continue;
        }
        if (l >= 0 && len - *pos < (size_t)l)
            return cd_fail(err, CD_ECORRUPT, "binary array truncated");
        if (l < 0 || (size_t)l != size) {
            cd_fail(err, CD_ECORRUPT, "array element has the wrong length");
            return cd_detail(err, "element %" PRIu64 ": %" PRId32 " bytes, expected %zu", i + 1, l,
                             size);
        }
        decode_be(size, p + *pos, out + i * size);
        *pos += size;
    }
    return CD_OK;
}

cd_code cd_copybin_array(const uint8_t *p, int32_t len, uint32_t elemoid, int *ndim, int dims[6],
                         int *has_null, void *out, size_t out_cap, size_t *out_bytes, cd_err *err)
{
    if (ndim == NULL || dims == NULL || has_null == NULL || out_bytes == NULL)
        return cd_fail(err, CD_EINVAL, "array decoder output is null");
    *ndim = *has_null = 0;
    *out_bytes = 0;
    memset(dims, 0, CD_COPYBIN_MAXDIM * sizeof dims[0]);
    size_t size = type_size(elemoid);
    if (size == 0)
        return cd_fail(err, CD_EUNSUPPORTED, "unsupported array element type oid %" PRIu32,
                       elemoid);
    if (len < 0 || (p == NULL && len > 0))
        return cd_fail(err, CD_EINVAL, "array decoder input is null");
    int nd = 0, d[CD_COPYBIN_MAXDIM] = {0};
    uint64_t nitems = 0;
    cd_code rc = array_header(p, (size_t)len, elemoid, &nd, d, &nitems, err);
    if (rc != CD_OK)
        return rc;
    *out_bytes = (size_t)nitems * size;
    if (*out_bytes > out_cap || (out == NULL && nitems > 0)) {
        cd_fail(err, CD_EINVAL, "array does not fit in the output buffer");
        return cd_detail(err, "needs %zu bytes, %zu available", *out_bytes, out_cap);
    }
    size_t pos = 12 + 8 * (size_t)nd;
    rc = array_elems(p, (size_t)len, &pos, elemoid, nitems, has_null, out, err);
    if (rc == CD_OK && pos != (size_t)len) {
        rc = cd_fail(err, CD_ECORRUPT, "trailing bytes after the array elements");
        cd_detail(err, "%zu bytes left", (size_t)len - pos);
    }
    if (rc != CD_OK) {
        *has_null = 0;
        return rc;
    }
    *ndim = nd;
    memcpy(dims, d, sizeof d);
    return CD_OK;
}
