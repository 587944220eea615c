/*
 * madlib.h: tables in the layout of MADlib's training_preprocessor_dl (pg-format.md section
 * 9), whose rows are buffers of many training rows: served unpacked, a row per training row.
 *
 * Detection (cd_madlib_detect, after the table's shards are opened): an output column X of
 * type bytea with a sibling X_shape of type int4[] or int2[] in every shard is a packed pair
 * (v1.18+: x, x_shape; v1.17: independent_var, independent_var_shape smallint[]). X holds the
 * data area of an array, row-major, little-endian; X_shape is {rows in the buffer, dims...}.
 * The element dtype comes from the data: payload bytes / product(shape) is 4 (<f4) or 2
 * (<i2). Once a table has a pair:
 *   - X becomes an array column (kind CD_KIND_ARRAY) of shape (N, dims...), N the rows of
 *     all buffers concatenated in physical order; its dtype is decided per shard from the
 *     buffers (the column's own dtype "<f4" only stands for a shard with no buffer);
 *   - X_shape is no longer an output column (meta names it as X's shape_column);
 *   - every other column holds one value per buffer, repeated for each of its rows, so every
 *     file of a shard has N rows.
 * Every pair of one buffer must agree on its rows, and every buffer of a column in one shard
 * on its element size. A NULL payload or shape, a shape that is not a 1-d array of positive
 * numbers, or a payload whose length does not match its shape is an error (CD_ECORRUPT; the
 * caller adds relation, block and item): never a guess.
 * cd_pin_opts.keep_packed turns detection off: the table is served as stored.
 * Does not: decode tuples (value.h) or lay out files (the table layer).
 */
#ifndef CD_MADLIB_H
#define CD_MADLIB_H

#include <stdint.h>

#include "catalog.h"
#include "value.h"

typedef struct cd_madlib_pair {
    int col;       /* the bytea column: index into cd_table.cols */
    cd_attr shape; /* its <col>_shape column (as in the first shard), not an output column */
} cd_madlib_pair;

typedef struct cd_madlib {
    cd_madlib_pair *pairs; /* [npairs] */
    int npairs;
    int *pair_of;    /* [table ncols]: the pair of each output column, -1 for the others */
    int *shape_attr; /* [nshards * npairs]: index into the shard's attrs of each shape column */
} cd_madlib;

/* One buffer of one packed column: what its shape and payload length say. */
typedef struct cd_madlib_buf {
    uint64_t rows; /* shape[0] */
    int ndim;      /* per-row dimensions: shape[1..] */
    int dims[PGD_MAXDIM];
    int elemsize;      /* bytes per element: 4 (<f4) or 2 (<i2) */
    uint64_t rowbytes; /* elemsize * product of dims */
} cd_madlib_buf;

/* Find the packed pairs of t (t->madlib stays NULL when there is none) and make t serve
 * them unpacked. */
cd_code cd_madlib_detect(cd_table *t, cd_err *err);
void cd_madlib_free(cd_madlib **m);

/* The pair of output column k, or -1 (also when the table is not packed). */
int cd_madlib_pair_of(const cd_table *t, int k);
/* The NumPy dtype of an element size: "<f4", "<i2", or "" for any other. */
const char *cd_madlib_dtype(int elemsize);

/*
 * The buffers of one tuple of shard s (datums: its deformed attributes): bufs[npairs], and
 * *rows, the rows they all hold. elemsize[npairs] carries the element size of each pair
 * from buffer to buffer of one shard (0 before the first): a buffer that differs is an
 * error. Decodes only the shape values (through ctx) and the payloads' headers.
 */
cd_code cd_madlib_tuple(const cd_table *t, const cd_shard *s, cd_valctx *ctx,
                        const cd_datum *datums, int *elemsize, cd_madlib_buf *bufs, uint64_t *rows,
                        cd_err *err);

/* Row j of a buffer whose decoded payload is pay: an array value of b's per-row shape
 * pointing into pay's data. */
cd_code cd_madlib_row(const cd_value *pay, const cd_madlib_buf *b, uint64_t j, cd_value *row,
                      cd_err *err);

#endif
