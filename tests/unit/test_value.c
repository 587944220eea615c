/*
 * test_value.c: cd_value_into, the decompression of an array value straight into its row of
 * a column buffer (the array header lands in the bytes before the row and those are put
 * back). Inline-compressed arrays: real pglz streams of PostgreSQL (tests/unit/data, made by
 * make-fixtures.sh) and LZ4 streams made here; every case against cd_value_from_datum.
 */
#include <lz4.h>
#include <math.h>
#include <stdlib.h>

#include "pgdisk.h"
#include "unit.h"
#include "value.h"

#define DATA "tests/unit/data/"
#define ROOM 64 /* bytes before the row in the test buffers */

static const cd_attr real_attr = {.name = "x",
                                  .typname = "real[]",
                                  .attlen = -1,
                                  .attalign = 'i',
                                  .kind = CD_KIND_ARRAY,
                                  .elemoid = PGD_FLOAT4OID,
                                  .elemlen = 4,
                                  .dtype = "<f4"};

/* An inline-compressed varlena (4-byte header, va_tcinfo) of a stream of method m. */
static uint8_t *varlena_c(const uint8_t *stream, size_t n, uint32_t rawsize, uint32_t m,
                          uint32_t *len)
{
    *len = (uint32_t)(n + 8);
    uint8_t *p = malloc(*len);
    uint32_t hdr = *len << 2 | 2, tcinfo = rawsize | m << 30;
    memcpy(p, &hdr, 4);
    memcpy(p + 4, &tcinfo, 4);
    memcpy(p + 8, stream, n);
    return p;
}

/* A value as PostgreSQL stored it (the .cmp fixture is the whole varlena). */
static uint8_t *pglz_fixture(const char *name, size_t *rawlen, uint32_t *len)
{
    char path[256];
    size_t n;
    snprintf(path, sizeof path, DATA "pglz_%s.raw", name);
    free(unit_read_file(path, rawlen));
    snprintf(path, sizeof path, DATA "pglz_%s.cmp", name);
    uint8_t *v = unit_read_file(path, &n);
    *len = (uint32_t)n;
    return v;
}

static uint8_t *lz4_of(const uint8_t *raw, size_t rawlen, uint32_t *len)
{
    int cap = LZ4_compressBound((int)rawlen);
    uint8_t *c = malloc((size_t)cap);
    int n = LZ4_compress_default((const char *)raw, (char *)c, (int)rawlen, cap);
    uint8_t *v = varlena_c(c, (size_t)n, (uint32_t)rawlen, PGD_CMP_LZ4, len);
    free(c);
    return v;
}

/* A buffer of ROOM + want bytes: the room filled with a pattern, the row with 0xEE. */
static uint8_t *row_buffer(size_t want)
{
    uint8_t *b = malloc(ROOM + want);
    for (int i = 0; i < ROOM; i++)
        b[i] = (uint8_t)(0xA0 + i);
    memset(b + ROOM, 0xEE, want);
    return b;
}

static bool room_intact(const uint8_t *b)
{
    for (int i = 0; i < ROOM; i++)
        if (b[i] != (uint8_t)(0xA0 + i))
            return false;
    return true;
}

/* Decode p both ways; *direct: whether cd_value_into placed it at the row. */
static void both_ways(const uint8_t *p, uint32_t len, size_t want, size_t headroom, bool *direct)
{
    cd_datum d = {.p = p, .len = len};
    cd_valctx c1 = {0}, c2 = {0};
    cd_value ref, got;
    cd_err err = {0};
    CHECK_CODE(cd_value_from_datum(&c1, &real_attr, &d, &ref, &err), CD_OK, &err);
    uint8_t *b = row_buffer(want);
    cd_value_dest dest = {b + ROOM, want, headroom};
    CHECK_CODE(cd_value_into(&c2, &real_attr, &d, &dest, &got, &err), CD_OK, &err);
    *direct = got.data == b + ROOM;
    CHECK(room_intact(b));
    CHECK_EQ_INT(got.len, ref.len);
    CHECK_EQ_INT(got.ndim, ref.ndim);
    CHECK_EQ_INT(got.null_elems, ref.null_elems);
    CHECK(memcmp(got.dims, ref.dims, sizeof(int) * (size_t)ref.ndim) == 0);
    CHECK(memcmp(got.data, ref.data, ref.len) == 0);
    free(b);
    cd_valctx_free(&c2);
    cd_valctx_free(&c1);
}

