/*
 * xfer.c: framed streams checked by CRC-32C (see xfer.h): a writer, and a reader that
 * checks each frame as it arrives and never allocates ahead of the bytes it has read.
 */
#include "xfer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"

#define END_TAG "END."
#define HEAD 12 /* tag, u64 length */

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- writing ---- */

static bool write_frame(FILE *f, const char *tag, const void *data, size_t len)
{
    uint8_t head[HEAD], tail[4];
    memcpy(head, tag, 4);
    put_le(head + 4, len, 8);
    put_le(tail, cd_crc32c_update(cd_crc32c(head, HEAD), data, len), 4);
    return fwrite(head, 1, HEAD, f) == HEAD && (len == 0 || fwrite(data, 1, len, f) == len) &&
           fwrite(tail, 1, 4, f) == 4;
}

cd_code cd_xfer_write(FILE *f, const char *magic, const cd_xfer_part *parts, int n,
                      const char *what, uint64_t *bytes, cd_err *err)
{
    uint64_t total = CD_XFER_OVERHEAD(n);
    bool ok = fwrite(magic, 1, 8, f) == 8;
    for (int i = 0; ok && i < n; i++) {
        ok = write_frame(f, parts[i].tag, parts[i].data, parts[i].len);
        total += parts[i].len;
    }
    ok = ok && write_frame(f, END_TAG, NULL, 0) && fflush(f) == 0;
    if (bytes != NULL)
        *bytes = total;
    return ok ? CD_OK : cd_fail(err, CD_EIO, "could not write %s: %s", what, strerror(errno));
}

/* ---- reading ---- */

typedef struct reader {
    FILE *f;
    uint64_t got; /* bytes read so far */
    const char *what;
    cd_err *err;
} reader;

static size_t take(reader *r, void *dst, size_t len)
{
    size_t n = len ? fread(dst, 1, len, r->f) : 0;
    r->got += n;
    return n;
}

/* The first n bytes of p as text, anything else as '?'. */
static void printable(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    out[n] = '\0';
}

/* A read that came short inside `where`, missing `more` bytes: cut, or a read error. */
static cd_code short_read(reader *r, const char *where, uint64_t more)
{
    if (ferror(r->f))
        return cd_fail(r->err, CD_EIO, "could not read %s: %s", r->what, strerror(errno));
    cd_fail(r->err, CD_ECORRUPT, "%s is truncated: it ends after %llu bytes, in %s", r->what,
            (unsigned long long)r->got, where);
    return cd_detail(r->err, "%llu more bytes were expected there", (unsigned long long)more);
}

static cd_code read_magic(reader *r, const char *magic)
{
    uint8_t m[8];
    char text[9];
    size_t n = take(r, m, 8);
    if (n == 0 && !ferror(r->f)) {
        cd_fail(r->err, CD_ECORRUPT, "%s is empty", r->what);
        return cd_hint(r->err, "its writer sent nothing (an ssh_command with ssh -n sends no "
                               "stdin; a trainer that failed answers nothing)");
    }
    if (n < 8)
        return short_read(r, "its magic", 8 - n);
    if (memcmp(m, magic, 8) == 0)
        return CD_OK;
    printable(m, 8, text);
    cd_fail(r->err, CD_ECORRUPT, "%s is not a %s stream: it starts with \"%s\"", r->what, magic,
            text);
    return cd_hint(r->err, "nothing else may write to the trainer's stdin or stdout (a login "
                           "script of the remote shell that prints, an ssh -n)");
}

/* The payload of a frame of len bytes into *out (malloc'd, NUL after it), grown as it is
 * read: a damaged length runs into the end of the stream before it can allocate much. */
