/*
 * test_npy.c: unit tests of common/npy.c against numpy itself.
 *
 * numpy is reached through /usr/bin/python3 tests/npy_oracle.py (run from the repo root):
 * files we write are loaded with np.load(mmap_mode='r') and compared byte for byte, files
 * numpy writes are opened with cd_npy_open, and headers are compared with numpy's writer.
 * Corrupt and hostile files must give an error, never a crash. Work files live in a
 * mkdtemp directory that is removed at the end.
 */
#include "npy.h"
#include "unit.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ORACLE "/usr/bin/python3 tests/npy_oracle.py"

static char g_dir[64];

static const char *in_dir(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* Run a shell command; its first output line (newline stripped) into out. Returns status. */
static int run(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    out[0] = '\0';
    if (fgets(out, (int)cap, p) != NULL)
        out[strcspn(out, "\n")] = '\0';
    char sink[256];
    while (fgets(sink, sizeof sink, p) != NULL)
        ;
    return pclose(p);
}

static int write_file(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t w = n ? fwrite(buf, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Python repr of a shape tuple. */
static void shape_repr(char *buf, size_t cap, const uint64_t *shape, int ndim)
{
    size_t len = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%" PRIu64, i ? ", " : "", shape[i]);
    snprintf(buf + len, cap - len, "%s)", ndim == 1 ? "," : "");
}

/* Element i of (arange(n) % 100).astype(descr), as numpy makes it. */
static void pattern_elem(const char *descr, uint64_t i, uint8_t *out)
{
    int v = (int)(i % 100);
    size_t sz = cd_npy_itemsize(descr);
    if (strcmp(descr, "<f4") == 0) {
        float f = (float)v;
        memcpy(out, &f, 4);
    } else if (strcmp(descr, "<f8") == 0) {
        double d = (double)v;
        memcpy(out, &d, 8);
    } else if (strcmp(descr, "|b1") == 0) {
        out[0] = v != 0;
    } else {
        uint64_t u = (uint64_t)v; /* little-endian host: low bytes first */
        memcpy(out, &u, sz);
    }
}

static uint8_t *pattern(const char *descr, uint64_t nelem, size_t *nbytes)
{
    size_t sz = cd_npy_itemsize(descr);
    *nbytes = (size_t)nelem * sz;
    uint8_t *b = malloc(*nbytes + 1);
    for (uint64_t i = 0; i < nelem; i++)
        pattern_elem(descr, i, b + i * sz);
    return b;
}

static uint64_t nelem_of(const uint64_t *shape, int ndim)
{
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

/* np.load(path) must give descr, shape and exactly the bytes data[nbytes]. */
static void check_numpy_loads(const char *path, const char *descr, const uint64_t *shape, int ndim,
                              const void *data, size_t nbytes)
{
    char out[256], want[256], rs[200];
    const char *raw = in_dir("raw.bin");
    CHECK_EQ_INT(run(out, sizeof out, ORACLE " load %s %s", path, raw), 0);
    shape_repr(rs, sizeof rs, shape, ndim);
    snprintf(want, sizeof want, "%s %s", descr, rs);
    CHECK(strcmp(out, want) == 0);
    if (strcmp(out, want) != 0)
        fprintf(stderr, "  numpy says '%s', expected '%s'\n", out, want);
    size_t n = 0;
    uint8_t *b = unit_read_file(raw, &n);
    CHECK(b != NULL && n == nbytes && (nbytes == 0 || memcmp(b, data, nbytes) == 0));
    free(b);
}

/* cd_npy_open must give descr, shape and data. */
static void check_we_load(const char *path, const char *descr, const uint64_t *shape, int ndim,
                          const void *data, size_t nbytes)
{
    cd_npy n;
    cd_err err = {0};
    CHECK_CODE(cd_npy_open(path, &n, &err), CD_OK, &err);
    CHECK(strcmp(n.descr, descr) == 0);
    CHECK_EQ_INT(n.ndim, ndim);
    for (int i = 0; i < ndim && i < n.ndim; i++)
        CHECK_EQ_INT(n.shape[i], shape[i]);
    CHECK_EQ_INT(n.itemsize, cd_npy_itemsize(descr));
    CHECK_EQ_INT(n.data_bytes, nbytes);
    CHECK_EQ_INT(n.header_len % 64, 0);
    CHECK(n.data != NULL && (nbytes == 0 || memcmp(n.data, data, nbytes) == 0));
    cd_npy_close(&n);
    CHECK_EQ_INT(n.fd, -1);
    cd_npy_close(&n); /* twice is harmless */
}

/* ------------------------------------------------------------------ tests */

static void test_itemsize(void)
{
    CHECK_EQ_INT(cd_npy_itemsize("|b1"), 1);
    CHECK_EQ_INT(cd_npy_itemsize("|u1"), 1);
    CHECK_EQ_INT(cd_npy_itemsize("|i1"), 1);
    CHECK_EQ_INT(cd_npy_itemsize("<i2"), 2);
    CHECK_EQ_INT(cd_npy_itemsize("<u2"), 2);
    CHECK_EQ_INT(cd_npy_itemsize("<i4"), 4);
    CHECK_EQ_INT(cd_npy_itemsize("<u4"), 4);
    CHECK_EQ_INT(cd_npy_itemsize("<i8"), 8);
    CHECK_EQ_INT(cd_npy_itemsize("<u8"), 8);
    CHECK_EQ_INT(cd_npy_itemsize("<f4"), 4);
    CHECK_EQ_INT(cd_npy_itemsize("<f8"), 8);
    CHECK_EQ_INT(cd_npy_itemsize(">f4"), 0);
    CHECK_EQ_INT(cd_npy_itemsize("<c16"), 0);
    CHECK_EQ_INT(cd_npy_itemsize(""), 0);
    CHECK_EQ_INT(cd_npy_itemsize(NULL), 0);
}

static void test_header_text(void)
{
    char buf[512];
    uint64_t s2[] = {60000, 784};
    size_t n = cd_npy_header(buf, sizeof buf, "<f4", s2, 2);
    CHECK_EQ_INT(n, 128);
    CHECK(memcmp(buf, "\x93NUMPY\x01\x00\x76\x00", 10) == 0);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }";
    CHECK(memcmp(buf + 10, dict, strlen(dict)) == 0);
    CHECK(buf[n - 1] == '\n' && buf[n - 2] == ' ');
    uint64_t s1[] = {5};
    n = cd_npy_header(buf, sizeof buf, "|b1", s1, 1);
    CHECK(n > 0 && memmem(buf, n, "'shape': (5,), }", 16) != NULL);
    n = cd_npy_header(buf, sizeof buf, "<i8", NULL, 0);
    CHECK(n > 0 && memmem(buf, n, "'shape': (), }", 14) != NULL);
    CHECK_EQ_INT(cd_npy_header(buf, 127, "<f4", s2, 2), 0);
    CHECK_EQ_INT(cd_npy_header(buf, sizeof buf, "<c8", s2, 2), 0);
    CHECK_EQ_INT(cd_npy_header(buf, sizeof buf, "<f4", s2, -1), 0);
    CHECK_EQ_INT(cd_npy_header(buf, sizeof buf, "<f4", NULL, 2), 0);
    CHECK_EQ_INT(cd_npy_header(buf, sizeof buf, "<f4", s2, 9), 0);
    CHECK_EQ_INT(cd_npy_header_len("<f4", s2, 2), 128);
}

/* Our header is byte-identical to numpy 1.24's for the same array. */
static void header_vs_numpy(const char *descr, const char *shape_text, const uint64_t *shape,
                            int ndim)
{
    char out[256], hdr[512];
    const char *p = in_dir("np_hdr.npy");
    CHECK_EQ_INT(run(out, sizeof out, ORACLE " save %s '%s' %s 1.0", p, descr, shape_text), 0);
    size_t hl = cd_npy_header(hdr, sizeof hdr, descr, shape, ndim), n = 0;
    uint8_t *b = unit_read_file(p, &n);
    CHECK(b != NULL && hl > 0 && n >= hl && memcmp(b, hdr, hl) == 0);
    if (b != NULL && n >= hl && hl > 0 && memcmp(b, hdr, hl) != 0)
        fprintf(stderr, "  header of %s %s differs from numpy's\n", descr, shape_text);
    free(b);
}

static void test_header_matches_numpy(void)
{
    uint64_t a[] = {5}, b[] = {60000, 784}, c[] = {3, 28, 28}, d[] = {0}, e[] = {0, 1};
    uint64_t f[] = {12345, 1, 2, 1, 1, 1, 1, 3};
    header_vs_numpy("<f4", "5", a, 1);
    header_vs_numpy("|b1", "5", a, 1);
    header_vs_numpy("<f4", "60000x784", b, 2);
    header_vs_numpy("<i2", "3x28x28", c, 3);
    header_vs_numpy("<i8", "0", d, 1);
    header_vs_numpy("|u1", "0x1", e, 2);
    header_vs_numpy("<f8", "-", NULL, 0);
    header_vs_numpy("<u4", "12345x1x2x1x1x1x1x3", f, 8);
}

/* Header length does not depend on the digits of shape[0]; numpy reads every N back. */
static void test_header_growth(void)
{
    uint64_t shape[2] = {0, 784};
    char hdr[512], out[256], want[256];
    size_t base = cd_npy_header_len("<f4", shape, 2);
    CHECK(base > 0 && base % 64 == 0);
    uint64_t n = 1;
    for (int digits = 1; digits <= 20; digits++, n *= 10) {
        shape[0] = digits == 20 ? UINT64_MAX : n;
        size_t hl = cd_npy_header(hdr, sizeof hdr, "<f4", shape, 2);
        CHECK_EQ_INT(hl, base);
        const char *p = in_dir("growth.npy");
        CHECK(write_file(p, hdr, hl) == 0);
        if (digits == 1 || digits == 2 || digits % 6 == 0 || digits >= 19) {
            CHECK_EQ_INT(run(out, sizeof out, ORACLE " header %s", p), 0);
            snprintf(want, sizeof want, "<f4 (%" PRIu64 ", 784) False", shape[0]);
            CHECK(strcmp(out, want) == 0);
        }
        cd_npy np;
        cd_err err = {0};
        CHECK_CODE(cd_npy_open(p, &np, &err), CD_ECORRUPT, &err); /* no data */
        CHECK(np.fd == -1 && np.data == NULL);
    }
}

static void roundtrip_write(const char *descr, const uint64_t *shape, int ndim)
{
    size_t nbytes = 0;
    uint8_t *data = pattern(descr, nelem_of(shape, ndim), &nbytes);
    cd_err err = {0};
    const char *p = in_dir("w.npy");
    CHECK_CODE(cd_npy_write(p, descr, shape, ndim, data, nbytes, &err), CD_OK, &err);
    CHECK(!exists(in_dir("w.npy.tmp")));
    check_numpy_loads(p, descr, shape, ndim, data, nbytes);
    check_we_load(p, descr, shape, ndim, data, nbytes);
    free(data);
}

static void test_write(void)
{
    uint64_t s1[] = {7}, s2[] = {9, 1}, s3[] = {4, 28, 28}, z1[] = {0}, z3[] = {0, 28, 28};
    const char *all[] = {"|b1", "|u1", "|i1", "<i2", "<u2", "<i4",
                         "<u4", "<i8", "<u8", "<f4", "<f8"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        roundtrip_write(all[i], s1, 1);
    roundtrip_write("<f4", s2, 2);
    roundtrip_write("<f4", s3, 3);
    roundtrip_write("<i8", z1, 1);
    roundtrip_write("|b1", z3, 3);
    roundtrip_write("<f8", NULL, 0);

    cd_err err = {0};
    uint8_t buf[64] = {0};
    CHECK_CODE(cd_npy_write(in_dir("bad.npy"), "<f4", s1, 1, buf, 27, &err), CD_EINVAL, &err);
    CHECK(strstr(err.detail, "bad.npy") != NULL);
    CHECK_CODE(cd_npy_write(in_dir("bad.npy"), "<c8", s1, 1, buf, 56, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_npy_write("/nonexistent/dir/x.npy", "<f4", s1, 1, buf, 28, &err), CD_EIO, &err);
    CHECK(strstr(err.msg, "/nonexistent/dir/x.npy.tmp") != NULL);
    CHECK(strstr(err.msg, "No such file") != NULL);
    CHECK(!exists(in_dir("bad.npy")));
}

/* Append data in awkward chunk sizes, crossing the 1 MiB buffer: 1, 10, 73, ... bytes, then
 * multi-MiB appends. With room, every third chunk that fits is made in the writer's buffer
 * (cd_npy_writer_room) and appended from there. */
static void append_chunks(cd_npy_writer *w, const uint8_t *data, size_t nbytes, bool room)
{
    cd_err err = {0};
    size_t off = 0, step = 1;
    for (int i = 0; off < nbytes; i++) {
        size_t k = step < nbytes - off ? step : nbytes - off, before = 0;
        uint8_t *at = room && i % 3 == 0 ? cd_npy_writer_room(w, k, &before) : NULL;
        if (at != NULL)
            memcpy(at, data + off, k);
        CHECK_CODE(cd_npy_writer_append(w, at ? at : data + off, k, &err), CD_OK, &err);
        off += k;
        step = step * 7 + 3;
        if (room && step > (1u << 19))
            step = 1; /* keep to chunks that can fit the buffer */
    }
}

/* Stream nrows rows of (tail...) with append_chunks; through bg when it is not NULL. */
static void stream_roundtrip_bg(const char *descr, int ntail, const uint64_t *tail, uint64_t nrows,
                                cd_bgwrite *bg, bool room)
{
    uint64_t shape[8] = {nrows};
    for (int i = 0; i < ntail; i++)
        shape[1 + i] = tail[i];
    size_t nbytes = 0;
    uint8_t *data = pattern(descr, nelem_of(shape, 1 + ntail), &nbytes);
    cd_npy_writer *w = NULL;
    cd_err err = {0};
    const char *p = in_dir("s.npy");
    unlink(p);
    CHECK_CODE(cd_npy_writer_open(&w, p, descr, ntail, tail, &err), CD_OK, &err);
    if (bg != NULL)
        CHECK_CODE(cd_npy_writer_async(w, bg, &err), CD_OK, &err);
    append_chunks(w, data, nbytes, room);
    CHECK(!exists(p));
    CHECK_CODE(cd_npy_writer_close(w, nrows, &err), CD_OK, &err);
    CHECK(!exists(in_dir("s.npy.tmp")));
    check_numpy_loads(p, descr, shape, 1 + ntail, data, nbytes);
    check_we_load(p, descr, shape, 1 + ntail, data, nbytes);
    free(data);
}

static void stream_roundtrip(const char *descr, int ntail, const uint64_t *tail, uint64_t nrows)
{
    stream_roundtrip_bg(descr, ntail, tail, nrows, NULL, false);
}

static void test_stream(void)
{
    uint64_t t1[] = {1}, t28[] = {28, 28};
    stream_roundtrip("<f4", 0, NULL, 5);
    stream_roundtrip("<i8", 1, t1, 1000);
    stream_roundtrip("<f4", 2, t28, 3000); /* 9.4 MB */
    stream_roundtrip("|u1", 2, t28, 0);
    stream_roundtrip("|b1", 0, NULL, 0);
    stream_roundtrip("<f8", 0, NULL, 12345);
}

/* The same files when full buffers are written by a background thread, appended or made
 * in place (the buffer the caller fills trades places with the one being written). */
static void test_stream_async(void)
{
    cd_bgwrite *bg = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_bgwrite_start(&bg, &err), CD_OK, &err);
    uint64_t t1[] = {1}, t28[] = {28, 28};
    for (int room = 0; room < 2; room++) {
        stream_roundtrip_bg("<f4", 0, NULL, 5, bg, room);
        stream_roundtrip_bg("<i8", 1, t1, 1000, bg, room);
        stream_roundtrip_bg("<f4", 2, t28, 3000, bg, room); /* 9.4 MB */
        stream_roundtrip_bg("|u1", 2, t28, 0, bg, room);
        stream_roundtrip_bg("<f8", 0, NULL, 123456, bg, room);
    }
    cd_npy_writer *w = NULL;
    CHECK_CODE(cd_npy_writer_async(NULL, bg, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_npy_writer_open(&w, in_dir("a.npy"), "<f4", 0, NULL, &err), CD_OK, &err);
    CHECK_CODE(cd_npy_writer_async(w, NULL, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_npy_writer_async(w, bg, &err), CD_OK, &err);
    CHECK_CODE(cd_npy_writer_async(w, bg, &err), CD_EINVAL, &err); /* once */
    static float v[1 << 19];
    CHECK_CODE(cd_npy_writer_append(w, v, sizeof v, &err), CD_OK, &err); /* one write queued */
    cd_npy_writer_abort(w); /* waits for it before freeing the buffer */
    CHECK(!exists(in_dir("a.npy")) && !exists(in_dir("a.npy.tmp")));
    cd_bgwrite_stop(bg);
}

/* sync_file_range, counted: the writer starts the file's writeback every 16 MiB. */
static int g_writebacks;
int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
    (void)fd;
    if (off == 0 && n == 0 && flags == SYNC_FILE_RANGE_WRITE)
        __atomic_fetch_add(&g_writebacks, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* 40 MiB through the writer, with and without the background thread: in pieces, writeback
 * is started at 16 and 32 MiB; as one large append after the first buffer, once. */
static void test_writebehind(void)
{
    cd_bgwrite *bg = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_bgwrite_start(&bg, &err), CD_OK, &err);
    size_t nbytes = (size_t)40 << 20;
    uint8_t *data = calloc(1, nbytes);
    for (int mode = 0; mode < 4; mode++) {
        cd_npy_writer *w = NULL;
        const char *p = in_dir("wb.npy");
        CHECK_CODE(cd_npy_writer_open(&w, p, "|u1", 0, NULL, &err), CD_OK, &err);
        if (mode & 1)
            CHECK_CODE(cd_npy_writer_async(w, bg, &err), CD_OK, &err);
        g_writebacks = 0;
        if (mode & 2) { /* buffered: a flush every 1 MiB */
            append_chunks(w, data, nbytes, true);
        } else { /* fill the first buffer, then one append written as it is */
            char hdr[256];
            uint64_t shape[1] = {0};
            size_t first = ((size_t)1 << 20) - cd_npy_header(hdr, sizeof hdr, "|u1", shape, 1);
            CHECK_CODE(cd_npy_writer_append(w, data, first, &err), CD_OK, &err);
            CHECK_CODE(cd_npy_writer_append(w, data + first, nbytes - first, &err), CD_OK, &err);
        }
        CHECK_CODE(cd_npy_writer_close(w, nbytes, &err), CD_OK, &err);
        CHECK_EQ_INT(__atomic_load_n(&g_writebacks, __ATOMIC_SEQ_CST), mode & 2 ? 2 : 1);
        unlink(p);
    }
    free(data);
    cd_bgwrite_stop(bg);
}

/* A file size limit makes a write fail: the error names the file, comes back from an append
 * or the close, and no file is left behind; with or without the background thread. */
static void test_stream_write_fails(void)
{
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 3u << 20;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    cd_bgwrite *bg = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_bgwrite_start(&bg, &err), CD_OK, &err);
    static float v[1 << 18]; /* 1 MiB */
    for (int async = 0; async < 2; async++) {
        cd_npy_writer *w = NULL;
        const char *p = in_dir("big.npy");
        CHECK_CODE(cd_npy_writer_open(&w, p, "<f4", 0, NULL, &err), CD_OK, &err);
        if (async)
            CHECK_CODE(cd_npy_writer_async(w, bg, &err), CD_OK, &err);
        cd_code rc = CD_OK;
        int appended = 0;
        for (; appended < 8 && rc == CD_OK; appended++)
            rc = cd_npy_writer_append(w, v, sizeof v, &err);
        if (rc == CD_OK)
            rc = cd_npy_writer_close(w, (uint64_t)appended << 18, &err);
        else
            cd_npy_writer_abort(w);
        CHECK_CODE(rc, CD_EIO, &err);
        CHECK(strstr(err.msg, "big.npy.tmp") != NULL);
        CHECK(strstr(err.msg, "too large") != NULL);
        CHECK(!exists(p) && !exists(in_dir("big.npy.tmp")));
    }
    cd_bgwrite_stop(bg);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
}

static void test_stream_errors(void)
{
    cd_npy_writer *w = NULL;
    cd_err err = {0};
    const char *p = in_dir("e.npy"), *tmp = in_dir("e.npy.tmp");
    float v[3] = {1, 2, 3};
    CHECK_CODE(cd_npy_writer_open(&w, p, "<f4", 0, NULL, &err), CD_OK, &err);
    CHECK_CODE(cd_npy_writer_append(w, v, sizeof v, &err), CD_OK, &err);
    CHECK(exists(tmp));
    CHECK_CODE(cd_npy_writer_close(w, 4, &err), CD_EINVAL, &err); /* 3 rows written */
    CHECK(strstr(err.detail, "e.npy") != NULL);
    CHECK(!exists(tmp) && !exists(p));

    CHECK_CODE(cd_npy_writer_open(&w, p, "<f4", 0, NULL, &err), CD_OK, &err);
    CHECK_CODE(cd_npy_writer_append(w, v, 5, &err), CD_OK, &err);
    CHECK_CODE(cd_npy_writer_close(w, 1, &err), CD_EINVAL, &err); /* partial row */
    CHECK(!exists(tmp) && !exists(p));

    CHECK_CODE(cd_npy_writer_open(&w, p, "<f4", 0, NULL, &err), CD_OK, &err);
    CHECK_CODE(cd_npy_writer_append(w, v, sizeof v, &err), CD_OK, &err);
    cd_npy_writer_abort(w);
    CHECK(!exists(tmp) && !exists(p));
    cd_npy_writer_abort(NULL);

    uint64_t big[] = {UINT64_MAX / 2, 4};
    CHECK_CODE(cd_npy_writer_open(&w, p, "<f8", 2, big, &err), CD_EINVAL, &err);
    CHECK(w == NULL);
    CHECK_CODE(cd_npy_writer_open(&w, p, "<f8", 8, big, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_npy_writer_open(&w, p, "S10", 0, NULL, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_npy_writer_open(&w, "/nonexistent/x.npy", "<f8", 0, NULL, &err), CD_EIO, &err);
    CHECK(strstr(err.msg, "/nonexistent/x.npy.tmp") != NULL);
    CHECK_CODE(cd_npy_writer_close(NULL, 0, &err), CD_EINVAL, &err);
}

/* numpy writes, we read. */
static void numpy_roundtrip(const char *descr, const char *shape_text, const uint64_t *shape,
                            int ndim, const char *version)
{
    char out[256];
    const char *p = in_dir("np.npy");
    int rc = run(out, sizeof out, ORACLE " save %s '%s' %s %s", p, descr, shape_text, version);
    CHECK_EQ_INT(rc, 0);
    size_t nbytes = 0;
    uint8_t *data = pattern(descr, nelem_of(shape, ndim), &nbytes);
    check_we_load(p, descr, shape, ndim, data, nbytes);
    free(data);
}

static void test_read_numpy(void)
{
    uint64_t s1[] = {100}, s2[] = {6, 1}, s3[] = {5, 28, 28}, z[] = {0}, z2[] = {0, 3};
    const char *all[] = {"|b1", "|u1", "|i1", "<i2", "<u2", "<i4",
                         "<u4", "<i8", "<u8", "<f4", "<f8"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        numpy_roundtrip(all[i], "100", s1, 1, "-");
    numpy_roundtrip("<f4", "6x1", s2, 2, "1.0");
    numpy_roundtrip("<f4", "5x28x28", s3, 3, "2.0");
    numpy_roundtrip("<i2", "5x28x28", s3, 3, "1.0");
    numpy_roundtrip("<i8", "0", z, 1, "1.0");
    numpy_roundtrip("<f8", "0x3", z2, 2, "2.0");
    numpy_roundtrip("<f8", "-", NULL, 0, "1.0");
}

static void expect_reject(const char *name, cd_code want, const char *why)
{
    cd_npy n;
    cd_err err = {0};
    const char *p = in_dir(name);
    CHECK_CODE(cd_npy_open(p, &n, &err), want, &err);
    CHECK(n.fd == -1 && n.data == NULL && n.map_len == 0);
    CHECK(strstr(err.msg, name) != NULL);
    if (why != NULL && strstr(err.detail, why) == NULL && strstr(err.msg, why) == NULL)
        fprintf(stderr, "  %s: got '%s' / '%s', expected '%s'\n", name, err.msg, err.detail, why);
    CHECK(why == NULL || strstr(err.detail, why) != NULL || strstr(err.msg, why) != NULL);
    cd_npy_close(&n);
}

/* A file with a version 1.0 prefix around dict (padded to 64) and ndata zero bytes. */
static void write_with_dict(const char *name, const char *dict, size_t ndata)
{
    size_t dl = strlen(dict), hl = ((10 + dl + 1 + 63) / 64) * 64;
    uint8_t *b = calloc(1, hl + ndata);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (uint8_t)((hl - 10) & 0xff);
    b[9] = (uint8_t)((hl - 10) >> 8);
    memset(b + 10, ' ', hl - 10);
    memcpy(b + 10, dict, dl);
    b[hl - 1] = '\n';
    CHECK(write_file(in_dir(name), b, hl + ndata) == 0);
    free(b);
}

static void test_reject_numpy_made(void)
{
    char out[256];
    CHECK_EQ_INT(run(out, sizeof out, ORACLE " save %s '<f4' 3x4 1.0 fortran", in_dir("fo.npy")),
                 0);
    expect_reject("fo.npy", CD_EUNSUPPORTED, "fortran");
    CHECK_EQ_INT(run(out, sizeof out, ORACLE " save %s '<f8' 3x4 1.0 big", in_dir("be.npy")), 0);
    expect_reject("be.npy", CD_EUNSUPPORTED, "big-endian");
    /* a big-endian 1-byte type is just a 1-byte type */
    CHECK_EQ_INT(run(out, sizeof out, ORACLE " save %s '|u1' 3x4 1.0 big", in_dir("bu.npy")), 0);
    uint64_t s[] = {3, 4};
    size_t nb = 0;
    uint8_t *d = pattern("|u1", 12, &nb);
    check_we_load(in_dir("bu.npy"), "|u1", s, 2, d, nb);
    free(d);
}

static void test_reject_crafted(void)
{
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
    write_with_dict("ok.npy", ok, 12);
    uint64_t s[] = {3};
    float zero[3] = {0};
    check_we_load(in_dir("ok.npy"), "<f4", s, 1, zero, 12);
    write_with_dict("alt.npy", "{\"shape\":(3,),\"fortran_order\":False,\"descr\":\"f4\"}", 12);
    check_we_load(in_dir("alt.npy"), "<f4", s, 1, zero, 12);
    write_with_dict("py2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }", 12);
    check_we_load(in_dir("py2.npy"), "<f4", s, 1, zero, 12);

    write_with_dict("short.npy", ok, 11);
    expect_reject("short.npy", CD_ECORRUPT, "truncated");
    write_with_dict("long.npy", ok, 13);
    expect_reject("long.npy", CD_ECORRUPT, "longer");
    write_with_dict("fo2.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", 12);
    expect_reject("fo2.npy", CD_EUNSUPPORTED, "fortran");
    write_with_dict("int.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", 12);
    expect_reject("int.npy", CD_ECORRUPT, "not a tuple");
    write_with_dict("neg.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", 0);
    expect_reject("neg.npy", CD_ECORRUPT, "negative");
    write_with_dict(
        "huge.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 0);
    expect_reject("huge.npy", CD_ECORRUPT, "too large");
    write_with_dict("ovf.npy",
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
                    0);
    expect_reject("ovf.npy", CD_ECORRUPT, "overflow");
    write_with_dict("absurd.npy",
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 3), }", 0);
    expect_reject("absurd.npy", CD_ECORRUPT, "truncated");
    write_with_dict("nine.npy",
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 8);
    expect_reject("nine.npy", CD_EUNSUPPORTED, "dimensions");
    write_with_dict("nokey.npy", "{'descr': '<f4', 'shape': (3,), }", 12);
    expect_reject("nokey.npy", CD_ECORRUPT, "lacks");
    write_with_dict("extra.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}",
                    12);
    expect_reject("extra.npy", CD_ECORRUPT, "key");
    write_with_dict("dt.npy", "{'descr': '<c16', 'fortran_order': False, 'shape': (3,), }", 48);
    expect_reject("dt.npy", CD_EUNSUPPORTED, "dtype");
    write_with_dict("rec.npy", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }",
                    12);
    expect_reject("rec.npy", CD_EUNSUPPORTED, "structured");
    write_with_dict("open.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,", 12);
    expect_reject("open.npy", CD_ECORRUPT, NULL);
    write_with_dict("quote.npy", "{'descr': '<f4, 'fortran_order': False, 'shape': (3,), }", 12);
    expect_reject("quote.npy", CD_ECORRUPT, NULL);
    write_with_dict("junk.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } x", 12);
    expect_reject("junk.npy", CD_ECORRUPT, "trailing");
    write_with_dict("notdict.npy", "[1, 2, 3]", 12);
    expect_reject("notdict.npy", CD_ECORRUPT, "dictionary");
}

static void test_reject_prefix(void)
{
    uint8_t b[200];
    size_t hl = cd_npy_header((char *)b, sizeof b, "<f4", (uint64_t[]){1}, 1);
    memset(b + hl, 0, 4);
    CHECK(write_file(in_dir("empty.npy"), b, 0) == 0);
    expect_reject("empty.npy", CD_ECORRUPT, "too short");
    CHECK(write_file(in_dir("nine.b"), b, 9) == 0);
    expect_reject("nine.b", CD_ECORRUPT, "too short");
    CHECK(write_file(in_dir("halfhdr.npy"), b, hl / 2) == 0);
    expect_reject("halfhdr.npy", CD_ECORRUPT, "truncated");
    b[0] = 'x';
    CHECK(write_file(in_dir("magic.npy"), b, hl + 4) == 0);
    expect_reject("magic.npy", CD_ECORRUPT, "magic");
    b[0] = 0x93;
    b[6] = 9;
    CHECK(write_file(in_dir("ver.npy"), b, hl + 4) == 0);
    expect_reject("ver.npy", CD_EUNSUPPORTED, "version");
    b[6] = 2; /* 2.0 reads a 4-byte length: now absurd */
    CHECK(write_file(in_dir("v2len.npy"), b, hl + 4) == 0);
    expect_reject("v2len.npy", CD_EUNSUPPORTED, NULL);
    b[6] = 1;
    b[8] = 0xff;
    b[9] = 0xff;
    CHECK(write_file(in_dir("hlen.npy"), b, hl + 4) == 0);
    expect_reject("hlen.npy", CD_ECORRUPT, "truncated");
    expect_reject("missing.npy", CD_ENOTFOUND, "No such file");
    CHECK(mkdir(in_dir("dir.npy"), 0700) == 0);
    expect_reject("dir.npy", CD_EINVAL, "regular");
}

/* Random corruption of a valid file: any result but a crash; OK results are consistent. */
static void test_fuzz(void)
{
    uint8_t good[256], b[256];
    uint64_t shape[] = {3, 4};
    size_t hl = cd_npy_header((char *)good, sizeof good, "<i2", shape, 2);
    memset(good + hl, 7, 24);
    size_t n = hl + 24;
    srand(1234);
    int opened = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(b, good, n);
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++)
            b[(size_t)rand() % n] = (uint8_t)(rand() % 3 ? rand() : "(),: '\"0123L"[rand() % 12]);
        size_t len = rand() % 5 ? n : (size_t)rand() % n;
        CHECK(write_file(in_dir("fz.npy"), b, len) == 0);
        cd_npy np;
        cd_err err = {0};
        if (cd_npy_open(in_dir("fz.npy"), &np, &err) == CD_OK) {
            opened++;
            CHECK(np.header_len + np.data_bytes == np.map_len);
            CHECK(np.itemsize > 0 && np.ndim <= 8);
            cd_npy_close(&np);
        } else {
            CHECK(err.msg[0] != '\0' && np.fd == -1);
        }
    }
    CHECK(opened > 0);
}

/* In a child whose stderr goes to errpath: catch shrinks, map path (through cd_npy_open when
 * ours, else a plain mmap), truncate it to 64 bytes and read its last byte. Returns the
 * child's wait status. */
static int read_after_shrink(const char *path, const char *errpath, bool ours)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
            _exit(90);
        cd_npy_catch_shrink("test_npy", 7);
        cd_npy n;
        cd_err err = {0};
        if (cd_npy_open(path, &n, &err) != CD_OK)
            _exit(91);
        const volatile uint8_t *p = n.data;
        size_t len = n.data_bytes;
        if (!ours) {
            int other = open(path, O_RDONLY);
            p = mmap(NULL, n.map_len, PROT_READ, MAP_SHARED, other, 0);
            if (p == MAP_FAILED)
                _exit(92);
            len = n.map_len;
        }
        if (truncate(path, 64) != 0)
            _exit(93);
        _exit(p[len - 1] == 0xEE ? 94 : 95);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    return status;
}

/* A file truncated under its mapping: a clear error naming it and the given exit code, not a
 * bus error; a SIGBUS outside cd_npy's mappings keeps its default action. */
static void test_shrink_under_mapping(void)
{
    const uint64_t shape[2] = {1000, 64};
    size_t nbytes;
    uint8_t *data = pattern("<f4", 64000, &nbytes);
    cd_err err = {0};
    const char *path = in_dir("shrink.npy"), *errpath = in_dir("shrink.err");
    for (int ours = 1; ours >= 0; ours--) {
        CHECK_CODE(cd_npy_write(path, "<f4", shape, 2, data, nbytes, &err), CD_OK, &err);
        int status = read_after_shrink(path, errpath, ours);
        size_t len = 0;
        char *msg = (char *)unit_read_file(errpath, &len);
        if (ours) {
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
            CHECK(msg != NULL && strstr(msg, "test_npy: error: file \"") == msg);
            CHECK(msg != NULL && strstr(msg, "shrink.npy\" became shorter while it was being "
                                             "read\nDETAIL: ") != NULL);
        } else {
            CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);
            CHECK(msg != NULL && len == 0);
        }
        free(msg);
    }
    free(data);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/cd_test_npy.XXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_itemsize);
    RUN(test_header_text);
    RUN(test_header_matches_numpy);
    RUN(test_header_growth);
    RUN(test_write);
    RUN(test_stream);
    RUN(test_stream_errors);
    RUN(test_stream_async);
    RUN(test_stream_write_fails);
    RUN(test_writebehind);
    RUN(test_read_numpy);
    RUN(test_reject_numpy_made);
    RUN(test_reject_crafted);
    RUN(test_reject_prefix);
    RUN(test_fuzz);
    RUN(test_shrink_under_mapping);
    char cmd[128], out[8];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    run(out, sizeof out, "%s", cmd);
    return UNIT_DONE();
}
