/*
 * value.h: one attribute's value, converted to the form the column files hold.
 *
 * Does: detoasting (short and 4-byte headers, inline pglz and lz4, external TOAST values
 * through toast.h), arrays (header, dimensions, null bitmap, element data), numeric to
 * float64, scalars; and the same conversion from PostgreSQL's COPY BINARY form (used for
 * attmissingval and by verify), so both sides compare in one representation.
 * Does not: own the TOAST relation or write files.
 */
#ifndef CD_VALUE_H
#define CD_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cd_err.h"
#include "pgdisk.h"
#include "toast.h"
#include "tuple.h"

typedef struct cd_value {
    bool isnull;
    const uint8_t *data; /* scalars: native bytes; numeric: the double; varlena: payload;
                            arrays: native elements, row-major (NULL elements 0 / NaN) */
    size_t len;          /* bytes at data */
    int ndim;            /* arrays: dimensions (0: empty array) */
    int dims[PGD_MAXDIM];
    uint64_t null_elems; /* arrays: NULL elements replaced by 0 / NaN */
    uint8_t scalar[8];   /* storage for scalar and numeric values */
} cd_value;

/* Scratch buffers of one decoding thread. Zero-initialise; free with cd_valctx_free. */
typedef struct cd_valctx {
    cd_toast *toast; /* the relation's TOAST table, or NULL */
    uint8_t *ext;    /* external value as stored */
    size_t ext_cap;
    uint8_t *raw; /* decompressed value */
    size_t raw_cap;
    uint8_t *elems; /* array elements with NULLs filled */
    size_t elems_cap;
} cd_valctx;

void cd_valctx_free(cd_valctx *ctx);

/* Value of datum d of attribute a (d->missing: the attribute's missing value or NULL).
 * v->data may point into the page, the tuple or ctx buffers: valid until the next call. */
cd_code cd_value_from_datum(cd_valctx *ctx, const cd_attr *a, const cd_datum *d, cd_value *v,
                            cd_err *err);

/* Where the elements of an array value may be decompressed straight to: len bytes at p, and
 * headroom writable bytes before p that the decoder may use for the array header and
 * restores before returning. */
typedef struct cd_value_dest {
    uint8_t *p;
    size_t len;
    size_t headroom;
} cd_value_dest;

/* A scalar's value pointing at its bytes in the tuple (no copy: valid while the tuple is),
 * when the datum is there, not NULL and of the scalar's size: the value cd_value_into gives,
 * but for where data points. False for anything else: then cd_value_into, which also says
 * what is wrong. Inline: it is the per-value path of tables of plain numbers. */
static inline bool cd_value_plain(const cd_attr *a, const cd_datum *d, cd_value *v)
{
    if (a->kind != CD_KIND_SCALAR || d->missing || d->isnull || d->len != (uint32_t)a->elemlen)
        return false;
    v->isnull = false;
    v->data = d->p;
    v->len = d->len;
    v->ndim = 0;
    v->null_elems = 0;
    return true;
}

/* cd_value_from_datum, except that a compressed array whose elements take exactly dest->len
 * bytes (and that has no NULL element) is decompressed straight into dest->p: then
 * v->data == dest->p and the caller has nothing to copy. Any other value (or dest NULL) is
 * decoded as by cd_value_from_datum; the bytes at dest->p are then unspecified and
 * the headroom unchanged. */
cd_code cd_value_into(cd_valctx *ctx, const cd_attr *a, const cd_datum *d,
                      const cd_value_dest *dest, cd_value *v, cd_err *err);

/* Value of one COPY BINARY field (len -1: NULL) of attribute a. */
cd_code cd_value_from_copybin(cd_valctx *ctx, const cd_attr *a, const uint8_t *p, int32_t len,
                              cd_value *v, cd_err *err);

/* What the column layout needs to know of a value without decoding it whole. */
typedef struct cd_value_shape {
    bool isnull;
    uint64_t len; /* bytes cd_value_from_datum would give (arrays: items * element size) */
    int ndim;     /* arrays */
    int dims[PGD_MAXDIM];
    uint64_t null_elems; /* arrays: NULL elements (they become 0 / NaN) */
} cd_value_shape;

/* Shape of datum d of attribute a: varlena sizes from their headers, array dimensions from
 * the array header (compressed values decompressed only that far). */
cd_code cd_value_shape_of(cd_valctx *ctx, const cd_attr *a, const cd_datum *d, cd_value_shape *sh,
                          cd_err *err);

/* Payload of the varlena at p (len bytes, header included), detoasted and decompressed. */
cd_code cd_detoast(cd_valctx *ctx, const uint8_t *p, uint32_t len, const uint8_t **out,
                   size_t *outlen, cd_err *err);

#endif
