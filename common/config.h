/*
 * config.h: the cerebro-ds configuration file (INI, parsed with inih).
 *
 * Keys are declared once in CD_CONFIG_KEYS: the struct, the defaults, the parser and
 * --print-config all come from that list. Unknown sections and keys are errors that name
 * the file and line. Every value is kept as text; its consumer validates it.
 */
#ifndef CD_CONFIG_H
#define CD_CONFIG_H

#include <stdio.h>

#include "cd_err.h"

/* X(section, key, default, description) */
#define CD_CONFIG_KEYS(X)                                                                          \
    X(database, conninfo, "", "libpq connection string of the database to serve")                  \
    X(database, databases, "", "more databases of the same server, comma-separated")               \
    X(database, datadir, "", "data directory, when SHOW data_directory is not allowed")            \
    X(database, verify, "count", "row check after decoding: count | none")                         \
    X(mount, mountpoint, "/mnt/cerebro-ds", "where cerebro-ds-fuse mounts")                        \
    X(mount, tables, "", "tables to serve, comma-separated schema.table")                          \
    X(mount, schemas, "", "schemas whose tables are served, comma-separated")                      \
    X(mount, shards, "", "default sharding: partitions | segments | blocks:N")                     \
    X(mount, cache_mb, "1024", "memory bound of the decoded-data cache, MiB")                      \
    X(mount, cache_dir, "", "optional spill directory for the cache")                              \
    X(mount, allow_other, "false",                                                                 \
      "let other users read the mount (database privileges "                                       \
      "still apply)")                                                                              \
    X(mount, role_map, "", "OS user to database role map, user:role comma-separated")              \
    X(mount, log_level, "info", "error | warning | info | debug")

typedef struct cd_config {
#define CD_CONFIG_FIELD(section, key, def, desc) char *section##_##key;
    CD_CONFIG_KEYS(CD_CONFIG_FIELD)
#undef CD_CONFIG_FIELD
} cd_config;

/* Fill every key with its default. */
cd_code cd_config_init(cd_config *c, cd_err *err);
/* Read path over the current values. */
cd_code cd_config_load(cd_config *c, const char *path, cd_err *err);
/* Set one key ("section.key" or a bare key when unambiguous). */
cd_code cd_config_set(cd_config *c, const char *section, const char *key, const char *value,
                      cd_err *err);
/* Effective configuration as INI. */
void cd_config_print(FILE *f, const cd_config *c);
void cd_config_free(cd_config *c);

#endif
