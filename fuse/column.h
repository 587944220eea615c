/*
 * column.h: one output column of one shard, accumulated row by row, written in the mount
 * layout of DESIGN.md section 3.
 *
 * Does: keeps payload bytes, row offsets and validity; decides at the end between a
 * fixed-width <col>.npy (scalars, numeric, arrays with the same dimensions in every row;
 * NULL rows as 0 / NaN) and <col>.bin + <col>.offsets.npy (text, bytea, ragged arrays);
 * writes <col>.valid.npy when the shard has a NULL in the column.
 * Does not: decode tuples. Memory: the shard's decoded column is held in memory.
 */
#ifndef CD_COLUMN_H
#define CD_COLUMN_H

#include <stdbool.h>
#include <stdint.h>

#include "cd_err.h"
#include "tuple.h"
#include "value.h"

typedef struct cd_bytes {
    uint8_t *p;
    size_t len, cap;
} cd_bytes;

typedef struct cd_column {
    const cd_attr *attr; /* the table's column (name, kind, dtype) */
    uint64_t nrows;
    cd_bytes data;    /* payloads of non-null rows, concatenated */
    cd_bytes offsets; /* uint64 [nrows + 1] into data */
    cd_bytes valid;   /* uint8 [nrows] */
    uint64_t nnull;
    bool dims_known; /* arrays: dims of the first non-null row */
    int ndim;
    int dims[PGD_MAXDIM];
    bool ragged;         /* arrays whose rows differ in dimensions */
    uint64_t null_elems; /* NULL array elements written as 0 / NaN */
} cd_column;

void cd_column_init(cd_column *c, const cd_attr *attr);
void cd_column_free(cd_column *c);
cd_code cd_column_append(cd_column *c, const cd_value *v, cd_err *err);

/* Does the column go to .bin + .offsets.npy? */
bool cd_column_is_var(const cd_column *c);
/* Shape of the .npy (fixed) column: returns ndim, fills shape[0..ndim). */
int cd_column_shape(const cd_column *c, uint64_t *shape);

/* Row i as a value (data points into the column). */
void cd_column_row(const cd_column *c, uint64_t i, cd_value *v);

/* Write the column's files into dir. */
cd_code cd_column_write(const cd_column *c, const char *dir, cd_err *err);

cd_code cd_bytes_append(cd_bytes *b, const void *p, size_t n, cd_err *err);
void cd_bytes_free(cd_bytes *b);

#endif
