/*
 * tuple.h: attribute descriptors and heap tuple deforming.
 *
 * Does: walks a heap tuple's null bitmap and attributes (alignment, fixed and varlena
 * lengths, dropped columns, attributes missing from old tuples) and returns, for each
 * attribute, where its bytes are. Requires the tuple to be consumed exactly.
 * Does not: decide visibility, detoast or convert values (value.h).
 */
#ifndef CD_TUPLE_H
#define CD_TUPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "cd_err.h"

/* Output kinds of a column (DESIGN.md section 3). */
typedef enum cd_kind {
    CD_KIND_UNSUPPORTED = 0,
    CD_KIND_SCALAR,  /* bool, int2/4/8, float4/8: fixed-width .npy */
    CD_KIND_NUMERIC, /* numeric -> <f8 */
    CD_KIND_VARLENA, /* bytea, text, varchar, bpchar: .bin + .offsets.npy */
    CD_KIND_ARRAY,   /* int2/4/8[], float4/8[]: .npy (N, dims...) or ragged .bin */
} cd_kind;

typedef struct cd_attr {
    char name[64];    /* attname */
    char typname[64]; /* format_type() */
    int attnum;       /* 1-based */
    uint32_t typoid;  /* 0 for dropped columns */
    int16_t attlen;   /* > 0 fixed, -1 varlena, -2 cstring */
    char attalign;    /* c s i d */
    bool dropped;
    cd_kind kind;
    uint32_t elemoid; /* arrays: element type */
    int16_t elemlen;  /* scalar or array element size in bytes */
    char dtype[8];    /* numpy descr of the .npy elements, "" for .bin columns */
    bool has_missing; /* attribute added with a default: value of older tuples */
    bool missing_null;
    uint8_t *missing; /* array_send() of attmissingval: the value in COPY BINARY form */
    uint32_t missing_len;
} cd_attr;

/* Where one attribute of a tuple is. */
typedef struct cd_datum {
    const uint8_t *p; /* first byte (varlena: its header); NULL when null or missing */
    uint32_t len;     /* bytes, varlena header included */
    bool isnull;
    bool missing; /* beyond the tuple's natts: take attr->missing */
} cd_datum;

/*
 * Deform the tuple tup[0..len) against attrs[0..natts) (every attribute of the relation,
 * dropped ones included, in attnum order). out has natts entries.
 */
cd_code cd_tuple_deform(const uint8_t *tup, uint32_t len, const cd_attr *attrs, int natts,
                        cd_datum *out, cd_err *err);

/* fixoff[i]: the offset of attribute i from the start of a tuple's data when every
 * attribute before it and itself are fixed-width (the same in every tuple without NULLs),
 * else -1. */
void cd_tuple_fixed_offsets(const cd_attr *attrs, int natts, int32_t *fixoff);

/* Bytes of a tuple's data when every attribute is fixed-width and none is NULL (the end of
 * the last one, from fixoff), else -1. */
int32_t cd_tuple_fixed_len(const cd_attr *attrs, int natts, const int32_t *fixoff);

/* cd_tuple_deform, at once through fixoff for a tuple of fixlen (cd_tuple_fixed_len, >= 0)
 * bytes of data without NULL that has all natts attributes; any other tuple (or fixlen < 0)
 * is deformed by cd_tuple_deform. The same datums and errors. */
cd_code cd_tuple_deform_fixed(const uint8_t *tup, uint32_t len, const cd_attr *attrs, int natts,
                              const int32_t *fixoff, int32_t fixlen, cd_datum *out, cd_err *err);

/*
 * Only attribute want of the tuple into *out, reading no attribute after it: at once
 * through fixoff (NULL: none) when the tuple has no NULL, else by walking the attributes
 * before it. Does not check that the attributes fill the tuple exactly (cd_tuple_deform
 * does): for tuples a full deform has checked already.
 */
cd_code cd_tuple_attr(const uint8_t *tup, uint32_t len, const cd_attr *attrs, int natts,
                      const int32_t *fixoff, int want, cd_datum *out, cd_err *err);

/* Total size of the varlena at p (header included), checked against avail. */
cd_code cd_varsize_any(const uint8_t *p, uint32_t avail, uint32_t *size, cd_err *err);

#endif