static cd_code read_payload(reader *r, const char *where, uint64_t len, uint8_t **out)
{
    uint8_t *buf = NULL;
    size_t cap = 0, have = 0;
    *out = NULL;
    if (len >= SIZE_MAX / 2)
        return cd_fail(r->err, CD_ECORRUPT, "%s is damaged: %s claims %llu bytes", r->what, where,
                       (unsigned long long)len);
    while (have < len || cap == 0) {
        size_t want = len - have < (1u << 20) ? (size_t)(len - have) : (1u << 20);
        if (have + want + 1 > cap) {
            size_t grow = cap * 2 > have + want + 1 ? cap * 2 : have + want + 1;
            cap = grow < len + 1 ? grow : (size_t)len + 1;
            uint8_t *more = realloc(buf, cap);
            if (more == NULL) {
                free(buf);
                return cd_fail(r->err, CD_ENOMEM, "out of memory reading %s", r->what);
            }
            buf = more;
        }
        size_t k = take(r, buf + have, want);
        have += k;
        if (k < want) {
            free(buf);
            return short_read(r, where, len - have);
        }
    }
    buf[have] = '\0';
    *out = buf;
    return CD_OK;
}

/* One frame tagged want into *p (p NULL: the end frame, which has no payload). */
static cd_code read_frame(reader *r, const char *want, cd_xfer_part *p)
{
    uint8_t head[HEAD], tail[4];
    char where[64], tag[5];
    snprintf(where, sizeof where, "frame %s", want);
    size_t n = take(r, head, HEAD);
    if (n < HEAD)
        return short_read(r, where, HEAD - n);
    if (memcmp(head, want, 4) != 0) {
        printable(head, 4, tag);
        return cd_fail(r->err, CD_ECORRUPT, "%s is damaged: frame \"%s\" where %s was expected",
                       r->what, tag, want);
    }
    uint64_t len = get_le(head + 4, 8);
    uint8_t *data = NULL;
    cd_code rc = read_payload(r, where, len, &data);
    if (rc != CD_OK)
        return rc;
    n = take(r, tail, 4);
    uint32_t crc = cd_crc32c_update(cd_crc32c(head, HEAD), data, (size_t)len);
    if (n < 4)
        rc = short_read(r, where, 4 - n);
    else if (get_le(tail, 4) != crc) {
        cd_fail(r->err, CD_ECORRUPT, "checksum mismatch in %s: frame %s of %llu bytes", r->what,
                want, (unsigned long long)len);
        rc = cd_detail(r->err, "CRC-32C %08x computed, %08x sent", (unsigned)crc,
                       (unsigned)get_le(tail, 4));
    } else if (p == NULL && len != 0)
        rc = cd_fail(r->err, CD_ECORRUPT, "%s is damaged: its end frame has %llu bytes", r->what,
                     (unsigned long long)len);
    if (rc != CD_OK || p == NULL) {
        free(data);
        return rc;
    }
    p->data = data;
    p->len = (size_t)len;
    return CD_OK;
}

cd_code cd_xfer_read(FILE *f, const char *magic, cd_xfer_part *parts, int n, const char *what,
                     uint64_t *bytes, cd_err *err)
{
    reader r = {f, 0, what, err};
    for (int i = 0; i < n; i++) {
        parts[i].data = NULL;
        parts[i].len = 0;
    }
    cd_code rc = read_magic(&r, magic);
    for (int i = 0; rc == CD_OK && i < n; i++)
        rc = read_frame(&r, parts[i].tag, &parts[i]);
    if (rc == CD_OK)
        rc = read_frame(&r, END_TAG, NULL);
    if (rc == CD_OK && fgetc(f) != EOF)
        rc = cd_fail(err, CD_ECORRUPT, "%s is damaged: bytes follow its end frame", what);
    if (bytes != NULL)
        *bytes = r.got;
    if (rc != CD_OK)
        cd_xfer_free(parts, n);
    return rc;
}

void cd_xfer_free(cd_xfer_part *parts, int n)
{
    for (int i = 0; i < n; i++) {
        free(parts[i].data);
        parts[i].data = NULL;
        parts[i].len = 0;
    }
}
