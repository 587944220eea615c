/*
 * relfile.h: one relation's main fork, opened at pin time, read block by block.
 *
 * Does: opens every 1 GB segment file (path, path.1, path.2, ...) O_RDONLY and keeps the
 * descriptors, so a later rewrite (VACUUM FULL of a TOAST table) cannot swap the files
 * underneath; reads and validates pages (header, checksum with one re-read on mismatch: a
 * torn read). A short read or a vanished file is CD_EREWRITTEN, never fewer rows.
 * Does not: decode tuples or cache pages. Thread-safe for concurrent cd_relfile_read.
 */
#ifndef CD_RELFILE_H
#define CD_RELFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "cd_err.h"

typedef struct cd_relfile {
    char path[512];          /* relative to the data directory, e.g. base/5/16384 */
    int nseg;                /* segment files opened */
    int *fds;                /* [nseg] */
    uint32_t nblocks;        /* blocks at open time */
    uint32_t blcksz;         /* cluster block size */
    uint32_t blocks_per_seg; /* RELSEG_SIZE */
    bool checksums;          /* cluster has data checksums */
} cd_relfile;

/* Open datadir/relpath and its segments. rf is zeroed first; close it even on error. */
cd_code cd_relfile_open(cd_relfile *rf, const char *datadir, const char *relpath, uint32_t blcksz,
                        uint32_t blocks_per_seg, bool checksums, cd_err *err);

/* Read and validate block blkno (< nblocks) into buf (blcksz bytes). */
cd_code cd_relfile_read(const cd_relfile *rf, uint32_t blkno, uint8_t *buf, cd_err *err);

/* Read up to *n blocks from blkno (< nblocks) into buf (*n * blcksz bytes) with one read,
 * stopping at the end of the relation or of blkno's segment file, and validate each as
 * cd_relfile_read does (a page that fails is read again alone). *n: the blocks read, >= 1
 * on success. An error is the first failing block's, as cd_relfile_read gives it. */
cd_code cd_relfile_read_run(const cd_relfile *rf, uint32_t blkno, uint32_t *n, uint8_t *buf,
                            cd_err *err);
/* Pages this process has read from relation files and validated, over every relation (a
 * page read again after a failed check counts twice). */
uint64_t cd_relfile_pages_read(void);

/* Segment number and byte offset of a block (exposed for tests). */
void cd_relfile_locate(uint32_t blkno, uint32_t blcksz, uint32_t blocks_per_seg, int *segno,
                       uint64_t *offset);

void cd_relfile_close(cd_relfile *rf);

#endif
