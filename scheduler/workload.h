/*
 * workload.h: a model-selection workload file (INI, parsed with inih; DESIGN.md section 5)
 * and the model files of its configurations.
 *
 *   [data]       train = DIR (its sub-directories, sorted by name in version order: part2
 *                before part10, hidden ones skipped, are the shards), or
 *                pg:CONNINFO#SCHEMA.TABLE (trainer/data_pg.h: the shards are found in the
 *                database, part0 of a plain table or the partitions of a partitioned one,
 *                and each unit reads its shard pg:CONNINFO#SCHEMA.TABLE#SHARD with COPY), or
 *                citus:CONNINFO#SCHEMA.TABLE (discover.h: a Citus distributed table, its
 *                shards s<shardid> read from the coordinator CONNINFO at every run and
 *                resume; one worker per active shard placement, on the placement's host,
 *                reading [workers] mountpoint/<database>/<schema.table>/s<shardid>; the
 *                checks of a multi-host job: cluster.h)
 *                valid = DIR (a shard directory, with column files, scored after every
 *                epoch; optional), pg:CONNINFO#SCHEMA.TABLE[#SHARD] naming one shard, or
 *                citus:CONNINFO#SCHEMA.TABLE (every shard, validated on the hosts that hold
 *                them: valid_parts) (a '#' in a value is no comment; a ';' after a blank is)
 *                feature, label: optional overrides of the model file's columns
 *   [model]      file = base model INI (relative paths: to the workload file's directory);
 *                optional when [search] has model.file
 *   [search]     one key per searched model-file key, `section.key` (train.lr, model.layers)
 *                or `model.file` (the base file itself, a list of model files); the value is
 *                a list for grid (v1, v2, ...) and, for random, uniform(a, b),
 *                loguniform(a, b) or choice(v1, v2, ...) (a plain list means choice).
 *                A list item in double quotes may hold commas ("dense:64, relu, dense:10").
 *                A value continues on indented lines (end the line before with a comma).
 *                Grid takes lists (and choice(...)) only; hyperband samples like random.
 *   [procedure]  kind = grid | random | hyperband; epochs (grid, random); n and seed
 *                (random); R (most epochs of one config), eta (>= 2) and seed (hyperband).
 *                A key the kind does not use is an error.
 *   [scheduler]  policy = async | random | sync; unit_timeout (seconds, 0: none); retries
 *                (failures of one worker before it is taken out); seed; numerics = report |
 *                strict (a unit whose numeric fingerprint differs from its input
 *                checkpoint's is logged, or fails); model_store = shared (default: every
 *                worker's host reads the model files and checkpoints where this host keeps
 *                them, a shared file system) | copy (they stay on this host; each unit gets
 *                its model file and input checkpoint on stdin and answers its output
 *                checkpoint on stdout, through the launcher, framed and checksummed:
 *                common/xfer.h, store.h; workers need only their shards);
 *                on_snapshot_change = stop (default: a citus: shard whose rows changed
 *                during the job stops it) | continue (logged, journaled, the job goes on)
 *   [workers]    launcher = local | ssh; ssh_command (template with {host} and {command});
 *                threads (per worker); model_dir (checkpoints; default DIR/ckpt; reached by
 *                every host under model_store = shared, by this host alone under copy);
 *                worker = HOST:SHARD_DIR[:DEVICE], once per worker (default: one local
 *                worker per shard of [data] train). DEVICE: cpu (default), cuda, cuda:N.
 *                A local host (localhost, 127.0.0.1 or this host's name) must name one of
 *                the train shard directories (relative: to the workload file's directory);
 *                another host an absolute path whose last component is a shard's name.
 *                With a pg: train, HOST:SHARD[:DEVICE] names the shard (e.g. fm_p0).
 *                With a citus: train, no worker lines (an error): the placements decide.
 *                The local launcher takes local hosts only. Every shard needs a worker.
 *                mountpoint: where worker hosts mount cerebro-ds-fuse (default
 *                /mnt/cerebro-ds; an absolute path; used by citus: only)
 *
 * Keys are declared once (X-macro); unknown sections or keys, keys given twice, bad values,
 * an empty search space, a missing data directory or model file: errors naming the file
 * and line. Lines are at most 198 characters (inih's limit as Debian builds it).
 * Resolved paths (data directories, model files, local worker shards) are absolute.
 */
#ifndef CD_WORKLOAD_H
#define CD_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "cd_err.h"
#include "discover.h"
#include "policy.h"

typedef enum cd_procedure { CD_PROC_GRID, CD_PROC_RANDOM, CD_PROC_HYPERBAND } cd_procedure;
typedef enum cd_launcher { CD_LAUNCH_LOCAL, CD_LAUNCH_SSH } cd_launcher;
typedef enum cd_model_store { CD_STORE_SHARED, CD_STORE_COPY } cd_model_store;

typedef struct cd_worker_spec {
    char *host;   /* "localhost" for the local launcher */
    char *shard;  /* shard directory as the worker's host sees it */
    char *device; /* "cpu" (default), "cuda", "cuda:N" */
    int shard_id; /* index into cd_workload.shards */
    bool gone;    /* citus: a placement an earlier run of the job had, gone since (cluster.h) */
} cd_worker_spec;

/* Where validation runs: one eval process per part over its shards, the results weighted by
 * rows. One part on this host for a directory or pg: valid; one per host for citus:. */
typedef struct cd_valid_part {
    char *host;  /* NULL: this host, the local launch */
    char **data; /* [ndata] shard directories (the --data of its eval) */
    int ndata;
} cd_valid_part;

