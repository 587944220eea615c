/*
 * workload_int.h: what workload.c (keys, values, reading the file, loading) and
 * workload_check.c ([procedure] and [search], shards, workers) share. Internal to those
 * files; the interface is workload.h.
 */
#ifndef CD_WORKLOAD_INT_H
#define CD_WORKLOAD_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "ini_lines.h"
#include "workload.h"

/* Longest line inih reads whole as Debian builds it (ini_lines.h). */
#define CD_WL_MAX_LINE (CD_INI_MAX_LINE - 2)

/* X(section, key, field, conv, default): every key but [workers] worker and the [search]
 * keys. conv names conv_<conv> of workload.c, which checks the value and sets w->field. An empty
 * default leaves the field unset (NULL; [data] train and [model] file are then required). */
#define WORKLOAD_KEYS(X)                                                                           \
    X(data, train, train_dir, dir, "")                                                             \
    X(data, valid, valid_dir, shard, "")                                                           \
    X(data, feature, feature, column, "")                                                          \
    X(data, label, label, column, "")                                                              \
    X(model, file, model_file, file, "")                                                           \
    X(procedure, kind, procedure, procedure, "grid")                                               \
    X(procedure, epochs, epochs, positive, "10")                                                   \
    X(procedure, n, n, positive, "10")                                                             \
    X(procedure, R, R, positive, "9")                                                              \
    X(procedure, eta, eta, eta, "3")                                                               \
    X(procedure, seed, search_seed, seed, "1")                                                     \
    X(scheduler, policy, policy, policy, "async")                                                  \
    X(scheduler, unit_timeout, unit_timeout, seconds, "0")                                         \
    X(scheduler, retries, retries, count, "2")                                                     \
    X(scheduler, seed, sched_seed, seed, "1")                                                      \
    X(scheduler, numerics, numerics_strict, numerics, "report")                                    \
    X(scheduler, model_store, model_store, model_store, "shared")                                  \
    X(scheduler, on_snapshot_change, snapshot_continue, snapshot, "stop")                          \
    X(workers, launcher, launcher, launcher, "local")                                              \
    X(workers, ssh_command, ssh_command, command, "ssh -o BatchMode=yes {host} {command}")         \
    X(workers, threads, threads, threads, "1")                                                     \
    X(workers, model_dir, model_dir, path, "")                                                     \
    X(workers, mountpoint, mountpoint, absolute, "/mnt/cerebro-ds")

enum {
#define KEY_ENUM(sec, key, field, conv, def) K_##sec##_##key,
    WORKLOAD_KEYS(KEY_ENUM)
#undef KEY_ENUM
        NKEYS
};

/* A [search] key or a worker line, kept as text until the whole file is read. */
typedef struct raw_item {
    char *name, *text;
    int line;
} raw_item;

typedef struct load_state {
    cd_workload *w;
    const char *path;   /* the file read, as given: the workload's, or the job's copy */
    const char *shards; /* cd_workload_source.shards */
    bool lenient;       /* cd_workload_source.lenient */
    bool citus_saved;   /* cd_workload_source.citus_saved */
    char *dir;          /* the workload file's directory, absolute */
    char *cwd;          /* base of relative paths in overrides */
    cd_ini_lines in;    /* the file being read; in.line: lines read */
    int lines[NKEYS];   /* where each key was set: 0 default, -1 override, else its line */
    raw_item *search, *workers;
    int nsearch, nworkers;
    char where[PATH_MAX + 64]; /* "file:line" or "override" of the value at hand */
    cd_err *err;
    cd_code rc;
} load_state;

cd_code cd_wl_oom(load_state *st);
/* st->where: "file:line" (line > 0), "override" (line < 0). */
void cd_wl_set_where(load_state *st, int line);
/* "WHERE: invalid value "v" for NAME", hint "expected EXPECTED". */
cd_code cd_wl_bad(load_state *st, const char *name, const char *v, const char *expected);
/* Take ownership of s as *out (NULL s: out of memory). */
cd_code cd_wl_set_str(load_state *st, char **out, char *s);
/* rel against base (absolute rel: itself), malloc'd. */
char *cd_wl_join(const char *base, const char *rel);
bool cd_wl_parse_real(const char *v, double *out);
/* base/v must exist as a directory (want_dir) or regular file; *out its real path. */
cd_code cd_wl_resolve(load_state *st, const char *name, const char *base, const char *v,
                      bool want_dir, char **out);

/* workload_check.c, in the order loading calls them. */
cd_code cd_wl_check_procedure(load_state *st);
cd_code cd_wl_parse_search(load_state *st);
cd_code cd_wl_check_required(load_state *st);
cd_code cd_wl_scan_shards(load_state *st);
cd_code cd_wl_parse_workers(load_state *st);
cd_code cd_wl_valid_parts(load_state *st);

#endif
