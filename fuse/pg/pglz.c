/*
 * pglz.c: decoder for PostgreSQL's pglz stream (src/common/pg_lzcompress.c format).
 *
 * Format (reference/pg-format.md section 3): a control byte governs the next 8 items, least
 * significant bit first. Bit 0: one literal byte. Bit 1: a tag T1 T2 [T3] with
 * len = (T1 & 0x0F) + 3 and off = ((T1 & 0xF0) << 4) | T2; len 18 means "add T3" (max 273).
 * A tag copies len bytes starting off bytes back in the output; source and destination may
 * overlap (a run), so the copy has forward, byte-by-byte semantics.
 *
 * Does: decode a whole stream into an exactly sized buffer, rejecting every malformed tag.
 * Does not: read varlena or va_tcinfo headers, compress, or decode lz4. This is the hot
 * path of the product: literal groups are copied 8 at a time and matches with
 * non-overlapping source use fixed-size or libc copies; runs use pattern doubling.
 */
#include "pglz.h"

#include <stddef.h>
#include <string.h>

#define PGLZ_MAX_LEN_SHORT 18 /* a 2-byte tag's largest length; 18 means a T3 byte follows */

/* Where the decoder stands; only for error details. */
typedef struct pglz_pos {
    size_t in;  /* input bytes consumed */
    size_t out; /* output bytes produced */
} pglz_pos;

static cd_code fail_at(cd_err *err, const char *msg, pglz_pos pos, size_t srclen, size_t rawlen)
{
    cd_fail(err, CD_ECORRUPT, "%s", msg);
    cd_detail(err, "at input byte %zu of %zu, output byte %zu of %zu", pos.in, srclen, pos.out,
              rawlen);
    return CD_ECORRUPT;
}

static cd_code fail_offset(cd_err *err, size_t off, pglz_pos pos, size_t srclen, size_t rawlen)
{
    cd_fail(err, CD_ECORRUPT, "pglz stream offset out of range");
    cd_detail(err,
              "offset %zu with %zu bytes produced, at input byte %zu of %zu "
              "(raw size %zu)",
              off, pos.out, pos.in, srclen, rawlen);
    return CD_ECORRUPT;
}

/* Copy len bytes whose source lies off >= len bytes back: no overlap, fixed-size pieces. */
static inline void copy_disjoint(uint8_t *d, const uint8_t *s, size_t len)
{
    if (len >= 8 && len <= 16) {
        memcpy(d, s, 8);
        memcpy(d + len - 8, s + len - 8, 8);
    } else if (len >= 4 && len < 8) {
        memcpy(d, s, 4);
        memcpy(d + len - 4, s + len - 4, 4);
    } else if (len == 3) {
        d[0] = s[0];
        d[1] = s[1];
        d[2] = s[2];
    } else {
        memcpy(d, s, len);
    }
}

/*
 * Copy len bytes from off bytes back with forward semantics. When off < len the source
 * overlaps the destination and the result repeats the last off bytes: copy them once, then
 * keep copying the (growing, still period-off) region behind d without overlap.
 */
static inline void copy_match(uint8_t *d, size_t off, size_t len)
{
    const uint8_t *s = d - off;
    if (off >= len) {
        copy_disjoint(d, s, len);
        return;
    }
    if (off == 1) {
        memset(d, s[0], len);
        return;
    }
    size_t span = off; /* bytes in [s, d), always a multiple of off */
    while (len > span) {
        memcpy(d, s, span);
        d += span;
        len -= span;
        span *= 2;
    }
    memcpy(d, s, len);
}

/* Read one tag at *spp (the control bit said "tag"). Returns 0, or -1 when truncated. */
static inline int read_tag(const uint8_t **spp, const uint8_t *send, size_t *off, size_t *len)
{
    const uint8_t *sp = *spp;
    if (send - sp < 2)
        return -1;
    *len = (size_t)(sp[0] & 0x0F) + 3;
    *off = ((size_t)(sp[0] & 0xF0) << 4) | sp[1];
    sp += 2;
    if (*len == PGLZ_MAX_LEN_SHORT) {
        if (sp == send)
            return -1;
        *len += *sp++;
    }
    *spp = sp;
    return 0;
}

