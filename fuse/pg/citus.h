/*
 * citus.h: a table of a Citus cluster, seen from one node (libpq): which of its shards have
 * a placement on this node, and the whole map of shards and placements.
 *
 * Citus keeps a distributed table's rows in shards, ordinary heap tables <table>_<shardid>
 * on the worker nodes; every node with metadata (workers since Citus 11, and the
 * coordinator) knows the map in pg_dist_partition, pg_dist_shard, pg_dist_placement and
 * pg_dist_node. On such a node the session needs two settings, which cd_citus_session sets:
 *   citus.override_table_visibility = off   else Citus hides shard relations from pg_class
 *                                           queries, and their files cannot be located;
 *   citus.enable_manual_changes_to_shards = on
 *                                           else LOCK TABLE on a shard is refused. The
 *                                           session only ever takes ACCESS SHARE locks and
 *                                           reads; it never changes a shard.
 * A distributed table is served as its local placements, one shard s<shardid> each; a
 * reference table (a placement of its one shard on every node) as a plain table whose heap
 * is the local placement. Citus-local tables and tables Citus does not know are plain.
 * Does not: pin snapshots (catalog.h does, calling this before and after its snapshot).
 */
#ifndef CD_CITUS_H
#define CD_CITUS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "cd_err.h"

typedef enum cd_citus_kind {
    CD_CITUS_NONE = 0,    /* not a Citus table (or no citus extension): plain PostgreSQL */
    CD_CITUS_DISTRIBUTED, /* hash / range / append distributed: shards s<shardid> */
    CD_CITUS_REFERENCE,   /* replicated to every node: the local placement, as a plain table */
} cd_citus_kind;

/* One placement of one shard. */
typedef struct cd_citus_placement {
    int64_t shardid;
    char range[96];    /* "min..max" of the shard (hash values), "" when none */
    char host[128];    /* pg_dist_node nodename */
    int port;          /* nodeport */
    bool local;        /* on this node */
    char relname[200]; /* the shard relation as shard_name() prints it */
} cd_citus_placement;

typedef struct cd_citus_table {
    cd_citus_kind kind;
    char method;                    /* pg_dist_partition.partmethod: h, r, a, n */
    char column[64];                /* distribution column, "" for reference tables */
    cd_citus_placement *placements; /* [n] ordered by shard id, then host and port */
    int n;
} cd_citus_table;

/* Is the citus extension installed in this database? If so, set the session settings
 * above. *present tells which. */
cd_code cd_citus_session(PGconn *conn, bool *present, cd_err *err);

/* The table's Citus kind and map (kind NONE, n 0 for a table Citus does not know). */
cd_code cd_citus_lookup(PGconn *conn, uint32_t reloid, const char *qualname, cd_citus_table *ct,
                        cd_err *err);

/* Read the map again (in the pinned snapshot) and fail when the local placements differ
 * from ct's: a shard moved while the table was being pinned. */
cd_code cd_citus_recheck(PGconn *conn, uint32_t reloid, const char *qualname,
                         const cd_citus_table *ct, cd_err *err);

void cd_citus_table_free(cd_citus_table *ct);

#endif
