/*
 * test_pglz.c: unit tests for the pglz decoder (fuse/pg/pglz.c).
 *
 * Oracle: inline pglz-compressed values written by a real PostgreSQL 15 and the same values
 * stored uncompressed (tests/unit/data/pglz_*.cmp / *.raw, made by make-fixtures.sh).
 * Also: hand-built streams for each error, every truncation and byte flip of the real
 * streams, and random valid streams checked against a naive byte-by-byte decoder.
 * Run from the repository root. With CD_BENCH=1 it also prints decode throughput.
 * Does not need a server.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgdisk.h"
#include "pglz.h"
#include "unit.h"

#define DATA "tests/unit/data/"

static const char *const samples[] = {"text_run",    "text_md5",   "text_words",
                                      "real_sparse", "real_cycle", "real_zeros"};
#define N_SAMPLES (sizeof samples / sizeof samples[0])

/* One real compressed value: the stream after the 8-byte header, and the raw bytes. */
typedef struct sample {
    uint8_t *cmp, *raw;
    size_t cmplen, rawlen;
    const uint8_t *stream;
    size_t streamlen;
} sample;

static int load_sample(const char *name, sample *s)
{
    char path[256];
    snprintf(path, sizeof path, DATA "pglz_%s.cmp", name);
    s->cmp = unit_read_file(path, &s->cmplen);
    snprintf(path, sizeof path, DATA "pglz_%s.raw", name);
    s->raw = unit_read_file(path, &s->rawlen);
    if (s->cmp == NULL || s->raw == NULL || s->cmplen < 8)
        return -1;
    s->stream = s->cmp + 8;
    s->streamlen = s->cmplen - 8;
    return 0;
}

static void free_sample(sample *s)
{
    free(s->cmp);
    free(s->raw);
}

/* Decode into an exactly sized heap buffer so ASan sees any overrun. */
static cd_code decode(const uint8_t *src, size_t srclen, size_t rawlen, uint8_t **out, cd_err *err)
{
    uint8_t *dst = malloc(rawlen ? rawlen : 1);
    cd_code rc = cd_pglz_decompress(src, srclen, dst, rawlen, err);
    if (out != NULL)
        *out = dst;
    else
        free(dst);
    return rc;
}

static void test_real_values(void)
{
    for (size_t i = 0; i < N_SAMPLES; i++) {
        sample s;
        CHECK(load_sample(samples[i], &s) == 0);
        if (s.cmp == NULL || s.raw == NULL) {
            free_sample(&s);
            continue;
        }
        uint32_t hdr = cd_rd32(s.cmp), tcinfo = cd_rd32(s.cmp + 4);
        CHECK_EQ_INT(hdr & 3, 2); /* 4-byte header, compressed inline */
        CHECK_EQ_INT(hdr >> 2, s.cmplen);
        CHECK_EQ_INT(tcinfo & PGD_VARLENA_EXTSIZE_MASK, s.rawlen);
        CHECK_EQ_INT(tcinfo >> 30, PGD_CMP_PGLZ);
        cd_err err;
        uint8_t *out;
        CHECK_CODE(decode(s.stream, s.streamlen, s.rawlen, &out, &err), CD_OK, &err);
        CHECK(memcmp(out, s.raw, s.rawlen) == 0);
        free(out);
        free_sample(&s);
    }
}

/* The documented encoding of 3000 'x': ctrl 0xFE, literal 'x', tag 0F 01 FF (len 273). */
static void test_known_run(void)
{
    sample s;
    if (load_sample("text_run", &s) != 0) {
        CHECK(0);
        free_sample(&s);
        return;
    }
    CHECK(s.streamlen >= 5);
    static const uint8_t head[] = {0xFE, 'x', 0x0F, 0x01, 0xFF};
    CHECK(memcmp(s.stream, head, sizeof head) == 0);
    free_sample(&s);
}