typedef struct pglz_run {
    const uint8_t *src, *sp, *send;
    uint8_t *dst, *dp, *dend;
    cd_err *err;
} pglz_run;

static cd_code run_fail(const pglz_run *r, const char *msg)
{
    pglz_pos pos = {(size_t)(r->sp - r->src), (size_t)(r->dp - r->dst)};
    return fail_at(r->err, msg, pos, (size_t)(r->send - r->src), (size_t)(r->dend - r->dst));
}

/* Decode one tag item at r->sp into r->dp, fully checked. */
static inline cd_code do_tag(pglz_run *r)
{
    size_t off, len;
    const uint8_t *tag = r->sp;
    if (read_tag(&r->sp, r->send, &off, &len) != 0)
        return run_fail(r, "pglz stream truncated inside a tag");
    size_t produced = (size_t)(r->dp - r->dst);
    if (off == 0 || off > produced) {
        pglz_pos pos = {(size_t)(tag - r->src), produced};
        return fail_offset(r->err, off, pos, (size_t)(r->send - r->src),
                           (size_t)(r->dend - r->dst));
    }
    if (len > (size_t)(r->dend - r->dp)) {
        r->sp = tag;
        return run_fail(r, "pglz stream overruns the output");
    }
    copy_match(r->dp, off, len);
    r->dp += len;
    return CD_OK;
}

/* Decode the up to 8 items governed by one control byte (already consumed). */
static inline cd_code do_group(pglz_run *r, unsigned ctrl)
{
    if (ctrl == 0 && r->send - r->sp >= 8 && r->dend - r->dp >= 8) {
        memcpy(r->dp, r->sp, 8); /* eight literals */
        r->dp += 8;
        r->sp += 8;
        return CD_OK;
    }
    for (int i = 0; i < 8 && r->dp < r->dend; i++, ctrl >>= 1) {
        if (r->sp == r->send)
            return run_fail(r, "pglz stream ends before the output is complete");
        if ((ctrl & 1) == 0) {
            *r->dp++ = *r->sp++;
            continue;
        }
        cd_code rc = do_tag(r);
        if (rc != CD_OK)
            return rc;
    }
    return CD_OK;
}

/*
 * Fast path: decode whole groups while a group cannot run out of input (a control byte and
 * 8 three-byte tags) and each item has room for itself plus the slack of the wide copies
 * below: 8 bytes for literals, the match's length plus 32 for a tag (checked once its length
 * is read, so only the last few items of a stream fall to the checked path). When an item
 * does not fit it returns at the start of the current group (bytes written in that group are
 * written again, identically) and the checked path finishes.
 * Locals instead of a struct: byte stores through dp may alias anything, so fields behind a
 * pointer would be reloaded per byte. Only offsets still need checking here; on a bad one
 * it returns CD_ECORRUPT without a message and the caller decodes again on the checked path.
 */
#define PGLZ_GROUP_IN (1 + 8 * 3)
#define PGLZ_SLACK 32 /* bytes past a match the wide copies may write */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PGLZ_LE 1
#else
#define PGLZ_LE 0
#endif

static inline void wild_copy8(uint8_t *d, const uint8_t *s, size_t len)
{
    uint8_t *end = d + len;
    do {
        memcpy(d, s, 8);
        d += 8;
        s += 8;
    } while (d < end);
}

/*
 * The first 16 bytes of a match from at least 8 bytes back: two 8-byte copies, the second
 * loaded after the first is stored (from 8 to 15 back it reads bytes the first just wrote, as
 * the forward copy must). Most matches of float data are 4-8 bytes; one branch for all of them and
 * 8-byte loads measured 6% less time for the whole decoder on Fashion than a 16-byte wild copy
 * loop, and 3.5% less than a separate 4-to-8-byte case.
 */
static inline void copy_short(uint8_t *d, const uint8_t *s)
{
    uint64_t a, b;
    memcpy(&a, s, 8);
    memcpy(d, &a, 8);
    memcpy(&b, s + 8, 8);
    memcpy(d + 8, &b, 8);
}

