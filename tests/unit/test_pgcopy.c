/*
 * test_pgcopy.c: unit tests of fuse/pg/pgcopy.c on real PostgreSQL 15 COPY BINARY output.
 *
 * Fixtures (tests/unit/data/copy_*.bin, run from the repo root) come from
 * tests/unit/data/make-copy-fixtures.sh; the expected values below are the ones in its SQL.
 * Each stream is fed whole, byte by byte and in random chunk sizes; corrupt streams and
 * arrays (truncated, bad signature, bad lengths, wrong element type) must give errors,
 * never crash. Build with -fsanitize=address,undefined to make "never crash" mean something.
 */
#include "pgcopy.h"
#include "pgdisk.h"
#include "unit.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DATA "tests/unit/data/"

/* ------------------------------------------------------------------ helpers */

typedef struct frow {
    int nf;
    int32_t *len;   /* [nf] */
    uint8_t **data; /* [nf], NULL for NULL */
} frow;

typedef struct rowset {
    frow *rows;
    int n, cap;
    int fail_at; /* callback fails on this row (1-based), 0 never */
} rowset;

static void rowset_free(rowset *rs)
{
    for (int i = 0; i < rs->n; i++) {
        for (int f = 0; f < rs->rows[i].nf; f++)
            free(rs->rows[i].data[f]);
        free(rs->rows[i].data);
        free(rs->rows[i].len);
    }
    free(rs->rows);
    memset(rs, 0, sizeof *rs);
}

static cd_code collect(void *arg, int nf, const uint8_t *const *field, const int32_t *len,
                       cd_err *err)
{
    rowset *rs = arg;
    if (rs->fail_at == rs->n + 1)
        return cd_fail(err, CD_EMISMATCH, "callback refuses row %d", rs->n + 1);
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 16;
        rs->rows = realloc(rs->rows, (size_t)rs->cap * sizeof *rs->rows);
    }
    frow *r = &rs->rows[rs->n++];
    r->nf = nf;
    r->len = calloc((size_t)nf + 1, sizeof *r->len);
    r->data = calloc((size_t)nf + 1, sizeof *r->data);
    for (int f = 0; f < nf; f++) {
        r->len[f] = len[f];
        if (len[f] >= 0) {
            r->data[f] = malloc((size_t)len[f] + 1);
            memcpy(r->data[f], field[f], (size_t)len[f]);
        }
        if ((len[f] < 0) != (field[f] == NULL))
            return cd_fail(err, CD_EINVAL, "null pointer and length disagree");
    }
    return CD_OK;
}

enum feed_mode { WHOLE, BYTES, RANDOM };

/* Parse d[n] fed in the given way, then finish; returns the first error. */
static cd_code parse(const uint8_t *d, size_t n, enum feed_mode mode, unsigned seed, rowset *rs,
                     cd_err *err)
{
    cd_copybin *p = NULL;
    cd_code rc = cd_copybin_new(&p, err);
    srand(seed);
    size_t off = 0;
    while (rc == CD_OK && off < n) {
        size_t k = n - off;
        if (mode == BYTES)
            k = 1;
        else if (mode == RANDOM)
            k = (size_t)(rand() % 4 ? rand() % 40 : rand() % 5000);
        k = k < n - off ? k : n - off;
        rc = cd_copybin_feed(p, d + off, k, collect, rs, err);
        off += k;
    }
    if (rc == CD_OK)
        rc = cd_copybin_finish(p, err);
    if (rc == CD_OK && rs != NULL && cd_copybin_rows(p) != (uint64_t)rs->n)
        rc = CD_EMISMATCH;
    cd_copybin_free(&p);
    CHECK(p == NULL);
    return rc;
}

static int is_null(const frow *r, int f)
{
    return r->len[f] == -1 && r->data[f] == NULL;
}

