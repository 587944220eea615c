/*
 * catalog.h: a table resolved to shards and files, pinned to one MVCC snapshot (libpq).
 *
 * Pinning, in this order: resolve the name and refuse what cannot be read from heap files
 * (views, foreign, temporary, unlogged, non-heap tables; no SELECT privilege); BEGIN
 * ISOLATION LEVEL REPEATABLE READ; LOCK TABLE ... IN ACCESS SHARE MODE (before any snapshot
 * is taken, so the files resolved next are the ones the snapshot sees); the transaction's
 * snapshot (pg_current_snapshot); CHECKPOINT, so every page and commit-log page the
 * snapshot needs is on disk; cluster geometry from pg_control_init(); attributes, TOAST
 * relation and files of every shard; every relation file opened (TOAST included: it cannot
 * be locked). On a node of a Citus cluster (citus.h) the shards of a distributed table are
 * its local placements s<shardid>, locked one by one instead of the table, and the map of
 * placements is read again in the snapshot. The transaction stays open until cd_pin_close:
 * it holds back VACUUM.
 * Does not: decode pages (shard.h).
 */
#ifndef CD_CATALOG_H
#define CD_CATALOG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "cd_err.h"
#include "citus.h"
#include "relfile.h"
#include "toast.h"
#include "tuple.h"
#include "xact.h"

typedef struct cd_shard {
    char name[64];               /* directory name: part<k> or the partition's name */
    uint32_t reloid;             /* the heap relation (the table or a partition) */
    char relsql[320];            /* its name as regclass prints it, for SQL */
    char relpath[512];           /* pg_relation_filepath */
    uint32_t blk_start, blk_end; /* block range [start, end) */
    bool block_range;            /* one of N block ranges (count with a ctid range) */
    cd_attr *attrs;              /* [natts] physical attributes, dropped included */
    int natts;
    int *colmap; /* [table ncols]: index into attrs of each output column */
    uint32_t toastoid;
    char toastpath[512];
    cd_relfile rel;
    cd_relfile toastrel;
    cd_toast *toast;
    int placement; /* index into cd_table.citus.placements (a Citus shard), else -1 */
} cd_shard;

typedef struct cd_table {
    char qualname[320]; /* schema.table as regclass prints it */
    char schema[64];
    char name[64];
    uint32_t oid;
    char relkind;
    cd_attr *cols; /* [ncols] output columns (supported types, or those asked for) */
    int ncols;
    cd_attr *skipped; /* [nskipped] columns of unsupported types not asked for */
    int nskipped;
    cd_shard *shards;
    int nshards;
    cd_citus_table citus;     /* kind CD_CITUS_NONE unless a Citus node serves a Citus table */
    struct cd_madlib *madlib; /* MADlib-packed buffers served unpacked (madlib.h), or NULL */
} cd_table;

/* What is counted of one shard (cd_shard_counts_send). */
typedef struct cd_shard_rows {
    int64_t rows;      /* counted so far */
    uint32_t asked_to; /* the blocks before it are counted or being counted */
    bool asked;        /* a range of it was asked for */
    bool running;      /* in the query running on conn */
} cd_shard_rows;

/* The row counts of a table's shards, asked of the server a range of blocks at a time. */
typedef struct cd_counts {
    int n;             /* shards */
    cd_shard_rows *sh; /* [n] */
    uint32_t range;    /* blocks of a shard one query counts; UINT32_MAX: the whole shard */
    bool busy;         /* a count query is running on conn */
    cd_err err;        /* code != CD_OK: a count failed, this is why (kept) */
} cd_counts;

typedef struct cd_pin {
    PGconn *conn;
    char datadir[1024];
    char dbname[64];
    uint32_t blcksz;
    uint32_t blocks_per_seg;
    uint32_t toast_chunk;
    bool checksums;
    char snaptext[1024]; /* pg_current_snapshot() as text, possibly truncated for display */
    cd_snapshot snap;
    cd_xact *xact;
    bool citus;            /* the citus extension is installed (citus.h: session settings set) */
    char cut[128];         /* the cluster cut this snapshot belongs to, "" when none */
    uint32_t count_blocks; /* cd_pin_opts.count_blocks */
    cd_counts counts;      /* the row counts of cd_shard_counts_send */
} cd_pin;

