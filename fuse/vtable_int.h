/*
 * vtable_int.h: the insides of a cd_vtable, shared by vtable.c (index, layout, lifetime)
 * and vfile.c (reading the files). Not for other users: they have vtable.h.
 */
#ifndef CD_VTABLE_INT_H
#define CD_VTABLE_INT_H

#include <pthread.h>

#include "admin.h"
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
    uint64_t rowbytes;     /* fixed: bytes per row */
    uint64_t nnull;        /* NULL rows */
    uint64_t null_elems;   /* NULL array elements */
    uint8_t *valid;        /* [nrows] 1 = not NULL; NULL when the shard has no NULL here */
    uint64_t *offsets;     /* var: [nrows + 1] payload offsets (the .offsets.npy data) */
    uint32_t chunk_rows;   /* rows per decoded chunk */
    size_t data_header;    /* .npy header length of the data file (fixed) */
    size_t valid_header;   /* of .valid.npy */
    size_t offsets_header; /* of .offsets.npy */
} vcol;

typedef struct vshard {
    char dir[256];   /* directory name */
    uint64_t nrows;  /* visible rows */
    uint64_t *ctids; /* [nrows] block << 16 | item, physical order */
    vcol *cols;      /* [table ncols] */
    cd_vfile *files; /* [nfiles]: meta, then each column's files */
    int nfiles;
    char *meta; /* text of meta */
} vshard;

/* Lock order: conn_lock is taken alone (never while the cache mutex is held: fills run
 * outside the cache's lock). */
struct cd_vtable {
    char name[140];
    cd_pin *pin;
    cd_table *t;
    cd_cache *cache;           /* not owned */
    pthread_mutex_t conn_lock; /* guards pin->conn and dead */
    bool dead;                 /* the pinning connection is lost */
    vshard *shards;            /* [t->nshards] */
    char *meta;                /* table meta text */
    cd_vfile meta_file;
    uint64_t rows;
};

void free_vshard(vshard *vs, int ncols);

#endif