/* One searched key: its values (grid, choice) or distribution (random). */
typedef enum cd_dist { CD_DIST_LIST, CD_DIST_UNIFORM, CD_DIST_LOGUNIFORM } cd_dist;
typedef struct cd_search_key {
    char *key; /* "train.lr", "model.layers", "model.file" */
    cd_dist dist;
    char **values; /* [nvalues] (CD_DIST_LIST); model.file: resolved paths */
    int nvalues;
    double lo, hi; /* uniform / loguniform */
    int line;      /* of the workload file */
} cd_search_key;

typedef struct cd_workload {
    char *path;                  /* the workload file */
    char *train_dir, *valid_dir; /* resolved; valid_dir NULL: no validation */
    char *feature, *label;       /* NULL: the model file's */
    char **shards;               /* [nshards] shard names (sub-directories of train_dir), sorted */
    int nshards;
    char *model_file; /* base model file, resolved ([model] file, else the first model.file) */
    cd_search_key *keys;
    int nkeys;
    cd_procedure procedure;
    int epochs;           /* grid, random */
    int n;                /* random: configurations */
    int R, eta;           /* hyperband */
    uint64_t search_seed; /* random, hyperband */
    cd_policy policy;
    double unit_timeout; /* seconds, 0: none */
    int retries;
    uint64_t sched_seed;
    bool numerics_strict; /* a unit whose numeric fingerprint differs fails (else: reported) */
    cd_model_store model_store;
    cd_launcher launcher;
    char *ssh_command;
    int threads;
    char *model_dir; /* NULL: DIR/ckpt */
    cd_worker_spec *workers;
    int nworkers;
    cd_valid_part *valid_parts; /* [nvalid_parts]; none without validation */
    int nvalid_parts;
    cd_dist_table *citus, *citus_valid; /* citus: train, valid (discover.h); NULL otherwise */
    bool citus_saved;       /* a citus: train not asked of its coordinator (cd_workload_source):
                             * shards and workers are the job's, filled by its caller */
    char *mountpoint;       /* [workers] mountpoint: the mount on worker hosts */
    bool snapshot_continue; /* [scheduler] on_snapshot_change = continue */
} cd_workload;

/* Load and check path (data directories exist, shards found, search space not empty). */
cd_code cd_workload_load(cd_workload *w, const char *path, cd_err *err);
void cd_workload_free(cd_workload *w);
/* Free ws[n] (each worker's strings, then the array); ws may be NULL. */
void cd_workers_free(cd_worker_spec *ws, int n);

/* A value given instead of the file's (a command line's --set, a test's data directory):
 * one key of [data], [model], [procedure], [scheduler] or [workers] (not worker, not
 * [search]). The file's line for that key is then not read; relative paths in an override
 * resolve against the current directory; errors name "override [section] key". */
typedef struct cd_workload_override {
    const char *section, *key, *value;
} cd_workload_override;
cd_code cd_workload_load_with(cd_workload *w, const char *path, const cd_workload_override *ov,
                              int nov, cd_err *err);

/* Where cd_workload_load_from reads a workload: its file (cd_workload_load_with), or for
 * looking at a job (`cerebro-sched status`) the job's copy, shard list and lenient paths. */
typedef struct cd_workload_source {
    const char *path;   /* the workload file; relative paths resolve against its directory */
    const char *copy;   /* NULL, or the file read instead of path (the job's copy of it) */
    const char *shards; /* NULL, or the job's shard list (cd_shards_write): the shards of a
                         * directory or pg: [data] train, which is then neither read nor
                         * queried */
    bool lenient;       /* a directory or file that no longer exists is kept as a path */
    bool citus_saved;   /* a citus: train or valid is not asked of its coordinator: shards,
                         * workers and validation parts are left empty and w->citus_saved
                         * set, for the caller to take from the job (cd_cluster_saved) */
} cd_workload_source;
cd_code cd_workload_load_from(cd_workload *w, const cd_workload_source *src,
                              const cd_workload_override *ov, int nov, cd_err *err);

/*
 * A job's shard list (DIR/shards): the names of w's shards in the order the job numbers
 * them, a header line `cerebro-sched shards 1` then one name a line. Not written (CD_OK)
 * when a name holds a newline. cd_shards_read gives CD_ENOTFOUND when path does not exist.
 */
cd_code cd_shards_write(const char *path, const cd_workload *w, cd_err *err);
cd_code cd_shards_read(const char *path, char ***names, int *n, cd_err *err);
void cd_shards_free(char **names, int n);
/* The shards job `dir` numbered (old[0..nold), kept in `path`: its shard list, or for a
 * citus: train the shards line of DIR/workers) against w's now: CD_OK when they are the same
 * names in the same order, else CD_EINVAL naming the first that differs. */
cd_code cd_shards_same(char *const *old, int nold, const cd_workload *w, const char *dir,
                       const char *path, cd_err *err);

/* One configuration: a value for every searched key. */
typedef struct cd_config_values {
    char **values; /* [w->nkeys], in key order */
} cd_config_values;

/* Write the model file of configuration c to path: the base model file (or c's
 * `model.file`) with c's values set (replacing `key = value` in its section, or adding it at
 * the section's end, and the section at the file's end), and the [data] feature/label
 * overrides. Atomic (temp file in path's directory + fsync + rename). */
cd_code cd_workload_write_model(const cd_workload *w, const cd_config_values *c, const char *path,
                                cd_err *err);

#endif
