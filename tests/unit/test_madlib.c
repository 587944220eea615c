/*
 * test_madlib.c: MADlib-packed buffers (fuse/pg/madlib.h) on hand-made values: detection
 * of a bytea column with an int4[] or int2[] <col>_shape sibling (the shape column leaves the
 * output columns, the shard's column map follows), the element size from payload length /
 * product(shape), rows cut from a buffer, and a clear error for every buffer that does not
 * fit: a payload of the wrong length, 3 bytes an element, a changed element size, pairs that
 * disagree on the rows, a NULL buffer, a shape that is not 1-d or holds a zero.
 */
#include <stdlib.h>

#include "madlib.h"
#include "pgdisk.h"
#include "unit.h"

static cd_attr bytea_attr(const char *name, int attnum)
{
    cd_attr a = {.attnum = attnum,
                 .attlen = -1,
                 .attalign = 'i',
                 .kind = CD_KIND_VARLENA,
                 .typoid = PGD_BYTEAOID,
                 .elemlen = 1};
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.typname, sizeof a.typname, "bytea");
    return a;
}

static cd_attr shape_attr(const char *name, int attnum, int esz)
{
    cd_attr a = {.attnum = attnum,
                 .attlen = -1,
                 .attalign = 'i',
                 .kind = CD_KIND_ARRAY,
                 .elemoid = esz == 4 ? PGD_INT4OID : PGD_INT2OID,
                 .elemlen = (int16_t)esz};
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.typname, sizeof a.typname, esz == 4 ? "integer[]" : "smallint[]");
    snprintf(a.dtype, sizeof a.dtype, esz == 4 ? "<i4" : "<i2");
    return a;
}

/* An uncompressed varlena (4-byte header) of payload p[0..n) in buf; its datum. */
static cd_datum varlena(uint8_t *buf, const void *p, size_t n)
{
    uint32_t h = (uint32_t)(4 + n) << 2;
    memcpy(buf, &h, 4);
    memcpy(buf + 4, p, n);
    return (cd_datum){.p = buf, .len = (uint32_t)(4 + n)};
}

/* A 1-d int array {v[0..n)} of elements of esz bytes (or ndim 2 of 1 x n) in buf. */
static cd_datum int_array(uint8_t *buf, const int32_t *v, int n, int esz, int ndim)
{
    uint8_t pl[256] = {0};
    int32_t hdr[7] = {ndim, 0, esz == 4 ? PGD_INT4OID : PGD_INT2OID};
    size_t at = 12;
    if (ndim == 2)
        hdr[3] = 1, hdr[4] = n, hdr[5] = 1, hdr[6] = 1, at = 28;
    else
        hdr[3] = n, hdr[4] = 1, at = 20;
    memcpy(pl, hdr, sizeof hdr);
    for (int i = 0; i < n; i++) {
        int16_t h = (int16_t)v[i];
        memcpy(pl + at + (size_t)i * (size_t)esz, esz == 4 ? (const void *)&v[i] : &h, (size_t)esz);
    }
    return varlena(buf, pl, at + (size_t)n * (size_t)esz);
}

/* A table of one shard: id int4, x bytea, x_shape (int4[] or int2[]), y bytea, y_shape. */
typedef struct fixture {
    cd_table t;
    cd_shard s;
    cd_attr attrs[5];
    int colmap[5];
    cd_attr cols[5];
} fixture;

static void fixture_init(fixture *f, int shape_esz)
{
    memset(f, 0, sizeof *f);
    f->attrs[0] = (cd_attr){.name = "id",
                            .attnum = 1,
                            .attlen = 4,
                            .attalign = 'i',
                            .kind = CD_KIND_SCALAR,
                            .typoid = PGD_INT4OID,
                            .elemlen = 4,
                            .dtype = "<i4"};
    f->attrs[1] = bytea_attr("x", 2);
    f->attrs[2] = shape_attr("x_shape", 3, shape_esz);
    f->attrs[3] = bytea_attr("y", 4);
    f->attrs[4] = shape_attr("y_shape", 5, shape_esz);
    for (int i = 0; i < 5; i++) {
        f->cols[i] = f->attrs[i];
        f->colmap[i] = i;
    }
    f->s.attrs = f->attrs;
    f->s.natts = 5;
    f->s.colmap = f->colmap;
    f->t.cols = f->cols;
    f->t.ncols = 5;
    f->t.shards = &f->s;
    f->t.nshards = 1;
}

