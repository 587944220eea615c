/*
 * cluster.h: what a job over a Citus table (a citus: [data] train, discover.h) checks that a
 * job over one host's shards need not: which workers it has across runs, that every worker
 * host shows one cluster cut before the first unit, and whether the snapshot of a shard that
 * a unit read is the one the job's earlier units of that shard read.
 *
 * Workers across resume. A worker is a (host, shard directory); the workers of a citus: job
 * are found again on the coordinator at every run and resume, and DIR/workers keeps them:
 *
 *   cerebro-sched workers 1
 *   shards  s102008 s102009 ...           (tab-separated; the table's shards, by shard id)
 *   worker  HOST  SHARD_INDEX  SHARD_DIR  (one line per worker; its number is its rank)
 *
 * A resume keeps the number of every worker it knew (the journal names workers by number),
 * marks a worker whose placement is gone (a shard moved to another host) as gone (it gets no
 * units: cd_worker_spec.gone) and appends the new placements as new workers. The table's
 * shards must stay the same (a split or re-created table is a new job). `cerebro-sched
 * status` takes the shards and workers from DIR/workers alone (cd_cluster_saved).
 *
 * The cut. Before the first unit of a run or a resume, `cat` of the table's meta file on
 * every worker host (through the launcher, the validation table's too): every host must
 * show the same `cut = ` (cerebro-ds refresh --cluster) and every shard the coordinator
 * places there; otherwise an error names each host and what it shows, with the hint to run
 * `cerebro-ds refresh --cluster`. The cut is journaled (a `cut` record) when it differs
 * from the last one.
 *
 * Snapshots. Each unit reports what it read (cerebro-train's cut, content and snapshot,
 * from the shard's meta file); the job keeps, per shard and host (a placement of its own),
 * the last cut and content its units read (cd_seen, rebuilt from the journal's unit
 * records). A unit's shard changed when both contents are known and differ, or, with a
 * content missing, both cuts are known and differ; without either the change cannot be
 * told (a daemon that pinned lazily after a restart has no cut): CD_SNAP_UNKNOWN. The first
 * read of a placement (a shard moved to a host) sets its baseline: rows copied by a move
 * have new identities there, so a change made together with a move is not seen.
 */
#ifndef CD_CLUSTER_H
#define CD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cd_err.h"
#include "workload.h"

/* Merge DIR/workers (if any) with w's workers (just discovered), as above; write the result
 * back (atomically) unless readonly. Moves are printed to log. */
cd_code cd_cluster_workers(const char *dir, cd_workload *w, bool readonly, FILE *log, cd_err *err);

/* A look at a job (w->citus_saved, `cerebro-sched status`): w's shards and workers as
 * DIR/workers keeps them, the coordinator not asked (whether a placement is gone since is
 * then not known: every worker is listed as not gone). */
cd_code cd_cluster_saved(const char *dir, cd_workload *w, cd_err *err);

/* Check that every worker host of w shows one cut (as above); *cut (size bytes): that cut.
 * Logs of the reads go to logs_dir/cut-HOST.out and .err. timeout: seconds for all hosts. */
cd_code cd_cluster_cut(const cd_workload *w, const char *logs_dir, double timeout, char *cut,
                       size_t size, cd_err *err);

typedef struct cd_seen_entry {
    int shard;
    char host[256];
    char cut[128], content[128];
} cd_seen_entry;

typedef struct cd_seen {
    cd_seen_entry *v; /* [n] */
    int n, cap;
} cd_seen;

typedef enum cd_snap {
    CD_SNAP_FIRST,   /* no unit of the job read this placement before */
    CD_SNAP_SAME,    /* the same content, or (without contents) the same cut */
    CD_SNAP_UNKNOWN, /* cannot be told: a cut or content is missing on one side */
    CD_SNAP_CHANGED  /* *why says from what to what */
} cd_snap;

/* Compare what a unit of shard on host read (cut, content: "" when not reported). */
cd_snap cd_seen_check(const cd_seen *s, int shard, const char *host, const char *cut,
                      const char *content, char *why, size_t size);
/* The placement's baseline after an accepted unit: its cut and content where reported. */
cd_code cd_seen_update(cd_seen *s, int shard, const char *host, const char *cut,
                       const char *content, cd_err *err);
void cd_seen_free(cd_seen *s);

#endif
