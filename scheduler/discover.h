/*
 * discover.h: the shards of a Citus distributed table and where they are, read from its
 * coordinator (libpq), for a workload's
 *
 *     citus:CONNINFO#SCHEMA.TABLE
 *
 * CONNINFO (a libpq conninfo, ending at the first '#') reaches the coordinator. The shards
 * are the table's rows of pg_dist_shard, by shard id, each named s<shardid> as the mount of
 * a worker host names its directory (DESIGN.md section 3); a shard's placements are its rows
 * of pg_dist_placement with shardstate = 1 on the active primary nodes of pg_dist_node, the
 * host being the node's nodename (what the scheduler's ssh_command reaches). The table's
 * directory in a host's mount is MOUNTPOINT/<current_database()>/<schema>.<table>.
 *
 * Errors (naming the table, with a hint): no connection, no citus extension, a table that is
 * missing or not distributed (a reference or local table), a shard without an active
 * placement. No message shows the password of CONNINFO (cd_dist_mask).
 * Does not: read any mount, or decide which placement trains (cluster.h, workload_check.c).
 */
#ifndef CD_DISCOVER_H
#define CD_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "cd_err.h"

#define CD_DIST_PREFIX "citus:"

typedef struct cd_dist_placement {
    int shard;  /* index into shards */
    char *host; /* pg_dist_node.nodename */
} cd_dist_placement;

typedef struct cd_dist_table {
    char *db;      /* current_database() of the coordinator */
    char *dir;     /* "<schema>.<table>": the table's directory name in a mount */
    char **shards; /* [nshards] "s<shardid>", by shard id */
    int nshards;
    cd_dist_placement *placements; /* [nplacements], by shard, then host */
    int nplacements;
} cd_dist_table;

/* True when spec starts with "citus:". */
bool cd_dist_is_spec(const char *spec);
/* spec with the password of its conninfo replaced by "***", for messages. */
void cd_dist_mask(const char *spec, char *buf, size_t cap);

/* Read the shards and active placements of the table spec names into *t. */
cd_code cd_dist_discover(const char *spec, cd_dist_table *t, cd_err *err);
void cd_dist_table_free(cd_dist_table *t);

#endif
