/*
 * test_numeric.c: unit tests for numeric -> double (fuse/pg/numeric.c).
 *
 * Oracle: numeric values written by a real PostgreSQL 15 (tests/unit/data/numeric_disk.txt:
 * the on-disk varlena read from the heap page, and float8send(v::float8) or "error" when
 * the server's cast fails), and the same rows as COPY ... (FORMAT binary)
 * (numeric_copy.bin). Both must match the server bit for bit. Also hand-built digit arrays
 * (rounding ties, the sticky digit, dscale truncation) and corrupt inputs.
 * Run from the repository root; no server needed.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "numeric.h"
#include "pgdisk.h"
#include "unit.h"

#define DATA "tests/unit/data/"
#define MAX_ROWS 400

typedef struct row {
    int id;
    uint8_t *varlena; /* with its 1- or 4-byte header */
    size_t len;
    int is_error; /* the server's cast failed */
    uint64_t bits;
} row;

static row rows[MAX_ROWS];
static int nrows;

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Parse one "id\thex\ttext\texpected" line (modified in place). */
static int parse_row(char *line, row *r)
{
    char *f[4];
    for (int i = 0; i < 4; i++) {
        f[i] = strsep(&line, "\t");
        if (f[i] == NULL)
            return -1;
    }
    r->id = atoi(f[0]);
    size_t h = strlen(f[1]);
    r->len = h / 2;
    r->varlena = malloc(r->len + 1);
    for (size_t i = 0; i < r->len; i++)
        r->varlena[i] = (uint8_t)(hexval(f[1][2 * i]) << 4 | hexval(f[1][2 * i + 1]));
    r->is_error = strcmp(f[3], "error") == 0;
    r->bits = r->is_error ? 0 : strtoull(f[3], NULL, 16);
    return 0;
}

static void load_rows(void)
{
    size_t len;
    char *text = (char *)unit_read_file(DATA "numeric_disk.txt", &len);
    if (text == NULL)
        return;
    char *rest = text, *line;
    while ((line = strsep(&rest, "\n")) != NULL && nrows < MAX_ROWS) {
        if (line[0] != '\0' && parse_row(line, &rows[nrows]) == 0)
            nrows++;
    }
    free(text);
}

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* Payload after the varlena header, or NULL when the header is not plain inline. */
static const uint8_t *strip_header(const row *r, size_t *plen)
{
    if (r->len < 1)
        return NULL;
    uint8_t b0 = r->varlena[0];
    if (b0 == 0x01)
        return NULL; /* a TOAST pointer */
    size_t total, hdr;
    if (b0 & 1) {
        total = b0 >> 1;
        hdr = 1;
    } else if ((b0 & 3) == 0 && r->len >= 4) {
        total = cd_rd32(r->varlena) >> 2;
        hdr = 4;
    } else {
        return NULL;
    }
    if (total != r->len)
        return NULL;
    *plen = total - hdr;
    return r->varlena + hdr;
}

/* Compare one result with the server's; print the first few mismatches. */
static int matches(const row *r, cd_code rc, double got, const cd_err *err, const char *what)
{
    int ok = r->is_error ? rc == CD_EUNSUPPORTED : rc == CD_OK && bits_of(got) == r->bits;
    static int shown;
    if (!ok && shown++ < 10)
        fprintf(stderr, "%s row %d: code %d (%s), got %016llx, want %s%016llx\n", what, r->id,
                (int)rc, rc ? err->msg : "", (unsigned long long)bits_of(got),
                r->is_error ? "error " : "", (unsigned long long)r->bits);
    return ok;
}