typedef struct cd_pin_opts {
    const char *conninfo;  /* libpq conninfo ("" = environment defaults) */
    const char *datadir;   /* override of SHOW data_directory, or NULL */
    int block_shards;      /* > 0: split a plain table into N block ranges */
    const char *columns;   /* comma-separated output columns, or NULL for all supported */
    const char *cut;       /* the cluster cut the pin is part of (refresh --cluster), or NULL */
    bool keep_packed;      /* serve MADlib-packed tables as stored, not unpacked (madlib.h) */
    uint32_t count_blocks; /* blocks a row-count query covers; 0: 1 GiB of them (tests lower it) */
} cd_pin_opts;

cd_code cd_pin_table(const cd_pin_opts *o, const char *table, cd_pin **pin, cd_table **tab,
                     cd_err *err);
void cd_table_free(cd_table **t);
/* Close the relation files of t (after cd_pin_release): names and columns stay. */
void cd_table_close_files(cd_table *t);
void cd_pin_close(cd_pin **p);
/* Release the snapshot (ROLLBACK, disconnect, close the commit-log readers) but keep p's
 * descriptive fields (snaptext, cut, geometry); p->conn is NULL after. No decoding may run
 * on p. cd_pin_close still frees p. */
void cd_pin_release(cd_pin *p);

/*
 * CHECKPOINT again and reopen the commit-log readers with the new checkpoint's state, for a
 * decode that met a multixact newer than the first checkpoint (CD_EUNDECIDED). No decoding
 * may run on p while this runs.
 */
cd_code cd_pin_recheckpoint(cd_pin *p, cd_err *err);

/* count(*) of the shard's rows in the pinned snapshot. */
cd_code cd_shard_count(cd_pin *p, const cd_shard *s, int64_t *n, cd_err *err);
/*
 * count(*) of every shard of t in the pinned snapshot, counted by the server while the
 * caller decodes, count_blocks blocks (a range) of a shard per query. The query sent now
 * counts the first ranges of the shards in order up to one range in all (every shard of a
 * small table). cd_shard_counts_advance asks for a shard's first range when its decoding
 * begins and for its next one once the decoding is past the middle of the last one asked,
 * so the server reads each range of the heap shortly before the decoder does, and a table
 * larger than the page cache is read from disk once, not once for each. Servers before
 * PostgreSQL 14 (no TID range scan: a ctid range would read the whole shard) count every
 * shard whole in the first query. cd_shard_counts_wait asks for the rest of a shard.
 * The calls are not thread-safe: callers serialize them. Until the last cd_shard_counts_wait,
 * only they, cd_pin_recheckpoint and cd_pin_release may use p's connection.
 */
cd_code cd_shard_counts_send(cd_pin *p, const cd_table *t, cd_err *err);
/* The decoding of shard i of t has reached block blk: ask for its next range when due and
 * the running count is done (never waiting for it). Returns the block at which to call
 * again (UINT32_MAX: never). A failure is kept for cd_shard_counts_wait. */
uint32_t cd_shard_counts_advance(cd_pin *p, const cd_table *t, int i, uint32_t blk);
/* *n = count(*) of shard i of t, asking for what is left of it in one query and waiting for
 * it; every call for i gives the same count, or the same error. */
cd_code cd_shard_counts_wait(cd_pin *p, const cd_table *t, int i, int64_t *n, cd_err *err);
/* For the pin (catalog.c): take the running count's result, freeing the connection (a
 * failure is kept in p->counts.err and copied to err); free what is counted. */
cd_code cd_counts_receive(cd_pin *p, cd_err *err);
void cd_counts_free(cd_counts *c);

/* SQL selecting ctid and the output columns of a shard in physical order; caller frees. */
char *cd_shard_select_sql(const cd_table *t, const cd_shard *s);

/* Run one SQL command that returns no rows (or ignore them); errors from the server. */
cd_code cd_pg_exec(PGconn *conn, const char *sql, cd_err *err);

/* The system identifier of the cluster whose data directory is datadir (the first 8 bytes of
 * global/pg_control): 0, or an errno. */
int cd_datadir_system_id(const char *datadir, uint64_t *id);

/* conninfo with its dbname replaced by dbname (parsed, so URIs work too); caller frees.
 * NULL with err set when conninfo does not parse. */
char *cd_conninfo_with_db(const char *conninfo, const char *dbname, cd_err *err);

/* Classify a type (base type oid, element oid, element length) into kind and dtype. */
void cd_attr_classify(cd_attr *a, uint32_t basetype, uint32_t elemoid);
/* Bytes of one decoded element (a scalar's whole row): numeric as float8. */
size_t cd_attr_elem_bytes(const cd_attr *a);

#endif
