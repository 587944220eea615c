/*
 * numeric.h: PostgreSQL numeric values to double, exactly as the server casts numeric to
 * float8 (numeric_out, then float8in: the correctly rounded nearest double).
 *
 * Does: decode the on-disk numeric (short and long headers, NaN and +-Infinity) and the
 * COPY BINARY wire form, validate them, and convert through one shared core.
 * Does not: strip varlena headers, detoast or decompress, do numeric arithmetic, or produce
 * text. Out-of-range values (|x| too large, or non-zero but rounding to 0) fail the way
 * the server's cast fails, with CD_EUNSUPPORTED.
 */
#ifndef CD_NUMERIC_H
#define CD_NUMERIC_H

#include <stddef.h>
#include <stdint.h>

#include "cd_err.h"

/*
 * Shared core: the value (-1)^sign_negative * sum(digits[i] * 10000^(weight - i)).
 * Every digit must lie in 0..9999 (else CD_ECORRUPT); ndigits must be >= 0 (digits may be
 * NULL when it is 0). *out gets the correctly rounded double (a negative zero for a
 * negative sign with no non-zero digit, as the server's text round trip gives).
 */
cd_code cd_numeric_digits_to_double(int sign_negative, int weight, const int16_t *digits,
                                    int ndigits, double *out, cd_err *err);

/*
 * On-disk numeric: p/len is the varlena payload after its 1- or 4-byte header (first the
 * uint16 n_header). NaN gives NAN, +-Infinity give +-INFINITY. Digits beyond the display
 * scale are ignored, as numeric_out does. Malformed input gives CD_ECORRUPT.
 */
cd_code cd_numeric_disk_to_double(const uint8_t *p, size_t len, double *out, cd_err *err);

/*
 * COPY BINARY numeric field (the bytes after the int32 field length): big-endian int16
 * ndigits, int16 weight, uint16 sign (0x0000, 0x4000, 0xC000 NaN, 0xD000 +inf,
 * 0xF000 -inf), uint16 dscale, then ndigits int16 digits. Malformed input: CD_ECORRUPT.
 */
cd_code cd_numeric_copybin_to_double(const uint8_t *p, size_t len, double *out, cd_err *err);

#endif