static void test_truncations_and_sizes(void)
{
    for (size_t i = 0; i < N_SAMPLES; i++) {
        sample s;
        if (load_sample(samples[i], &s) != 0) {
            CHECK(0);
            free_sample(&s);
            continue;
        }
        cd_err err;
        int bad = 0;
        for (size_t n = 0; n < s.streamlen; n++)
            bad += decode(s.stream, n, s.rawlen, NULL, &err) != CD_ECORRUPT;
        CHECK_EQ_INT(bad, 0);
        CHECK_CODE(decode(s.stream, s.streamlen, s.rawlen - 1, NULL, &err), CD_ECORRUPT, &err);
        CHECK_CODE(decode(s.stream, s.streamlen, s.rawlen + 1, NULL, &err), CD_ECORRUPT, &err);
        CHECK_CODE(decode(s.stream, s.streamlen, 0, NULL, &err), CD_ECORRUPT, &err);
        uint8_t *longer = malloc(s.streamlen + 1);
        memcpy(longer, s.stream, s.streamlen);
        longer[s.streamlen] = 0;
        CHECK_CODE(decode(longer, s.streamlen + 1, s.rawlen, NULL, &err), CD_ECORRUPT, &err);
        CHECK(strstr(err.msg, "trailing") != NULL);
        free(longer);
        free_sample(&s);
    }
}

/* Flip each byte of each real stream several ways: only CD_OK or CD_ECORRUPT may come back. */
static void test_flips(void)
{
    static const uint8_t masks[] = {0x01, 0x02, 0x10, 0x80, 0xF0, 0xFF};
    for (size_t i = 0; i < N_SAMPLES; i++) {
        sample s;
        if (load_sample(samples[i], &s) != 0) {
            CHECK(0);
            free_sample(&s);
            continue;
        }
        uint8_t *copy = malloc(s.streamlen);
        int bad = 0, corrupt = 0;
        for (size_t pos = 0; pos < s.streamlen; pos++) {
            for (size_t m = 0; m < sizeof masks; m++) {
                memcpy(copy, s.stream, s.streamlen);
                copy[pos] ^= masks[m];
                cd_err err;
                cd_code rc = decode(copy, s.streamlen, s.rawlen, NULL, &err);
                bad += rc != CD_OK && rc != CD_ECORRUPT;
                corrupt += rc == CD_ECORRUPT;
            }
        }
        CHECK_EQ_INT(bad, 0);
        CHECK(corrupt > 0);
        free(copy);
        free_sample(&s);
    }
}

static cd_code run_bytes(const uint8_t *src, size_t n, size_t rawlen, uint8_t *out, cd_err *err)
{
    return cd_pglz_decompress(src, n, out, rawlen, err);
}

static void test_hand_built(void)
{
    cd_err err;
    uint8_t out[64];
    static const uint8_t off0[] = {0x02, 'a', 0x00, 0x00};
    CHECK_CODE(run_bytes(off0, 4, 4, out, &err), CD_ECORRUPT, &err);
    CHECK(strcmp(err.msg, "pglz stream offset out of range") == 0);
    static const uint8_t off2[] = {0x02, 'a', 0x00, 0x02}; /* 2 back, 1 produced */
    CHECK_CODE(run_bytes(off2, 4, 4, out, &err), CD_ECORRUPT, &err);
    CHECK(strcmp(err.msg, "pglz stream offset out of range") == 0);
    static const uint8_t off1[] = {0x02, 'a', 0x00, 0x01}; /* 'a' then 3 x 'a' */
    CHECK_CODE(run_bytes(off1, 4, 4, out, &err), CD_OK, &err);
    CHECK(memcmp(out, "aaaa", 4) == 0);
    CHECK_CODE(run_bytes(off1, 4, 2, out, &err), CD_ECORRUPT, &err); /* overrun */
    CHECK(strstr(err.msg, "overruns") != NULL);
    CHECK_CODE(run_bytes(off1, 3, 4, out, &err), CD_ECORRUPT, &err); /* tag cut after T1 */
    CHECK(strstr(err.msg, "truncated") != NULL);
    static const uint8_t long_tag[] = {0x02, 'a', 0x0F, 0x01, 0x02}; /* len 18 + 2 */
    CHECK_CODE(run_bytes(long_tag, 5, 21, out, &err), CD_OK, &err);
    CHECK(out[0] == 'a' && out[20] == 'a');
    CHECK_CODE(run_bytes(long_tag, 4, 21, out, &err), CD_ECORRUPT, &err); /* T3 missing */
    CHECK(strstr(err.msg, "truncated") != NULL);
    static const uint8_t lits[] = {0x00, 'a', 'b'};
    CHECK_CODE(run_bytes(lits, 3, 3, out, &err), CD_ECORRUPT, &err); /* short output */
    CHECK(strstr(err.msg, "ends before") != NULL);
    CHECK_CODE(run_bytes(lits, 3, 2, out, &err), CD_OK, &err);
    static const uint8_t dangling[] = {0x00, 'a', 'b', 0x00}; /* control byte, no items */
    CHECK_CODE(run_bytes(dangling, 4, 2, out, &err), CD_ECORRUPT, &err);
    static const uint8_t pattern[] = {0x08, 'a', 'b', 'c', 0x01, 0x03}; /* off 3, len 4 */
    CHECK_CODE(run_bytes(pattern, 6, 7, out, &err), CD_OK, &err);
    CHECK(memcmp(out, "abcabca", 7) == 0);
    CHECK_CODE(run_bytes(NULL, 0, 0, NULL, &err), CD_OK, &err);
    CHECK_CODE(run_bytes(NULL, 3, 3, out, &err), CD_EINVAL, &err);
    CHECK_CODE(run_bytes(lits, 3, 2, NULL, &err), CD_EINVAL, &err);
    CHECK_CODE(run_bytes(lits, 0, 2, out, &err), CD_ECORRUPT, &err);
    CHECK_CODE(cd_pglz_decompress(off0, 4, out, 4, NULL), CD_ECORRUPT, &err); /* NULL err */
}

