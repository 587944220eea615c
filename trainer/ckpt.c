/*
 * ckpt.c: writing, reading and validating checkpoint files (layout in ckpt.h), and the
 * .npy export/import of their tensors.
 *
 * The writer streams through a 64 KiB buffer while computing the CRC; the reader loads the
 * whole file, checks magic, version, length and CRC, then decodes entries with a cursor that
 * refuses to read past the end, so no length field is trusted before it is bounded.
 * Little-endian hosts only (checked at compile time).
 */
#include "ckpt.h"
#include "fsutil.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "crc32c.h"
#include "npy.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ckpt.c assumes a little-endian host"
#endif

#define OUT_BUF 65536
#define MIN_FILE (CD_CKPT_HEADER_LEN + 4)

/* ---- in-memory checkpoint ---- */

void cd_ckpt_init(cd_ckpt *ck)
{
    memset(ck, 0, sizeof *ck);
}

void cd_ckpt_free(cd_ckpt *ck)
{
    for (size_t i = 0; i < ck->ntensors; i++) {
        free(ck->tensors[i].name);
        free(ck->tensors[i].owned);
    }
    free(ck->tensors);
    free(ck->rng);
    cd_ckpt_init(ck);
}

cd_code cd_ckpt_set_rng(cd_ckpt *ck, const void *rng, size_t len, cd_err *err)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory copying the rng state");
    if (len > 0)
        memcpy(copy, rng, len);
    free(ck->rng);
    ck->rng = copy;
    ck->rng_len = len;
    return CD_OK;
}

int cd_ckpt_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > CD_CKPT_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

const cd_ckpt_tensor *cd_ckpt_find(const cd_ckpt *ck, const char *name)
{
    for (size_t i = 0; i < ck->ntensors; i++) {
        if (strcmp(ck->tensors[i].name, name) == 0)
            return &ck->tensors[i];
    }
    return NULL;
}

/* Element count of dims[ndim] into *n; -1 when bytes (n * 4) would overflow size_t. */
static int shape_count(const uint64_t *dims, int ndim, uint64_t *n)
{
    uint64_t c = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] != 0 && c > (SIZE_MAX / sizeof(float)) / dims[i])
            return -1;
        c *= dims[i];
    }
    *n = c;
    return 0;
}

/* Append a slot with name and shape; data left NULL. */
static cd_code push_tensor(cd_ckpt *ck, const char *name, int ndim, const uint64_t *dims,
                           uint64_t n, cd_err *err)
{
    if (ck->ntensors == ck->cap) {
        size_t cap = ck->cap ? 2 * ck->cap : 16;
        cd_ckpt_tensor *t = realloc(ck->tensors, cap * sizeof *t);
        if (t == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory adding tensor \"%s\"", name);
        ck->tensors = t;
        ck->cap = cap;
    }
    cd_ckpt_tensor *t = &ck->tensors[ck->ntensors];
    memset(t, 0, sizeof *t);
    if ((t->name = strdup(name)) == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory adding tensor \"%s\"", name);
    t->ndim = ndim;
    if (ndim > 0)
        memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    t->n = n;
    ck->ntensors++;
    return CD_OK;
}

cd_code cd_ckpt_add(cd_ckpt *ck, const char *name, int ndim, const uint64_t *dims,
                    const float *data, cd_err *err)
{
    uint64_t n;
    if (name == NULL || !cd_ckpt_name_ok(name)) {
        cd_fail(err, CD_EINVAL, "invalid checkpoint tensor name \"%s\"", name ? name : "");
        return cd_hint(err, "Use 1 to %d characters of A-Z a-z 0-9 _ . - not starting with '.'.",
                       CD_CKPT_NAME_MAX);
    }
    if (ndim < 0 || ndim > CD_CKPT_MAXDIM)
        return cd_fail(err, CD_EINVAL, "tensor \"%s\" has %d dimensions (at most %d)", name, ndim,
                       CD_CKPT_MAXDIM);
    if (cd_ckpt_find(ck, name) != NULL)
        return cd_fail(err, CD_EINVAL, "duplicate checkpoint tensor \"%s\"", name);
    if (shape_count(dims, ndim, &n) != 0)
        return cd_fail(err, CD_EINVAL, "tensor \"%s\" is too large", name);
    if (n > 0 && data == NULL)
        return cd_fail(err, CD_EINVAL, "tensor \"%s\" has no data", name);
    cd_code rc = push_tensor(ck, name, ndim, dims, n, err);
    if (rc == CD_OK)
        ck->tensors[ck->ntensors - 1].data = data;
    return rc;
}

