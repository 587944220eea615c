/*
 * fuzz_pglz.c: libFuzzer target for the pglz decoder (fuse/pg/pglz.c).
 *
 * Input: two bytes (little-endian) choose the raw size (0..65535), the rest is the stream.
 * The output buffer is heap-allocated with exactly that size, so ASan flags any overrun.
 * Checks: the decoder returns CD_OK or CD_ECORRUPT only; a successful decode must equal
 * the byte-at-a-time decode of cd_pglz_decompress_prefix (the reference of the fast path's
 * wide copies and register-built runs). Seeds: tests/fuzz/seeds/fuzz_pglz/ (real streams
 * from PostgreSQL 15 behind their 2-byte raw size, written by make-fixtures.sh).
 * Does not: test lz4 or varlena parsing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pglz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t rawlen = (size_t)data[0] | (size_t)data[1] << 8;
    const uint8_t *src = data + 2;
    size_t srclen = size - 2;
    uint8_t *dst = malloc(rawlen ? rawlen : 1);
    if (dst == NULL)
        return 0;
    cd_err err;
    cd_code rc = cd_pglz_decompress(src, srclen, dst, rawlen, &err);
    if (rc != CD_OK && rc != CD_ECORRUPT)
        abort();
    if (rc == CD_OK && rawlen > 0) {
        /* the byte-at-a-time prefix decoder is the reference of the wide copies */
        uint8_t *again = malloc(rawlen);
        if (again != NULL) {
            if (cd_pglz_decompress_prefix(src, srclen, again, rawlen, &err) != CD_OK ||
                memcmp(dst, again, rawlen) != 0)
                abort();
            free(again);
        }
    }
    free(dst);
    return 0;
}