/* PostgreSQL's own pglz streams of real[] values land in the row; the room is put back. */
static void test_pglz_in_place(void)
{
    const char *names[] = {"real_cycle", "real_sparse", "real_zeros"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t rawlen;
        uint32_t len;
        uint8_t *v = pglz_fixture(names[i], &rawlen, &len);
        bool direct = false;
        both_ways(v, len, rawlen - 20, ROOM, &direct);
        CHECK(direct);
        both_ways(v, len, rawlen - 20, 20, &direct); /* exactly the header's room */
        CHECK(direct);
        free(v);
    }
}

/* Too little room, a row of another size, no destination: decoded as before, row untouched. */
static void test_fallbacks(void)
{
    size_t rawlen;
    uint32_t len;
    uint8_t *v = pglz_fixture("real_cycle", &rawlen, &len);
    bool direct = true;
    both_ways(v, len, rawlen - 20, 19, &direct);
    CHECK(!direct);
    both_ways(v, len, rawlen - 24, ROOM, &direct); /* 24 bytes "of header": no such array */
    CHECK(!direct);
    both_ways(v, len, rawlen - 12, ROOM, &direct); /* 12 bytes: too short for a header */
    CHECK(!direct);
    cd_datum d = {.p = v, .len = len};
    cd_valctx ctx = {0};
    cd_value got;
    cd_err err = {0};
    CHECK_CODE(cd_value_into(&ctx, &real_attr, &d, NULL, &got, &err), CD_OK, &err);
    CHECK_EQ_INT(got.len, rawlen - 20);
    cd_valctx_free(&ctx);
    free(v);
}

/* A raw 1-D real[] of n elements, element i NULL when i % 7 == 3 (with_nulls). */
static uint8_t *real_array(int n, bool with_nulls, size_t *rawlen)
{
    int nn = 0;
    for (int i = 0; with_nulls && i < n; i++)
        nn += i % 7 == 3;
    size_t hdr = with_nulls ? ((16 + 8 + (size_t)(n + 7) / 8 + 7) & ~(size_t)7) - 4 : 20;
    *rawlen = hdr + 4 * (size_t)(n - nn);
    uint8_t *r = calloc(1, *rawlen);
    int32_t h[5] = {1, with_nulls ? (int32_t)hdr + 4 : 0, PGD_FLOAT4OID, n, 1};
    memcpy(r, h, sizeof h);
    float *x = (float *)(r + hdr);
    for (int i = 0, k = 0; i < n; i++) {
        if (with_nulls && i % 7 == 3)
            continue;
        if (with_nulls)
            r[20 + i / 8] |= (uint8_t)(1 << (i % 8));
        x[k++] = (float)i * 0.5f;
    }
    return r;
}

/* LZ4 streams; an array with NULL elements is decoded, but not in place. */
static void test_lz4_and_nulls(void)
{
    size_t rawlen;
    uint8_t *raw = real_array(300, false, &rawlen);
    uint32_t len;
    uint8_t *v = lz4_of(raw, rawlen, &len);
    bool direct = false;
    both_ways(v, len, 1200, ROOM, &direct);
    CHECK(direct);
    free(v);
    free(raw);
    /* 300 elements with 43 NULLs: rawsize = 60 + 4 * 257, so a 1028-byte row would see 60
     * bytes of "header"; it must still come out right (NaN for the NULLs) */
    raw = real_array(300, true, &rawlen);
    v = lz4_of(raw, rawlen, &len);
    both_ways(v, len, rawlen - 60, ROOM, &direct);
    CHECK(!direct);
    both_ways(v, len, 1200, ROOM, &direct);
    CHECK(!direct);
    free(v);
    free(raw);
}

/* A 2-D array whose size passes for a 1-D one of other length: its elements end up where
 * they belong (not at the row), and the room is put back. */
