/*
 * xfer.h: the framed streams of [scheduler] model_store = copy (DESIGN.md section 5): what
 * cerebro-sched sends `cerebro-train train --stdio` on its stdin, and what the trainer
 * answers on its stdout, through the launcher (for ssh: over the unit's own connection).
 *
 *   stream := magic (8 bytes) frame... end
 *   frame  := tag (4 ASCII bytes), u64 length (little-endian), payload[length],
 *             u32 CRC-32C (common/crc32c.h) of the tag, the length and the payload
 *   end    := a frame with tag "END." and length 0
 *
 *   request CD_XFER_REQUEST: "MODL" the model file's text, "CKPT" the input checkpoint
 *   answer  CD_XFER_ANSWER:  "RSLT" the JSON result line, "CKPT" the output checkpoint
 *
 * A stream holds exactly the frames its reader asks for, in that order, then its end, then
 * nothing. The reader treats it as hostile: each frame's CRC is checked as it arrives, a
 * length is never trusted before its bytes have arrived (a payload grows as it is read), and
 * a cut, flipped or foreign stream is an error that says which frame, what arrived and what
 * was expected ("checksum mismatch", "truncated"), never a crash or a huge allocation. The
 * checkpoints inside carry their own CRC (ckpt.h), which their receivers check as well.
 * Does not: open files or run anything.
 */
#ifndef CD_XFER_H
#define CD_XFER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cd_err.h"

#define CD_XFER_REQUEST "CDXREQ01"
#define CD_XFER_ANSWER "CDXANS01"
/* Bytes of a stream of n frames besides their payloads: magic, each frame's tag, length and
 * CRC, the end frame. */
#define CD_XFER_OVERHEAD(n) (8 + 16 * ((n) + 1))

typedef struct cd_xfer_part {
    char tag[5];   /* "MODL", "CKPT", "RSLT" */
    uint8_t *data; /* [len]; after cd_xfer_read: malloc'd, with a NUL after the last byte */
    size_t len;
} cd_xfer_part;

/* Write the stream magic, parts[n] in order and the end frame to f, and flush it. *bytes
 * (may be NULL): the stream's length. what names f in messages ("the answer on stdout"). */
cd_code cd_xfer_write(FILE *f, const char *magic, const cd_xfer_part *parts, int n,
                      const char *what, uint64_t *bytes, cd_err *err);

/* Read a stream of exactly the frames tagged parts[i].tag (set by the caller), then its end,
 * then end of file, from f into parts[i].data / len. *bytes (may be NULL): the bytes read,
 * also on failure. what names the stream in messages ("the request on stdin"). On a failure
 * nothing stays allocated. CD_ECORRUPT for a foreign, cut or damaged stream. */
cd_code cd_xfer_read(FILE *f, const char *magic, cd_xfer_part *parts, int n, const char *what,
                     uint64_t *bytes, cd_err *err);

/* Free the payloads cd_xfer_read allocated; safe twice. */
void cd_xfer_free(cd_xfer_part *parts, int n);

#endif
