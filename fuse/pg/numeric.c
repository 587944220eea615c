/*
 * numeric.c: PostgreSQL numeric (base-10000 digits) to double.
 *
 * The server casts numeric to float8 by printing the value (numeric_out: every digit before
 * the point, then exactly dscale digits after it, truncating) and parsing that text with
 * strtod (float8in). We write the same decimal digits as "DIGITSeEXP" and call strtod, so
 * the result is the same correctly rounded double. Only the first NUM_MAX_SIG significant
 * decimal digits are written; any non-zero digit dropped after them becomes one trailing
 * "1" (a sticky digit). This cannot change the rounding: a double's rounding boundaries
 * need at most 767 significant digits, so no boundary lies strictly between the truncated
 * value and the true one, and the sticky digit keeps the written value strictly inside.
 *
 * Does: on-disk numeric (NumericShort / NumericLong headers, specials), COPY BINARY numeric,
 * digit validation, the server's out-of-range errors.
 * Does not: strip varlena headers or detoast; numeric arithmetic; text output.
 */
#include "numeric.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pgdisk.h"

/* n_header / sign values (utils/adt/numeric.c) */
#define NUM_SIGN_MASK 0xC000
#define NUM_POS 0x0000
#define NUM_NEG 0x4000
#define NUM_SHORT 0x8000
#define NUM_SPECIAL 0xC000
#define NUM_NAN 0xC000
#define NUM_PINF 0xD000
#define NUM_NINF 0xF000
#define NUM_SHORT_SIGN_MASK 0x2000
#define NUM_SHORT_DSCALE_MASK 0x1F80
#define NUM_SHORT_DSCALE_SHIFT 7
#define NUM_SHORT_WEIGHT_SIGN_MASK 0x0040
#define NUM_SHORT_WEIGHT_MASK 0x003F
#define NUM_DSCALE_MASK 0x3FFF
#define NUM_NBASE 10000
#define NUM_DEC_DIGITS 4

#define NUM_MAX_SIG 800 /* significant decimal digits written; >= 767 needed */
#define NUM_NO_DSCALE (-1)

/* Where the base-10000 digits come from: a native array or packed 2-byte words. */
typedef struct num_digits {
    const int16_t *arr;   /* native digits, or NULL */
    const uint8_t *bytes; /* else 2 bytes per digit */
    int big_endian;       /* byte order of bytes */
    int n;                /* number of digits */
} num_digits;

/* Digit i as a non-negative int, or -1 when it cannot be a base-10000 digit. */
static inline int digit_at(const num_digits *d, int i)
{
    int v;
    if (d->arr != NULL) {
        v = d->arr[i];
    } else {
        const uint8_t *b = d->bytes + 2 * (size_t)i;
        v = d->big_endian ? (b[0] << 8 | b[1]) : cd_rd16(b);
    }
    return v >= 0 && v < NUM_NBASE ? v : -1;
}

static cd_code check_digits(const num_digits *d, cd_err *err)
{
    for (int i = 0; i < d->n; i++) {
        if (digit_at(d, i) < 0) {
            cd_fail(err, CD_ECORRUPT, "invalid digit in numeric value");
            cd_detail(err, "digit %d of %d is outside 0..9999", i, d->n);
            return CD_ECORRUPT;
        }
    }
    return CD_OK;
}

/* The significant decimal digits of the value, capped at NUM_MAX_SIG. */
typedef struct num_text {
    char sig[NUM_MAX_SIG];
    int nsig;           /* digits in sig */
    int sticky;         /* a non-zero digit was dropped after the cap */
    long long last_pos; /* index of the last kept digit in the full decimal digit string */
} num_text;

static void add_char(num_text *t, char ch, long long pos)
{
    if (t->nsig == 0 && ch == '0')
        return;
    if (t->nsig < NUM_MAX_SIG) {
        t->sig[t->nsig++] = ch;
        t->last_pos = pos;
    } else if (ch != '0') {
        t->sticky = 1;
    }
}