static void test_other_layout(void)
{
    int32_t h[7] = {2, 0, PGD_FLOAT4OID, 10, 10, 1, 1};
    size_t rawlen = 28 + 400;
    uint8_t *raw = calloc(1, rawlen);
    memcpy(raw, h, sizeof h);
    for (int i = 0; i < 100; i++) {
        float f = (float)i;
        memcpy(raw + 28 + 4 * i, &f, 4);
    }
    uint32_t len;
    uint8_t *v = lz4_of(raw, rawlen, &len);
    bool direct = true;
    both_ways(v, len, 408, ROOM, &direct); /* 20 bytes of "header" by size */
    CHECK(!direct);
    free(v);
    free(raw);
    /* and a 1-D array taken for a 2-D one: its elements start inside the room, which is put
     * back, so they must be moved out first */
    size_t n;
    v = pglz_fixture("real_cycle", &n, &len);
    both_ways(v, len, n - 28, ROOM, &direct);
    CHECK(!direct);
    free(v);
}

/* A corrupt stream decoded in place: an error, and the room is put back. */
static void test_corrupt_in_place(void)
{
    size_t rawlen;
    uint32_t len;
    uint8_t *v = pglz_fixture("real_cycle", &rawlen, &len);
    v[len - 3] ^= 0xFF;
    v[len - 2] ^= 0xFF;
    cd_datum d = {.p = v, .len = len};
    cd_valctx ctx = {0};
    cd_value got;
    cd_err err = {0};
    uint8_t *b = row_buffer(rawlen - 20);
    cd_value_dest dest = {b + ROOM, rawlen - 20, ROOM};
    CHECK(cd_value_into(&ctx, &real_attr, &d, &dest, &got, &err) != CD_OK);
    CHECK(room_intact(b));
    free(b);
    cd_valctx_free(&ctx);
    free(v);
}

/* A pglz stream of the largest expansion there is: a literal, then matches of 273 bytes at
 * offset 1 (3 bytes each, 8 to a control byte). */
static uint8_t *pglz_max_stream(int groups, size_t *n, size_t *rawlen)
{
    uint8_t *s = malloc(2 + 7 * 3 + (size_t)groups * 25);
    size_t k = 0;
    s[k++] = 0xFE; /* item 0 a literal, items 1-7 matches */
    s[k++] = 'a';
    for (int g = -1; g < groups; g++) {
        if (g >= 0)
            s[k++] = 0xFF;
        for (int i = 0; i < (g < 0 ? 7 : 8); i++) {
            s[k++] = 0x0F; /* length 18 + the next byte, offset 1 */
            s[k++] = 0x01;
            s[k++] = 0xFF;
        }
    }
    *n = k;
    *rawlen = 1 + (7 + (size_t)groups * 8) * 273;
    return s;
}

/* A raw size that the stream cannot hold is corrupt and allocates nothing; the largest
 * expansion a stream can have still decodes. */
static void test_claims_beyond_stream(void)
{
    size_t n, rawlen;
    uint8_t *s = pglz_max_stream(100, &n, &rawlen);
    uint32_t len;
    uint8_t *v = varlena_c(s, n, (uint32_t)rawlen, PGD_CMP_PGLZ, &len);
    cd_datum d = {.p = v, .len = len};
    cd_valctx ctx = {0};
    const uint8_t *out;
    size_t outlen;
    cd_err err = {0};
    CHECK_CODE(cd_detoast(&ctx, v, len, &out, &outlen, &err), CD_OK, &err);
    CHECK_EQ_INT(outlen, rawlen);
    CHECK(out[0] == 'a' && out[rawlen - 1] == 'a');
    cd_valctx_free(&ctx);
    free(v);
    uint32_t claims[2][2] = {{PGD_CMP_PGLZ, 300000000}, {PGD_CMP_LZ4, 300000000}};
    for (int i = 0; i < 2; i++) {
        v = varlena_c(s, n, claims[i][1], claims[i][0], &len);
        d = (cd_datum){.p = v, .len = len};
        cd_value got;
        CHECK_CODE(cd_value_from_datum(&ctx, &real_attr, &d, &got, &err), CD_ECORRUPT, &err);
        CHECK(strstr(err.msg, "claims 300000000 bytes") != NULL);
        CHECK(ctx.raw == NULL && ctx.raw_cap == 0); /* nothing allocated for it */
        cd_valctx_free(&ctx);
        free(v);
    }
    free(s);
}

int main(void)
{
    RUN(test_pglz_in_place);
    RUN(test_fallbacks);
    RUN(test_lz4_and_nulls);
    RUN(test_other_layout);
    RUN(test_corrupt_in_place);
    RUN(test_claims_beyond_stream);
    return UNIT_DONE();
}
