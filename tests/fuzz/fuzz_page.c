/*
 * fuzz_page.c: libFuzzer target for the page and tuple decoder: the input is one heap page
 * (padded with zeros to 8 KB); every line pointer is walked, every NORMAL tuple deformed
 * against a fixed row type (int4, text, real[], numeric, float8, bool, int8[]), and every
 * value converted (inline compressed values included; TOAST pointers must fail cleanly).
 * Each attribute alone (cd_tuple_attr, the read path's) must equal the full deform's, and
 * every array decoded in place (cd_value_into) must equal its value and leave the bytes
 * before its row as they were. Every tuple is also deformed against a row type of fixed-width
 * attributes only (int4, float8, bool, int8, int2): cd_tuple_deform_fixed must give what
 * cd_tuple_deform gives (code and datums), and a scalar taken by cd_value_plain the bytes
 * cd_value_from_datum gives.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "page.h"
#include "pgdisk.h"
#include "tuple.h"
#include "value.h"

#define BLCKSZ 8192

static cd_attr attrs[7] = {
    {.name = "a", .attnum = 1, .attlen = 4, .attalign = 'i'},
    {.name = "b", .attnum = 2, .attlen = -1, .attalign = 'i'},
    {.name = "c", .attnum = 3, .attlen = -1, .attalign = 'i'},
    {.name = "d", .attnum = 4, .attlen = -1, .attalign = 'i'},
    {.name = "e", .attnum = 5, .attlen = 8, .attalign = 'd'},
    {.name = "f", .attnum = 6, .attlen = 1, .attalign = 'c'},
    {.name = "g", .attnum = 7, .attlen = -1, .attalign = 'd'},
};

static cd_attr fixed[5] = {
    {.name = "a", .attnum = 1, .attlen = 4, .attalign = 'i'},
    {.name = "e", .attnum = 2, .attlen = 8, .attalign = 'd'},
    {.name = "f", .attnum = 3, .attlen = 1, .attalign = 'c'},
    {.name = "h", .attnum = 4, .attlen = 8, .attalign = 'd'},
    {.name = "s", .attnum = 5, .attlen = 2, .attalign = 's'},
};

static void setup(void)
{
    static int done;
    if (done++)
        return;
    static const uint32_t fixed_types[5] = {PGD_INT4OID, PGD_FLOAT8OID, PGD_BOOLOID, PGD_INT8OID,
                                            PGD_INT2OID};
    for (int i = 0; i < 5; i++) {
        fixed[i].typoid = fixed_types[i];
        cd_attr_classify(&fixed[i], fixed_types[i], 0);
    }
    static const uint32_t types[7][2] = {
        {PGD_INT4OID, 0},   {PGD_TEXTOID, 0}, {PGD_FLOAT4ARRAYOID, 700}, {PGD_NUMERICOID, 0},
        {PGD_FLOAT8OID, 0}, {PGD_BOOLOID, 0}, {PGD_INT8ARRAYOID, 20}};
    for (int i = 0; i < 7; i++) {
        attrs[i].typoid = types[i][0];
        cd_attr_classify(&attrs[i], types[i][0], types[i][1]);
    }
}

/* Decode d into a row of want bytes with ROOM bytes before it (cd_value_into): never a
 * crash, the room put back, and when want is the value's size the value of ref. */
#define ROOM 64
static void in_place_as(const cd_attr *a, const cd_datum *d, const cd_value *ref, size_t want)
{
    static uint8_t buf[ROOM + 65536];
    if (want > sizeof buf - ROOM)
        return;
    for (int i = 0; i < ROOM; i++)
        buf[i] = (uint8_t)(i * 7 + 1);
    cd_valctx ctx = {0};
    cd_value v;
    cd_err err = {0};
    cd_value_dest dest = {buf + ROOM, want, ROOM};
    cd_code rc = cd_value_into(&ctx, a, d, &dest, &v, &err);
    for (int i = 0; i < ROOM; i++)
        if (buf[i] != (uint8_t)(i * 7 + 1))
            abort();
    if (want == ref->len && (rc != CD_OK || v.len != ref->len || v.ndim != ref->ndim ||
                             v.null_elems != ref->null_elems ||
                             memcmp(v.dims, ref->dims, sizeof(int) * (size_t)v.ndim) != 0 ||
                             memcmp(v.data, ref->data, v.len) != 0))
        abort();
    cd_valctx_free(&ctx);
}

