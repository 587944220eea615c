/*
 * pgcopy.h: a parser of PostgreSQL COPY ... TO STDOUT (FORMAT binary) output, and decoders
 * of the binary send formats of the fixed-width types and their arrays.
 *
 * The parser is fed the stream in chunks of any size (libpq's PQgetCopyData returns one row
 * per call, the first one prefixed with the file header) and calls a row callback once per
 * tuple with pointers into its input: they are valid only during the callback. It knows
 * nothing of libpq and does no I/O. Every byte is hostile input: lengths are bounds-checked,
 * a malformed stream gives CD_ECORRUPT (or CD_EUNSUPPORTED), never a crash.
 * Holds for the format of PostgreSQL 7.4 to 17 (signature "PGCOPY\n\377\r\n\0", no OIDs).
 */
#ifndef CD_PGCOPY_H
#define CD_PGCOPY_H

#include <stddef.h>
#include <stdint.h>

#include "cd_err.h"

#define CD_COPYBIN_SIGNATURE "PGCOPY\n\377\r\n"
#define CD_COPYBIN_SIGLEN 11            /* signature incl. its trailing '\0' */
#define CD_COPYBIN_HEADER 19            /* signature + int32 flags + int32 extension length */
#define CD_COPYBIN_MAX_FIELD 0x3FFFFFFF /* longest value PostgreSQL can send (1 GB - 1) */
#define CD_COPYBIN_MAXDIM 6

/* Called once per tuple: field[i] points at len[i] bytes; len[i] == -1 and field[i] == NULL
 * for a NULL. A non-CD_OK return stops the parse and is returned by cd_copybin_feed. */
typedef cd_code (*cd_copybin_row_fn)(void *arg, int nfields, const uint8_t *const *field,
                                     const int32_t *len, cd_err *err);

typedef struct cd_copybin cd_copybin;

cd_code cd_copybin_new(cd_copybin **out, cd_err *err);
/* Consume n more bytes of the stream, calling fn for each tuple completed. After an error
 * the parser is dead: every later feed or finish fails. */
cd_code cd_copybin_feed(cd_copybin *p, const uint8_t *buf, size_t n, cd_copybin_row_fn fn,
                        void *arg, cd_err *err);
/* End of stream: error unless the trailer was seen and no bytes are left over. */
cd_code cd_copybin_finish(cd_copybin *p, cd_err *err);
/* Tuples delivered so far. */
uint64_t cd_copybin_rows(const cd_copybin *p);
/* Free and set *p to NULL; NULL-safe. */
void cd_copybin_free(cd_copybin **p);

/* Decode one non-NULL bool, int2, int4, int8, float4 or float8 value of len bytes (big-endian
 * on the wire) to the native value in out (1, 2, 4 or 8 bytes; bool as 0 or 1). */
cd_code cd_copybin_scalar(uint32_t typoid, const uint8_t *p, int32_t len, void *out, cd_err *err);

/* Decode one binary array whose elements must be of type elemoid (int2, int4, int8, float4,
 * float8 or bool). Sets *ndim (0 for an empty array), dims[0..ndim) (zeros after), *has_null
 * (1 if any element is NULL) and *out_bytes (product(dims) * element size, also set when the
 * array does not fit); writes the elements row-major as native values to out[out_cap],
 * a NULL element as 0 (NaN for floats). Lower bounds are ignored. */
cd_code cd_copybin_array(const uint8_t *p, int32_t len, uint32_t elemoid, int *ndim, int dims[6],
                         int *has_null, void *out, size_t out_cap, size_t *out_bytes, cd_err *err);

#endif