/* Collect decimal digits 0..limit-1 of the concatenated 4-digit groups. */
static void collect(num_text *t, const num_digits *d, long long limit)
{
    for (int i = 0; i < d->n && NUM_DEC_DIGITS * (long long)i < limit; i++) {
        int v = digit_at(d, i);
        if (v == 0 && t->nsig == 0)
            continue;
        if (t->sticky)
            break; /* nothing further can change the text */
        char four[NUM_DEC_DIGITS] = {(char)('0' + v / 1000), (char)('0' + v / 100 % 10),
                                     (char)('0' + v / 10 % 10), (char)('0' + v % 10)};
        for (int c = 0; c < NUM_DEC_DIGITS; c++) {
            long long pos = NUM_DEC_DIGITS * (long long)i + c;
            if (pos >= limit)
                break;
            add_char(t, four[c], pos);
        }
    }
}

/* strtod on the collected digits; the server's float8in range rules. */
static cd_code parse_text(const num_text *t, int neg, int weight, double *out, cd_err *err)
{
    char buf[NUM_MAX_SIG + 48];
    /* the digit at position pos has decimal exponent 4 * weight + 3 - pos */
    long long exp10 = NUM_DEC_DIGITS * (long long)weight + 3 - t->last_pos - t->sticky;
    snprintf(buf, sizeof buf, "%s%.*s%se%lld", neg ? "-" : "", t->nsig, t->sig,
             t->sticky ? "1" : "", exp10);
    errno = 0;
    double v = strtod(buf, NULL);
    if (errno == ERANGE && (v == 0.0 || isinf(v))) {
        cd_fail(err, CD_EUNSUPPORTED, "numeric value out of range for type double precision");
        cd_detail(err, "value %.40s... (%d significant digits, decimal exponent %lld)", buf,
                  t->nsig, exp10);
        return CD_EUNSUPPORTED;
    }
    *out = v;
    return CD_OK;
}

/* The core: validate, truncate to dscale (NUM_NO_DSCALE: keep all), convert. */
static cd_code digits_core(int neg, int weight, const num_digits *d, int dscale, double *out,
                           cd_err *err)
{
    if (out == NULL)
        return cd_fail(err, CD_EINVAL, "numeric conversion called without a result pointer");
    if (d->n < 0 || (d->n > 0 && d->arr == NULL && d->bytes == NULL))
        return cd_fail(err, CD_EINVAL, "invalid numeric digit array");
    cd_code rc = check_digits(d, err);
    if (rc != CD_OK)
        return rc;
    long long limit = NUM_DEC_DIGITS * (long long)d->n;
    if (dscale != NUM_NO_DSCALE) {
        long long shown = NUM_DEC_DIGITS * ((long long)weight + 1) + dscale;
        if (shown < limit)
            limit = shown;
    }
    num_text t = {.nsig = 0, .sticky = 0, .last_pos = 0};
    collect(&t, d, limit);
    if (t.nsig == 0) {
        *out = neg ? -0.0 : 0.0;
        return CD_OK;
    }
    return parse_text(&t, neg, weight, out, err);
}

cd_code cd_numeric_digits_to_double(int sign_negative, int weight, const int16_t *digits,
                                    int ndigits, double *out, cd_err *err)
{
    num_digits d = {.arr = digits, .bytes = NULL, .big_endian = 0, .n = ndigits};
    if (digits == NULL && ndigits > 0)
        return cd_fail(err, CD_EINVAL, "invalid numeric digit array");
    return digits_core(sign_negative != 0, weight, &d, NUM_NO_DSCALE, out, err);
}

static cd_code special_value(unsigned code, double *out)
{
    if (out == NULL)
        return CD_EINVAL;
    *out = code == NUM_NAN ? NAN : code == NUM_PINF ? INFINITY : -INFINITY;
    return CD_OK;
}

static int is_special_code(unsigned code)
{
    return code == NUM_NAN || code == NUM_PINF || code == NUM_NINF;
}

static cd_code disk_special(unsigned h, size_t len, double *out, cd_err *err)
{
    if (!is_special_code(h) || len != 2) {
        cd_fail(err, CD_ECORRUPT, "invalid special numeric value");
        cd_detail(err, "header 0x%04X, %zu payload bytes", h, len);
        return CD_ECORRUPT;
    }
    return special_value(h, out);
}

