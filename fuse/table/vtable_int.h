/*
 * vtable_int.h: the insides of a cd_vtable, shared by vtable.c (index, layout, lifetime)
 * and vfile.c (reading the files). Not for other users: they have vtable.h.
 */
#ifndef CD_VTABLE_INT_H
#define CD_VTABLE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "ctidx.h"
#include "shard.h"
#include "vtable.h"

#define CD_VT_CHUNK_BYTES (1u << 20) /* target bytes of a decoded chunk */
#define CD_VT_HEADER_MAX 512         /* an .npy header of up to 7 dimensions fits */

/* One output column of one shard, as the row index describes it. */
typedef struct vcol {
    char fname[256]; /* file name stem */
    bool var;        /* .bin + .offsets.npy (text, bytea, ragged arrays) */
    bool ragged;     /* an array column whose rows differ in dimensions */
    bool dims_known; /* fixed: rowbytes and dims are set */
    int ndim;        /* arrays: dimensions of every row */
    int dims[PGD_MAXDIM];
    uint64_t rowbytes;   /* fixed: bytes per row */
    uint64_t nnull;      /* NULL rows */
    uint64_t null_elems; /* NULL array elements */
    uint8_t *valid;      /* [nrows] 1 = not NULL; NULL when the shard has no NULL here */
    uint64_t *offsets;   /* var: [nrows + 1] payload offsets (the .offsets.npy data) */
    uint32_t chunk_rows; /* rows per decoded chunk */
    char dtype[8];       /* the .npy's dtype when not the column's (a MADlib-packed column's,
                            from its buffers), else "" */
    uint64_t data_id;    /* id of its data file (<col>.npy), taken before the index pass */
    bool early;          /* chunks of it were cached or queued during the index pass */
} vcol;

/* Rows of a decoded chunk for rows of per_row bytes (the same for the layout and the chunks
 * decoded during the index pass). */
uint32_t vt_chunk_rows(uint64_t per_row);

typedef struct vshard {
    char dir[256];       /* directory name */
    uint64_t nrows;      /* rows served */
    uint64_t ntuples;    /* visible tuples: nrows, except in a MADlib-packed table (madlib.h) */
    uint64_t content;    /* content version of the visible rows (cd_shard_scan) */
    cd_ctidx ctids;      /* [ntuples] block and item, physical order (ctidx.h) */
    uint64_t *first_row; /* packed tables: [ntuples + 1] the first row of each tuple's buffer
                            (row r is in tuple t when first_row[t] <= r < first_row[t + 1]);
                            NULL otherwise (row r is tuple r) */
    vcol *cols;          /* [table ncols] */
    int32_t *fixoff;     /* [shard natts] cd_tuple_fixed_offsets of the shard's attributes */
    cd_vfile *files;     /* [nfiles]: meta, then each column's files */
    int nfiles;
    char *meta;  /* text of meta */
    bool failed; /* could not be indexed: no files, err says why */
    cd_err err;
} vshard;

/* The bytes a NULL row of column a has in its .npy: NaN for floats, else zeros. */
void vt_fill_null_row(const cd_attr *a, uint8_t *dst, uint64_t bytes);

/* Read-ahead of data chunks: CD_VT_PREFETCH_THREADS threads per vtable decode the chunks that
 * follow the ones being read, so decoding overlaps with serving. Jobs are hints: errors are dropped
 * (the read that needs the chunk decodes it again and reports them). */
#define CD_VT_PREFETCH_DEPTH 4 /* chunks ahead of the one being read */
#define CD_VT_PREFETCH_QUEUE 16

typedef struct vprefetch_job {
    const cd_vfile *f;
    uint64_t chunk;
} vprefetch_job;

#define CD_VT_PREFETCH_THREADS 2

/* A chunk of a fixed-width column decoded while the index pass goes on (the reads that come
 * after it then find it in the cache): what the index knows of its rows, copied, since the
 * index grows meanwhile. The layout gives the column's data file the id `file` and the
 * same chunk rows (vt_chunk_rows), so the chunk is that file's chunk `chunk`. */