/* ---- random valid streams against a naive decoder ---- */

static uint32_t rng_state = 12345;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

/* Append one random item; returns bytes written to out (naive forward copy). */
static size_t random_item(uint8_t *s, size_t *sp, uint8_t *ctrl, int bit, uint8_t *out, size_t dp,
                          size_t rawlen)
{
    size_t room = rawlen - dp;
    if (dp == 0 || room < 3 || rnd(3) == 0) {
        out[dp] = (uint8_t)rnd(4); /* small alphabet, so literal runs look like data */
        s[(*sp)++] = out[dp];
        return 1;
    }
    size_t maxoff = dp < 4095 ? dp : 4095;
    size_t off = rnd(4) == 0 ? 1 + rnd((uint32_t)maxoff) : 1 + rnd(maxoff < 40 ? maxoff : 40);
    size_t maxlen = room < 273 ? room : 273;
    size_t len = 3 + rnd((uint32_t)(maxlen - 2));
    *ctrl |= (uint8_t)(1u << bit);
    size_t l4 = len >= 18 ? 15 : len - 3;
    s[(*sp)++] = (uint8_t)(((off >> 4) & 0xF0) | l4);
    s[(*sp)++] = (uint8_t)(off & 0xFF);
    if (len >= 18)
        s[(*sp)++] = (uint8_t)(len - 18);
    for (size_t k = 0; k < len; k++)
        out[dp + k] = out[dp + k - off];
    return len;
}

static size_t random_stream(uint8_t *s, uint8_t *expect, size_t rawlen)
{
    size_t sp = 0, dp = 0;
    while (dp < rawlen) {
        size_t cp = sp++;
        uint8_t ctrl = 0;
        for (int bit = 0; bit < 8 && dp < rawlen; bit++)
            dp += random_item(s, &sp, &ctrl, bit, expect, dp, rawlen);
        s[cp] = ctrl;
    }
    return sp;
}

static void test_random_streams(void)
{
    enum { MAXRAW = 9000 };
    uint8_t *s = malloc(MAXRAW * 2), *expect = malloc(MAXRAW);
    int wrong = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t rawlen = 1 + rnd(iter < 2500 ? 600 : MAXRAW - 1);
        size_t n = random_stream(s, expect, rawlen);
        cd_err err;
        uint8_t *out;
        cd_code rc = decode(s, n, rawlen, &out, &err);
        wrong += rc != CD_OK || memcmp(out, expect, rawlen) != 0;
        free(out);
    }
    CHECK_EQ_INT(wrong, 0);
    free(s);
    free(expect);
}

/* ---- regression: inputs the fuzzer found ---- */

/* Byte-by-byte reference decoder: 0 when the stream decodes to exactly rawlen bytes. */
static int naive_decode(const uint8_t *s, size_t n, uint8_t *out, size_t rawlen)
{
    size_t sp = 0, dp = 0;
    while (dp < rawlen && sp < n) {
        unsigned ctrl = s[sp++];
        for (int bit = 0; bit < 8 && dp < rawlen && sp < n; bit++, ctrl >>= 1) {
            if (!(ctrl & 1)) {
                out[dp++] = s[sp++];
                continue;
            }
            if (sp + 2 > n)
                return -1;
            size_t len = (size_t)(s[sp] & 0x0F) + 3,
                   off = ((size_t)(s[sp] & 0xF0) << 4) | s[sp + 1];
            sp += 2;
            if (len == 18) {
                if (sp >= n)
                    return -1;
                len += s[sp++];
            }
            if (off == 0 || off > dp || len > rawlen - dp)
                return -1;
            for (size_t k = 0; k < len; k++, dp++)
                out[dp] = out[dp - off];
        }
    }
    return dp == rawlen && sp == n ? 0 : -1;
}