static int64_t scalar_i(const frow *r, int f, uint32_t oid)
{
    cd_err err = {0};
    uint8_t v[8] = {0};
    CHECK_CODE(cd_copybin_scalar(oid, r->data[f], r->len[f], v, &err), CD_OK, &err);
    int16_t s;
    int32_t i;
    int64_t l;
    memcpy(&s, v, 2);
    memcpy(&i, v, 4);
    memcpy(&l, v, 8);
    return oid == PGD_BOOLOID ? v[0] : oid == PGD_INT2OID ? s : oid == PGD_INT4OID ? i : l;
}

static float scalar_f4(const frow *r, int f)
{
    cd_err err = {0};
    float v = -123;
    CHECK_CODE(cd_copybin_scalar(PGD_FLOAT4OID, r->data[f], r->len[f], &v, &err), CD_OK, &err);
    return v;
}

static double scalar_f8(const frow *r, int f)
{
    cd_err err = {0};
    double v = -123;
    CHECK_CODE(cd_copybin_scalar(PGD_FLOAT8OID, r->data[f], r->len[f], &v, &err), CD_OK, &err);
    return v;
}

static uint32_t f4bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static uint64_t f8bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static int bytes_eq(const frow *r, int f, const void *want, int32_t n)
{
    return r->len[f] == n && (n == 0 || memcmp(r->data[f], want, (size_t)n) == 0);
}

/* Decode array field f; check ndim, dims, has_null and the raw native bytes. */
static void check_array(const frow *r, int f, uint32_t elemoid, int ndim, const int *dims,
                        int has_null, const void *want, size_t want_bytes)
{
    cd_err err = {0};
    uint8_t out[256];
    int nd = -1, d[6], hn = -1;
    size_t ob = 99;
    CHECK_CODE(
        cd_copybin_array(r->data[f], r->len[f], elemoid, &nd, d, &hn, out, sizeof out, &ob, &err),
        CD_OK, &err);
    CHECK_EQ_INT(nd, ndim);
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(d[i], i < ndim ? dims[i] : 0);
    CHECK_EQ_INT(hn, has_null);
    CHECK_EQ_INT(ob, want_bytes);
    CHECK(want_bytes == 0 || memcmp(out, want, want_bytes) == 0);
}

/* ------------------------------------------------------------------ copy_types.bin */

enum { C_ID, C_B, C_I2, C_I4, C_I8, C_F4, C_F8, C_TX, C_BY, C_RA, C_DA, C_IA, C_SA, C_LA, NCOL };

static void check_row1(const frow *r)
{
    CHECK_EQ_INT(scalar_i(r, C_B, PGD_BOOLOID), 1);
    CHECK_EQ_INT(scalar_i(r, C_I2, PGD_INT2OID), 32767);
    CHECK_EQ_INT(scalar_i(r, C_I4, PGD_INT4OID), 2147483647);
    CHECK(scalar_i(r, C_I8, PGD_INT8OID) == INT64_MAX);
    CHECK(scalar_f4(r, C_F4) == 1.5f);
    CHECK(scalar_f8(r, C_F8) == 2.25);
    CHECK(bytes_eq(r, C_TX, "hello", 5));
    CHECK(bytes_eq(r, C_BY, "\x00\xff\x10", 3));
    float ra[] = {1.5f, -2.5f, 3.0f};
    check_array(r, C_RA, PGD_FLOAT4OID, 1, (int[]){3}, 0, ra, sizeof ra);
    double da[] = {1, 2, 3, 4, 5, 6};
    check_array(r, C_DA, PGD_FLOAT8OID, 2, (int[]){2, 3}, 0, da, sizeof da);
    int32_t ia[] = {1, 0, 3};
    check_array(r, C_IA, PGD_INT4OID, 1, (int[]){3}, 1, ia, sizeof ia);
    int16_t sa[] = {1, -2};
    check_array(r, C_SA, PGD_INT2OID, 1, (int[]){2}, 0, sa, sizeof sa);
    int64_t la[] = {10000000000LL};
    check_array(r, C_LA, PGD_INT8OID, 1, (int[]){1}, 0, la, sizeof la);
}