static void test_disk_values(void)
{
    CHECK(nrows >= 150);
    int wrong = 0, nshort = 0, nlong = 0, nspecial = 0, nerror = 0;
    for (int i = 0; i < nrows; i++) {
        size_t plen = 0;
        const uint8_t *p = strip_header(&rows[i], &plen);
        CHECK(p != NULL && plen >= 2);
        if (p == NULL || plen < 2)
            continue;
        unsigned flags = cd_rd16(p) & 0xC000;
        nshort += flags == 0x8000;
        nlong += flags == 0x0000 || flags == 0x4000;
        nspecial += flags == 0xC000;
        nerror += rows[i].is_error;
        cd_err err;
        double got = 0;
        cd_code rc = cd_numeric_disk_to_double(p, plen, &got, &err);
        wrong += !matches(&rows[i], rc, got, &err, "disk");
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK(nshort >= 20);
    CHECK(nlong >= 10);
    CHECK_EQ_INT(nspecial, 3);
    CHECK(nerror >= 5);
}

static int be16(const uint8_t *p)
{
    return (int16_t)(uint16_t)(p[0] << 8 | p[1]);
}

static int32_t be32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static void test_copy_binary(void)
{
    size_t len;
    uint8_t *buf = unit_read_file(DATA "numeric_copy.bin", &len);
    CHECK(buf != NULL && len >= 19 && memcmp(buf, "PGCOPY\n\377\r\n\0", 11) == 0);
    if (buf == NULL || len < 19) {
        free(buf);
        return;
    }
    size_t pos = 15 + 4 + (size_t)be32(buf + 15); /* signature, flags, extension */
    int n = 0, wrong = 0;
    while (pos + 2 <= len && be16(buf + pos) == 1 && n < nrows) {
        int32_t flen = pos + 6 <= len ? be32(buf + pos + 2) : -1;
        pos += 6;
        if (flen < 0 || pos + (size_t)flen > len)
            break;
        cd_err err;
        double got = 0;
        cd_code rc = cd_numeric_copybin_to_double(buf + pos, (size_t)flen, &got, &err);
        wrong += !matches(&rows[n], rc, got, &err, "copy");
        pos += (size_t)flen;
        n++;
    }
    CHECK_EQ_INT(n, nrows);
    CHECK_EQ_INT(wrong, 0);
    CHECK(pos + 2 == len && be16(buf + pos) == -1); /* trailer */
    free(buf);
}

static double core(int neg, int weight, const int16_t *d, int n, cd_code want)
{
    cd_err err;
    double v = 12345.0;
    CHECK_CODE(cd_numeric_digits_to_double(neg, weight, d, n, &v, &err), want, &err);
    return v;
}

static void test_core(void)
{
    static const int16_t one_half[] = {1, 5000}, big[] = {12, 3456};
    CHECK(core(0, 0, one_half, 2, CD_OK) == 1.5);
    CHECK(core(1, 0, one_half, 2, CD_OK) == -1.5);
    CHECK(core(0, 1, big, 2, CD_OK) == 123456.0);
    CHECK(core(0, -1, big, 2, CD_OK) == 0.00123456);
    double z = core(0, 0, NULL, 0, CD_OK);
    CHECK(z == 0.0 && !signbit(z));
    z = core(1, 7, NULL, 0, CD_OK);
    CHECK(z == 0.0 && signbit(z));
    static const int16_t zeros[] = {0, 0, 0};
    CHECK(core(0, 3, zeros, 3, CD_OK) == 0.0);
    static const int16_t bad1[] = {1, 10000}, bad2[] = {-1};
    core(0, 0, bad1, 2, CD_ECORRUPT);
    core(0, 0, bad2, 1, CD_ECORRUPT);
    core(0, 0, NULL, 2, CD_EINVAL);
    core(0, 0, one_half, -1, CD_EINVAL);
    static const int16_t unit[] = {1};
    core(0, 100, unit, 1, CD_EUNSUPPORTED);        /* 1e400 */
    core(1, -100, unit, 1, CD_EUNSUPPORTED);       /* -1e-400 rounds to zero */
    CHECK(core(0, -80, unit, 1, CD_OK) == 1e-320); /* subnormal */
    CHECK(core(0, INT16_MAX, unit, 1, CD_EUNSUPPORTED) == 12345.0);
}

/* 0.3333... with far more digits than any double needs; 2^53 + 1 ties with sticky digits. */
static void test_long_digit_strings(void)
{
    enum { N = 3000 };
    int16_t *d = malloc(N * sizeof *d);
    for (int i = 0; i < N; i++)
        d[i] = 3333;
    CHECK(core(0, -1, d, N, CD_OK) == 1.0 / 3.0);
    /* 9007199254740993 = 2^53 + 1, halfway between two doubles: ties to even (2^53) */
    static const int16_t tie[] = {9007, 1992, 5474, 993};
    memcpy(d, tie, sizeof tie);
    for (int i = 4; i < N; i++)
        d[i] = 0;
    CHECK(core(0, 3, d, N, CD_OK) == 9007199254740992.0);
    d[N - 1] = 1; /* a non-zero digit 11996 decimal places later breaks the tie upward */
    CHECK(core(0, 3, d, N, CD_OK) == 9007199254740994.0);
    CHECK(core(1, 3, d, N, CD_OK) == -9007199254740994.0);
    free(d);
}

static double disk(const uint8_t *p, size_t len, cd_code want)
{
    cd_err err;
    double v = 12345.0;
    CHECK_CODE(cd_numeric_disk_to_double(p, len, &v, &err), want, &err);
    return v;
}

static void test_disk_hand_built(void)
{
    /* short header: dscale 0, weight 0, digits 1 5000 -> shown as "1" (1.5 truncated) */
    static const uint8_t trunc0[] = {0x00, 0x80, 0x01, 0x00, 0x88, 0x13};
    CHECK(disk(trunc0, 6, CD_OK) == 1.0);
    static const uint8_t trunc1[] = {0x80, 0x80, 0x01, 0x00, 0x88, 0x13}; /* dscale 1 */
    CHECK(disk(trunc1, 6, CD_OK) == 1.5);
    static const uint8_t nan_[] = {0x00, 0xC0}, pinf[] = {0x00, 0xD0}, ninf[] = {0x00, 0xF0};
    CHECK(isnan(disk(nan_, 2, CD_OK)));
    CHECK(disk(pinf, 2, CD_OK) == INFINITY);
    CHECK(disk(ninf, 2, CD_OK) == -INFINITY);
    static const uint8_t nan_tail[] = {0x00, 0xC0, 0x01, 0x00}, other[] = {0x00, 0xE0};
    disk(nan_tail, 4, CD_ECORRUPT);
    disk(other, 2, CD_ECORRUPT);
    disk(nan_, 1, CD_ECORRUPT);
    disk(nan_, 0, CD_ECORRUPT);
    disk(NULL, 4, CD_ECORRUPT);
    disk(trunc1, 5, CD_ECORRUPT); /* half a digit */
    static const uint8_t long_short[] = {0x00, 0x00, 0x00};
    disk(long_short, 3, CD_ECORRUPT); /* long header cut inside n_weight */
    static const uint8_t bad_digit[] = {0x00, 0x80, 0x10, 0x27}; /* 10000 */
    disk(bad_digit, 4, CD_ECORRUPT);
    /* long header, negative, dscale 2, weight -1, digit 1234 -> -0.12 */
    static const uint8_t neg_long[] = {0x02, 0x40, 0xFF, 0xFF, 0xD2, 0x04};
    CHECK(disk(neg_long, 6, CD_OK) == -0.12);
    cd_err err;
    double v;
    CHECK_CODE(cd_numeric_disk_to_double(nan_tail, 4, &v, NULL), CD_ECORRUPT, &err);
}

static double copybin(const uint8_t *p, size_t len, cd_code want)
{
    cd_err err;
    double v = 12345.0;
    CHECK_CODE(cd_numeric_copybin_to_double(p, len, &v, &err), want, &err);
    return v;
}

static void test_copybin_hand_built(void)
{
    static const uint8_t v15[] = {0, 2, 0, 0, 0x40, 0, 0, 1, 0, 1, 0x13, 0x88};
    CHECK(copybin(v15, sizeof v15, CD_OK) == -1.5);
    static const uint8_t nan_[] = {0, 0, 0, 0, 0xC0, 0, 0, 0};
    static const uint8_t ninf[] = {0, 0, 0, 0, 0xF0, 0, 0, 0};
    CHECK(isnan(copybin(nan_, 8, CD_OK)));
    CHECK(copybin(ninf, 8, CD_OK) == -INFINITY);
    copybin(v15, 7, CD_ECORRUPT);
    copybin(v15, sizeof v15 - 1, CD_ECORRUPT);
    copybin(NULL, 8, CD_ECORRUPT);
    static const uint8_t neg_n[] = {0xFF, 0xFF, 0, 0, 0, 0, 0, 0};
    copybin(neg_n, 8, CD_ECORRUPT);
    static const uint8_t bad_sign[] = {0, 0, 0, 0, 0x80, 0, 0, 0};
    copybin(bad_sign, 8, CD_ECORRUPT);
    static const uint8_t bad_scale[] = {0, 0, 0, 0, 0, 0, 0x40, 0};
    copybin(bad_scale, 8, CD_ECORRUPT);
    static const uint8_t bad_digit[] = {0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10};
    copybin(bad_digit, sizeof bad_digit, CD_ECORRUPT);
    static const uint8_t trunc[] = {0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0x13, 0x88}; /* dscale 0 */
    CHECK(copybin(trunc, sizeof trunc, CD_OK) == 1.0);
}

/* Every truncation and byte flip of every real value: only OK / CORRUPT / UNSUPPORTED. */
static void test_mangled(void)
{
    int bad = 0;
    for (int i = 0; i < nrows; i++) {
        size_t plen = 0;
        const uint8_t *p = strip_header(&rows[i], &plen);
        if (p == NULL)
            continue;
        uint8_t *copy = malloc(plen ? plen : 1);
        for (size_t n = 0; n <= plen; n++) {
            memcpy(copy, p, n);
            double v;
            cd_err err;
            cd_code rc = cd_numeric_disk_to_double(copy, n, &v, &err);
            bad += rc != CD_OK && rc != CD_ECORRUPT && rc != CD_EUNSUPPORTED;
            if (n < plen) {
                memcpy(copy, p, plen);
                copy[n] ^= 0xA5;
                rc = cd_numeric_disk_to_double(copy, plen, &v, &err);
                bad += rc != CD_OK && rc != CD_ECORRUPT && rc != CD_EUNSUPPORTED;
            }
        }
        free(copy);
    }
    CHECK_EQ_INT(bad, 0);
}

int main(void)
{
    load_rows();
    RUN(test_disk_values);
    RUN(test_copy_binary);
    RUN(test_core);
    RUN(test_long_digit_strings);
    RUN(test_disk_hand_built);
    RUN(test_copybin_hand_built);
    RUN(test_mangled);
    for (int i = 0; i < nrows; i++)
        free(rows[i].varlena);
    return UNIT_DONE();
}
