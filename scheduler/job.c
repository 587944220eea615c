/*
 * job.c: a cerebro-sched job's state (see job.h): creating and opening the job directory,
 * trials (model files, init checkpoints), replaying and recording journal events,
 * checkpoint names and their clean-up. No process is watched here except the short
 * `cerebro-train init` of a new trial, which runs to completion.
 */
#include "job.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <limits.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "data_pg.h"
#include "estimate.h"
#include "fsutil.h"
#include "model.h"

extern char **environ;

/* ---- small file helpers ---- */

static cd_code write_text(const char *path, const char *text, cd_err *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        int e = errno;
        if (f != NULL)
            fclose(f);
        return cd_fail(err, CD_EIO, "could not write \"%s\": %s", path, strerror(e));
    }
    return fclose(f) == 0 ? CD_OK : cd_fail(err, CD_EIO, "could not write \"%s\"", path);
}

static void path_join(char *buf, size_t size, const char *dir, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

/* ---- the trainer binary ---- */

static void find_trainer(cd_job *j)
{
    const char *env = getenv("CEREBRO_TRAIN");
    char dir[PATH_MAX], sibling[PATH_MAX + 16];
    snprintf(j->trainer, sizeof j->trainer, "%s", env && *env ? env : "cerebro-train");
    if ((env == NULL || *env == '\0') && cd_exe_dir(dir, sizeof dir)) {
        snprintf(sibling, sizeof sibling, "%s/cerebro-train", dir);
        if (access(sibling, X_OK) == 0)
            snprintf(j->trainer, sizeof j->trainer, "%s", sibling);
    }
}

static void job_numerics(cd_job *j)
{
    char cpu[CD_FP_MAX];
    snprintf(j->blas_core, sizeof j->blas_core, "%s", cd_blas_core());
    cd_fp_cpu_backend(cpu, sizeof cpu);
    cd_fp_make(j->cpu_numerics, sizeof j->cpu_numerics, cpu, true, j->w.threads);
}

/* Start argv, stdout and stderr to log; its pid, or -1 when it could not be started. */
static pid_t spawn_logged(char *const *argv, const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

/* Wait for the child pid (that one only: a running job's trainers are the loop's); true
 * when it exited 0. */
static bool waited_ok(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- trials ---- */

static cd_code grow_trials(cd_job *j, cd_err *err)
{
    if (j->ntrials < j->cap_trials)
        return CD_OK;
    int cap = j->cap_trials ? 2 * j->cap_trials : 32;
    cd_trial_state *t = realloc(j->trials, (size_t)cap * sizeof *t);
    if (t == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    memset(t + j->cap_trials, 0, (size_t)(cap - j->cap_trials) * sizeof *t);
    j->trials = t;
    j->cap_trials = cap;
    return CD_OK;
}

/* The name of a trained checkpoint (eE-U.ckpt) in a new trial's directory, or "": one there
 * belongs to another job (a model_dir two jobs share, or a job directory removed without its
 * model_dir), and this job would overwrite it. */
static void trained_ckpt(const char *dir, char *name, size_t size)
{
    name[0] = '\0';
    DIR *d = opendir(dir);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        int epoch, unit, end = 0;
        if (sscanf(e->d_name, "e%d-%d.ckpt%n", &epoch, &unit, &end) == 2 &&
            e->d_name[end] == '\0') {
            snprintf(name, size, "%s", e->d_name);
            break;
        }
    }
    if (d != NULL)
        closedir(d);
}

/* Whether trial t's init checkpoint is to be made. A trial new to the job (fresh) gets a
 * new one, whatever a failed run left there, unless its directory holds another job's
 * trained checkpoints (an error); a trial the journal replays keeps its own. */
static cd_code init_wanted(cd_job *j, int t, bool fresh, bool *want, cd_err *err)
{
    char ckpt[PATH_MAX], old[NAME_MAX + 1];
    cd_job_ckpt_epoch(j, t, 0, ckpt, sizeof ckpt);
    *want = fresh || access(ckpt, R_OK) != 0;
    if (fresh)
        trained_ckpt(j->trials[t].ckpt_dir, old, sizeof old);
    if (!fresh || old[0] == '\0')
        return CD_OK;
    *want = false;
    cd_fail(err, CD_EINVAL, "\"%s\" already holds checkpoints of another job (%s)",
            j->trials[t].ckpt_dir, old);
    return cd_hint(err, "give each job a model_dir of its own, or remove that job's checkpoints "
                        "first");
}

static void init_log(const cd_job *j, int t, char *buf, size_t size)
{
    snprintf(buf, size, "%s/logs/t%03d-init.log", j->dir, t);
}

/* Start `cerebro-train init` of trial t; its pid, or -1. */
static pid_t init_start(cd_job *j, int t)
{
    char ckpt[PATH_MAX], log[PATH_MAX], seed[32];
    cd_job_ckpt_epoch(j, t, 0, ckpt, sizeof ckpt);
    init_log(j, t, log, sizeof log);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)j->w.sched_seed);
    char *argv[] = {j->trainer, "init", "--model", j->trials[t].model_path, "--seed", seed,
                    "--out",    ckpt,   NULL};
    return spawn_logged(argv, log);
}

static cd_code init_failed(const cd_job *j, int t, cd_err *err)
{
    char log[PATH_MAX];
    init_log(j, t, log, sizeof log);
    cd_fail(err, CD_EIO, "could not initialise trial %d with \"%s\"", t, j->trainer);
    cd_detail(err, "see \"%s\"", log);
    return cd_hint(err, "set CEREBRO_TRAIN to the cerebro-train to use");
}

/* At most this many `cerebro-train init` at once (and no more than the CPUs this process
 * may run on): each is short, and writes and fsyncs its checkpoint. */
#define CD_JOB_INIT_PAR 8
/* Preparing trials that takes longer than this says how far it is, at this interval. */
#define CD_JOB_PROGRESS_S 2.0

static int init_width(void)
{
    cpu_set_t set;
    int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    return n < 1 ? 1 : n > CD_JOB_INIT_PAR ? CD_JOB_INIT_PAR : n;
}

typedef struct init_batch {
    pid_t pid[CD_JOB_INIT_PAR];
    int trial[CD_JOB_INIT_PAR];
    int head, n, width;
    int done, total, failed; /* failed: the first trial whose init failed, -1 if none */
    double start, shown;
} init_batch;

/* Wait for the oldest init of b (they take about as long as one another). */
static void init_reap(const cd_job *j, init_batch *b)
{
    if (!waited_ok(b->pid[b->head]) && b->failed < 0)
        b->failed = b->trial[b->head];
    b->head = (b->head + 1) % b->width;
    b->n--;
    b->done++;
    double now = cd_monotonic_s();
    if (!j->readonly && now - b->shown >= CD_JOB_PROGRESS_S) {
        fprintf(stderr,
                "cerebro-sched: preparing trials: %d of %d have their model file and initial "
                "checkpoint (%.0f s)\n",
                b->done, b->total, now - b->start);
        b->shown = now;
    }
}

/* The init checkpoints of trials [first, last), init_width() at a time. */
static cd_code init_checkpoints(cd_job *j, int first, int last, cd_err *err)
{
    init_batch b = {.width = init_width(), .total = last - first, .failed = -1};
    b.start = b.shown = cd_monotonic_s();
    cd_code rc = CD_OK;
    for (int t = first; t < last || b.n > 0;) {
        bool want = false;
        if (rc == CD_OK && b.failed < 0 && t < last && b.n < b.width) {
            rc = init_wanted(j, t, j->creating || j->live, &want, err);
            pid_t pid = want ? init_start(j, t) : 0;
            int k = (b.head + b.n) % b.width;
            b.pid[k] = pid;
            b.trial[k] = t++;
            b.n += want && pid > 0;
            b.done += !want;
            b.failed = pid < 0 && b.failed < 0 ? t - 1 : b.failed;
        } else if (b.n > 0) {
            init_reap(j, &b);
        } else {
            break;
        }
    }
    return rc == CD_OK && b.failed >= 0 ? init_failed(j, b.failed, err) : rc;
}

/* The cost estimate of a unit of trial t: from its model file m (NULL: not loaded) when the
 * job starts, then from the estimates file; 0 when unknown. */
static cd_code trial_estimate(cd_job *j, int t, const cd_model_spec *m, double *hint, cd_err *err)
{
    *hint = 0;
    if (!j->creating) {
        *hint = t < j->nest ? j->est[t] : 0;
        return CD_OK;
    }
    if (t >= j->nest) {
        double *e = realloc(j->est, (size_t)(t + 1) * sizeof *e);
        if (e == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory");
        j->est = e;
        j->nest = t + 1;
    }
    /* per row: every model trains on the same shards, so the rows would scale every cost
     * alike; and the estimate must not depend on how the shards are reached (local, over
     * ssh, from Citus placements), or the same workload would get other orders and bytes */
    if (m != NULL)
        *hint = cd_estimate_row_cost(m);
    j->est[t] = *hint;
    return CD_OK;
}

/* Which [search] values made trial t's model file, for an error found in that file. */
static cd_code trial_context(const cd_job *j, int t, cd_err *err)
{
    const cd_trial *tr = cd_search_trial(j->search, t);
    char values[384] = "";
    size_t used = 0;
    for (int i = 0; i < j->w.nkeys && used < sizeof values; i++)
        used += (size_t)snprintf(values + used, sizeof values - used, "%s%s = %s (line %d)",
                                 i ? ", " : "", j->w.keys[i].key, tr->config.values[i],
                                 j->w.keys[i].line);
    cd_context(err, "the model file of trial t%03d, made from the [search] values of \"%s\": %s", t,
               j->w.path, values);
    return err->hint[0] ? err->code : cd_hint(err, "fix those values in the workload's [search]");
}

static cd_code add_trial(cd_job *j, cd_err *err)
{
    cd_code rc = grow_trials(j, err);
    if (rc != CD_OK)
        return rc;
    int t = j->ntrials;
    cd_trial_state *s = &j->trials[t];
    const cd_trial *tr = cd_search_trial(j->search, t);
    s->shard_done = calloc(j->w.nshards > 0 ? (size_t)j->w.nshards : 1, sizeof *s->shard_done);
    if (s->shard_done == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    const char *mdir = j->w.model_dir ? j->w.model_dir : NULL;
    snprintf(s->model_path, sizeof s->model_path, "%s/models/t%03d.ini", j->dir, t);
    if (mdir != NULL)
        snprintf(s->ckpt_dir, sizeof s->ckpt_dir, "%s/t%03d", mdir, t);
    else
        snprintf(s->ckpt_dir, sizeof s->ckpt_dir, "%s/ckpt/t%03d", j->dir, t);
    if (!j->readonly)
        rc = cd_workload_write_model(&j->w, &tr->config, s->model_path, err);
    if (rc == CD_OK && !j->readonly)
        rc = cd_mkdir_p(s->ckpt_dir, err);
    cd_model_spec *m = calloc(1, sizeof *m);
    if (rc == CD_OK && m == NULL)
        rc = cd_fail(err, CD_ENOMEM, "out of memory");
    if (rc == CD_OK && cd_model_load(s->model_path, m, err) != CD_OK)
        rc = trial_context(j, t, err);
    s->mse = rc == CD_OK && m->loss == CD_LOSS_MSE;
    double hint = 0;
    if (rc == CD_OK || j->readonly)
        rc = trial_estimate(j, t, rc == CD_OK ? m : NULL, &hint, err);
    free(m);
    j->ntrials++;
    if (rc == CD_OK && cd_sched_add_model(j->sched, tr->stopped ? 0 : tr->target, hint) != t)
        rc = cd_fail(err, CD_EINVAL, "internal error: trial %d is not scheduler model %d", t, t);
    return rc;
}

/* New trials of the search (their model files, then their init checkpoints, several at
 * once), and the epochs every trial is now to train. */
static cd_code sync_trials(cd_job *j, cd_err *err)
{
    cd_code rc = CD_OK;
    int first = j->ntrials, n = cd_search_ntrials(j->search);
    while (rc == CD_OK && j->ntrials < n)
        rc = add_trial(j, err);
    if (rc == CD_OK && !j->readonly)
        rc = init_checkpoints(j, first, j->ntrials, err);
    for (int t = 0; rc == CD_OK && t < j->ntrials; t++) {
        const cd_trial *tr = cd_search_trial(j->search, t);
        int done = j->trials[t].epochs_done;
        cd_sched_set_epochs(j->sched, t, tr->stopped || tr->target < done ? done : tr->target);
    }
    return rc;
}

/* ---- checkpoints ---- */

void cd_job_ckpt_epoch(const cd_job *j, int t, int e, char *buf, size_t size)
{
    if (e == 0)
        snprintf(buf, size, "%s/init.ckpt", j->trials[t].ckpt_dir);
    else
        snprintf(buf, size, "%s/e%d-%d.ckpt", j->trials[t].ckpt_dir, e, j->w.nshards);
}

void cd_job_ckpt_current(const cd_job *j, int t, char *buf, size_t size)
{
    const cd_trial_state *s = &j->trials[t];
    if (s->units_in_epoch == 0)
        cd_job_ckpt_epoch(j, t, s->epochs_done, buf, size);
    else
        snprintf(buf, size, "%s/e%d-%d.ckpt", s->ckpt_dir, s->epochs_done + 1, s->units_in_epoch);
}

void cd_job_ckpt_next(const cd_job *j, int t, char *buf, size_t size)
{
    const cd_trial_state *s = &j->trials[t];
    snprintf(buf, size, "%s/e%d-%d.ckpt", s->ckpt_dir, s->epochs_done + 1, s->units_in_epoch + 1);
}

/* Delete the end-of-epoch checkpoint e of trial t when nothing needs it any more: validated,
 * not the trial's best, and a later epoch has ended. */
static void gc_epoch(cd_job *j, int t, int e)
{
    const cd_trial_state *s = &j->trials[t];
    if (j->readonly || e < 1 || e >= s->epochs_done || e == s->best_epoch ||
        !s->ep[e - 1].validated)
        return;
    char path[PATH_MAX];
    cd_job_ckpt_epoch(j, t, e, path, sizeof path);
    unlink(path);
}

const char *cd_job_shard_path(const cd_job *j, int w, int s)
{
    const cd_worker_spec *me = &j->w.workers[w];
    for (int v = 0; v < j->w.nworkers; v++) {
        const cd_worker_spec *o = &j->w.workers[v];
        if (o->shard_id == s && (v == w || strcmp(o->host, me->host) == 0))
            return o->shard;
    }
    return me->shard;
}

/* ---- applying events ---- */

static cd_code grow_epochs(cd_trial_state *s, int e, cd_err *err)
{
    if (e <= s->cap_ep)
        return CD_OK;
    int cap = e + 16;
    cd_epoch_stat *p = realloc(s->ep, (size_t)cap * sizeof *p);
    if (p == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    memset(p + s->cap_ep, 0, (size_t)(cap - s->cap_ep) * sizeof *p);
    s->ep = p;
    s->cap_ep = cap;
    return CD_OK;
}

static cd_code score_epoch(cd_job *j, int t, int e, double loss, double acc, cd_err *err)
{
    cd_trial_state *s = &j->trials[t];
    double score = s->mse ? -loss : acc;
    int prev = s->best_epoch;
    if (s->best_epoch == 0 || score > s->best_score) {
        s->best_epoch = e;
        s->best_score = score;
    }
    if (prev != s->best_epoch)
        gc_epoch(j, t, prev);
    gc_epoch(j, t, e - 1);
    cd_search_report(j->search, t, e, score);
    return sync_trials(j, err);
}

static cd_code epoch_ended(cd_job *j, int t, cd_err *err)
{
    cd_trial_state *s = &j->trials[t];
    s->epochs_done++;
    s->units_in_epoch = 0;
    memset(s->shard_done, 0, (size_t)j->w.nshards * sizeof *s->shard_done);
    if (j->w.valid_dir != NULL) {
        if (j->npending == j->cap_pending) {
            int cap = j->cap_pending ? 2 * j->cap_pending : 64;
            int *p = realloc(j->pending_valid, (size_t)cap * sizeof *p);
            if (p == NULL)
                return cd_fail(err, CD_ENOMEM, "out of memory");
            j->pending_valid = p;
            j->cap_pending = cap;
        }
        j->pending_valid[j->npending++] = t;
        return CD_OK;
    }
    cd_epoch_stat *st = &s->ep[s->epochs_done - 1];
    st->validated = true; /* no validation data: the epoch's training figures score it */
    st->valid_loss = st->rows ? st->loss_sum / (double)st->rows : 0;
    st->valid_acc = st->rows ? st->correct / (double)st->rows : 0;
    return score_epoch(j, t, s->epochs_done, st->valid_loss, st->valid_acc, err);
}

/* Trial t failed on worker w: t is w's suspect when w's failures since its last success are
 * all t's (-2: several trials failed there). */
static void worker_failed(cd_job *j, int t, int w)
{
    if (j->worker_fails[w] == 0)
        j->suspect[w] = t;
    else if (j->suspect[w] != t)
        j->suspect[w] = -2;
}

/* Trial t trained on worker w: w's suspect, if another trial, failed on a worker that works
 * (one count against it); t's own failures were not its fault. */
static void worker_worked(cd_job *j, int t, int w)
{
    int sus = j->suspect[w];
    if (sus >= 0 && sus != t)
        j->trials[sus].blame++;
    j->suspect[w] = -1;
    j->trials[t].blame = 0;
    for (int v = 0; v < j->w.nworkers; v++)
        if (j->suspect[v] == t)
            j->suspect[v] = -1;
}

static cd_code apply_unit(cd_job *j, const cd_jrec *r, bool live, cd_err *err)
{
    cd_trial_state *s = &j->trials[r->model];
    cd_unit u = {r->model, r->epoch, r->shard, r->worker};
    if (r->epoch != s->epochs_done + 1)
        return cd_fail(err, CD_ECORRUPT, "journal: trial %d trained epoch %d after %d epochs",
                       r->model, r->epoch, s->epochs_done);
    if (s->shard_done[r->shard])
        return cd_fail(err, CD_ECORRUPT, "journal: trial %d trained shard %d twice in epoch %d",
                       r->model, r->shard, r->epoch);
    if (live)
        cd_sched_end(j->sched, &u, r->start, r->end, true);
    else
        cd_sched_replay(j->sched, &u, r->end - r->start);
    cd_code rc = grow_epochs(s, r->epoch, err);
    if (rc != CD_OK)
        return rc;
    char input[PATH_MAX];
    bool intermediate = s->units_in_epoch > 0;
    cd_job_ckpt_current(j, r->model, input, sizeof input);
    cd_epoch_stat *st = &s->ep[r->epoch - 1];
    st->rows += r->rows;
    st->loss_sum += r->loss * (double)r->rows;
    st->correct += r->accuracy * (double)r->rows;
    st->seconds += r->end - r->start;
    st->end = r->end;
    s->attempts = 0;
    s->out_before = false; /* trained again since */
    j->worker_fails[r->worker] = 0;
    worker_worked(j, r->model, r->worker);
    if (intermediate && !j->readonly)
        unlink(input); /* its successor is journaled */
    if (j->w.citus != NULL)
        rc = cd_seen_update(&j->seen, r->shard, j->w.workers[r->worker].host, r->cut, r->content,
                            err);
    if (rc != CD_OK)
        return rc;
    s->shard_done[r->shard] = true;
    if (++s->units_in_epoch == j->w.nshards)
        return epoch_ended(j, r->model, err);
    return CD_OK;
}

static cd_code apply_valid(cd_job *j, const cd_jrec *r, cd_err *err)
{
    cd_trial_state *s = &j->trials[r->model];
    if (r->epoch < 1 || r->epoch > s->epochs_done)
        return cd_fail(err, CD_ECORRUPT, "journal: trial %d validated at epoch %d of %d", r->model,
                       r->epoch, s->epochs_done);
    for (int i = 0; i < j->npending; i++)
        if (j->pending_valid[i] == r->model) {
            memmove(&j->pending_valid[i], &j->pending_valid[i + 1],
                    (size_t)(j->npending - i - 1) * sizeof *j->pending_valid);
            j->npending--;
            break;
        }
    cd_epoch_stat *st = &s->ep[r->epoch - 1];
    st->validated = true;
    st->valid_loss = r->loss;
    st->valid_acc = r->accuracy;
    return score_epoch(j, r->model, r->epoch, r->loss, r->accuracy, err);
}

/* The trial's loss became NaN or infinite: it trains no more, and the search sees the worst
 * score at its current target (a Hyperband rung does not wait for it). */
static cd_code apply_diverged(cd_job *j, const cd_jrec *r, bool live, cd_err *err)
{
    cd_trial_state *s = &j->trials[r->model];
    if (live)
        cd_sched_end(j->sched, &(cd_unit){r->model, r->epoch, r->shard, r->worker}, r->start,
                     r->end, false);
    cd_sched_stop(j->sched, r->model);
    s->diverged = true;
    const cd_trial *tr = cd_search_trial(j->search, r->model);
    cd_search_report(j->search, r->model, tr->target, -INFINITY);
    return sync_trials(j, err);
}

/* The trial's units kept failing on workers that work: no more units in this run (a resumed
 * job gives every trial a new chance, as every worker). */
static void apply_trial_out(cd_job *j, const cd_jrec *r, bool live)
{
    cd_trial_state *s = &j->trials[r->model];
    snprintf(s->out_reason, sizeof s->out_reason, "%s", r->reason);
    s->out_before |= !live;
    if (live) {
        s->out = true;
        cd_sched_model_out(j->sched, r->model);
    }
}

static cd_code apply(cd_job *j, const cd_jrec *r, bool live, cd_err *err)
{
    bool model_ok = r->model >= 0 && r->model < j->ntrials;
    bool worker_ok = r->worker >= 0 && r->worker < j->w.nworkers;
    bool shard_ok = r->shard >= 0 && r->shard < j->w.nshards;
    switch (r->kind) {
    case CD_J_UNIT:
        if (!model_ok || !worker_ok || !shard_ok)
            break;
        return apply_unit(j, r, live, err);
    case CD_J_FAIL:
        if (!model_ok || !worker_ok || !shard_ok)
            break;
        if (live)
            cd_sched_end(j->sched, &(cd_unit){r->model, r->epoch, r->shard, r->worker}, r->start,
                         r->end, false);
        j->trials[r->model].attempts++;
        snprintf(j->trials[r->model].last_fail, sizeof j->trials[r->model].last_fail, "%s",
                 r->reason);
        worker_failed(j, r->model, r->worker);
        j->worker_fails[r->worker]++;
        return CD_OK;
    case CD_J_VALID:
        if (!model_ok)
            break;
        return apply_valid(j, r, err);
    case CD_J_OUT:
        if (!worker_ok)
            break;
        j->worker_out_before[r->worker] |= !live;
        if (live) { /* a resumed job gives every worker a new chance: they may be fixed */
            j->worker_out[r->worker] = true;
            cd_sched_worker_out(j->sched, r->worker);
        }
        return CD_OK;
    case CD_J_DIVERGED:
        if (!model_ok || (live && !worker_ok))
            break;
        return apply_diverged(j, r, live, err);
    case CD_J_TRIAL_OUT:
        if (!model_ok)
            break;
        apply_trial_out(j, r, live);
        return CD_OK;
    case CD_J_DONE:
        j->done = true;
        return CD_OK;
    case CD_J_CUT:
        snprintf(j->cut, sizeof j->cut, "%s", r->cut);
        return CD_OK;
    case CD_J_CHANGED: /* the unit record after it carries what was read */
        if (!worker_ok || !shard_ok)
            break;
        return CD_OK;
    }
    return cd_fail(err, CD_ECORRUPT,
                   "journal record names trial %d / worker %d / shard %d of a job with %d "
                   "trials, %d workers and %d shards",
                   r->model, r->worker, r->shard, j->ntrials, j->w.nworkers, j->w.nshards);
}

cd_code cd_job_record(cd_job *j, const cd_jrec *r, cd_err *err)
{
    cd_code rc = cd_journal_append(j->journal, r, err);
    return rc == CD_OK ? apply(j, r, true, err) : rc;
}

/* ---- open / create ---- */

static cd_code take_lock(cd_job *j, cd_err *err)
{
    char path[PATH_MAX];
    path_join(path, sizeof path, j->dir, "lock");
    j->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->lock_fd < 0)
        return cd_fail(err, CD_EIO, "could not open \"%s\": %s", path, strerror(errno));
    if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        cd_fail(err, CD_EINVAL, "job \"%s\" is being run by another cerebro-sched", j->dir);
        return cd_hint(err,
                       "wait for it, or stop it first; `cerebro-sched status %s` shows "
                       "its progress",
                       j->dir);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(j->lock_fd, 0) != 0 || write(j->lock_fd, pid, (size_t)n) != n)
        return cd_fail(err, CD_EIO, "could not write \"%s\"", path);
    return CD_OK;
}

static cd_code make_sched(cd_job *j, cd_err *err)
{
    cd_workload *w = &j->w;
    cd_code rc = cd_sched_new(&j->sched, w->policy, w->nshards, w->nworkers, w->sched_seed, err);
    for (int a = 0; rc == CD_OK && a < w->nworkers; a++)
        for (int b = 0; b < w->nworkers && !w->workers[a].gone; b++)
            if (a == b ||
                (!w->workers[b].gone && strcmp(w->workers[a].host, w->workers[b].host) == 0))
                cd_sched_reach(j->sched, a, w->workers[b].shard_id);
    size_t nw = w->nworkers > 0 ? (size_t)w->nworkers : 1;
    j->worker_fails = calloc(nw, sizeof *j->worker_fails);
    j->suspect = malloc(nw * sizeof *j->suspect);
    j->worker_out = calloc(nw, sizeof *j->worker_out);
    j->worker_out_before = calloc(nw, sizeof *j->worker_out_before);
    if (rc == CD_OK && (j->worker_fails == NULL || j->suspect == NULL || j->worker_out == NULL ||
                        j->worker_out_before == NULL))
        rc = cd_fail(err, CD_ENOMEM, "out of memory");
    for (size_t a = 0; rc == CD_OK && a < nw; a++)
        j->suspect[a] = -1;
    for (int a = 0; rc == CD_OK && a < w->nworkers; a++)
        if (w->workers[a].gone) { /* its placement moved: it never comes back in this run */
            j->worker_out[a] = true;
            cd_sched_worker_out(j->sched, a);
        }
    return rc;
}

/* The estimates a job started with; none for a job of an earlier version (every hint 0: the
 * shard orders it had). */
static cd_code load_estimates(cd_job *j, cd_err *err)
{
    char path[PATH_MAX];
    path_join(path, sizeof path, j->dir, "estimates");
    cd_code rc = cd_estimate_read(path, &j->est, &j->nest, err);
    if (rc == CD_ENOTFOUND)
        cd_err_clear(err);
    return rc == CD_ENOTFOUND ? CD_OK : rc;
}

/* A resumed job's shards must be those its journal numbers (DIR/shards; a job of an earlier
 * version has no list and is not checked). */
static cd_code same_shards(const cd_job *j, cd_err *err)
{
    char path[PATH_MAX];
    path_join(path, sizeof path, j->dir, "shards");
    char **names;
    int n;
    cd_code rc = cd_shards_read(path, &names, &n, err);
    if (rc == CD_ENOTFOUND) {
        cd_err_clear(err);
        return CD_OK;
    }
    if (rc == CD_OK)
        rc = cd_shards_same(names, n, &j->w, j->dir, path, err);
    cd_shards_free(names, n);
    return rc;
}

/* Workload (ov: values given instead of its file's), search, scheduler, the directories
 * and the first trials. */
static cd_code setup(cd_job *j, const cd_workload_source *src, const cd_workload_override *ov,
                     int nov, cd_err *err)
{
    char sub[PATH_MAX];
    find_trainer(j);
    cd_code rc = cd_workload_load_from(&j->w, src, ov, nov, err);
    if (rc == CD_OK && !j->creating && !j->readonly)
        rc = same_shards(j, err);
    if (rc == CD_OK && j->w.citus_saved)
        rc = cd_cluster_saved(j->dir, &j->w, err);
    else if (rc == CD_OK && j->w.citus != NULL)
        rc = cd_cluster_workers(j->dir, &j->w, j->readonly, stderr, err);
    if (rc == CD_OK)
        job_numerics(j);
    if (rc == CD_OK)
        rc = cd_search_new(&j->search, &j->w, err);
    if (rc == CD_OK)
        rc = make_sched(j, err);
    const char *subs[] = {"models", "logs", "ckpt"};
    for (int i = 0; rc == CD_OK && !j->readonly && i < 3; i++) {
        path_join(sub, sizeof sub, j->dir, subs[i]);
        rc = cd_mkdir_p(sub, err);
    }
    if (rc == CD_OK && !j->creating)
        rc = load_estimates(j, err);
    if (rc == CD_OK)
        rc = sync_trials(j, err);
    return rc;
}

static cd_code open_journal(cd_job *j, cd_err *err)
{
    char path[PATH_MAX];
    path_join(path, sizeof path, j->dir, "journal");
    return cd_journal_open(&j->journal, path, err);
}

static void job_init(cd_job *j, const char *dir)
{
    memset(j, 0, sizeof *j);
    j->lock_fd = -1;
    snprintf(j->dir, sizeof j->dir, "%s", dir);
}

/* A job directory that holds a job (its journal) is not made again. */
static cd_code no_job_yet(const char *dir, cd_err *err)
{
    char path[PATH_MAX];
    path_join(path, sizeof path, dir, "journal");
    if (access(path, F_OK) != 0)
        return CD_OK;
    cd_fail(err, CD_EINVAL, "job directory \"%s\" already holds a job", dir);
    return cd_hint(err, "continue it with `cerebro-sched resume %s`, or choose another --job", dir);
}

cd_code cd_job_create(cd_job *j, const char *workload_path, const char *dir, cd_err *err)
{
    job_init(j, dir);
    char path[PATH_MAX], abs[PATH_MAX];
    cd_code rc = no_job_yet(dir, err);
    if (rc != CD_OK)
        return rc;
    char *text = NULL;
    cd_err why = {0};
    if (cd_read_file(workload_path, &text, NULL, &why) != CD_OK ||
        realpath(workload_path, abs) == NULL) {
        free(text);
        cd_fail(err, CD_ENOTFOUND, "could not read workload \"%s\"", workload_path);
        return cd_detail(err, "%s", why.msg[0] ? why.msg : strerror(errno));
    }
    rc = cd_mkdir_p(dir, err);
    if (rc == CD_OK)
        rc = take_lock(j, err);
    if (rc == CD_OK) /* again under the lock: another run may have made it since */
        rc = no_job_yet(dir, err);
    j->creating = true;
    cd_workload_source src = {.path = abs};
    if (rc == CD_OK)
        rc = setup(j, &src, NULL, 0, err);
    j->creating = false;
    path_join(path, sizeof path, dir, "estimates");
    if (rc == CD_OK)
        rc = cd_estimate_write(path, j->est, j->nest, err);
    path_join(path, sizeof path, dir, "shards");
    if (rc == CD_OK && j->w.citus == NULL)
        rc = cd_shards_write(path, &j->w, err);
    path_join(path, sizeof path, dir, "workload.ini");
    if (rc == CD_OK)
        rc = write_text(path, text, err);
    path_join(path, sizeof path, dir, "workload.path");
    strcat(abs, "\n");
    if (rc == CD_OK)
        rc = write_text(path, abs, err);
    if (rc == CD_OK)
        rc = open_journal(j, err);
    j->live = rc == CD_OK;
    free(text);
    return rc;
}

/* The workload file the job was started with, unchanged since; or, when from_copy is not
 * NULL (looking at the job), *from_copy set when it changed or vanished (the job's copy is to
 * be read). */
static cd_code job_workload(const char *dir, char *wpath, size_t size, bool *from_copy, cd_err *err)
{
    char path[PATH_MAX];
    path_join(path, sizeof path, dir, "workload.path");
    char *p = NULL;
    cd_err why = {0};
    if (cd_read_file(path, &p, NULL, &why) != CD_OK) {
        cd_fail(err, CD_ENOTFOUND, "\"%s\" is not a cerebro-sched job directory", dir);
        return cd_detail(err, "%s", why.msg);
    }
    p[strcspn(p, "\n")] = '\0';
    snprintf(wpath, size, "%s", p);
    free(p);
    path_join(path, sizeof path, dir, "workload.ini");
    char *copy = NULL, *now = NULL;
    size_t ncopy = 0, nnow = 0; /* by length: a NUL byte and more after it is a change */
    bool same = cd_read_file(path, &copy, &ncopy, &why) == CD_OK &&
                cd_read_file(wpath, &now, &nnow, &why) == CD_OK && ncopy == nnow &&
                memcmp(copy, now, ncopy) == 0;
    bool have_copy = copy != NULL;
    free(copy);
    free(now);
    if (!same && from_copy != NULL && have_copy) {
        *from_copy = true;
        return CD_OK;
    }
    if (!same) {
        cd_fail(err, CD_EINVAL, "workload \"%s\" changed or vanished since the job started", wpath);
        return cd_hint(err, "restore it from \"%s\"", path);
    }
    return CD_OK;
}

static cd_code replay(cd_job *j, cd_err *err)
{
    char path[PATH_MAX];
    cd_jrec *recs;
    int n;
    path_join(path, sizeof path, j->dir, "journal");
    cd_code rc = cd_journal_read(path, &recs, &n, err);
    for (int i = 0; rc == CD_OK && i < n; i++)
        rc = apply(j, &recs[i], false, err);
    free(recs);
    /* a resumed run gives every worker and every trial a new chance */
    memset(j->worker_fails, 0, (size_t)j->w.nworkers * sizeof *j->worker_fails);
    for (int w = 0; w < j->w.nworkers; w++)
        j->suspect[w] = -1;
    for (int t = 0; t < j->ntrials; t++)
        j->trials[t].blame = 0;
    if (rc != CD_OK)
        cd_context(err, "replaying \"%s\"", path);
    return rc;
}

cd_code cd_job_open(cd_job *j, const char *dir, bool lock, cd_err *err)
{
    return cd_job_open_with(j, dir, lock, NULL, 0, err);
}

cd_code cd_job_open_with(cd_job *j, const char *dir, bool lock, const cd_workload_override *ov,
                         int nov, cd_err *err)
{
    job_init(j, dir);
    j->readonly = !lock;
    char wpath[PATH_MAX], copy[PATH_MAX], shards[PATH_MAX], workers[PATH_MAX];
    cd_code rc = job_workload(dir, wpath, sizeof wpath, lock ? NULL : &j->from_copy, err);
    if (rc == CD_OK && lock)
        rc = take_lock(j, err);
    path_join(copy, sizeof copy, dir, "workload.ini");
    path_join(shards, sizeof shards, dir, "shards");
    path_join(workers, sizeof workers, dir, "workers");
    cd_workload_source src = {.path = wpath,
                              .copy = j->from_copy ? copy : NULL,
                              .shards = lock ? NULL : shards,
                              .lenient = !lock,
                              .citus_saved = !lock && access(workers, F_OK) == 0};
    if (rc == CD_OK)
        rc = setup(j, &src, ov, nov, err);
    if (rc == CD_OK)
        rc = replay(j, err);
    if (rc == CD_OK && lock)
        rc = open_journal(j, err);
    j->live = rc == CD_OK && lock; /* trials added from now on are new to the job */
    return rc;
}

void cd_job_close(cd_job *j)
{
    cd_journal_close(&j->journal);
    for (int t = j->ntrials - 1; t >= 0; t--) {
        free(j->trials[t].shard_done);
        free(j->trials[t].ep);
    }
    free(j->trials);
    free(j->pending_valid);
    free(j->est);
    free(j->worker_out_before);
    free(j->worker_out);
    free(j->suspect);
    free(j->worker_fails);
    cd_sched_free(&j->sched);
    cd_seen_free(&j->seen);
    cd_search_free(&j->search);
    cd_workload_free(&j->w);
    if (j->lock_fd >= 0)
        close(j->lock_fd);
    j->lock_fd = -1;
}

/* ---- queries ---- */

long cd_job_units_done(const cd_job *j)
{
    long n = 0;
    for (int t = 0; t < j->ntrials; t++)
        n += (long)j->trials[t].epochs_done * j->w.nshards + j->trials[t].units_in_epoch;
    return n;
}

void cd_job_best(const cd_job *j, int *t, int *epoch, double *score)
{
    *t = -1;
    *epoch = 0;
    *score = 0;
    for (int i = 0; i < j->ntrials; i++) {
        const cd_trial_state *s = &j->trials[i];
        if (s->best_epoch > 0 && (*t < 0 || s->best_score > *score)) {
            *t = i;
            *epoch = s->best_epoch;
            *score = s->best_score;
        }
    }
}

bool cd_job_finished(const cd_job *j)
{
    return cd_sched_finished(j->sched) && j->npending == 0;
}
