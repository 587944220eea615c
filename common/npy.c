/*
 * npy.c: writing and reading NumPy .npy files (see npy.h).
 *
 * Writes: version 1.0 headers byte-identical to numpy >= 1.24 (growth pad for a 21-digit
 * shape[0]), atomic files (atomicfile.h: PATH.tmp, fsync, rename, fsync the directory), a
 * buffered streaming writer whose header is rewritten in place at close. Reads: versions
 * 1.0-3.0, C order, little-endian scalar dtypes; the header is parsed with a bounded
 * recursive-descent parser of the Python dict literal, never with sscanf on unterminated
 * memory.
 */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "fsutil.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_GROWTH_DIGITS 21        /* numpy GROWTH_AXIS_MAX_DIGITS */
#define NPY_MAX_HEADER 65536        /* longest header text accepted on read */
#define NPY_WBUF (1u << 20)         /* streaming writer buffer */
#define NPY_WRITEBEHIND (16u << 20) /* start the file's writeback every this many bytes */
#define NPY_DICT_CAP 1024           /* longest dict text written (8 dims of 20 digits fit) */

static const struct {
    const char *descr;
    size_t size;
} npy_types[] = {
    {"|b1", 1}, {"|u1", 1}, {"|i1", 1}, {"<i2", 2}, {"<u2", 2}, {"<i4", 4},
    {"<u4", 4}, {"<i8", 8}, {"<u8", 8}, {"<f4", 4}, {"<f8", 8},
};

#define NPY_NTYPES (sizeof npy_types / sizeof npy_types[0])

size_t cd_npy_itemsize(const char *descr)
{
    if (descr == NULL)
        return 0;
    for (size_t i = 0; i < NPY_NTYPES; i++)
        if (strcmp(npy_types[i].descr, descr) == 0)
            return npy_types[i].size;
    return 0;
}

/* product(shape) * itemsize into *out; 0 on uint64 overflow. */
static int shape_bytes(const uint64_t *shape, int ndim, size_t itemsize, uint64_t *out)
{
    uint64_t total = itemsize;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] != 0 && total > UINT64_MAX / shape[i])
            return 0;
        total *= shape[i];
    }
    *out = total;
    return 1;
}

/* ------------------------------------------------------------------ header writing */

/* Append printf output to d[*len..cap); 0 when it does not fit. */
static int dict_add(char *d, size_t cap, size_t *len, const char *fmt, uint64_t v)
{
    int n = snprintf(d + *len, cap - *len, fmt, v);
    if (n < 0 || (size_t)n >= cap - *len)
        return 0;
    *len += (size_t)n;
    return 1;
}

