/*
 * relfile.c: segment files of a relation and validated block reads (see relfile.h).
 */
#include "relfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "page.h"

void cd_relfile_locate(uint32_t blkno, uint32_t blcksz, uint32_t blocks_per_seg, int *segno,
                       uint64_t *offset)
{
    *segno = (int)(blkno / blocks_per_seg);
    *offset = (uint64_t)(blkno % blocks_per_seg) * blcksz;
}

static void seg_name(char *buf, size_t size, const char *base, int segno)
{
    if (segno == 0)
        snprintf(buf, size, "%s", base);
    else
        snprintf(buf, size, "%s.%d", base, segno);
}

static cd_code add_segment(cd_relfile *rf, int fd, cd_err *err)
{
    int *fds = realloc(rf->fds, (size_t)(rf->nseg + 1) * sizeof *fds);
    if (fds == NULL) {
        close(fd);
        return cd_fail(err, CD_ENOMEM, "out of memory opening relation %s", rf->path);
    }
    rf->fds = fds;
    rf->fds[rf->nseg++] = fd;
    return CD_OK;
}

/* Size check of segment segno: all but the last hold exactly blocks_per_seg blocks. */
static cd_code segment_blocks(cd_relfile *rf, int fd, const char *name, uint32_t *blocks,
                              cd_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return cd_fail(err, CD_EIO, "could not stat file \"%s\": %s", name, strerror(errno));
    if (st.st_size % rf->blcksz != 0) {
        cd_fail(err, CD_ECORRUPT, "file \"%s\" is not a whole number of blocks", name);
        return cd_detail(err, "size %lld, block size %u", (long long)st.st_size, rf->blcksz);
    }
    uint64_t n = (uint64_t)st.st_size / rf->blcksz;
    if (n > rf->blocks_per_seg) {
        cd_fail(err, CD_ECORRUPT, "file \"%s\" is larger than a segment", name);
        return cd_detail(err, "%llu blocks, a segment holds %u", (unsigned long long)n,
                         rf->blocks_per_seg);
    }
    *blocks = (uint32_t)n;
    return CD_OK;
}

cd_code cd_relfile_open(cd_relfile *rf, const char *datadir, const char *relpath, uint32_t blcksz,
                        uint32_t blocks_per_seg, bool checksums, cd_err *err)
{
    memset(rf, 0, sizeof *rf);
    snprintf(rf->path, sizeof rf->path, "%s", relpath);
    rf->blcksz = blcksz;
    rf->blocks_per_seg = blocks_per_seg;
    rf->checksums = checksums;
    if (blcksz == 0 || blcksz % 1024 != 0 || blocks_per_seg == 0)
        return cd_fail(err, CD_EINVAL,
                       "invalid relation geometry: block size %u, %u blocks per segment", blcksz,
                       blocks_per_seg);
    char base[1024], name[1100];
    snprintf(base, sizeof base, "%s/%s", datadir, relpath);
    for (int segno = 0;; segno++) {
        seg_name(name, sizeof name, base, segno);
        int fd = open(name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT && segno > 0)
                break;
            cd_fail(err, errno == ENOENT ? CD_EREWRITTEN : CD_EIO, "could not open file \"%s\": %s",
                    name, strerror(errno));
            return cd_hint(err, errno == ENOENT ? "the relation was rewritten; take a new snapshot"
                                                : "check that the data directory is readable");
        }
        cd_code rc = add_segment(rf, fd, err);
        uint32_t blocks = 0;
        if (rc == CD_OK)
            rc = segment_blocks(rf, fd, name, &blocks, err);
        if (rc != CD_OK)
            return rc;
        rf->nblocks += blocks;
        if (blocks < blocks_per_seg)
            break;
    }
    return CD_OK;
}

static atomic_uint_fast64_t pages_read; /* cd_relfile_pages_read */

uint64_t cd_relfile_pages_read(void)
{
    return atomic_load(&pages_read);
}

/* cd_page_validate of a page just read from the file, counted */
static cd_code validate(const cd_relfile *rf, const uint8_t *page, uint32_t blkno, cd_err *err)
{
    atomic_fetch_add_explicit(&pages_read, 1, memory_order_relaxed);
    return cd_page_validate(page, rf->blcksz, blkno, rf->checksums, err);
}

