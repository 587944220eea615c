/*
 * data_pg.h: shards read through the query engine (libpq), the paper's in-DBMS data path:
 *
 *     pg:CONNINFO#SCHEMA.TABLE[#SHARD]
 *
 * CONNINFO is a libpq conninfo (key=value words or a postgresql:// URI; empty: the
 * environment's defaults) and ends at the first '#' (a password with '#' goes in ~/.pgpass,
 * PGPASSWORD or a service file). SHARD is the name the mount and `cerebro-ds export` give the
 * shard directory: part0 for a plain (or materialized) table, the partition's name for a
 * leaf partition of a partitioned table. Without #SHARD a plain table is its shard part0; a
 * partitioned table needs #SHARD (the error lists the partitions). The block-range shards
 * part1.. of `cerebro-ds export --shards N` are refused (no N in the name).
 *
 * Does: per unit, one connection and one REPEATABLE READ, READ ONLY transaction per distinct
 * CONNINFO (so every shard of a unit on one database is read in one snapshot); per shard,
 * COPY (SELECT feature, label FROM ONLY <relation> ORDER BY ctid) TO STDOUT (FORMAT binary)
 * from the heap relation itself (the partition, never its parent), so rows come in the
 * physical order (block, line pointer) the mount serves; the stream is parsed with
 * fuse/pg/pgcopy.h and every value converted as the exporter converts it (fuse/pg/value.h), into
 * the dtype the mount's <column>.npy would have (int2/4/8 <i2 <i4 <i8, float4/8 <f4 <f8,
 * numeric <f8, bool |b1, arrays of those with the same dimensions in every row: element
 * dtype, shape (N, d1, ..., dk)). The same shard therefore gives the same batches as its
 * mount or export directory (trainer/data.c converts and checks both alike).
 * Memory: the two columns of a shard are materialised in RAM (malloc'd, in the dtype above,
 * so bounded by the shard's size in that dtype: 784 float4 pixels are 3136 bytes a row; while
 * a column grows, up to twice that), as a cd_npy with fd -1 and map_len 0, for the whole unit
 * (a unit over several pg: shards holds them all); free them with cd_pg_column_free.
 * Errors (clear message naming table, shard and column, and a hint): connection failure,
 * missing table or column, unsupported type, no SELECT privilege, a NULL, arrays of
 * different shapes. No message shows the password of CONNINFO (cd_pg_mask).
 * Does not: convert to float32, shuffle or check labels (data.c), read block ranges, or use
 * the heap files (that is the mount).
 */
#ifndef CD_DATA_PG_H
#define CD_DATA_PG_H

#include <stdbool.h>
#include <stddef.h>

#include "cd_err.h"
#include "npy.h"

#define CD_PG_PREFIX "pg:"

/* True when spec is a pg: data spec (starts with "pg:"). */
bool cd_pg_is_spec(const char *spec);
/* True when the pg: spec names a shard (#SHARD after the table). */
bool cd_pg_spec_has_shard(const char *spec);

/* spec with the password of its conninfo replaced by "***" (key=value and URI forms), for
 * messages; truncated to cap. */
void cd_pg_mask(const char *spec, char *buf, size_t cap);

/* Connections of one unit: one per distinct CONNINFO, each in one open transaction. */
typedef struct cd_pg_session cd_pg_session;

cd_code cd_pg_session_new(cd_pg_session **out, cd_err *err);
/* Seconds spent connecting to, querying and reading from the database so far. */
double cd_pg_session_seconds(const cd_pg_session *s);
/* End the transactions, close the connections, free; NULL-safe, sets *s to NULL. */
void cd_pg_session_close(cd_pg_session **s);

/* Where a shard read lands: its name (the shuffle's identity, as the mount names the
 * directory), the masked spec for messages, and the two columns. */
typedef struct cd_pg_dest {
    char *name;
    size_t name_cap;
    char *display;
    size_t display_cap;
    cd_npy *x, *y; /* feature, label; on error both are left empty (fd -1, data NULL) */
} cd_pg_dest;

/* Read the feature and label columns of the shard spec names. */
cd_code cd_pg_read_shard(cd_pg_session *s, const char *spec, const char *feature, const char *label,
                         const cd_pg_dest *dest, cd_err *err);

/* Free a column filled by cd_pg_read_shard; safe on an empty one. */
void cd_pg_column_free(cd_npy *n);

/* Shard names of pg:CONNINFO#SCHEMA.TABLE: part0 for a plain table, the leaf partitions (as
 * directory names, sorted by name) of a partitioned one; with #SHARD that shard alone, once
 * it is found. *names is a malloc'd array of *n malloc'd strings. */
cd_code cd_pg_list_shards(const char *spec, char ***names, int *n, cd_err *err);

#endif