static void test_detect(void)
{
    fixture f;
    cd_err err = {0};
    fixture_init(&f, 4);
    CHECK_CODE(cd_madlib_detect(&f.t, &err), CD_OK, &err);
    CHECK(f.t.madlib != NULL);
    CHECK_EQ_INT(f.t.ncols, 3); /* id, x, y: the shapes are not output columns */
    CHECK(strcmp(f.t.cols[1].name, "x") == 0 && strcmp(f.t.cols[2].name, "y") == 0);
    CHECK_EQ_INT(f.s.colmap[2], 3); /* y is attribute 3 of the shard */
    CHECK_EQ_INT(cd_madlib_pair_of(&f.t, 0), -1);
    CHECK_EQ_INT(cd_madlib_pair_of(&f.t, 1), 0);
    CHECK_EQ_INT(cd_madlib_pair_of(&f.t, 2), 1);
    CHECK(f.t.cols[1].kind == CD_KIND_ARRAY && strcmp(f.t.cols[1].dtype, "<f4") == 0);
    CHECK(strcmp(f.t.madlib->pairs[1].shape.name, "y_shape") == 0);
    CHECK_EQ_INT(f.t.madlib->shape_attr[1], 4);
    cd_madlib_free(&f.t.madlib);
    CHECK(f.t.madlib == NULL);

    fixture_init(&f, 4); /* a text column, or a shape of floats, is no pair */
    f.attrs[1].typoid = PGD_TEXTOID;
    f.cols[1].typoid = PGD_TEXTOID;
    f.attrs[4].elemoid = PGD_FLOAT4OID;
    CHECK_CODE(cd_madlib_detect(&f.t, &err), CD_OK, &err);
    CHECK(f.t.madlib == NULL);
    CHECK_EQ_INT(f.t.ncols, 5);
    CHECK(strcmp(cd_madlib_dtype(2), "<i2") == 0 && cd_madlib_dtype(8)[0] == '\0');
}

