/*
 * pglz.h: decoder for PostgreSQL's pglz compression stream (inline-compressed varlenas and
 * compressed external TOAST values whose method bits say pglz).
 *
 * Does: decode one complete stream into a caller-sized buffer, validating every tag.
 * Does not: parse varlena headers or va_tcinfo (the caller passes the payload and the raw
 * size), compress, decode partial prefixes, or handle lz4.
 */
#ifndef CD_PGLZ_H
#define CD_PGLZ_H

#include <stddef.h>
#include <stdint.h>

#include "cd_err.h"

/*
 * Decode the pglz stream src[0..srclen) into dst[0..rawlen).
 * Succeeds only when the stream produces exactly rawlen bytes and consumes exactly srclen
 * bytes. Any malformed stream (offset 0 or beyond the bytes produced, a tag running past
 * rawlen, a truncated tag, trailing input, a stream ending early) returns CD_ECORRUPT;
 * NULL buffers with a non-zero length return CD_EINVAL. Never reads src or writes dst out
 * of bounds; on error dst holds unspecified bytes within [0, rawlen).
 */
cd_code cd_pglz_decompress(const uint8_t *src, size_t srclen, uint8_t *dst, size_t rawlen,
                           cd_err *err);

/*
 * Decode only the first want bytes of a stream into dst (want bytes), for peeking at a
 * compressed value's header. The input may be cut short (a first TOAST chunk): CD_ECORRUPT
 * with "truncated" in the message when it ends before want bytes; every tag is checked.
 */
cd_code cd_pglz_decompress_prefix(const uint8_t *src, size_t srclen, uint8_t *dst, size_t want,
                                  cd_err *err);

#endif