static void check_in_place(const cd_attr *a, const cd_datum *d, const cd_value *ref)
{
    if (a->kind != CD_KIND_ARRAY || ref->isnull)
        return;
    uint8_t *copy = malloc(ref->len ? ref->len : 1); /* ref->data lives in the caller's ctx */
    if (copy == NULL)
        return;
    memcpy(copy, ref->data, ref->len);
    cd_value r = *ref;
    r.data = copy;
    in_place_as(a, d, &r, r.len);
    in_place_as(a, d, &r, r.len + 8); /* a row of another size: whatever comes, no harm */
    if (r.len >= 8)
        in_place_as(a, d, &r, r.len - 8);
    free(copy);
}

/* The fixed row type's fast deform against the full one, and its plain scalars. */
static void check_fixed(const uint8_t *tup, uint32_t len)
{
    int32_t fixoff[5];
    cd_tuple_fixed_offsets(fixed, 5, fixoff);
    int32_t fixlen = cd_tuple_fixed_len(fixed, 5, fixoff);
    cd_datum want[5], got[5];
    cd_err e1 = {0}, e2 = {0};
    cd_code r1 = cd_tuple_deform(tup, len, fixed, 5, want, &e1);
    cd_code r2 = cd_tuple_deform_fixed(tup, len, fixed, 5, fixoff, fixlen, got, &e2);
    if (r1 != r2 || fixlen != 34)
        abort();
    for (int k = 0; r1 == CD_OK && k < 5; k++) {
        if (got[k].p != want[k].p || got[k].len != want[k].len || got[k].isnull != want[k].isnull ||
            got[k].missing != want[k].missing)
            abort();
        cd_value plain, ref;
        cd_valctx ctx = {0};
        if (cd_value_plain(&fixed[k], &got[k], &plain) &&
            (cd_value_from_datum(&ctx, &fixed[k], &want[k], &ref, &e1) != CD_OK || ref.isnull ||
             plain.isnull || plain.len != ref.len || plain.ndim != 0 ||
             memcmp(plain.data, ref.data, ref.len) != 0))
            abort();
        cd_valctx_free(&ctx);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    static uint8_t page[BLCKSZ];
    memset(page, 0, sizeof page);
    memcpy(page, data, size < BLCKSZ ? size : BLCKSZ);
    cd_err err = {0};
    if (cd_page_validate(page, BLCKSZ, 0, false, &err) != CD_OK)
        return 0;
    cd_valctx ctx = {0};
    unsigned n = cd_page_nitems(page);
    for (unsigned i = 1; i <= n; i++) {
        unsigned flags;
        const uint8_t *tup;
        uint32_t len;
        cd_datum d[7];
        if (cd_page_item(page, BLCKSZ, i, &flags, &tup, &len, &err) != CD_OK ||
            flags != PGD_LP_NORMAL)
            continue;
        check_fixed(tup, len);
        int32_t fixoff[7];
        cd_tuple_fixed_offsets(attrs, 7, fixoff);
        cd_datum one[7];
        cd_code each[7];
        for (int k = 0; k < 7; k++) /* whatever the tuple: never a crash */
            each[k] = cd_tuple_attr(tup, len, attrs, 7, fixoff, k, &one[k], &err);
        if (cd_tuple_deform(tup, len, attrs, 7, d, &err) != CD_OK)
            continue;
        for (int k = 0; k < 7; k++) /* a tuple the full deform takes: the same attributes */
            if (each[k] != CD_OK || one[k].p != d[k].p || one[k].len != d[k].len ||
                one[k].isnull != d[k].isnull || one[k].missing != d[k].missing)
                abort();
        for (int k = 0; k < 7; k++) {
            cd_value v;
            if (cd_value_from_datum(&ctx, &attrs[k], &d[k], &v, &err) == CD_OK)
                check_in_place(&attrs[k], &d[k], &v);
        }
    }
    cd_valctx_free(&ctx);
    return 0;
}
