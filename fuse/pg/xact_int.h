/*
 * xact_int.h: the insides of a cd_xact, shared by slru.c (the commit-log, subtransaction and
 * multixact reader: files, page cache, lookups) and xact.c (snapshots and the visibility
 * rules on top of the lookups). Not for other users: they have xact.h.
 */
#ifndef CD_XACT_INT_H
#define CD_XACT_INT_H

#include <pthread.h>
#include <stdint.h>

#include "xact.h"

#define XACT_CACHE_PAGES 64
#define XACT_MAX_FILES 128
#define XACT_MAX_DATADIR 3800
#define MULTI_MAX_MEMBERS (1u << 24) /* sanity bound for one multixact's member count */

#define HINT_CHECKPOINT "run CHECKPOINT, reopen the commit-log reader and retry"
#define HINT_REFRESH "if the file was removed by the server, refresh the snapshot"

enum slru_kind { SLRU_XACT, SLRU_SUBTRANS, SLRU_MXOFF, SLRU_MXMEM, SLRU_NKINDS };

static const char *const slru_dir[SLRU_NKINDS] = {"pg_xact", "pg_subtrans", "pg_multixact/offsets",
                                                  "pg_multixact/members"};

typedef struct cache_slot {
    int kind;        /* enum slru_kind; -1 when empty */
    uint32_t pageno; /* page number within the SLRU (not within the segment) */
    uint64_t used;   /* last-use stamp for LRU eviction */
} cache_slot;

typedef struct seg_file {
    int kind;
    uint32_t segno;
    int fd; /* O_RDONLY, closed by cd_xact_close */
} seg_file;

struct cd_xact {
    cd_xact_config cfg; /* cfg.datadir points to datadir below */
    char *datadir;
    pthread_mutex_t mu;                 /* guards everything below */
    uint64_t clock;                     /* LRU stamp source */
    cache_slot slots[XACT_CACHE_PAGES]; /* page i lives at pool + i * blcksz */
    uint8_t *pool;                      /* [XACT_CACHE_PAGES][blcksz] */
    seg_file files[XACT_MAX_FILES];     /* held segment files */
    int nfiles;
};

/* MultiXactIdPrecedes: modulo-2^32, no special values besides 0 (invalid). */
static inline int multi_precedes(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

#endif
