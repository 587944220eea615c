/*
 * bgwrite.h: one background thread that writes buffers to files, in the order they were
 * queued, so that a producer fills its next buffer while the last one is being written
 * (the export's column files: decoding and the kernel's copy into the page cache overlap).
 *
 * Does: a FIFO of requests served by one thread; each request is one cd_write_all of a
 * caller-owned buffer to a caller-owned descriptor, then, when asked, the start of the
 * file's writeback (cd_writeback_start); its errno is kept in the request and given back by
 * cd_bgwrite_wait. Requests for one descriptor are written in queue order.
 * Does not: own buffers or descriptors, seek (writes go at each file's current offset),
 * retry, fsync, or cancel a queued request. A caller must not touch a buffer, or write to
 * its descriptor itself, between cd_bgwrite_submit and the cd_bgwrite_wait that returns it.
 * Thread-safe: any number of producers may submit to one cd_bgwrite.
 */
#ifndef CD_BGWRITE_H
#define CD_BGWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "cd_err.h"

typedef struct cd_bgwrite cd_bgwrite;

/* One write handed to the thread. The caller owns it; fields are the thread's between
 * submit and wait. */
typedef struct cd_bgwrite_req {
    int fd;
    const void *buf;
    size_t len;
    bool writeback;              /* then start writing the file's dirty pages to disk */
    bool busy;                   /* submitted and not yet waited for */
    bool done;                   /* written (or failed): err is final */
    int err;                     /* errno of the failed write, 0 when written whole */
    struct cd_bgwrite_req *next; /* queue link */
} cd_bgwrite_req;

/* Start the thread. */
cd_code cd_bgwrite_start(cd_bgwrite **out, cd_err *err);
/* Queue r (fd, buf and len set; r not busy). */
void cd_bgwrite_submit(cd_bgwrite *q, cd_bgwrite_req *r);
/* Wait until r is written; returns 0 or its errno. A request that is not busy returns 0
 * at once. Afterwards r is not busy and its buffer is the caller's again. */
int cd_bgwrite_wait(cd_bgwrite *q, cd_bgwrite_req *r);
/* Stop and join the thread after the requests still queued are written; NULL is a no-op.
 * Every submitted request must have been waited for, or be waited for before this. */
void cd_bgwrite_stop(cd_bgwrite *q);

/* Whether a process doing `busy` threads of its own work has a CPU left for a writer
 * thread (its affinity mask, not the machine, counts). */
bool cd_bgwrite_worthwhile(int busy);

#endif
