/*
 * npy.h: NumPy .npy files (format 1.0 written; 1.0, 2.0 and 3.0 read), C order only.
 *
 * Writes exactly the header numpy >= 1.24 writes: magic, version, uint16 LE header length,
 * the dict "{'descr': '<f4', 'fortran_order': False, 'shape': (N, 784), }", spaces and '\n',
 * padded so that the data starts at a multiple of 64. The header reserves room for a 21-digit
 * shape[0], so its length does not depend on the row count: a streaming writer writes the
 * header first and rewrites it in place with the final N.
 *
 * Only the plain little-endian scalar dtypes below are handled (no structured, string,
 * object or big-endian dtypes). Files written are atomic: PATH.tmp, fsync, rename.
 * The reader treats every file as hostile: bounded header parse, size checks, read-only mmap.
 */
#ifndef CD_NPY_H
#define CD_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "bgwrite.h"
#include "cd_err.h"

#define CD_NPY_MAXDIM 8
#define CD_NPY_ALIGN 64

/* Bytes per element of a descr ("|b1" "|u1" "|i1" "<i2" "<u2" "<i4" "<u4" "<i8" "<u8" "<f4"
 * "<f8"); 0 for anything else. */
size_t cd_npy_itemsize(const char *descr);

/* Write the complete version 1.0 header for descr and shape[ndim] into buf. Returns its
 * length (a multiple of 64), or 0 when cap is too small, descr is unknown or ndim is outside
 * 0..CD_NPY_MAXDIM. The length is the same for every value of shape[0]. */
size_t cd_npy_header(char *buf, size_t cap, const char *descr, const uint64_t *shape, int ndim);
/* Length cd_npy_header would return (0 on bad arguments). */
size_t cd_npy_header_len(const char *descr, const uint64_t *shape, int ndim);

/* Write a whole array: nbytes must be product(shape) * itemsize(descr). Atomic. */
cd_code cd_npy_write(const char *path, const char *descr, const uint64_t *shape, int ndim,
                     const void *data, size_t nbytes, cd_err *err);

/* Streaming writer of an array of shape (N, tail_dims...) with N known only at close.
 * open writes PATH.tmp; append buffers (1 MiB) and writes, starting the file's writeback
 * every 16 MiB (cd_writeback_start: the final fsync finds little left and dirty memory stays
 * low); close rewrites the header with N, checks that N * rowbytes bytes were appended,
 * fsyncs and renames PATH.tmp to PATH.
 * close and abort free the writer in every case; a failed close removes PATH.tmp.
 * After a failed append only abort (or close, which fails) may be called. */
typedef struct cd_npy_writer cd_npy_writer;

cd_code cd_npy_writer_open(cd_npy_writer **out, const char *path, const char *descr, int ndim_tail,
                           const uint64_t *tail_dims, cd_err *err);
cd_code cd_npy_writer_append(cd_npy_writer *w, const void *data, size_t nbytes, cd_err *err);
/* Where the next nbytes would go in the writer's buffer, for a caller that produces them in
 * place and then appends that very pointer (no copy); *before: bytes of the buffer before it
 * (the caller may use them and must put them back). NULL when they do not fit the buffer
 * now or the writer is not usable: append as usual. */
uint8_t *cd_npy_writer_room(cd_npy_writer *w, size_t nbytes, size_t *before);
/* From now on, write full buffers through bg (a second buffer is allocated), so that the
 * caller fills one while the other is written; a write's error is returned by the append or
 * close that follows it. bg must outlive the writer's close or abort. */
cd_code cd_npy_writer_async(cd_npy_writer *w, cd_bgwrite *bg, cd_err *err);
cd_code cd_npy_writer_close(cd_npy_writer *w, uint64_t nrows, cd_err *err);
void cd_npy_writer_abort(cd_npy_writer *w);

/* An opened .npy file: header parsed, whole file mapped read-only. */
typedef struct cd_npy {
    char descr[8];       /* normalized: "<f4", "|b1", ... */
    int ndim;            /* 0..CD_NPY_MAXDIM */
    uint64_t shape[8];   /* [ndim] */
    size_t itemsize;     /* bytes per element */
    size_t header_len;   /* offset of the data in the file */
    uint64_t data_bytes; /* product(shape) * itemsize == file size - header_len */
    int fd;              /* open read-only, -1 when closed */
    const void *data;    /* data_bytes bytes, C order, little-endian; not necessarily aligned */
    size_t map_len;      /* length of the mapping (the whole file), 0 if none */
} cd_npy;

/* A mapped file that shrinks under its reader (truncated, or rewritten in place by another
 * program) makes the next access to the lost pages raise SIGBUS. After this call, such a
 * SIGBUS in any cd_npy mapping ends the process with exit_code and a message naming the file
 * on stderr ("PROG: error: file ... became shorter while it was being read"); a SIGBUS
 * anywhere else keeps its default action. prog is kept, not copied. Once per process, before
 * the first cd_npy_open; the handler uses only async-signal-safe calls. */
void cd_npy_catch_shrink(const char *prog, int exit_code);

/* Open and validate path; on error *out is left closed (fd -1, data NULL). */
cd_code cd_npy_open(const char *path, cd_npy *out, cd_err *err);
/* Unmap and close; safe on a closed or failed cd_npy. */
void cd_npy_close(cd_npy *n);

#endif
