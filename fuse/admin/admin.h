/*
 * admin.h: the commands of the cerebro-ds admin tool: inspect, export, verify, pages, doctor,
 * refresh --cluster.
 * Each table command pins the table (catalog.h), works, and releases the pin. Output on
 * stdout; errors returned in cd_err for main() to print.
 */
#ifndef CD_ADMIN_H
#define CD_ADMIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "catalog.h"
#include "shard.h"

typedef struct cd_admin_opts {
    cd_pin_opts pin;
    int jobs;          /* export: shards decoded in parallel */
    bool verify_count; /* check each shard's rows against count(*) in the snapshot */
    bool progress;     /* progress lines on stderr */
    mode_t mode;       /* export: mode of the files written (0: 0640) */
} cd_admin_opts;

cd_code cd_cmd_inspect(const cd_admin_opts *o, const char *table, FILE *out, cd_err *err);
cd_code cd_cmd_export(const cd_admin_opts *o, const char *table, const char *outdir, cd_err *err);
/* Prints mismatches and "rows=N mismatches=M"; *mismatches > 0 is not an error code. */
cd_code cd_cmd_verify(const cd_admin_opts *o, const char *table, FILE *out, uint64_t *mismatches,
                      cd_err *err);

/* Page headers, line pointers and tuple headers of every block, with visibility. */
cd_code cd_cmd_pages(const cd_admin_opts *o, const char *table, FILE *out, cd_err *err);

/* cerebro-ds refresh --cluster (cluster.c): lock the distributed tables on the coordinator,
 * have every host with a placement of them refresh its mount as one cut (`remote_command
 * refresh --cut ID remote_mountpoint db/table...` through ssh_command), unlock. Prints the
 * cut, one line per host and the lock's wait and hold times. */
typedef struct cd_cluster_opts {
    const char *coordinator;       /* conninfo */
    const char *ssh_command;       /* template with {host} and {command} */
    const char *remote_mountpoint; /* the mount point on the hosts */
    const char *remote_command;    /* cerebro-ds on the hosts */
    int lock_timeout;              /* seconds */
} cd_cluster_opts;
cd_code cd_cmd_refresh_cluster(const cd_cluster_opts *o, char *const *tables, int ntables,
                               FILE *out, cd_err *err);

/*
 * Is this host ready for cerebro-ds-fuse with the configuration at config_path (NULL: none
 * found)? conninfo and datadir, if not NULL, override its [database] conninfo and datadir.
 * One line per check on out, then a summary; returns the number of checks that failed or
 * could not run (0: ready).
 */
int cd_cmd_doctor(const char *config_path, const char *conninfo, const char *datadir, FILE *out);

#endif
