/*
 * config.h: the cerebro-ds configuration file (INI, parsed with inih).
 *
 * Keys are declared once in CD_CONFIG_KEYS: the struct, the defaults, the parser, the value
 * checks and --print-config all come from that list. Per-table sections `[table
 * schema.name]` take the keys of CD_CONFIG_TABLE_KEYS. Unknown sections and keys and bad
 * values are errors that name the file and line. Every value is kept as text (checked when
 * set); the helpers below read the checked forms.
 */
#ifndef CD_CONFIG_H
#define CD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cd_err.h"

/* Where cerebro-ds-fuse, cerebro-ds doctor and cerebro-ds refresh look when no file is given
 * (cerebro-ds-fuse@NAME.service uses /etc/cerebro-ds/NAME.conf). */
#define CD_CONFIG_DEFAULT_PATH "/etc/cerebro-ds/cerebro-ds.conf"

/* X(section, key, check, default, description); check names a value check of config.c:
 * any, list, bool, verify, shards, mb (> 0), mb0 (>= 0), threads, level, rolemap, path,
 * command (an ssh_command template: cd_remote_template_ok),
 * seconds (1-3600), count (1-100000). */
#define CD_CONFIG_KEYS(X)                                                                          \
    X(database, conninfo, any, "", "libpq connection string of the database to serve")             \
    X(database, databases, list, "", "more databases of the same server, comma-separated")         \
    X(database, datadir, any, "", "data directory, when SHOW data_directory is not allowed")       \
    X(database, verify, verify, "count", "row check after decoding: count | none")                 \
    X(database, max_connections, count, "32",                                                      \
      "most database connections the daemon holds at once (pins and privilege checks)")            \
    X(mount, mountpoint, path, "/mnt/cerebro-ds", "where cerebro-ds-fuse mounts")                  \
    X(mount, tables, list, "", "tables to serve, comma-separated schema.table")                    \
    X(mount, schemas, list, "", "schemas whose tables are served, comma-separated")                \
    X(mount, shards, shards, "", "default sharding: partitions | segments | blocks:N")             \
    X(mount, cache_mb, mb, "1024", "memory bound of the decoded-data cache, MiB")                  \
    X(mount, cache_dir, any, "", "optional spill directory for the cache")                         \
    X(mount, cache_dir_mb, mb0, "0", "bound of the spill directory, MiB (0: no bound)")            \
    X(mount, allow_other, bool, "false",                                                           \
      "let other users read the mount (database privileges "                                       \
      "still apply)")                                                                              \
    X(mount, role_map, rolemap, "", "OS user to database role map, user:role comma-separated")     \
    X(mount, log_level, level, "info", "error | warning | info | debug")                           \
    X(mount, threads, threads, "16", "most FUSE worker threads")                                   \
    X(mount, preload, bool, "false", "pin and index every table at mount, not at first access")    \
    X(mount, max_snapshots, count, "4",                                                            \
      "most snapshots of one table held at once (current + old)")                                  \
    X(mount, release_grace, seconds, "60",                                                         \
      "how long a replaced snapshot stays readable by open handles, s")                            \
    X(mount, handles_mb, mb, "64", "memory bound of open files, directories and listings, MiB")    \
    X(mount, log_file, any, "",                                                                    \
      "log of the daemon in the background (default under /var/log/cerebro-ds), or syslog")        \
    X(cluster, coordinator, any, "", "Citus coordinator conninfo (default: [database] conninfo)")  \
    X(cluster, ssh_command, command, "ssh -o BatchMode=yes {host} {command}",                      \
      "how refresh --cluster runs cerebro-ds on a worker host")                                    \
    X(cluster, remote_mountpoint, any, "", "the mount point on the worker hosts (default: mine)")  \
    X(cluster, remote_command, any, "",                                                            \
      "cerebro-ds on the worker hosts (default: this one's path)")                                 \
    X(cluster, lock_timeout, seconds, "30", "longest wait for the cut's lock on the coordinator, s")

/* X(key, check, default, description) of a [table schema.name] section. */
#define CD_CONFIG_TABLE_KEYS(X)                                                                    \
    X(shards, shards, "", "sharding of this table: partitions | segments | blocks:N")              \
    X(columns, list, "", "only these columns, comma-separated (default: all supported)")

typedef struct cd_config_table {
    char *name; /* schema.table (a bare name is public.name) */
#define CD_CONFIG_TFIELD(key, check, def, desc) char *key;
    CD_CONFIG_TABLE_KEYS(CD_CONFIG_TFIELD)
#undef CD_CONFIG_TFIELD
} cd_config_table;

typedef struct cd_config {
#define CD_CONFIG_FIELD(section, key, check, def, desc) char *section##_##key;
    CD_CONFIG_KEYS(CD_CONFIG_FIELD)
#undef CD_CONFIG_FIELD
    cd_config_table *tables; /* [ntables] one per [table ...] section, in file order */
    int ntables;
} cd_config;

/* Fill every key with its default. */
cd_code cd_config_init(cd_config *c, cd_err *err);
/* Read path over the current values. A file that belongs to another user than root or
 * this one, or that others may write, is refused (as ssh does): it decides what is served
 * to whom. */
cd_code cd_config_load(cd_config *c, const char *path, cd_err *err);
/* Set one key after checking its value. section: "database", "mount", "table NAME", or NULL
 * for a key of [database] or [mount] named alone. */
cd_code cd_config_set(cd_config *c, const char *section, const char *key, const char *value,
                      cd_err *err);
/* Effective configuration as INI. */
void cd_config_print(FILE *f, const cd_config *c);
void cd_config_free(cd_config *c);

/* The [table NAME] section of a table (name qualified as cd_config_qualify does), or NULL. */
const cd_config_table *cd_config_table_find(const cd_config *c, const char *name);

/* ---- reading checked values ---- */

/* true | yes | on | 1 (case-insensitive). */
bool cd_config_bool(const char *v);
/* Sharding text ("" | partitions | segments | blocks:N) to the N of block ranges (0: none). */
int cd_config_block_shards(const char *v);
/* Unsigned decimal number (0 when not one). */
uint64_t cd_config_uint(const char *v);
/* "t" -> "public.t"; "s.t" unchanged. Returns false when buf is too small. */
bool cd_config_qualify(const char *name, char *buf, size_t size);
/*
 * Next item of a comma-separated list: skips blanks around items and empty items. *p is
 * advanced; returns false at the end. Items longer than size - 1 are cut.
 */
bool cd_config_next_item(const char **p, char *buf, size_t size);

#endif
