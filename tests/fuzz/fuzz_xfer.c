/*
 * fuzz_xfer.c: libFuzzer target for the framed streams of model_store = copy (common/xfer.c):
 * what `cerebro-train train --stdio` reads from cerebro-sched, over ssh for remote hosts.
 *
 * Input: a request stream (magic, frames, end). Each whole frame in it gets the CRC of what it
 * is, walking the frames as the reader would, so that mutations reach the lengths, tags and
 * order behind them (inputs whose frames are cut keep their bytes). The stream is read through
 * fmemopen as the request: "MODL" then "CKPT".
 * Checks: cd_xfer_read returns CD_OK or CD_ECORRUPT only and leaves no payload behind when it
 * fails; an accepted stream is written again by cd_xfer_write byte for byte, with the byte
 * count both report equal to its size, and each payload is NUL-terminated.
 * Seeds: tests/fuzz/seeds/fuzz_xfer/, requests of that layout with their CRC fields zero (the
 * target fills them in): a model file and a checkpoint of tests/fuzz/seeds, empty payloads.
 * Does not: test pipes or ssh (tests/92-sched.bats does).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "fuzz_util.h"
#include "xfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* CRC of every whole frame of stream buf[len] made to match it. */
static void fix_frames(uint8_t *buf, size_t len)
{
    size_t at = 8;
    while (at + 12 <= len) {
        uint64_t n;
        memcpy(&n, buf + at + 4, 8);
        if (n > len - at - 12 || len - at - 12 - n < 4)
            return;
        uint32_t crc = cd_crc32c(buf + at, 12 + (size_t)n);
        memcpy(buf + at + 12 + n, &crc, 4);
        at += 12 + (size_t)n + 4;
    }
}

static void check_rewrite(const cd_xfer_part *parts, int n, const uint8_t *stream, size_t len)
{
    char *out = NULL;
    size_t olen = 0;
    uint64_t bytes = 0;
    cd_err err;
    FILE *f = open_memstream(&out, &olen);
    if (f == NULL)
        return;
    if (cd_xfer_write(f, CD_XFER_REQUEST, parts, n, "rewrite", &bytes, &err) != CD_OK)
        abort();
    fclose(f);
    if (olen != len || bytes != len || memcmp(out, stream, len) != 0)
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = fuzz_copy(data, size);
    if (buf == NULL)
        return 0;
    fix_frames(buf, size);
    FILE *f = size ? fmemopen(buf, size, "r") : fopen("/dev/null", "r");
    if (f == NULL) {
        free(buf);
        return 0;
    }
    cd_xfer_part parts[2] = {{.tag = "MODL"}, {.tag = "CKPT"}};
    uint64_t bytes = 0;
    cd_err err;
    cd_code rc = cd_xfer_read(f, CD_XFER_REQUEST, parts, 2, "fuzz", &bytes, &err);
    fclose(f);
    if (rc == CD_OK) {
        for (int i = 0; i < 2; i++)
            if (parts[i].data == NULL || parts[i].data[parts[i].len] != '\0')
                abort();
        if (bytes != size)
            abort();
        check_rewrite(parts, 2, buf, size);
    } else if (rc != CD_ECORRUPT || parts[0].data != NULL || parts[1].data != NULL ||
               bytes > size) {
        abort();
    }
    cd_xfer_free(parts, 2);
    free(buf);
    return 0;
}