static cd_code read_raw(const cd_relfile *rf, uint32_t blkno, uint8_t *buf, cd_err *err)
{
    int segno;
    uint64_t off;
    cd_relfile_locate(blkno, rf->blcksz, rf->blocks_per_seg, &segno, &off);
    if (segno >= rf->nseg) {
        cd_fail(err, CD_EREWRITTEN, "block %u of relation file \"%s\" is beyond its end", blkno,
                rf->path);
        return cd_hint(err, "the relation was rewritten or truncated; take a new snapshot");
    }
    ssize_t done = cd_pread_full(rf->fds[segno], buf, rf->blcksz, (off_t)off);
    if (done < 0)
        return cd_fail(err, CD_EIO, "could not read block %u of relation file \"%s\": %s", blkno,
                       rf->path, strerror(errno));
    if ((size_t)done < rf->blcksz) {
        cd_fail(err, CD_EREWRITTEN, "short read of block %u of relation file \"%s\"", blkno,
                rf->path);
        cd_detail(err, "read %zd of %u bytes", done, rf->blcksz);
        return cd_hint(err, "the relation was rewritten (VACUUM FULL, CLUSTER or TRUNCATE) "
                            "since the snapshot was pinned; take a new snapshot");
    }
    return CD_OK;
}

cd_code cd_relfile_read(const cd_relfile *rf, uint32_t blkno, uint8_t *buf, cd_err *err)
{
    cd_code rc = CD_OK;
    if (blkno >= rf->nblocks)
        return cd_fail(err, CD_EINVAL, "block %u is beyond the %u blocks of relation file \"%s\"",
                       blkno, rf->nblocks, rf->path);
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = read_raw(rf, blkno, buf, err);
        if (rc != CD_OK)
            return rc;
        rc = validate(rf, buf, blkno, err);
        if (rc == CD_OK)
            return CD_OK;
    }
    int segno;
    uint64_t off;
    cd_relfile_locate(blkno, rf->blcksz, rf->blocks_per_seg, &segno, &off);
    if (segno == 0)
        return cd_context(err, "file \"%s\", block %u", rf->path, blkno);
    return cd_context(err, "file \"%s.%d\", block %u (block %u of the relation)", rf->path, segno,
                      (uint32_t)(off / rf->blcksz), blkno);
}

cd_code cd_relfile_read_run(const cd_relfile *rf, uint32_t blkno, uint32_t *n, uint8_t *buf,
                            cd_err *err)
{
    if (blkno >= rf->nblocks || *n == 0)
        return cd_relfile_read(rf, blkno, buf, err); /* its error for a block past the end */
    uint32_t want = *n, in_seg = rf->blocks_per_seg - blkno % rf->blocks_per_seg;
    want = want < rf->nblocks - blkno ? want : rf->nblocks - blkno;
    want = want < in_seg ? want : in_seg;
    int segno;
    uint64_t off;
    cd_relfile_locate(blkno, rf->blcksz, rf->blocks_per_seg, &segno, &off);
    ssize_t got = segno < rf->nseg
                      ? cd_pread_full(rf->fds[segno], buf, (size_t)want * rf->blcksz, (off_t)off)
                      : -1;
    uint32_t whole = got > 0 ? (uint32_t)((size_t)got / rf->blcksz) : 0;
    if (whole == 0) { /* the first block alone, for its own error */
        *n = 1;
        return cd_relfile_read(rf, blkno, buf, err);
    }
    *n = whole;
    for (uint32_t i = 0; i < whole; i++) {
        uint8_t *page = buf + (size_t)i * rf->blcksz;
        if (validate(rf, page, blkno + i, err) == CD_OK)
            continue;
        cd_code rc = cd_relfile_read(rf, blkno + i, page, err); /* again, alone */
        if (rc != CD_OK)
            return rc;
    }
    return CD_OK;
}

void cd_relfile_close(cd_relfile *rf)
{
    for (int i = rf->nseg - 1; i >= 0; i--)
        close(rf->fds[i]);
    free(rf->fds);
    rf->fds = NULL;
    rf->nseg = 0;
    rf->nblocks = 0;
}
