/*
 * job.h: a cerebro-sched job: the job directory, the workload, the search (which trials
 * train how many epochs), the MOP scheduler (which unit runs where), each trial's model
 * file, checkpoints and metrics, and the journal that makes all of it durable.
 *
 * Job directory DIR:
 *   workload.path   absolute path of the workload file; workload.ini a copy (resume checks
 *                   that the file did not change)
 *   journal         every completed unit, failure, validation, worker and trial exclusion
 *                   (journal.h)
 *   lock            held (flock) by the scheduler running the job
 *   estimates       the cost estimate of a unit of every trial, from its model file and the
 *                   shards' rows (estimate.h), fixed when the job starts: the scheduler's
 *                   shard orders come from it (policy.h), so a resume keeps them (a job
 *                   without the file, from an earlier version, keeps the orders of no hints)
 *   models/tNNN.ini the model file of trial NNN
 *   logs/           stdout (the JSON line) and stderr of every trainer process
 *   ckpt/tNNN/      checkpoints (or under [workers] model_dir): init.ckpt, then eE-K.ckpt after
 *                   the K-th unit of epoch E (input checkpoints are never overwritten)
 *   xfer/           model_store = copy: the request and answer of each running unit (store.h)
 *   workers         a citus: train: the workers of every run, by number (cluster.h)
 *   shards          the shards of a directory or pg: train, in the order the journal numbers
 *                   them (cd_shards_write): a resume refuses other shards; status reads them
 *                   from here, so it works once the data is gone (unmounted, dropped)
 *   results.csv, schedule.csv, leaderboard.txt, best.ckpt, best.ini, *.png (report.h)
 *
 * Trial t is model t of the scheduler (policy.h). Live events and the journal's replay go
 * through the same cd_job_apply_* functions, so a resumed job reaches the state the
 * interrupted one had. Not thread-safe.
 */
#ifndef CD_JOB_H
#define CD_JOB_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "cd_err.h"
#include "cluster.h"
#include "fingerprint.h"
#include "journal.h"
#include "policy.h"
#include "search.h"
#include "workload.h"

typedef struct cd_epoch_stat {
    uint64_t rows;   /* training rows over the epoch's units */
    double loss_sum; /* sum of unit loss x rows */
    double correct;  /* sum of unit accuracy x rows */
    double seconds;  /* sum of unit times */
    bool validated;  /* valid_loss / valid_acc set */
    double valid_loss, valid_acc;
    double end; /* wall clock of the epoch's last unit */
} cd_epoch_stat;

typedef struct cd_trial_state {
    char model_path[PATH_MAX];
    char ckpt_dir[PATH_MAX];
    bool mse; /* scored by -loss instead of accuracy */
    int epochs_done;
    int units_in_epoch; /* completed units of the current epoch */
    bool *shard_done;   /* [nshards] the shards of those units */
    cd_epoch_stat *ep;  /* [cap_ep], ep[e - 1] for epoch e */
    int cap_ep;
    int best_epoch; /* 0: none yet */
    double best_score;
    int attempts;  /* failed attempts of the current unit */
    bool diverged; /* stopped: its loss became NaN or infinite in epoch epochs_done + 1 */
    /* failures counted against the trial in this run, reset by its next trained unit: each
     * a failure on a worker that then trained another trial, with no failure of another
     * trial there in between (the worker works; the trial does not). `retries` of them: run.c
     * takes the trial out of the run (trialout, journal.h) */
    int blame;
    bool out;             /* taken out in this run */
    bool out_before;      /* taken out in an earlier run (resume gives it a new chance) */
    char out_reason[256]; /* why, as journaled ("" if never) */
    char last_fail[256];  /* the reason of its last failed unit ("" if none) */
} cd_trial_state;

typedef struct cd_job {
    char dir[PATH_MAX];
    cd_workload w;
    cd_search *search;
    cd_sched *sched;
    cd_trial_state *trials;
    int ntrials, cap_trials;
    int *worker_fails; /* [nworkers] consecutive failures */
    int *suspect;      /* [nworkers] the one trial of those failures (-1: none, -2: several) */
    bool *worker_out;  /* [nworkers] */
    cd_journal *journal;
    int lock_fd;
    char trainer[PATH_MAX]; /* the cerebro-train to run */
    /* the OpenBLAS kernel every launch is asked to run (this host's), and the numeric
     * fingerprint a cpu worker then has (fingerprint.h): what a unit from an init checkpoint
     * (which records none) is compared with */
    char blas_core[64];
    char cpu_numerics[CD_FP_MAX];
    bool done;               /* the journal says the job completed */
    bool readonly;           /* opened for status: writes nothing */
    bool from_copy;          /* readonly: the workload file changed or vanished since the
                              * job started, so its copy DIR/workload.ini was read */
    bool *worker_out_before; /* [nworkers] taken out in an earlier run (resume retries them) */
    bool live;               /* replayed (or created): what happens now is new to the job */
    int *pending_valid;      /* [cap_pending] trials with an epoch awaiting validation, FIFO */
    int npending, cap_pending;
    char cut[128]; /* a citus: train: the last cut journaled ("" before the first) */
    bool creating; /* cd_job_create: estimates from the model files, then written */
    double *est;   /* [nest] cost estimate of a unit of each trial (the estimates file) */
    int nest;
    cd_seen seen; /* a citus: train: what the units of each shard placement read */
} cd_job;

/* Create DIR for workload_path (an existing job in DIR is an error with a hint). */
cd_code cd_job_create(cd_job *j, const char *workload_path, const char *dir, cd_err *err);
/* Open the job in DIR, replaying its journal. lock (resume): take the job's lock and open
 * the journal for appending; !lock (status): read only, nothing is written. */
cd_code cd_job_open(cd_job *j, const char *dir, bool lock, cd_err *err);
/* The same with values given instead of the workload file's (resume --on-snapshot-change:
 * workload.h, cd_workload_override). */
cd_code cd_job_open_with(cd_job *j, const char *dir, bool lock, const cd_workload_override *ov,
                         int nov, cd_err *err);
void cd_job_close(cd_job *j);

/* Checkpoint paths: the input of trial t's next unit, and its output. */
void cd_job_ckpt_current(const cd_job *j, int t, char *buf, size_t size);
void cd_job_ckpt_next(const cd_job *j, int t, char *buf, size_t size);
/* The checkpoint at the end of epoch e of trial t (e = 0: init.ckpt). */
void cd_job_ckpt_epoch(const cd_job *j, int t, int e, char *buf, size_t size);
/* The shard directory worker w reads for shard s. */
const char *cd_job_shard_path(const cd_job *j, int w, int s);

/* Record and apply: append r to the journal (fsync) unless replaying, then update the
 * trials, search and scheduler. */
cd_code cd_job_record(cd_job *j, const cd_jrec *r, cd_err *err);

/* Units of all trials (done + left) and units done, for progress. */
long cd_job_units_done(const cd_job *j);
/* The trial and epoch with the best score so far (t = -1: none). */
void cd_job_best(const cd_job *j, int *t, int *epoch, double *score);
/* Nothing left to train or validate. */
bool cd_job_finished(const cd_job *j);

#endif