static void check_row2(const frow *r)
{
    CHECK_EQ_INT(scalar_i(r, C_B, PGD_BOOLOID), 0);
    CHECK_EQ_INT(scalar_i(r, C_I2, PGD_INT2OID), -32768);
    CHECK_EQ_INT(scalar_i(r, C_I4, PGD_INT4OID), INT32_MIN);
    CHECK(scalar_i(r, C_I8, PGD_INT8OID) == INT64_MIN);
    float f4 = scalar_f4(r, C_F4);
    CHECK(isinf(f4) && f4 < 0);
    CHECK(isnan(scalar_f8(r, C_F8)));
    CHECK(bytes_eq(r, C_TX, "", 0) && r->data[C_TX] != NULL);
    CHECK(bytes_eq(r, C_BY, "", 0) && r->data[C_BY] != NULL);
    check_array(r, C_RA, PGD_FLOAT4OID, 0, NULL, 0, NULL, 0);
    check_array(r, C_DA, PGD_FLOAT8OID, 0, NULL, 0, NULL, 0);
    int32_t ia[] = {0, 0};
    check_array(r, C_IA, PGD_INT4OID, 1, (int[]){2}, 1, ia, sizeof ia);
    check_array(r, C_SA, PGD_INT2OID, 0, NULL, 0, NULL, 0);
    check_array(r, C_LA, PGD_INT8OID, 0, NULL, 0, NULL, 0);
}

static void check_row4(const frow *r)
{
    CHECK(is_null(r, C_B) && is_null(r, C_BY) && is_null(r, C_SA));
    CHECK_EQ_INT(scalar_i(r, C_I2, PGD_INT2OID), 0);
    CHECK_EQ_INT(scalar_i(r, C_I4, PGD_INT4OID), 0);
    CHECK_EQ_INT(scalar_i(r, C_I8, PGD_INT8OID), 0);
    float f4 = scalar_f4(r, C_F4);
    CHECK(isinf(f4) && f4 > 0);
    CHECK(f8bits(scalar_f8(r, C_F8)) == 0x8000000000000000ull); /* -0 */
    CHECK(bytes_eq(r, C_TX, "h\xc3\xa9llo w\xc3\xb6rld", 13));
    float ra[] = {0.5f, 1.5f};
    check_array(r, C_RA, PGD_FLOAT4OID, 2, (int[]){2, 1}, 0, ra, sizeof ra);
    double da[] = {1, 2};
    check_array(r, C_DA, PGD_FLOAT8OID, 3, (int[]){2, 1, 1}, 0, da, sizeof da);
    int32_t ia[] = {7, 8, 9}; /* lower bound 0 is ignored */
    check_array(r, C_IA, PGD_INT4OID, 1, (int[]){3}, 0, ia, sizeof ia);
    int64_t la[] = {-1};
    check_array(r, C_LA, PGD_INT8OID, 1, (int[]){1}, 0, la, sizeof la);
}

static void check_row5(const frow *r)
{
    CHECK_EQ_INT(scalar_i(r, C_B, PGD_BOOLOID), 1);
    CHECK_EQ_INT(scalar_i(r, C_I2, PGD_INT2OID), -1);
    CHECK_EQ_INT(scalar_i(r, C_I4, PGD_INT4OID), -1);
    CHECK_EQ_INT(scalar_i(r, C_I8, PGD_INT8OID), -1);
    CHECK_EQ_INT(f4bits(scalar_f4(r, C_F4)), 1); /* smallest subnormal */
    CHECK(f8bits(scalar_f8(r, C_F8)) == 1);
    CHECK_EQ_INT(r->len[C_TX], 300);
    CHECK(r->len[C_TX] == 300 && memchr(r->data[C_TX], 'y', 300) == NULL &&
          r->data[C_TX][0] == 'x' && r->data[C_TX][299] == 'x');
    CHECK(bytes_eq(r, C_BY, "\xde\xad\xbe\xef", 4));
    float ra[] = {FLT_MAX};
    check_array(r, C_RA, PGD_FLOAT4OID, 1, (int[]){1}, 0, ra, sizeof ra);
    double da[] = {DBL_MAX, -1e-300};
    check_array(r, C_DA, PGD_FLOAT8OID, 1, (int[]){2}, 0, da, sizeof da);
    int32_t ia[] = {INT32_MAX, INT32_MIN};
    check_array(r, C_IA, PGD_INT4OID, 1, (int[]){2}, 0, ia, sizeof ia);
    int16_t sa[] = {32767, -32768};
    check_array(r, C_SA, PGD_INT2OID, 1, (int[]){2}, 0, sa, sizeof sa);
    int64_t la[] = {INT64_MAX, INT64_MIN};
    check_array(r, C_LA, PGD_INT8OID, 1, (int[]){2}, 0, la, sizeof la);
}