/* The same 16 bytes at a time: the source must be at least 16 bytes back. */
static inline void wild_copy16(uint8_t *d, const uint8_t *s, size_t len)
{
    uint8_t *end = d + len;
    do {
        memcpy(d, s, 16);
        d += 16;
        s += 16;
    } while (d < end);
}

/*
 * The first 8 bytes of a run of period off (1..7) at d, whose last period is d[-off..-1]:
 * built in a register from one load, the pattern doubled by shifts (each shift a multiple
 * of off), then stored once; byte copies would each wait for the store before them.
 */
static inline void run_head8(uint8_t *d, size_t off)
{
#if PGLZ_LE
    uint64_t p;
    memcpy(&p, d - off, 8); /* the bytes past the period are not written yet: masked off */
    p &= ((uint64_t)1 << (8 * off)) - 1;
    for (size_t have = off; have < 8; have *= 2)
        p |= p << (8 * have);
    memcpy(d, &p, 8);
#else
    for (int k = 0; k < 8; k++)
        d[k] = d[k - (ptrdiff_t)off];
#endif
}

/*
 * A run whose period off is 1, 2 or 4 (a repeated byte, pair or float: most runs in float
 * data), at least 4 bytes into the output: its 8-byte pattern made in a register from the 4
 * bytes before d, then stored 16 bytes, then 32 at a time, in 16-byte stores (the long runs
 * of zeros in images: 2.5%, then 1-5% less time for the decoder on Fashion than 16 at a time
 * in 8-byte stores). A 4-byte load of bytes one earlier store wrote is forwarded from that
 * store; run_head8's 8-byte load of partly unwritten bytes waits until the store reaches the
 * cache, and its 8-byte copies wait on each other. Little-endian only: the last off bytes are
 * the high ones of the load.
 */
static inline void run_pow2(uint8_t *d, size_t off, size_t len)
{
    static const uint64_t spread[5] = {0, 0x0101010101010101u, 0x0001000100010001u, 0,
                                       0x0000000100000001u};
    uint32_t last4;
    memcpy(&last4, d - 4, 4);
    uint64_t p = (uint64_t)(last4 >> (32 - 8 * off)) * spread[off];
    typedef uint64_t pattern16 __attribute__((vector_size(16))); /* one 16-byte store */
    pattern16 v = {p, p};
    uint8_t *end = d + len;
    memcpy(d, &v, 16);
    for (d += 16; d < end; d += 32) {
        memcpy(d, &v, 16);
        memcpy(d + 16, &v, 16);
    }
}

/* A run of period off < 8 (the source overlaps the destination). */
static inline void copy_run(uint8_t *dp, size_t off, size_t len, size_t produced)
{
    if (PGLZ_LE && (off & (off - 1)) == 0 && produced >= 4) {
        run_pow2(dp, off, len);
        return;
    }
    /* its first 8 bytes, then 8-byte copies from a whole number of periods back, at least
     * 8 bytes (p < off + 8, so it is written already) */
    run_head8(dp, off);
    if (len > 8) {
        size_t period = off * ((8 + off - 1) / off);
        wild_copy8(dp + 8, dp + 8 - period, len - 8);
    }
}

/*
 * The control byte gets a sentinel bit 8: ctz() of what is left is the number of literals
 * before the next tag or the group's end, and a value of 1 means the group is done.
 */