/* Buffers of 3 rows: x float32 (3, 2, 2), y int16 one-hot (3, 4); shapes of esz bytes. */
static void datums_of(uint8_t store[5][256], cd_datum *d, int shape_esz, size_t xlen, int yrows)
{
    static float x[12];
    static int16_t y[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i + 0.5f, y[i] = (int16_t)(i % 5 == 0);
    int32_t xs[3] = {3, 2, 2}, ys[2] = {yrows, 4};
    int32_t id = 7;
    d[0] = (cd_datum){.p = store[0], .len = 4};
    memcpy(store[0], &id, 4);
    d[1] = varlena(store[1], x, xlen);
    d[2] = int_array(store[2], xs, 3, shape_esz, 1);
    d[3] = varlena(store[3], y, (size_t)yrows * 8);
    d[4] = int_array(store[4], ys, 2, shape_esz, 1);
}

static void test_buffers(void)
{
    for (int esz = 2; esz <= 4; esz += 2) {
        fixture f;
        cd_err err = {0};
        fixture_init(&f, esz);
        CHECK_CODE(cd_madlib_detect(&f.t, &err), CD_OK, &err);
        uint8_t store[5][256];
        cd_datum d[5];
        datums_of(store, d, esz, 48, 3);
        cd_valctx ctx = {0};
        cd_madlib_buf bufs[2];
        int elemsize[2] = {0, 0};
        uint64_t rows = 0;
        CHECK_CODE(cd_madlib_tuple(&f.t, &f.s, &ctx, d, elemsize, bufs, &rows, &err), CD_OK, &err);
        CHECK_EQ_INT(rows, 3);
        CHECK_EQ_INT(bufs[0].elemsize, 4);
        CHECK_EQ_INT(bufs[1].elemsize, 2);
        CHECK(bufs[0].ndim == 2 && bufs[0].dims[0] == 2 && bufs[0].dims[1] == 2);
        CHECK_EQ_INT(bufs[0].rowbytes, 16);
        CHECK(bufs[1].ndim == 1 && bufs[1].dims[0] == 4 && bufs[1].rowbytes == 8);
        cd_value pay, row;
        CHECK_CODE(cd_value_from_datum(&ctx, &f.attrs[1], &d[1], &pay, &err), CD_OK, &err);
        CHECK_CODE(cd_madlib_row(&pay, &bufs[0], 2, &row, &err), CD_OK, &err);
        float first;
        memcpy(&first, row.data, 4);
        CHECK(row.len == 16 && row.ndim == 2 && first == 8.5f && !row.isnull);
        CHECK_CODE(cd_madlib_row(&pay, &bufs[0], 3, &row, &err), CD_ECORRUPT, &err);
        cd_valctx_free(&ctx);
        cd_madlib_free(&f.t.madlib);
    }
}

/* The error of one bad tuple: its code and a piece of its message or detail. */
static void bad(fixture *f, cd_datum *d, int *elemsize, cd_code want, const char *text)
{
    cd_valctx ctx = {0};
    cd_madlib_buf bufs[2];
    uint64_t rows = 0;
    cd_err err = {0};
    CHECK_CODE(cd_madlib_tuple(&f->t, &f->s, &ctx, d, elemsize, bufs, &rows, &err), want, &err);
    bool found = strstr(err.msg, text) != NULL || strstr(err.detail, text) != NULL;
    if (!found)
        fprintf(stderr, "wanted \"%s\" in: %s | %s\n", text, err.msg, err.detail);
    CHECK(found);
    cd_valctx_free(&ctx);
}

static void test_errors(void)
{
    fixture f;
    cd_err err = {0};
    fixture_init(&f, 4);
    CHECK_CODE(cd_madlib_detect(&f.t, &err), CD_OK, &err);
    uint8_t store[5][256];
    cd_datum d[5];
    int es[2] = {0, 0};
    datums_of(store, d, 4, 44, 3); /* 44 bytes for {3,2,2} */
    bad(&f, d, es, CD_ECORRUPT, "44 bytes for x_shape {3,2,2}");
    datums_of(store, d, 4, 36, 3); /* 3 bytes an element */
    bad(&f, d, es, CD_ECORRUPT, "does not match its shape");
    datums_of(store, d, 4, 24, 3); /* 2 bytes an element: int16 after float32 */
    es[0] = 4;
    bad(&f, d, es, CD_ECORRUPT, "changes its element size");
    es[0] = 0;
    datums_of(store, d, 4, 48, 2); /* y_shape says 2 rows */
    bad(&f, d, es, CD_ECORRUPT, "disagree on the rows");
    datums_of(store, d, 4, 48, 3);
    d[1] = (cd_datum){.isnull = true};
    bad(&f, d, es, CD_EUNSUPPORTED, "has a NULL buffer");
    datums_of(store, d, 4, 48, 3);
    d[2] = (cd_datum){.isnull = true};
    bad(&f, d, es, CD_EUNSUPPORTED, "x_shape is NULL");
    int32_t two_d[2] = {3, 4}, zero[3] = {3, 0, 2};
    datums_of(store, d, 4, 48, 3);
    d[2] = int_array(store[2], two_d, 2, 4, 2);
    bad(&f, d, es, CD_ECORRUPT, "is not a shape");
    d[2] = int_array(store[2], zero, 3, 4, 1);
    bad(&f, d, es, CD_ECORRUPT, "holds 0");
    cd_madlib_free(&f.t.madlib);
}

int main(void)
{
    RUN(test_detect);
    RUN(test_buffers);
    RUN(test_errors);
    return UNIT_DONE();
}
