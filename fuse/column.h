/*
 * column.h: one output column of one shard, held in memory row by row, for reading rows
 * back (verify compares them with PostgreSQL's). Keeps payload bytes, row offsets,
 * validity, and whether an array column is ragged.
 * Does not: decode tuples or write files (colfile.h streams columns to their files).
 * Memory: the shard's decoded column.
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

/* Row i as a value (data points into the column). */
void cd_column_row(const cd_column *c, uint64_t i, cd_value *v);

cd_code cd_bytes_append(cd_bytes *b, const void *p, size_t n, cd_err *err);
void cd_bytes_free(cd_bytes *b);

#endif