static cd_code fast_groups(const uint8_t **spp, uint8_t **dpp, const pglz_run *r)
{
    const uint8_t *sp = *spp, *const slimit = r->send - PGLZ_GROUP_IN - 8;
    uint8_t *dp = *dpp, *const dend = r->dend;
    uint8_t *const dst = r->dst;
    while (sp <= slimit) {
        const uint8_t *gsp = sp;
        uint8_t *gdp = dp;
        unsigned ctrl = *sp++ | 0x100u;
        for (;;) {
            if (dend - dp < 8) {
                *spp = gsp;
                *dpp = gdp;
                return CD_OK;
            }
            /* the literals before the next tag, copied 8 bytes wide */
            unsigned n = (unsigned)__builtin_ctz(ctrl);
            memcpy(dp, sp, 8);
            dp += n;
            sp += n;
            ctrl >>= n;
            if (ctrl == 1)
                break;
            size_t len = (size_t)(sp[0] & 0x0F) + 3;
            size_t off = ((size_t)(sp[0] & 0xF0) << 4) | sp[1];
            sp += 2;
            if (len == PGLZ_MAX_LEN_SHORT)
                len += *sp++;
            if (off - 1 >= (size_t)(dp - dst)) /* 0, or more than was produced */
                return CD_ECORRUPT;
            if ((size_t)(dend - dp) < len + PGLZ_SLACK) { /* this group goes to the checked path */
                *spp = gsp;
                *dpp = gdp;
                return CD_OK;
            }
            /* off >= 8 first, then the rare long match: 4.5-6% less time for the decoder
             * on Fashion than one branch for 4-16 bytes and one for each kind of long match */
            if (off >= 8) {
                copy_short(dp, dp - off);
                if (len > 16) {
                    if (off >= 16)
                        wild_copy16(dp + 16, dp + 16 - off, len - 16);
                    else
                        wild_copy8(dp + 16, dp + 16 - off, len - 16);
                }
            } else {
                copy_run(dp, off, len, (size_t)(dp - dst));
            }
            dp += len;
            ctrl >>= 1;
        }
    }
    *spp = sp;
    *dpp = dp;
    return CD_OK;
}

cd_code cd_pglz_decompress(const uint8_t *src, size_t srclen, uint8_t *dst, size_t rawlen,
                           cd_err *err)
{
    if ((src == NULL && srclen > 0) || (dst == NULL && rawlen > 0))
        return cd_fail(err, CD_EINVAL, "pglz decoder called with a null buffer");
    pglz_pos none = {0, 0};
    if (rawlen == 0)
        return srclen == 0 ? CD_OK
                           : fail_at(err, "pglz stream has trailing input", none, srclen, 0);
    if (srclen == 0)
        return fail_at(err, "pglz stream ends before the output is complete", none, 0, rawlen);

    pglz_run r = {src, src, src + srclen, dst, dst, dst + rawlen, err};
    if (srclen > PGLZ_GROUP_IN + 8) {
        /* A bad offset: decode again from the start on the checked path, for the message. */
        const uint8_t *sp = src;
        uint8_t *dp = dst;
        if (fast_groups(&sp, &dp, &r) == CD_OK) {
            r.sp = sp;
            r.dp = dp;
        }
    }
    while (r.dp < r.dend) {
        if (r.sp == r.send)
            return run_fail(&r, "pglz stream ends before the output is complete");
        unsigned ctrl = *r.sp++;
        cd_code rc = do_group(&r, ctrl);
        if (rc != CD_OK)
            return rc;
    }
    if (r.sp != r.send)
        return run_fail(&r, "pglz stream has trailing input");
    return CD_OK;
}

cd_code cd_pglz_decompress_prefix(const uint8_t *src, size_t srclen, uint8_t *dst, size_t want,
                                  cd_err *err)
{
    size_t sp = 0, dp = 0;
    while (dp < want) {
        if (sp >= srclen)
            return cd_fail(err, CD_ECORRUPT, "pglz stream truncated before %zu bytes", want);
        unsigned ctrl = src[sp++];
        for (int bit = 0; bit < 8 && dp < want; bit++, ctrl >>= 1) {
            if (sp >= srclen)
                return cd_fail(err, CD_ECORRUPT, "pglz stream truncated before %zu bytes", want);
            if (!(ctrl & 1)) {
                dst[dp++] = src[sp++];
                continue;
            }
            if (sp + 2 > srclen || ((src[sp] & 0x0F) == 0x0F && sp + 3 > srclen))
                return cd_fail(err, CD_ECORRUPT, "pglz stream truncated inside a tag");
            size_t len = (size_t)(src[sp] & 0x0F) + 3;
            size_t off = ((size_t)(src[sp] & 0xF0) << 4) | src[sp + 1];
            sp += 2;
            if (len == PGLZ_MAX_LEN_SHORT)
                len += src[sp++];
            if (off == 0 || off > dp)
                return cd_fail(err, CD_ECORRUPT, "pglz stream offset out of range");
            for (size_t k = 0; k < len && dp < want; k++, dp++)
                dst[dp] = dst[dp - off];
        }
    }
    return CD_OK;
}