/* The fast path once let literals eat the room a following long match needed and wrote
 * past the output (found by make fuzz). Output buffers are exact: ASan sees any overrun. */
static void test_fuzz_regressions(void)
{
    static const char *const inputs[] = {
        "tests/fuzz/seeds/fuzz_pglz/crash-literals-then-long-match",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        size_t n;
        uint8_t *in = unit_read_file(inputs[i], &n);
        CHECK(in != NULL && n >= 2);
        if (in == NULL || n < 2)
            continue;
        size_t rawlen = (size_t)in[0] | (size_t)in[1] << 8;
        uint8_t *got = malloc(rawlen), *want = malloc(rawlen);
        cd_err err = {0};
        cd_code rc = cd_pglz_decompress(in + 2, n - 2, got, rawlen, &err);
        int ref = naive_decode(in + 2, n - 2, want, rawlen);
        CHECK_EQ_INT(rc == CD_OK, ref == 0);
        CHECK(rc != CD_OK || memcmp(got, want, rawlen) == 0);
        free(want);
        free(got);
        free(in);
    }
    /* the same shape built by hand: 7 literals, then 273-byte matches up to the end */
    uint8_t s[4096], out[3000], ref[3000];
    size_t sp = 0, dp = 0;
    while (dp < sizeof out) {
        size_t ctrl_at = sp++;
        uint8_t ctrl = 0;
        for (int bit = 0; bit < 8 && dp < sizeof out; bit++) {
            size_t room = sizeof out - dp;
            if (dp < 8 || bit < 7 || room < 3) {
                s[sp++] = (uint8_t)('a' + dp % 7);
                dp++;
                continue;
            }
            size_t len = room < 273 ? room : 273;
            ctrl |= (uint8_t)(1u << bit);
            s[sp++] = (uint8_t)(len >= 18 ? 0x0F : len - 3);
            s[sp++] = 7; /* offset 7 */
            if (len >= 18)
                s[sp++] = (uint8_t)(len - 18);
            dp += len;
        }
        s[ctrl_at] = ctrl;
    }
    uint8_t *exact = malloc(sizeof out);
    cd_err err = {0};
    CHECK_CODE(cd_pglz_decompress(s, sp, exact, sizeof out, &err), CD_OK, &err);
    CHECK_EQ_INT(naive_decode(s, sp, ref, sizeof ref), 0);
    CHECK(memcmp(exact, ref, sizeof ref) == 0);
    (void)out;
    free(exact);
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CD_BENCH=1: output MB/s decoding each real array value (about 3 KB) in a loop. */
static void bench(void)
{
    if (getenv("CD_BENCH") == NULL)
        return;
    for (size_t i = 0; i < N_SAMPLES; i++) {
        sample s;
        if (load_sample(samples[i], &s) != 0) {
            free_sample(&s);
            continue;
        }
        uint8_t *out = malloc(s.rawlen);
        cd_err err;
        long iters = 0;
        double t0 = now_sec(), t;
        do {
            for (int k = 0; k < 1000; k++)
                CHECK(cd_pglz_decompress(s.stream, s.streamlen, out, s.rawlen, &err) == CD_OK);
            iters += 1000;
        } while ((t = now_sec() - t0) < 0.5);
        fprintf(stderr, "bench %-12s %5zu -> %5zu bytes: %8.0f MB/s output, %.2f us/value\n",
                samples[i], s.streamlen, s.rawlen, iters * (double)s.rawlen / t / 1e6,
                t / iters * 1e6);
        free(out);
        free_sample(&s);
    }
}

int main(void)
{
    RUN(test_real_values);
    RUN(test_known_run);
    RUN(test_truncations_and_sizes);
    RUN(test_flips);
    RUN(test_hand_built);
    RUN(test_random_streams);
    RUN(test_fuzz_regressions);
    bench();
    return UNIT_DONE();
}