static void check_types(const rowset *rs)
{
    CHECK_EQ_INT(rs->n, 5);
    if (rs->n != 5)
        return;
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(rs->rows[i].nf, NCOL);
        CHECK_EQ_INT(scalar_i(&rs->rows[i], C_ID, PGD_INT4OID), i + 1);
    }
    check_row1(&rs->rows[0]);
    check_row2(&rs->rows[1]);
    for (int f = 1; f < NCOL; f++)
        CHECK(is_null(&rs->rows[2], f));
    check_row4(&rs->rows[3]);
    check_row5(&rs->rows[4]);
}

static void test_types(void)
{
    size_t n = 0;
    uint8_t *d = unit_read_file(DATA "copy_types.bin", &n);
    CHECK(d != NULL && n > 19);
    enum feed_mode modes[] = {WHOLE, BYTES, RANDOM, RANDOM, RANDOM, RANDOM};
    for (unsigned m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        rowset rs = {0};
        cd_err err = {0};
        CHECK_CODE(parse(d, n, modes[m], m, &rs, &err), CD_OK, &err);
        check_types(&rs);
        rowset_free(&rs);
    }
    free(d);
}

/* ------------------------------------------------------------------ copy_series.bin */

static void check_series(const rowset *rs)
{
    CHECK_EQ_INT(rs->n, 500);
    int bad = 0;
    for (int i = 1; i <= rs->n && i <= 500; i++) {
        const frow *r = &rs->rows[i - 1];
        char txt[16];
        int tl = snprintf(txt, sizeof txt, "row%d", i);
        bad += r->nf != 4 || scalar_i(r, 0, PGD_INT4OID) != i || scalar_f8(r, 1) != i / 4.0;
        bad += i % 7 == 0 ? !is_null(r, 3) : !bytes_eq(r, 3, txt, tl);
        float ra[] = {(float)i, (float)-i, (float)(2 * i)};
        check_array(r, 2, PGD_FLOAT4OID, 1, (int[]){3}, 0, ra, sizeof ra);
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_series(void)
{
    size_t n = 0;
    uint8_t *d = unit_read_file(DATA "copy_series.bin", &n);
    CHECK(d != NULL && n > 19);
    enum feed_mode modes[] = {WHOLE, BYTES, RANDOM, RANDOM, RANDOM};
    for (unsigned m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        rowset rs = {0};
        cd_err err = {0};
        CHECK_CODE(parse(d, n, modes[m], 100 + m, &rs, &err), CD_OK, &err);
        check_series(&rs);
        rowset_free(&rs);
    }
    free(d);
}

static void test_empty(void)
{
    size_t n = 0;
    uint8_t *d = unit_read_file(DATA "copy_empty.bin", &n);
    CHECK_EQ_INT(n, 21);
    for (int m = WHOLE; m <= RANDOM; m++) {
        rowset rs = {0};
        cd_err err = {0};
        CHECK_CODE(parse(d, n, (enum feed_mode)m, 7, &rs, &err), CD_OK, &err);
        CHECK_EQ_INT(rs.n, 0);
        rowset_free(&rs);
    }
    free(d);
}

/* ------------------------------------------------------------------ corrupt streams */

/* Parse a modified copy of d in each feed mode; every mode must fail with want. */
static void expect_fail(const uint8_t *d, size_t n, cd_code want, const char *what)
{
    for (int m = WHOLE; m <= RANDOM; m++) {
        rowset rs = {0};
        cd_err err = {0};
        cd_code rc = parse(d, n, (enum feed_mode)m, 3, &rs, &err);
        CHECK_EQ_INT(rc, want);
        if (rc != want)
            fprintf(stderr, "  %s (mode %d): %s | %s\n", what, m, err.msg, err.detail);
        CHECK(rc == CD_OK || err.msg[0] != '\0');
        rowset_free(&rs);
    }
}

/* Offset of the first tuple (after the header) and of the second one. */
static void tuple_offsets(const uint8_t *d, size_t *first, size_t *second)
{
    size_t pos = 19 + 2;
    *first = 19;
    int nf = (int16_t)(d[19] << 8 | d[20]);
    for (int f = 0; f < nf; f++) {
        int32_t l =
            (int32_t)((uint32_t)d[pos] << 24 | d[pos + 1] << 16 | d[pos + 2] << 8 | d[pos + 3]);
        pos += 4 + (l > 0 ? (size_t)l : 0);
    }
    *second = pos;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void test_truncated(void)
{
    size_t n = 0;
    uint8_t *d = unit_read_file(DATA "copy_types.bin", &n);
    int bad = 0;
    for (size_t cut = 0; cut < n; cut++) {
        cd_err err = {0};
        rowset rs = {0};
        cd_code rc = parse(d, cut, cut % 2 ? WHOLE : RANDOM, (unsigned)cut, &rs, &err);
        bad += rc != CD_ECORRUPT;
        rowset_free(&rs);
    }
    CHECK_EQ_INT(bad, 0);
    free(d);
}

static void test_corrupt_header(void)
{
    size_t n = 0;
    uint8_t *d = unit_read_file(DATA "copy_types.bin", &n);
    uint8_t *b = malloc(n + 64);
    memcpy(b, d, n);
    b[0] = 'Q';
    expect_fail(b, n, CD_ECORRUPT, "bad signature byte 0");
    memcpy(b, d, n);
    b[10] = 1;
    expect_fail(b, n, CD_ECORRUPT, "bad signature byte 10");
    memcpy(b, d, n);
    put32(b + 11, 1u << 16);
    expect_fail(b, n, CD_EUNSUPPORTED, "oids flag");
    put32(b + 11, 1u << 3);
    expect_fail(b, n, CD_EUNSUPPORTED, "critical flag");
    put32(b + 11, 1u << 20); /* non-critical: ignored */
    expect_fail(b, n, CD_OK, "non-critical flag");
    put32(b + 11, 0);
    put32(b + 15, 0x7fffffff);
    expect_fail(b, n, CD_ECORRUPT, "huge extension");
    /* a 5-byte header extension is skipped */
    memcpy(b, d, 19);
    put32(b + 15, 5);
    memcpy(b + 19, "hello", 5);
    memcpy(b + 24, d + 19, n - 19);
    rowset rs = {0};
    cd_err err = {0};
    CHECK_CODE(parse(b, n + 5, RANDOM, 9, &rs, &err), CD_OK, &err);
    check_types(&rs);
    rowset_free(&rs);
    free(b);
    free(d);
}

static void test_corrupt_tuples(void)
{
    size_t n = 0, t1, t2;
    uint8_t *d = unit_read_file(DATA "copy_types.bin", &n);
    uint8_t *b = malloc(n + 64);
    tuple_offsets(d, &t1, &t2);
    CHECK_EQ_INT(t1, 19);
    memcpy(b, d, n);
    put32(b + t1 + 2, 0x7fffffff);
    expect_fail(b, n, CD_ECORRUPT, "absurd field length");
    put32(b + t1 + 2, 1000); /* beyond the stream: incomplete at the end */
    expect_fail(b, n, CD_ECORRUPT, "field length beyond the data");
    put32(b + t1 + 2, (uint32_t)-2);
    expect_fail(b, n, CD_ECORRUPT, "length -2");
    put32(b + t1 + 2, 0x80000000u);
    expect_fail(b, n, CD_ECORRUPT, "length INT32_MIN");
    memcpy(b, d, n);
    b[t1] = 0xff;
    b[t1 + 1] = 0xfe; /* field count -2 */
    expect_fail(b, n, CD_ECORRUPT, "field count -2");
    memcpy(b, d, n);
    b[t2 + 1] = 13; /* second row claims 13 fields */
    expect_fail(b, n, CD_ECORRUPT, "field count changed");
    memcpy(b, d, n);
    b[n] = 0; /* a byte after the trailer */
    expect_fail(b, n + 1, CD_ECORRUPT, "data after trailer");
    memcpy(b + n, d + n - 2, 2); /* a second trailer */
    expect_fail(b, n + 2, CD_ECORRUPT, "two trailers");
    memcpy(b, d, 19);
    b[19] = b[20] = 0xff;
    expect_fail(b, 21, CD_OK, "header and trailer only");
    expect_fail(b, 19, CD_ECORRUPT, "header only");
    expect_fail(b, 0, CD_ECORRUPT, "nothing");
    free(b);
    free(d);
}

static void test_parser_misuse(void)
{
    size_t n = 0;
    uint8_t *d = unit_read_file(DATA "copy_types.bin", &n);
    cd_copybin *p = NULL;
    cd_err err = {0};
    rowset rs = {.fail_at = 2};
    CHECK_CODE(cd_copybin_new(&p, &err), CD_OK, &err);
    CHECK_CODE(cd_copybin_feed(p, d, n, collect, &rs, &err), CD_EMISMATCH, &err);
    CHECK(strstr(err.msg, "refuses row 2") != NULL && strstr(err.detail, "copy row 2") != NULL);
    CHECK_EQ_INT(rs.n, 1);
    CHECK_EQ_INT(cd_copybin_rows(p), 1);
    CHECK_CODE(cd_copybin_feed(p, d, 1, collect, &rs, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_copybin_finish(p, &err), CD_EINVAL, &err);
    cd_copybin_free(&p);
    cd_copybin_free(&p);
    rowset_free(&rs);

    CHECK_CODE(cd_copybin_new(&p, &err), CD_OK, &err);
    CHECK_CODE(cd_copybin_feed(p, d, n, NULL, NULL, &err), CD_OK, &err); /* count only */
    CHECK_EQ_INT(cd_copybin_rows(p), 5);
    CHECK_CODE(cd_copybin_feed(p, d, 0, NULL, NULL, &err), CD_OK, &err);
    CHECK_CODE(cd_copybin_feed(p, d, 1, NULL, NULL, &err), CD_ECORRUPT, &err);
    CHECK_CODE(cd_copybin_feed(NULL, d, 1, NULL, NULL, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_copybin_finish(NULL, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_copybin_new(NULL, &err), CD_EINVAL, &err);
    cd_copybin_free(&p);
    cd_copybin_free(NULL);
    free(d);
}

/* ------------------------------------------------------------------ decoders */

static void test_scalar_errors(void)
{
    cd_err err = {0};
    uint8_t in[8] = {0, 0, 0, 1, 0, 0, 0, 0}, out[8];
    CHECK_CODE(cd_copybin_scalar(PGD_INT4OID, in, 4, out, &err), CD_OK, &err);
    CHECK_CODE(cd_copybin_scalar(PGD_INT4OID, in, 8, out, &err), CD_ECORRUPT, &err);
    CHECK_CODE(cd_copybin_scalar(PGD_INT8OID, in, 4, out, &err), CD_ECORRUPT, &err);
    CHECK_CODE(cd_copybin_scalar(PGD_BOOLOID, in, 0, out, &err), CD_ECORRUPT, &err);
    CHECK_CODE(cd_copybin_scalar(PGD_FLOAT4OID, in, -5, out, &err), CD_ECORRUPT, &err);
    CHECK_CODE(cd_copybin_scalar(PGD_INT2OID, NULL, -1, out, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_copybin_scalar(PGD_TEXTOID, in, 4, out, &err), CD_EUNSUPPORTED, &err);
    CHECK_CODE(cd_copybin_scalar(PGD_NUMERICOID, in, 8, out, &err), CD_EUNSUPPORTED, &err);
    in[0] = 7; /* any non-zero byte is true */
    CHECK_CODE(cd_copybin_scalar(PGD_BOOLOID, in, 1, out, &err), CD_OK, &err);
    CHECK_EQ_INT(out[0], 1);
}

/* The da field of row 1 ({{1,2,3},{4,5,6}}, float8) copied out of the fixture. */
static uint8_t *fixture_array(int32_t *len)
{
    size_t n = 0;
    uint8_t *d = unit_read_file(DATA "copy_types.bin", &n);
    rowset rs = {0};
    cd_err err = {0};
    CHECK_CODE(parse(d, n, WHOLE, 0, &rs, &err), CD_OK, &err);
    uint8_t *a = NULL;
    if (rs.n == 5) {
        *len = rs.rows[0].len[C_DA];
        a = malloc((size_t)*len + 16);
        memcpy(a, rs.rows[0].data[C_DA], (size_t)*len);
    }
    rowset_free(&rs);
    free(d);
    return a;
}

static cd_code arr(const uint8_t *a, int32_t len, uint32_t oid, size_t cap, size_t *ob)
{
    double out[16];
    int nd, dims[6], hn;
    cd_err err = {0};
    cd_code rc = cd_copybin_array(a, len, oid, &nd, dims, &hn, out, cap, ob, &err);
    CHECK(rc == CD_OK || err.msg[0] != '\0');
    return rc;
}

static void test_array_errors(void)
{
    int32_t len = 0;
    size_t ob = 0;
    uint8_t *a = fixture_array(&len);
    CHECK(a != NULL && len == 12 + 2 * 8 + 6 * 12);
    if (a == NULL)
        return;
    uint8_t *b = malloc((size_t)len + 16);
    CHECK_EQ_INT(arr(a, len, PGD_FLOAT8OID, 128, &ob), CD_OK);
    CHECK_EQ_INT(arr(a, len, PGD_FLOAT4OID, 128, &ob), CD_ECORRUPT); /* wrong element oid */
    CHECK_EQ_INT(arr(a, len, PGD_INT8OID, 128, &ob), CD_ECORRUPT);
    CHECK_EQ_INT(arr(a, len, PGD_TEXTOID, 128, &ob), CD_EUNSUPPORTED);
    CHECK_EQ_INT(arr(a, len, PGD_FLOAT8OID, 47, &ob), CD_EINVAL); /* output too small */
    CHECK_EQ_INT(ob, 48);
    int bad = 0;
    for (int32_t cut = 0; cut < len; cut++)
        bad += arr(a, cut, PGD_FLOAT8OID, 128, &ob) != CD_ECORRUPT;
    CHECK_EQ_INT(bad, 0);
    memcpy(b, a, (size_t)len);
    b[len] = 0;
    CHECK_EQ_INT(arr(b, len + 1, PGD_FLOAT8OID, 128, &ob), CD_ECORRUPT); /* trailing byte */
    struct {
        size_t off;
        uint32_t v;
    } pokes[] = {
        {0, 7},       {0, (uint32_t)-1}, {4, 2},  {12, (uint32_t)-3}, {12, 0x7fffffff},
        {20, 100000}, {28, 4},           {28, 9}, {28, (uint32_t)-2}, {28, 0x7fffffff},
        {0, 1},       {12, 3},
    };
    for (size_t i = 0; i < sizeof pokes / sizeof pokes[0]; i++) {
        memcpy(b, a, (size_t)len);
        put32(b + pokes[i].off, pokes[i].v);
        CHECK_EQ_INT(arr(b, len, PGD_FLOAT8OID, 128, &ob), CD_ECORRUPT);
    }
    /* a NULL element in a float8 array becomes NaN */
    memcpy(b, a, (size_t)len);
    put32(b + 4, 1);
    put32(b + 28, (uint32_t)-1);
    memmove(b + 32, b + 40, (size_t)len - 40);
    double out[6];
    int nd, dims[6], hn;
    cd_err err = {0};
    CHECK_CODE(
        cd_copybin_array(b, len - 8, PGD_FLOAT8OID, &nd, dims, &hn, out, sizeof out, &ob, &err),
        CD_OK, &err);
    CHECK(hn == 1 && isnan(out[0]) && out[1] == 2 && out[5] == 6);
    CHECK_CODE(cd_copybin_array(a, len, PGD_FLOAT8OID, NULL, dims, &hn, out, sizeof out, &ob, &err),
               CD_EINVAL, &err);
    CHECK_CODE(cd_copybin_array(NULL, 5, PGD_FLOAT8OID, &nd, dims, &hn, out, sizeof out, &ob, &err),
               CD_EINVAL, &err);
    CHECK_CODE(cd_copybin_array(a, len, PGD_FLOAT8OID, &nd, dims, &hn, NULL, 0, &ob, &err),
               CD_EINVAL, &err);
    free(b);
    free(a);
}

/* ------------------------------------------------------------------ fuzz */

/* Decode every field as every type: errors are fine, crashes are not. */
static cd_code fuzz_row(void *arg, int nf, const uint8_t *const *field, const int32_t *len,
                        cd_err *err)
{
    static const uint32_t oids[] = {PGD_BOOLOID, PGD_INT2OID,   PGD_INT4OID,
                                    PGD_INT8OID, PGD_FLOAT4OID, PGD_FLOAT8OID};
    uint8_t out[512];
    for (int f = 0; f < nf; f++) {
        for (size_t k = 0; k < sizeof oids / sizeof oids[0]; k++) {
            int nd, dims[6], hn;
            size_t ob;
            cd_copybin_scalar(oids[k], field[f], len[f], out, err);
            cd_copybin_array(field[f], len[f], oids[k], &nd, dims, &hn, out, sizeof out, &ob, err);
        }
    }
    cd_err_clear(err);
    return CD_OK;
}

static void test_fuzz(void)
{
    size_t n = 0;
    uint8_t *d = unit_read_file(DATA "copy_types.bin", &n);
    uint8_t *b = malloc(n);
    srand(42);
    int ok = 0;
    for (int it = 0; it < 4000; it++) {
        memcpy(b, d, n);
        int flips = 1 + rand() % 6;
        for (int k = 0; k < flips; k++)
            b[19 + (size_t)rand() % (n - 19)] = (uint8_t)(rand() % 2 ? rand() : 0xff);
        cd_copybin *p = NULL;
        cd_err err = {0};
        cd_code rc = cd_copybin_new(&p, &err);
        for (size_t off = 0; rc == CD_OK && off < n;) {
            size_t k = 1 + (size_t)rand() % 300;
            k = k < n - off ? k : n - off;
            rc = cd_copybin_feed(p, b + off, k, fuzz_row, NULL, &err);
            off += k;
        }
        if (rc == CD_OK)
            rc = cd_copybin_finish(p, &err);
        ok += rc == CD_OK;
        cd_copybin_free(&p);
    }
    CHECK(ok > 0);
    free(b);
    free(d);
}

int main(void)
{
    RUN(test_types);
    RUN(test_series);
    RUN(test_empty);
    RUN(test_truncated);
    RUN(test_corrupt_header);
    RUN(test_corrupt_tuples);
    RUN(test_parser_misuse);
    RUN(test_scalar_errors);
    RUN(test_array_errors);
    RUN(test_fuzz);
    return UNIT_DONE();
}