/* ---- writer ---- */

typedef struct out_buf {
    int fd;
    uint8_t *mem; /* instead of fd: a buffer of mem_len bytes, mem_used of them written */
    size_t mem_len, mem_used;
    int error; /* errno of the first failed write, 0 if none */
    uint32_t crc;
    size_t used;
    uint8_t buf[OUT_BUF];
} out_buf;

static void ob_flush(out_buf *o)
{
    size_t off = 0;
    if (o->mem != NULL && o->error == 0) {
        if (o->used > o->mem_len - o->mem_used)
            o->error = EOVERFLOW;
        else
            memcpy(o->mem + o->mem_used, o->buf, o->used);
        o->mem_used += o->used;
        off = o->used;
    }
    while (o->error == 0 && off < o->used) {
        ssize_t w = write(o->fd, o->buf + off, o->used - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            o->error = w < 0 ? errno : EIO;
        else
            off += (size_t)w;
    }
    o->used = 0;
}

/* Buffer n bytes and add them to the CRC. */
static void ob_put(out_buf *o, const void *p, size_t n)
{
    const uint8_t *s = p;
    o->crc = cd_crc32c_update(o->crc, p, n);
    while (n > 0 && o->error == 0) {
        size_t k = OUT_BUF - o->used < n ? OUT_BUF - o->used : n;
        memcpy(o->buf + o->used, s, k);
        o->used += k;
        s += k;
        n -= k;
        if (o->used == OUT_BUF)
            ob_flush(o);
    }
}

static void ob_u32(out_buf *o, uint32_t v)
{
    ob_put(o, &v, sizeof v);
}

static void ob_u64(out_buf *o, uint64_t v)
{
    ob_put(o, &v, sizeof v);
}

static uint64_t file_length(const cd_ckpt *ck)
{
    uint64_t len = CD_CKPT_HEADER_LEN + (uint64_t)ck->rng_len + strlen(ck->numerics) + 4;
    for (size_t i = 0; i < ck->ntensors; i++) {
        const cd_ckpt_tensor *t = &ck->tensors[i];
        len += 8 + strlen(t->name) + 8 * (uint64_t)t->ndim + 4 * t->n;
    }
    return len;
}

static void write_image(out_buf *o, const cd_ckpt *ck)
{
    ob_put(o, CD_CKPT_MAGIC, 8);
    ob_u32(o, CD_CKPT_VERSION);
    ob_u32(o, (uint32_t)strlen(ck->numerics));
    ob_u64(o, file_length(ck));
    ob_u64(o, ck->config_hash);
    ob_u64(o, ck->epoch);
    ob_u64(o, ck->step);
    ob_u64(o, ck->rng_len);
    ob_u64(o, ck->ntensors);
    ob_put(o, ck->rng, ck->rng_len);
    ob_put(o, ck->numerics, strlen(ck->numerics));
    for (size_t i = 0; i < ck->ntensors; i++) {
        const cd_ckpt_tensor *t = &ck->tensors[i];
        ob_u32(o, (uint32_t)strlen(t->name));
        ob_put(o, t->name, strlen(t->name));
        ob_u32(o, (uint32_t)t->ndim);
        ob_put(o, t->dims, 8 * (size_t)t->ndim);
        ob_put(o, t->data, 4 * (size_t)t->n);
    }
    uint32_t crc = o->crc;
    ob_u32(o, crc);
    ob_flush(o);
}

static cd_code io_fail(cd_err *err, const char *what, const char *path, int e)
{
    cd_fail(err, CD_EIO, "could not %s checkpoint file \"%s\": %s", what, path, strerror(e));
    return err ? err->code : CD_EIO;
}

/* Write the image to fd (the temporary file), or to mem[mem_len] when mem is not NULL;
 * returns an errno or 0. */
static int write_image_to(int fd, uint8_t *mem, size_t mem_len, const cd_ckpt *ck)
{
    out_buf *o = malloc(sizeof *o);
    if (o == NULL)
        return ENOMEM;
    o->fd = fd;
    o->mem = mem;
    o->mem_len = mem_len;
    o->mem_used = 0;
    o->error = 0;
    o->crc = 0;
    o->used = 0;
    write_image(o, ck);
    int e = o->error;
    free(o);
    return e;
}

/* Through a temporary file, fsync'ed, renamed, the directory fsync'ed (atomicfile.h): a
 * crash leaves the old checkpoint or the new one, whole. */
cd_code cd_ckpt_write(const cd_ckpt *ck, const char *path, cd_err *err)
{
    cd_atomic a;
    cd_code rc = cd_atomic_open(&a, path, 0644, err);
    if (rc != CD_OK)
        return rc;
    int e = write_image_to(a.fd, NULL, 0, ck);
    if (e != 0) {
        cd_atomic_abort(&a);
        return io_fail(err, "write", a.tmp, e);
    }
    return cd_atomic_commit(&a, err);
}

cd_code cd_ckpt_image(const cd_ckpt *ck, uint8_t **buf, size_t *len, cd_err *err)
{
    uint64_t n = file_length(ck);
    *buf = n < SIZE_MAX ? malloc((size_t)n) : NULL;
    *len = 0;
    if (*buf == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory for a checkpoint of %llu bytes",
                       (unsigned long long)n);
    int e = write_image_to(-1, *buf, (size_t)n, ck);
    if (e != 0) {
        free(*buf);
        *buf = NULL;
        return cd_fail(err, CD_EIO, "could not serialise a checkpoint: %s", strerror(e));
    }
    *len = (size_t)n;
    return CD_OK;
}

/* ---- reader ---- */

typedef struct cursor {
    const uint8_t *p;
    size_t left;
} cursor;

static int take(cursor *c, void *dst, size_t n)
{
    if (c->left < n)
        return -1;
    if (dst != NULL && n > 0)
        memcpy(dst, c->p, n);
    c->p += n;
    c->left -= n;
    return 0;
}

static cd_code corrupt(cd_err *err, const char *path, const char *what)
{
    return cd_fail(err, CD_ECORRUPT, "checkpoint file \"%s\" is corrupted: %s", path, what);
}

/* Magic, version, length and CRC of the whole image. */
static cd_code check_frame(const uint8_t *buf, size_t len, const char *path, cd_err *err)
{
    uint32_t version, stored;
    uint64_t flen;
    size_t m = len < 8 ? len : 8;
    if (memcmp(buf, CD_CKPT_MAGIC, m) != 0) {
        cd_fail(err, CD_ECORRUPT, "file \"%s\" is not a cerebro-ds checkpoint", path);
        return cd_detail(err, "The file does not start with the magic \"%s\".", CD_CKPT_MAGIC);
    }
    if (len < MIN_FILE) {
        cd_fail(err, CD_ECORRUPT, "checkpoint file \"%s\" is truncated", path);
        return cd_detail(err, "The file has %zu bytes, fewer than the %d of a header.", len,
                         MIN_FILE);
    }
    memcpy(&version, buf + 8, 4);
    memcpy(&flen, buf + 16, 8);
    if (version < 1 || version > CD_CKPT_VERSION) {
        cd_fail(err, CD_EUNSUPPORTED, "checkpoint file \"%s\" has format version %u", path,
                version);
        return cd_hint(err, "This build reads format versions 1 to %u.", CD_CKPT_VERSION);
    }
    if (flen != len) {
        cd_fail(err, CD_ECORRUPT, "checkpoint file \"%s\" is %s", path,
                len < flen ? "truncated" : "corrupted: wrong length");
        return cd_detail(err, "The file has %zu bytes, its header says %llu.", len,
                         (unsigned long long)flen);
    }
    memcpy(&stored, buf + len - 4, 4);
    uint32_t crc = cd_crc32c(buf, len - 4);
    if (crc != stored) {
        corrupt(err, path, "checksum mismatch");
        return cd_detail(err, "CRC-32C of the contents is %08x, the file says %08x.", crc, stored);
    }
    return CD_OK;
}

/* Decode one tensor entry at c into ck (data copied into an owned buffer). */
static cd_code parse_tensor(cursor *c, const char *path, cd_ckpt *ck, cd_err *err)
{
    uint32_t name_len, ndim;
    char name[CD_CKPT_NAME_MAX + 1];
    uint64_t dims[CD_CKPT_MAXDIM], n;
    if (take(c, &name_len, 4) != 0 || name_len == 0 || name_len > CD_CKPT_NAME_MAX ||
        take(c, name, name_len) != 0)
        return corrupt(err, path, "bad tensor name length");
    name[name_len] = '\0';
    if (strlen(name) != name_len || !cd_ckpt_name_ok(name) || cd_ckpt_find(ck, name) != NULL)
        return corrupt(err, path, "bad or duplicate tensor name");
    if (take(c, &ndim, 4) != 0 || ndim > CD_CKPT_MAXDIM || take(c, dims, 8 * (size_t)ndim) != 0 ||
        shape_count(dims, (int)ndim, &n) != 0 || c->left < 4 * n)
        return corrupt(err, path, "bad tensor shape");
    cd_code rc = push_tensor(ck, name, (int)ndim, dims, n, err);
    if (rc != CD_OK)
        return rc;
    cd_ckpt_tensor *t = &ck->tensors[ck->ntensors - 1];
    if ((t->owned = malloc(n ? 4 * n : 1)) == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory reading checkpoint \"%s\"", path);
    t->data = t->owned;
    take(c, t->owned, 4 * n);
    return CD_OK;
}

static cd_code parse_body(const uint8_t *buf, size_t len, const char *path, cd_ckpt *ck,
                          cd_err *err)
{
    uint64_t rng_len = 0, ntensors = 0;
    uint32_t version, fp_len = 0;
    memcpy(&version, buf + 8, 4);
    if (version >= 2)
        memcpy(&fp_len, buf + 12, 4);
    cursor c = {buf + 24, len - 24 - 4};
    take(&c, &ck->config_hash, 8);
    take(&c, &ck->epoch, 8);
    take(&c, &ck->step, 8);
    take(&c, &rng_len, 8);
    take(&c, &ntensors, 8);
    if (rng_len > c.left || ntensors > c.left / 8)
        return corrupt(err, path, "bad rng length or tensor count");
    cd_code rc = cd_ckpt_set_rng(ck, c.p, (size_t)rng_len, err);
    if (rc != CD_OK)
        return rc;
    take(&c, NULL, (size_t)rng_len);
    if (fp_len >= sizeof ck->numerics || fp_len > c.left)
        return corrupt(err, path, "bad numerics length");
    take(&c, ck->numerics, fp_len);
    ck->numerics[fp_len] = '\0';
    if (strlen(ck->numerics) != fp_len || !cd_fp_valid(ck->numerics))
        return corrupt(err, path, "bad numerics fingerprint");
    for (uint64_t i = 0; i < ntensors && rc == CD_OK; i++)
        rc = parse_tensor(&c, path, ck, err);
    if (rc == CD_ECORRUPT)
        cd_detail(err, "Tensor entry %zu of %llu, at byte offset %zu.", ck->ntensors,
                  (unsigned long long)ntensors, (size_t)(c.p - buf));
    if (rc == CD_OK && c.left != 0)
        rc = corrupt(err, path, "bytes after the last tensor");
    return rc;
}

cd_code cd_ckpt_parse(const uint8_t *buf, size_t len, const char *path, cd_ckpt *out, cd_err *err)
{
    cd_ckpt_init(out);
    cd_code rc = check_frame(buf, len, path, err);
    if (rc == CD_OK)
        rc = parse_body(buf, len, path, out, err);
    if (rc != CD_OK)
        cd_ckpt_free(out);
    return rc;
}

/* Whole file into *buf (malloc'd), its size into *len. */
static cd_code slurp(const char *path, uint8_t **buf, size_t *len, cd_err *err)
{
    struct stat st;
    const char *why = NULL;
    int fd = cd_open_regular(path, &st, &why);
    *buf = NULL;
    if (fd < 0)
        return cd_fail(err, CD_EIO, "could not open checkpoint file \"%s\": %s", path, why);
    if ((*buf = malloc(st.st_size ? (size_t)st.st_size : 1)) == NULL) {
        close(fd);
        return io_fail(err, "read", path, ENOMEM);
    }
    size_t off = 0, want = (size_t)st.st_size;
    while (off < want) {
        ssize_t r = read(fd, *buf + off, want - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    close(fd);
    *len = off; /* a file that shrank while read is caught as truncated */
    return CD_OK;
}

cd_code cd_ckpt_read(const char *path, cd_ckpt *out, cd_err *err)
{
    uint8_t *buf;
    size_t len = 0;
    cd_ckpt_init(out);
    cd_code rc = slurp(path, &buf, &len, err);
    if (rc != CD_OK)
        return rc;
    rc = cd_ckpt_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

cd_code cd_ckpt_check_config(const cd_ckpt *ck, const char *path, uint64_t config_hash, cd_err *err)
{
    if (ck->config_hash == config_hash)
        return CD_OK;
    cd_fail(err, CD_EINVAL, "checkpoint \"%s\" is for another model configuration", path);
    cd_detail(err, "The checkpoint's config hash is %016llx, the model's is %016llx.",
              (unsigned long long)ck->config_hash, (unsigned long long)config_hash);
    return cd_hint(err, "Use the model file the checkpoint was created with.");
}

/* ---- export / import ---- */

cd_code cd_ckpt_export(const cd_ckpt *ck, const char *dir, cd_err *err)
{
    char path[4096];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return cd_fail(err, CD_EIO, "could not create directory \"%s\": %s", dir, strerror(errno));
    for (size_t i = 0; i < ck->ntensors; i++) {
        const cd_ckpt_tensor *t = &ck->tensors[i];
        if (snprintf(path, sizeof path, "%s/%s.npy", dir, t->name) >= (int)sizeof path)
            return cd_fail(err, CD_EINVAL, "export path is too long");
        cd_code rc = cd_npy_write(path, "<f4", t->dims, t->ndim, t->data, 4 * (size_t)t->n, err);
        if (rc != CD_OK)
            return rc;
    }
    return CD_OK;
}

static int same_shape(const cd_npy *a, int ndim, const uint64_t *dims)
{
    if (a->ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++) {
        if (a->shape[i] != dims[i])
            return 0;
    }
    return 1;
}

/* Imported weights are finite: a NaN or an infinity would be carried into every later
 * checkpoint of the trial. */
static cd_code check_finite(const char *path, const float *v, size_t n, cd_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            cd_fail(err, CD_EINVAL, "tensor file \"%s\" holds %g at element %zu", path,
                    (double)v[i], i);
            return cd_hint(err, "import finite weights only");
        }
    return CD_OK;
}

cd_code cd_ckpt_import_tensor(const char *dir, const char *name, int ndim, const uint64_t *dims,
                              float *dst, cd_err *err)
{
    char path[4096];
    struct stat st;
    cd_npy a;
    if (snprintf(path, sizeof path, "%s/%s.npy", dir, name) >= (int)sizeof path)
        return cd_fail(err, CD_EINVAL, "import path is too long");
    if (stat(path, &st) != 0 && errno == ENOENT)
        return cd_fail(err, CD_ENOTFOUND, "tensor file \"%s\" does not exist", path);
    cd_code rc = cd_npy_open(path, &a, err);
    if (rc != CD_OK)
        return rc;
    if (strcmp(a.descr, "<f4") != 0 || !same_shape(&a, ndim, dims)) {
        cd_fail(err, CD_EINVAL, "tensor file \"%s\" does not match the model", path);
        cd_detail(err,
                  "It holds %s with %d dimensions (first %llu); the model wants float32 "
                  "with %d (first %llu).",
                  a.descr, a.ndim, a.ndim ? (unsigned long long)a.shape[0] : 0ULL, ndim,
                  ndim ? (unsigned long long)dims[0] : 0ULL);
        rc = err ? err->code : CD_EINVAL;
    } else if (a.data_bytes > 0) {
        memcpy(dst, a.data, (size_t)a.data_bytes);
        rc = check_finite(path, dst, (size_t)a.data_bytes / sizeof *dst, err);
    }
    cd_npy_close(&a);
    return rc;
}
