/*
 * colfile.h: one output column of one shard, streamed to its files as rows are decoded
 * (the export path; memory stays bounded by the write buffers, whatever the shard size).
 *
 * Layout (DESIGN.md section 3): fixed-width columns (scalars, numeric, arrays with the same
 * dimensions in every row) go to <col>.npy with NULL rows as 0 / NaN; text, bytea and
 * ragged arrays go to <col>.bin + <col>.offsets.npy; <col>.valid.npy is kept only when the
 * shard has a NULL in the column. An array column starts fixed; when a row's dimensions
 * * differ, cd_colfile_append sets c->ragged (CD_EUNSUPPORTED) and the caller decodes the shard
 * again with that column opened as variable-width (ragged columns are rare; two passes keep the
 * common case to one write of every byte).
 * Does not: decode tuples or keep rows for reading back.
 */
#ifndef CD_COLFILE_H
#define CD_COLFILE_H

#include <stdbool.h>
#include <stdio.h>

#include "atomicfile.h"
#include "npy.h"
#include "tuple.h"
#include "value.h"

typedef struct cd_colfile {
    const cd_attr *attr;
    char dir[4096];
    char fname[256]; /* the column's name as a file name (fsname.h) */
    bool var;        /* .bin + .offsets.npy */
    uint64_t nrows;
    uint64_t nnull;
    uint64_t null_elems; /* NULL array elements written as 0 / NaN */
    cd_npy_writer *data; /* fixed: <col>.npy (arrays: opened at the first non-null row) */
    cd_npy_writer *offsets;
    cd_npy_writer *valid; /* opened at the first NULL row (with a 1 for each row before) */
    cd_atomic *bin;       /* var: <col>.bin through <col>.bin.tmp, NULL when not open */
    uint64_t bin_len;
    uint64_t pending_nulls; /* fixed arrays: NULL rows before the dimensions are known */
    bool dims_known;
    int ndim;
    int dims[PGD_MAXDIM];
    size_t rowbytes; /* fixed: bytes per row once known */
    bool ragged;     /* a row's dimensions differed: the shard must be decoded again */
    bool packed;     /* a MADlib-packed column (madlib.h): the dtype comes from the first row */
    char dtype[8];   /* dtype of the .npy: attr->dtype, or a packed column's */
    size_t esz;      /* bytes per element of dtype */
    cd_bgwrite *bg;  /* the data file's full buffers are written by this thread, or NULL */
} cd_colfile;

/* Open the column's files in dir; var forces the .bin layout (for a ragged array column).
 * With bg, the data file is written in the background (bgwrite.h); bg must outlive the
 * close or abort. Set c->packed after opening for a MADlib-packed column. */
cd_code cd_colfile_open(cd_colfile *c, const cd_attr *attr, const char *dir, bool var,
                        cd_bgwrite *bg, cd_err *err);
/* Append one row. Returns CD_EUNSUPPORTED with c->ragged set when the column must be var. */
cd_code cd_colfile_append(cd_colfile *c, const cd_value *v, cd_err *err);
/* Where the next row's elements may be decompressed straight into (cd_value_into), for a
 * fixed array column whose dimensions are known; false otherwise. Append the value as
 * usual after it: a value made there is not copied again. */
bool cd_colfile_dest(cd_colfile *c, cd_value_dest *d);
/* Finish the files (rename into place); the colfile is closed in every case. */
cd_code cd_colfile_close(cd_colfile *c, cd_err *err);
/* Remove the temporary files. */
void cd_colfile_abort(cd_colfile *c);

#endif