static int decimal_digits(uint64_t v)
{
    int n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* The dict text as numpy writes it, growth pad included, without the final padding. */
static size_t dict_text(char *d, size_t cap, const char *descr, const uint64_t *shape, int ndim)
{
    int n = snprintf(d, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t len = (size_t)n;
    for (int i = 0; i < ndim; i++)
        if (!dict_add(d, cap, &len, i ? ", %" PRIu64 : "%" PRIu64, shape[i]))
            return 0;
    const char *end = ndim == 1 ? ",), }" : "), }";
    if (strlen(end) >= cap - len)
        return 0;
    memcpy(d + len, end, strlen(end));
    len += strlen(end);
    if (ndim > 0) {
        size_t pad = (size_t)(NPY_GROWTH_DIGITS - decimal_digits(shape[0]));
        if (pad >= cap - len)
            return 0;
        memset(d + len, ' ', pad);
        len += pad;
    }
    return len;
}

size_t cd_npy_header(char *buf, size_t cap, const char *descr, const uint64_t *shape, int ndim)
{
    char dict[NPY_DICT_CAP];
    if (cd_npy_itemsize(descr) == 0 || ndim < 0 || ndim > CD_NPY_MAXDIM ||
        (ndim > 0 && shape == NULL))
        return 0;
    size_t dlen = dict_text(dict, sizeof dict, descr, shape, ndim);
    if (dlen == 0)
        return 0;
    size_t prefix = NPY_MAGIC_LEN + 2 + 2;
    size_t hlen = dlen + 1;
    size_t pad = CD_NPY_ALIGN - ((prefix + hlen) % CD_NPY_ALIGN);
    size_t total = prefix + hlen + pad;
    if (buf == NULL || cap < total || hlen + pad > UINT16_MAX)
        return 0;
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)((hlen + pad) & 0xff);
    buf[9] = (char)((hlen + pad) >> 8);
    memcpy(buf + prefix, dict, dlen);
    memset(buf + prefix + dlen, ' ', pad);
    buf[total - 1] = '\n';
    return total;
}

size_t cd_npy_header_len(const char *descr, const uint64_t *shape, int ndim)
{
    char buf[NPY_DICT_CAP + 2 * CD_NPY_ALIGN];
    return cd_npy_header(buf, sizeof buf, descr, shape, ndim);
}

/* ------------------------------------------------------------------ file output helpers */

static cd_code io_fail(cd_err *err, const char *what, const char *path, int e)
{
    return cd_fail(err, CD_EIO, "could not %s file \"%s\": %s", what, path, strerror(e));
}

static int pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

/* ------------------------------------------------------------------ whole-array writer */

static cd_code check_write_args(const char *path, const char *descr, const uint64_t *shape,
                                int ndim, const void *data, size_t nbytes, cd_err *err)
{
    uint64_t want = 0;
    if (path == NULL)
        return cd_fail(err, CD_EINVAL, "npy path is null");
    if (cd_npy_header_len(descr, shape, ndim) == 0) {
        cd_fail(err, CD_EINVAL, "invalid npy dtype or shape");
        return cd_detail(err, "file \"%s\", descr \"%s\", ndim %d", path, descr ? descr : "(null)",
                         ndim);
    }
    if (!shape_bytes(shape, ndim, cd_npy_itemsize(descr), &want) || want != nbytes) {
        cd_fail(err, CD_EINVAL, "npy data size does not match its shape");
        return cd_detail(err, "file \"%s\": %zu bytes given", path, nbytes);
    }
    if (nbytes > 0 && data == NULL)
        return cd_fail(err, CD_EINVAL, "npy data is null");
    return CD_OK;
}

cd_code cd_npy_write(const char *path, const char *descr, const uint64_t *shape, int ndim,
                     const void *data, size_t nbytes, cd_err *err)
{
    char hdr[NPY_DICT_CAP + 2 * CD_NPY_ALIGN];
    cd_code rc = check_write_args(path, descr, shape, ndim, data, nbytes, err);
    if (rc != CD_OK)
        return rc;
    size_t hl = cd_npy_header(hdr, sizeof hdr, descr, shape, ndim);
    cd_atomic a;
    rc = cd_atomic_open(&a, path, 0644, err);
    if (rc != CD_OK)
        return rc;
    int e = cd_write_all(a.fd, hdr, hl);
    if (e == 0 && nbytes > 0)
        e = cd_write_all(a.fd, data, nbytes);
    if (e != 0) {
        rc = io_fail(err, "write", a.tmp, e);
        cd_atomic_abort(&a);
        return rc;
    }
    return cd_atomic_commit(&a, err);
}

/* ------------------------------------------------------------------ streaming writer */

struct cd_npy_writer {
    cd_atomic a;                   /* PATH.tmp while open (a.fd -1 when closed) */
    int failed;                    /* a write failed: only abort is useful */
    char descr[8];                 /* "<f4", ... */
    int ndim;                      /* 1 + ndim_tail */
    uint64_t shape[CD_NPY_MAXDIM]; /* [ndim]; shape[0] set at close */
    uint64_t rowbytes;             /* itemsize * product(tail) */
    size_t header_len;             /* same for every N */
    uint64_t bytes;                /* data bytes appended so far */
    uint8_t *buf;                  /* [NPY_WBUF] pending output */
    size_t used;                   /* bytes pending in buf */
    cd_bgwrite *bg;                /* writes full buffers in the background, or NULL */
    uint8_t *spare;                /* [NPY_WBUF] with bg: the buffer being written */
    cd_bgwrite_req req;            /* with bg: the write of spare */
    uint64_t unflushed;            /* bytes written since the file's writeback was started */
};

/* Free the writer; a temporary file still open is removed. */
static void writer_free(cd_npy_writer *w)
{
    if (w->bg != NULL)
        cd_bgwrite_wait(w->bg, &w->req); /* never free a buffer the thread reads */
    cd_atomic_abort(&w->a);
    free(w->spare);
    free(w->buf);
    free(w);
}

static cd_code writer_args(const char *path, const char *descr, int ndim_tail,
                           const uint64_t *tail_dims, cd_err *err)
{
    if (path == NULL || cd_npy_itemsize(descr) == 0)
        return cd_fail(err, CD_EINVAL, "invalid npy path or dtype");
    if (ndim_tail < 0 || ndim_tail > CD_NPY_MAXDIM - 1 || (ndim_tail > 0 && tail_dims == NULL))
        return cd_fail(err, CD_EINVAL, "invalid npy tail dimensions");
    uint64_t rb = 0;
    if (!shape_bytes(tail_dims, ndim_tail, cd_npy_itemsize(descr), &rb))
        return cd_fail(err, CD_EINVAL, "npy row size overflows");
    return CD_OK;
}

/* Allocate the writer and put the header (N = 0) at the start of its buffer. */
static cd_code writer_init(cd_npy_writer *w, const char *path, const char *descr, int ndim_tail,
                           const uint64_t *tail_dims)
{
    w->a.fd = -1;
    w->a.f = NULL;
    w->buf = malloc(NPY_WBUF);
    if (w->buf == NULL)
        return CD_ENOMEM;
    snprintf(w->descr, sizeof w->descr, "%s", descr);
    w->ndim = 1 + ndim_tail;
    w->shape[0] = 0;
    for (int i = 0; i < ndim_tail; i++)
        w->shape[1 + i] = tail_dims[i];
    shape_bytes(w->shape + 1, ndim_tail, cd_npy_itemsize(descr), &w->rowbytes);
    w->header_len = cd_npy_header((char *)w->buf, NPY_WBUF, descr, w->shape, w->ndim);
    w->used = w->header_len;
    return CD_OK;
}

cd_code cd_npy_writer_open(cd_npy_writer **out, const char *path, const char *descr, int ndim_tail,
                           const uint64_t *tail_dims, cd_err *err)
{
    if (out == NULL)
        return cd_fail(err, CD_EINVAL, "npy writer pointer is null");
    *out = NULL;
    cd_code rc = writer_args(path, descr, ndim_tail, tail_dims, err);
    if (rc != CD_OK)
        return rc;
    cd_npy_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    if (writer_init(w, path, descr, ndim_tail, tail_dims) != CD_OK) {
        writer_free(w);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    rc = cd_atomic_open(&w->a, path, 0644, err);
    if (rc != CD_OK) {
        writer_free(w);
        return rc;
    }
    *out = w;
    return CD_OK;
}

cd_code cd_npy_writer_async(cd_npy_writer *w, cd_bgwrite *bg, cd_err *err)
{
    if (w == NULL || bg == NULL || w->bg != NULL)
        return cd_fail(err, CD_EINVAL, "npy writer cannot write in the background");
    w->spare = malloc(NPY_WBUF);
    if (w->spare == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    w->bg = bg;
    return CD_OK;
}

/* Wait for the background write of the spare buffer: 0 or its errno. */
static int writer_drain(cd_npy_writer *w)
{
    return w->bg != NULL ? cd_bgwrite_wait(w->bg, &w->req) : 0;
}

/* Count n more bytes written; whether the file's writeback is now to be started. */
static bool writeback_due(cd_npy_writer *w, size_t n)
{
    w->unflushed += n;
    if (w->unflushed < NPY_WRITEBEHIND)
        return false;
    w->unflushed = 0;
    return true;
}

/* Write buf's pending bytes: now, or with bg queued once the previous write is done (its
 * error is this flush's), buf and spare then trading places. */
static cd_code writer_flush(cd_npy_writer *w, cd_err *err)
{
    int e = writer_drain(w);
    bool writeback = writeback_due(w, w->used);
    if (e == 0 && w->bg != NULL) {
        w->req.fd = w->a.fd;
        w->req.buf = w->buf;
        w->req.len = w->used;
        w->req.writeback = writeback;
        cd_bgwrite_submit(w->bg, &w->req);
        uint8_t *b = w->buf;
        w->buf = w->spare;
        w->spare = b;
    } else if (e == 0) {
        e = cd_write_all(w->a.fd, w->buf, w->used);
        if (e == 0 && writeback)
            cd_writeback_start(w->a.fd);
    }
    w->used = 0;
    if (e != 0) {
        w->failed = 1;
        return io_fail(err, "write", w->a.tmp, e);
    }
    return CD_OK;
}

uint8_t *cd_npy_writer_room(cd_npy_writer *w, size_t nbytes, size_t *before)
{
    if (w == NULL || w->failed || nbytes == 0 || nbytes > NPY_WBUF - w->used)
        return NULL;
    *before = w->used;
    return w->buf + w->used;
}

/* Appends of at most this many bytes (a scalar, a validity byte) are copied inline. */
#define NPY_SMALL 16

/* Copy a small append: the sizes of scalars without a call to memcpy (a Criteo-like table's
 * export spent a fifth of its time in calls copying 4 and 1 bytes). */
static inline void copy_small(uint8_t *dst, const uint8_t *src, size_t n)
{
    switch (n) {
    case 1:
        *dst = *src;
        break;
    case 2:
        memcpy(dst, src, 2);
        break;
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    default:
        memcpy(dst, src, n);
    }
}

cd_code cd_npy_writer_append(cd_npy_writer *w, const void *data, size_t nbytes, cd_err *err)
{
    if (w == NULL || w->failed)
        return cd_fail(err, CD_EINVAL, "npy writer is not usable");
    if (nbytes > 0 && data == NULL)
        return cd_fail(err, CD_EINVAL, "npy data is null");
    const uint8_t *p = data;
    w->bytes += nbytes;
    bool in_place = p == w->buf + w->used; /* made there (cd_npy_writer_room) */
    if ((in_place || nbytes <= NPY_SMALL) && nbytes <= NPY_WBUF - w->used) {
        if (!in_place)
            copy_small(w->buf + w->used, p, nbytes);
        w->used += nbytes;
        return w->used == NPY_WBUF ? writer_flush(w, err) : CD_OK;
    }
    while (nbytes > 0) {
        if (w->used == 0 && nbytes >= NPY_WBUF) {
            int e = writer_drain(w);
            if (e == 0)
                e = cd_write_all(w->a.fd, p, nbytes);
            if (e == 0 && writeback_due(w, nbytes))
                cd_writeback_start(w->a.fd);
            if (e != 0) {
                w->failed = 1;
                return io_fail(err, "write", w->a.tmp, e);
            }
            return CD_OK;
        }
        size_t k = NPY_WBUF - w->used < nbytes ? NPY_WBUF - w->used : nbytes;
        memcpy(w->buf + w->used, p, k);
        w->used += k;
        p += k;
        nbytes -= k;
        if (w->used == NPY_WBUF) {
            cd_code rc = writer_flush(w, err);
            if (rc != CD_OK)
                return rc;
        }
    }
    return CD_OK;
}

/* Flush, check the size and rewrite the header for nrows rows. */
static cd_code writer_finish(cd_npy_writer *w, uint64_t nrows, cd_err *err)
{
    char hdr[NPY_DICT_CAP + 2 * CD_NPY_ALIGN];
    cd_code rc = w->used > 0 ? writer_flush(w, err) : CD_OK;
    if (rc != CD_OK)
        return rc;
    int e = writer_drain(w);
    if (e != 0) {
        w->failed = 1;
        return io_fail(err, "write", w->a.tmp, e);
    }
    if ((w->rowbytes != 0 && nrows > UINT64_MAX / w->rowbytes) || nrows * w->rowbytes != w->bytes) {
        cd_fail(err, CD_EINVAL, "npy row count does not match the data written");
        return cd_detail(
            err, "file \"%s\": %" PRIu64 " rows of %" PRIu64 " bytes, %" PRIu64 " bytes written",
            w->a.path, nrows, w->rowbytes, w->bytes);
    }
    w->shape[0] = nrows;
    size_t hl = cd_npy_header(hdr, sizeof hdr, w->descr, w->shape, w->ndim);
    if (hl != w->header_len)
        return cd_fail(err, CD_EINVAL, "npy header length changed with the row count");
    e = pwrite_all(w->a.fd, hdr, hl, 0);
    if (e != 0)
        return io_fail(err, "write", w->a.tmp, e);
    return CD_OK;
}

cd_code cd_npy_writer_close(cd_npy_writer *w, uint64_t nrows, cd_err *err)
{
    if (w == NULL)
        return cd_fail(err, CD_EINVAL, "npy writer is null");
    if (w->failed) {
        cd_npy_writer_abort(w);
        return cd_fail(err, CD_EIO, "npy writer failed earlier");
    }
    cd_code rc = writer_finish(w, nrows, err);
    if (rc != CD_OK) {
        cd_npy_writer_abort(w);
        return rc;
    }
    rc = cd_atomic_commit(&w->a, err);
    writer_free(w);
    return rc;
}

void cd_npy_writer_abort(cd_npy_writer *w)
{
    if (w == NULL)
        return;
    writer_free(w);
}

/* ------------------------------------------------------------------ header parsing */

/* A bounded cursor over the header text; why/code describe the first failure. */
typedef struct hparse {
    const char *s;
    size_t n, i;
    const char *why;
    cd_code code;
} hparse;

typedef struct hdict {
    char descr[16];
    int fortran;
    int ndim;
    uint64_t shape[CD_NPY_MAXDIM];
    unsigned seen; /* bit 0 descr, 1 fortran_order, 2 shape */
} hdict;

static int hp_bad(hparse *h, cd_code code, const char *why)
{
    if (h->why == NULL) {
        h->why = why;
        h->code = code;
    }
    return 0;
}

static void hp_ws(hparse *h)
{
    while (h->i < h->n && strchr(" \t\r\n", h->s[h->i]) != NULL && h->s[h->i] != '\0')
        h->i++;
}

static int hp_peek(hparse *h)
{
    return h->i < h->n ? (unsigned char)h->s[h->i] : -1;
}

static int hp_char(hparse *h, char c)
{
    hp_ws(h);
    if (hp_peek(h) != (unsigned char)c)
        return 0;
    h->i++;
    return 1;
}

/* A quoted string without escapes into out[cap]. */
static int hp_string(hparse *h, char *out, size_t cap)
{
    hp_ws(h);
    int q = hp_peek(h);
    if (q != '\'' && q != '"')
        return hp_bad(h, CD_ECORRUPT, "expected a quoted string");
    size_t start = ++h->i;
    while (h->i < h->n && h->s[h->i] != q) {
        if (h->s[h->i] == '\\' || h->s[h->i] == '\0' || h->s[h->i] == '\n')
            return hp_bad(h, CD_ECORRUPT, "unsupported character in string");
        h->i++;
    }
    if (h->i >= h->n)
        return hp_bad(h, CD_ECORRUPT, "unterminated string");
    size_t len = h->i - start;
    h->i++;
    if (len >= cap)
        return hp_bad(h, CD_EUNSUPPORTED, "string too long");
    memcpy(out, h->s + start, len);
    out[len] = '\0';
    return 1;
}

static int hp_word(hparse *h, const char *w)
{
    size_t k = strlen(w);
    if (h->n - h->i < k || memcmp(h->s + h->i, w, k) != 0)
        return 0;
    h->i += k;
    return 1;
}

static int hp_bool(hparse *h, int *v)
{
    hp_ws(h);
    if (hp_word(h, "True"))
        *v = 1;
    else if (hp_word(h, "False"))
        *v = 0;
    else
        return hp_bad(h, CD_ECORRUPT, "fortran_order is not True or False");
    return 1;
}

/* A non-negative decimal integer (a Python 2 'L' suffix is accepted). */
static int hp_uint(hparse *h, uint64_t *v)
{
    hp_ws(h);
    int c = hp_peek(h);
    if (c == '-')
        return hp_bad(h, CD_ECORRUPT, "negative dimension");
    if (c < '0' || c > '9')
        return hp_bad(h, CD_ECORRUPT, "expected a dimension");
    uint64_t x = 0;
    while ((c = hp_peek(h)) >= '0' && c <= '9') {
        if (x > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
            return hp_bad(h, CD_ECORRUPT, "dimension too large");
        x = x * 10 + (uint64_t)(c - '0');
        h->i++;
    }
    if (c == 'L' || c == 'l')
        h->i++;
    *v = x;
    return 1;
}

/* A tuple of dimensions: "()", "(5,)", "(5, 6)", "(5, 6,)"; "(5)" is not a tuple. */
static int hp_shape(hparse *h, hdict *d)
{
    int commas = 0;
    d->ndim = 0;
    if (!hp_char(h, '('))
        return hp_bad(h, CD_ECORRUPT, "shape is not a tuple");
    if (hp_char(h, ')'))
        return 1;
    for (;;) {
        if (d->ndim >= CD_NPY_MAXDIM)
            return hp_bad(h, CD_EUNSUPPORTED, "more than 8 dimensions");
        if (!hp_uint(h, &d->shape[d->ndim]))
            return 0;
        d->ndim++;
        if (hp_char(h, ',')) {
            commas++;
            if (hp_char(h, ')'))
                return 1;
        } else if (hp_char(h, ')')) {
            return commas > 0 ? 1 : hp_bad(h, CD_ECORRUPT, "shape is not a tuple");
        } else {
            return hp_bad(h, CD_ECORRUPT, "malformed shape tuple");
        }
    }
}

static int hp_value(hparse *h, const char *key, hdict *d)
{
    if (strcmp(key, "descr") == 0) {
        hp_ws(h);
        if (hp_peek(h) == '[')
            return hp_bad(h, CD_EUNSUPPORTED, "structured dtypes are not supported");
        d->seen |= 1;
        return hp_string(h, d->descr, sizeof d->descr);
    }
    if (strcmp(key, "fortran_order") == 0) {
        d->seen |= 2;
        return hp_bool(h, &d->fortran);
    }
    if (strcmp(key, "shape") == 0) {
        d->seen |= 4;
        return hp_shape(h, d);
    }
    return hp_bad(h, CD_ECORRUPT, "unexpected key in header");
}

/* "{" key ":" value ("," key ":" value)* [","] "}" then only whitespace. */
static int hp_dict(hparse *h, hdict *d)
{
    char key[32];
    if (!hp_char(h, '{'))
        return hp_bad(h, CD_ECORRUPT, "header is not a dictionary");
    while (!hp_char(h, '}')) {
        if (!hp_string(h, key, sizeof key))
            return 0;
        if (!hp_char(h, ':'))
            return hp_bad(h, CD_ECORRUPT, "expected ':'");
        if (!hp_value(h, key, d))
            return 0;
        if (!hp_char(h, ',')) {
            if (!hp_char(h, '}'))
                return hp_bad(h, CD_ECORRUPT, "expected ',' or '}'");
            break;
        }
    }
    hp_ws(h);
    if (h->i != h->n)
        return hp_bad(h, CD_ECORRUPT, "trailing characters after the dictionary");
    if (d->seen != 7)
        return hp_bad(h, CD_ECORRUPT, "header lacks descr, fortran_order or shape");
    return 1;
}

/* Map a file's descr to our canonical one ("=f4", "f4" -> "<f4"; "<u1" -> "|u1"). */
static int norm_descr(hparse *h, const char *in, char out[8], size_t *itemsize)
{
    char order = in[0];
    const char *t = in;
    if (order == '<' || order == '>' || order == '|' || order == '=')
        t = in + 1;
    for (size_t i = 0; i < NPY_NTYPES; i++) {
        if (strcmp(npy_types[i].descr + 1, t) != 0)
            continue;
        if (order == '>' && npy_types[i].size > 1)
            return hp_bad(h, CD_EUNSUPPORTED, "big-endian dtypes are not supported");
        memcpy(out, npy_types[i].descr, 4);
        *itemsize = npy_types[i].size;
        return 1;
    }
    return hp_bad(h, CD_EUNSUPPORTED, "unsupported dtype");
}

/* ------------------------------------------------------------------ reader */

static cd_code bad_file(cd_err *err, cd_code code, const char *path, const char *why)
{
    cd_fail(err, code, "invalid npy file \"%s\"", path);
    return cd_detail(err, "%s", why);
}

/* Read magic, version and header length; sets *prefix and *hlen. */
static cd_code read_prefix(int fd, const char *path, uint64_t fsize, size_t *prefix, uint32_t *hlen,
                           cd_err *err)
{
    uint8_t b[12];
    if (fsize < 10)
        return bad_file(err, CD_ECORRUPT, path, "file too short for an npy header");
    size_t want = fsize < 12 ? 10 : 12;
    ssize_t r = pread(fd, b, want, 0);
    if (r < 0)
        return io_fail(err, "read", path, errno);
    if ((size_t)r != want)
        return bad_file(err, CD_ECORRUPT, path, "short read of the npy header");
    if (memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return bad_file(err, CD_ECORRUPT, path, "not an npy file (bad magic)");
    if (b[6] < 1 || b[6] > 3 || b[7] != 0) {
        cd_fail(err, CD_EUNSUPPORTED, "unsupported npy format version in \"%s\"", path);
        return cd_detail(err, "version %u.%u", b[6], b[7]);
    }
    if (b[6] == 1) {
        *prefix = 10;
        *hlen = (uint32_t)b[8] | (uint32_t)b[9] << 8;
        return CD_OK;
    }
    if (want < 12)
        return bad_file(err, CD_ECORRUPT, path, "file too short for an npy header");
    *prefix = 12;
    *hlen = (uint32_t)b[8] | (uint32_t)b[9] << 8 | (uint32_t)b[10] << 16 | (uint32_t)b[11] << 24;
    return CD_OK;
}

static cd_code parse_header_text(const char *path, const char *text, size_t n, hdict *d,
                                 cd_npy *out, cd_err *err)
{
    hparse h = {.s = text, .n = n};
    if (!hp_dict(&h, d) || !norm_descr(&h, d->descr, out->descr, &out->itemsize)) {
        cd_fail(err, h.code, "invalid npy header in file \"%s\"", path);
        return cd_detail(err, "%s at header offset %zu", h.why, h.i);
    }
    if (d->fortran)
        return bad_file(err, CD_EUNSUPPORTED, path, "fortran_order True is not supported");
    out->ndim = d->ndim;
    memcpy(out->shape, d->shape, sizeof d->shape);
    return CD_OK;
}

/* Parse the header of fd into out (descr, ndim, shape, itemsize, header_len, data_bytes). */
static cd_code read_header(int fd, const char *path, uint64_t fsize, cd_npy *out, cd_err *err)
{
    size_t prefix = 0;
    uint32_t hlen = 0;
    cd_code rc = read_prefix(fd, path, fsize, &prefix, &hlen, err);
    if (rc != CD_OK)
        return rc;
    if (hlen > NPY_MAX_HEADER)
        return bad_file(err, CD_EUNSUPPORTED, path, "npy header longer than 64 KiB");
    if (prefix + hlen > fsize)
        return bad_file(err, CD_ECORRUPT, path, "truncated npy header");
    char *text = malloc(hlen + 1);
    if (text == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    ssize_t r = pread(fd, text, hlen, (off_t)prefix);
    hdict d = {0};
    if (r < 0)
        rc = io_fail(err, "read", path, errno);
    else if ((size_t)r != hlen)
        rc = bad_file(err, CD_ECORRUPT, path, "short read of the npy header");
    else
        rc = parse_header_text(path, text, hlen, &d, out, err);
    free(text);
    if (rc != CD_OK)
        return rc;
    out->header_len = prefix + hlen;
    if (!shape_bytes(out->shape, out->ndim, out->itemsize, &out->data_bytes))
        return bad_file(err, CD_ECORRUPT, path, "npy shape overflows 64 bits");
    return CD_OK;
}

static cd_code check_size(const char *path, const cd_npy *n, uint64_t fsize, cd_err *err)
{
    uint64_t have = fsize - n->header_len;
    if (have == n->data_bytes)
        return CD_OK;
    cd_fail(err, CD_ECORRUPT, "npy file \"%s\" is %s", path,
            have < n->data_bytes ? "truncated" : "longer than its shape");
    return cd_detail(err, "header says %" PRIu64 " data bytes, file has %" PRIu64, n->data_bytes,
                     have);
}

/* The mappings the SIGBUS handler can name: len and path are written before start is
 * published (release), and start is cleared before the slot is given up. */
#define GUARD_SLOTS 256
#define GUARD_PATH 512
static struct {
    atomic_int used;
    atomic_uintptr_t start;
    size_t len;
    char path[GUARD_PATH];
} guard[GUARD_SLOTS];
static atomic_int guard_unnamed; /* live mappings that found no free slot */
static const char *guard_prog = "cerebro";
static int guard_exit = 1;

static void guard_add(const void *map, size_t len, const char *path)
{
    for (int i = 0; i < GUARD_SLOTS; i++) {
        int expect = 0;
        if (!atomic_compare_exchange_strong(&guard[i].used, &expect, 1))
            continue;
        guard[i].len = len;
        snprintf(guard[i].path, GUARD_PATH, "%s", path);
        atomic_store_explicit(&guard[i].start, (uintptr_t)map, memory_order_release);
        return;
    }
    atomic_fetch_add(&guard_unnamed, 1);
}

static void guard_remove(const void *map)
{
    for (int i = 0; i < GUARD_SLOTS; i++)
        if (atomic_load(&guard[i].start) == (uintptr_t)map) {
            atomic_store(&guard[i].start, 0);
            atomic_store(&guard[i].used, 0);
            return;
        }
    atomic_fetch_sub(&guard_unnamed, 1);
}

static const char *guard_find(uintptr_t addr)
{
    for (int i = 0; i < GUARD_SLOTS; i++) {
        uintptr_t start = atomic_load_explicit(&guard[i].start, memory_order_acquire);
        if (start != 0 && addr - start < guard[i].len)
            return guard[i].path;
    }
    return NULL;
}

static void say(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    const char *path = guard_find((uintptr_t)si->si_addr);
    if (path == NULL && (si->si_code != BUS_ADRERR || atomic_load(&guard_unnamed) == 0)) {
        signal(sig, SIG_DFL); /* not ours: the access faults again, with the default action */
        return;
    }
    say(guard_prog);
    say(": error: file ");
    if (path != NULL) {
        say("\"");
        say(path);
        say("\" ");
    } else
        say("mapped for reading ");
    say("became shorter while it was being read\n"
        "DETAIL: it was truncated or rewritten in place by another program\n"
        "HINT: leave a shard's files unchanged while a unit reads them, then run the unit "
        "again\n");
    _exit(guard_exit);
}

void cd_npy_catch_shrink(const char *prog, int exit_code)
{
    guard_prog = prog;
    guard_exit = exit_code;
    struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

static void npy_reset(cd_npy *n)
{
    memset(n, 0, sizeof *n);
    n->fd = -1;
}

static cd_code open_fd(const char *path, int *fd, uint64_t *fsize, cd_err *err)
{
    struct stat st;
    const char *why = NULL;
    *fd = cd_open_regular(path, &st, &why); /* a FIFO would block a plain open */
    if (*fd < 0 && errno == EINVAL)
        return bad_file(err, CD_EINVAL, path, why);
    if (*fd < 0)
        return cd_fail(err, errno == ENOENT ? CD_ENOTFOUND : CD_EIO,
                       "could not open file \"%s\": %s", path, why);
    *fsize = (uint64_t)st.st_size;
    return CD_OK;
}

cd_code cd_npy_open(const char *path, cd_npy *out, cd_err *err)
{
    if (out == NULL)
        return cd_fail(err, CD_EINVAL, "npy output is null");
    npy_reset(out);
    if (path == NULL)
        return cd_fail(err, CD_EINVAL, "npy path is null");
    int fd = -1;
    uint64_t fsize = 0;
    cd_code rc = open_fd(path, &fd, &fsize, err);
    if (rc == CD_OK)
        rc = read_header(fd, path, fsize, out, err);
    if (rc == CD_OK)
        rc = check_size(path, out, fsize, err);
    if (rc == CD_OK && fsize > SIZE_MAX)
        rc = bad_file(err, CD_EUNSUPPORTED, path, "file too large to map");
    void *map = MAP_FAILED;
    if (rc == CD_OK) {
        map = mmap(NULL, (size_t)fsize, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED)
            rc = io_fail(err, "map", path, errno);
    }
    if (rc != CD_OK) {
        if (fd >= 0)
            close(fd);
        npy_reset(out);
        return rc;
    }
    guard_add(map, (size_t)fsize, path);
    out->fd = fd;
    out->map_len = (size_t)fsize;
    out->data = (const uint8_t *)map + out->header_len;
    return CD_OK;
}

void cd_npy_close(cd_npy *n)
{
    if (n == NULL)
        return;
    if (n->map_len > 0 && n->data != NULL) {
        const uint8_t *map = (const uint8_t *)n->data - n->header_len;
        guard_remove(map);
        munmap((void *)(uintptr_t)map, n->map_len);
    }
    if (n->fd >= 0)
        close(n->fd);
    npy_reset(n);
}