static cd_code disk_digit_count(size_t len, size_t hdr, int *n, cd_err *err)
{
    if (len < hdr || (len - hdr) % 2 != 0 || (len - hdr) / 2 > INT_MAX) {
        cd_fail(err, CD_ECORRUPT, "invalid numeric length");
        cd_detail(err, "%zu payload bytes after a %zu-byte numeric header", len, hdr);
        return CD_ECORRUPT;
    }
    *n = (int)((len - hdr) / 2);
    return CD_OK;
}

cd_code cd_numeric_disk_to_double(const uint8_t *p, size_t len, double *out, cd_err *err)
{
    if (p == NULL || len < 2) {
        cd_fail(err, CD_ECORRUPT, "numeric value too short");
        cd_detail(err, "%zu payload bytes", p == NULL ? (size_t)0 : len);
        return CD_ECORRUPT;
    }
    unsigned h = cd_rd16(p);
    unsigned flags = h & NUM_SIGN_MASK;
    if (flags == NUM_SPECIAL)
        return disk_special(h, len, out, err);
    int neg, weight, dscale;
    size_t hdr;
    if (flags == NUM_SHORT) {
        hdr = 2;
        neg = (h & NUM_SHORT_SIGN_MASK) != 0;
        dscale = (int)((h & NUM_SHORT_DSCALE_MASK) >> NUM_SHORT_DSCALE_SHIFT);
        weight = (int)(h & NUM_SHORT_WEIGHT_MASK);
        if (h & NUM_SHORT_WEIGHT_SIGN_MASK)
            weight -= NUM_SHORT_WEIGHT_MASK + 1;
    } else {
        hdr = 4;
        neg = flags == NUM_NEG;
        dscale = (int)(h & NUM_DSCALE_MASK);
        weight = len >= 4 ? (int16_t)cd_rd16(p + 2) : 0;
    }
    num_digits d = {.arr = NULL, .bytes = p + (len >= hdr ? hdr : 0), .big_endian = 0};
    cd_code rc = disk_digit_count(len, hdr, &d.n, err);
    if (rc != CD_OK)
        return rc;
    return digits_core(neg, weight, &d, dscale, out, err);
}

static inline unsigned be16(const uint8_t *b)
{
    return (unsigned)(b[0] << 8 | b[1]);
}

static inline int be16s(const uint8_t *b)
{
    unsigned u = be16(b);
    return u >= 0x8000 ? (int)u - 0x10000 : (int)u;
}

cd_code cd_numeric_copybin_to_double(const uint8_t *p, size_t len, double *out, cd_err *err)
{
    if (p == NULL || len < 8) {
        cd_fail(err, CD_ECORRUPT, "binary numeric value too short");
        cd_detail(err, "%zu bytes, need at least 8", p == NULL ? (size_t)0 : len);
        return CD_ECORRUPT;
    }
    int ndigits = be16s(p), weight = be16s(p + 2);
    unsigned sign = be16(p + 4), dscale = be16(p + 6);
    if (ndigits < 0 || len != 8 + 2 * (size_t)ndigits) {
        cd_fail(err, CD_ECORRUPT, "invalid length in binary numeric value");
        cd_detail(err, "%d digits in %zu bytes", ndigits, len);
        return CD_ECORRUPT;
    }
    if (sign != NUM_POS && sign != NUM_NEG && !is_special_code(sign)) {
        cd_fail(err, CD_ECORRUPT, "invalid sign in binary numeric value");
        cd_detail(err, "sign 0x%04X", sign);
        return CD_ECORRUPT;
    }
    if ((dscale & NUM_DSCALE_MASK) != dscale) {
        cd_fail(err, CD_ECORRUPT, "invalid scale in binary numeric value");
        cd_detail(err, "dscale 0x%04X", dscale);
        return CD_ECORRUPT;
    }
    num_digits d = {.arr = NULL, .bytes = p + 8, .big_endian = 1, .n = ndigits};
    if (is_special_code(sign)) {
        cd_code rc = check_digits(&d, err);
        return rc != CD_OK ? rc : special_value(sign, out);
    }
    return digits_core(sign == NUM_NEG, weight, &d, (int)dscale, out, err);
}