typedef struct vt_early {
    struct vt_early *next;
    int shard, col;
    uint64_t file, chunk; /* cache key */
    vshard vs;            /* ctids of the chunk's rows (as rows 0..n-1) and fixoff; no files */
    vcol c;               /* rowbytes, dims and valid of those rows */
} vt_early;
void vt_early_free(vt_early *e);

/* How much of a table the index pass hands over: all of its fixed-width chunks when their
 * bytes, estimated from the rows a block holds so far, fit in half the cache's bound (so
 * none is evicted before it is read), else none. */
typedef struct vt_early_plan {
    uint64_t limit;       /* half the cache's bound */
    uint64_t budget;      /* bytes the chunks may still take */
    uint64_t blocks;      /* blocks of all the table's shards */
    uint64_t blocks_done; /* of the shards indexed before this one */
    uint64_t rows_done;   /* their rows */
    bool off;             /* the estimate went over the limit */
} vt_early_plan;

typedef struct vprefetch {
    pthread_t threads[CD_VT_PREFETCH_THREADS];
    bool inited; /* lock and condition initialised */
    int started; /* threads running */
    bool stop;
    pthread_mutex_t lock; /* guards the queue and stop; a leaf lock */
    pthread_cond_t wake;
    vprefetch_job queue[CD_VT_PREFETCH_QUEUE];
    int head, count;
    vt_early *early_head, *early_tail; /* after the queue's jobs, in order */
    uint64_t last_file, last_chunk;    /* newest job queued */
} vprefetch;

void cd_vt_prefetch_start(cd_vtable *v);
void cd_vt_prefetch_stop(cd_vtable *v);

/* vtable.c: a new vtable (nothing pinned yet), then pin and index a table into it
 * (cd_vtable_open without the prefetch threads), and free it; vfile.c's cd_vtable_open and
 * cd_vtable_close wrap them, so vtable.c never calls up: it hands chunks it can decode
 * during the index pass to v->early (when set), which owns them from then on, and puts its
 * scalar columns' chunks into the cache itself. */
cd_code cd_vt_new(cd_vtable **out, const cd_vtable_opts *o, cd_err *err);
cd_code cd_vt_index(cd_vtable *v, const cd_vtable_opts *o, const char *table, cd_err *err);
void cd_vt_close_index(cd_vtable **v);
/* cd_vtable_release without the prefetch threads (stopped by the caller). */
void cd_vt_release_index(cd_vtable *v);
/* CD_EIO with the message and hint of a released snapshot. */
cd_code cd_vt_released_error(const cd_vtable *v, cd_err *err);

/* Lock order: conn_lock is taken alone (never while the cache mutex is held: fills run
 * outside the cache's lock). */
struct cd_vtable {
    char name[140];
    cd_pin *pin;
    cd_table *t;
    cd_cache *cache;           /* not owned */
    pthread_mutex_t conn_lock; /* guards pin->conn and dead */
    bool dead;                 /* the pinning connection is lost */
    pthread_rwlock_t life;     /* decoding holds it shared, cd_vtable_release exclusive */
    atomic_bool released;      /* cd_vtable_release ran: every read fails */
    vshard *shards;            /* [t->nshards] */
    char *meta;                /* table meta text */
    cd_vfile meta_file;
    uint64_t rows;
    int failed; /* shards that could not be indexed */
    vprefetch prefetch;
    void (*early)(cd_vtable *v, vt_early *e); /* takes chunks to decode during the index */
    vt_early_plan plan;
    atomic_bool indexed; /* the index pass is over: the pinning connection is free again */
};

void free_vshard(vshard *vs, int ncols);
/* The .npy header of a file of shard vs (kind: data, valid or offsets of column k) into buf;
 * returns its length. */
size_t vt_npy_header(const cd_table *t, const vshard *vs, int k, cd_vfile_kind kind, char *buf,
                     size_t cap);

#endif
