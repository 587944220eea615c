/*
 * run.c: `cerebro-sched run` and `resume`: the event-driven driver of a job (job.h). Each
 * worker runs at most one `cerebro-train train` unit at a time, chosen by the MOP policy
 * (policy.h); finished epochs are validated by `cerebro-train eval` on this host, one at a
 * time. The loop (loop.h) sleeps until a child exits, a unit times out or a signal arrives;
 * every outcome is journaled (fsync) before the next decision.
 *
 * Faults: a unit that fails or times out is journaled as a failure and runs again from the
 * same input checkpoint (on another worker, or after its worker trained another trial,
 * where it can: policy.h); a worker with `retries` consecutive failures is taken out, and the job
 * stops with an error naming the shard when no live worker reaches a shard still needed. A
 * trial with `retries` failures counted against it (each on a worker that then trained
 * another trial: job.h) is taken out of the run; the others go on, and the run ends with an
 * error naming it.
 * SIGINT / SIGTERM stop the running trainers and exit 128 + signal; `resume` continues.
 *
 * Under model_store = copy a unit's trainer runs `train --stdio`: its request is written
 * before it starts, its answer verified and stored after it exits 0 (store.h); a damaged or
 * cut answer fails the unit like any other failure, and the files go when the unit ends.
 */
#include <dirent.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "data_pg.h"
#include "job.h"
#include "launch.h"
#include "loop.h"
#include "report.h"
#include "commands.h"
#include "run_int.h"
#include "store.h"

double cd_run_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cd_run_fail(runner *r, const cd_err *e)
{
    if (!r->fatal) {
        r->err = *e;
        r->fatal = true;
    }
}

/* ---- the trainer's JSON line ---- */

static bool json_number(const char *text, const char *key, double *out)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    char *end;
    if (p == NULL)
        return false;
    *out = strtod(p + strlen(pat), &end);
    return end != p + strlen(pat);
}

/* The string value of "key" (no escapes: cerebro-train's strings have none), "" if absent. */
static void json_string(const char *text, const char *key, char *out, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(text, pat);
    out[0] = '\0';
    if (p == NULL)
        return;
    p += strlen(pat);
    size_t n = strcspn(p, "\"");
    if (p[n] == '"' && n < size) {
        memcpy(out, p, n);
        out[n] = '\0';
    }
}

bool cd_run_read_result(const char *path, unit_result *u)
{
    char buf[4096] = "";
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    json_string(buf, "numerics", u->numerics, sizeof u->numerics);
    json_string(buf, "input_numerics", u->input_numerics, sizeof u->input_numerics);
    json_string(buf, "cut", u->cut, sizeof u->cut);
    json_string(buf, "content", u->content, sizeof u->content);
    json_string(buf, "snapshot", u->snapshot, sizeof u->snapshot);
    if (!cd_fp_valid(u->numerics) || !cd_fp_valid(u->input_numerics))
        u->numerics[0] = u->input_numerics[0] = '\0';
    return json_number(buf, "rows", &u->rows) && json_number(buf, "loss", &u->loss) &&
           json_number(buf, "accuracy", &u->acc);
}

/* The last line of the process's log that is not a DETAIL or HINT; when there is none, that
 * the log is empty, and whether its file system is full (the message could not be kept). */
static void last_message(const char *log, char *last, size_t size)
{
    char line[200];
    last[0] = '\0';
    FILE *f = fopen(log, "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "HINT", 4) != 0 && strncmp(line, "DETAIL", 6) != 0)
            snprintf(last, size, "%s", line);
    if (f != NULL)
        fclose(f);
    last[strcspn(last, "\n")] = '\0';
    struct statvfs fs;
    if (last[0] == '\0')
        snprintf(last, size, "no message: its log \"%.100s\" is empty%s", log,
                 statvfs(log, &fs) == 0 && fs.f_bavail == 0 ? " and its file system is full" : "");
}

/* Why a process failed: its exit, and the last line of its stderr. */
void cd_run_failure_reason(const struct slot *s, int status, char *buf, size_t size)
{
    char last[200];
    if (s->why[0] != '\0') { /* the reason is known: the log is not read */
        snprintf(buf, size, "%s", s->why);
    } else {
        last_message(s->log, last, sizeof last);
        if (s->timed_out)
            snprintf(buf, size, "timed out; %s", last);
        else if (WIFSIGNALED(status))
            snprintf(buf, size, "killed by signal %d; %s", WTERMSIG(status), last);
        else
            snprintf(buf, size, "exit status %d; %s", WEXITSTATUS(status), last);
    }
    for (char *p = buf; *p; p++) /* one line, one journal field: no tab, CR or control */
        *p = (unsigned char)*p < ' ' ? ' ' : *p;
}

/* ---- progress ---- */

void cd_run_progress(runner *r, const char *event)
{
    cd_job *j = r->j;
    int running = 0, live = 0, bt, be;
    double best;
    for (int w = 0; w < j->w.nworkers; w++) {
        running += r->slots[w].busy;
        live += !j->worker_out[w];
    }
    long done = cd_job_units_done(j), total = done + cd_sched_units_left(j->sched) + running;
    double eta = live ? cd_sched_work_left(j->sched) / live : 0;
    cd_job_best(j, &bt, &be, &best);
    char bests[96] = "";
    if (bt >= 0)
        snprintf(bests, sizeof bests, ", best %.4f (t%03d epoch %d)", best, bt, be);
    char etas[48] = "ETA ?"; /* the estimates are in seconds once a unit has ended */
    if (done > 0)
        snprintf(etas, sizeof etas, "ETA %.0f s", eta);
    if (r->tty)
        fprintf(stderr, "\r\033[Kunits %ld/%ld, running %d, %s%s", done, total, running, etas,
                bests);
    else if (event != NULL)
        fprintf(stderr, CD_SCHED_PROG ": %s [units %ld/%ld%s]\n", event, done, total, bests);
}

/* ---- units ---- */

static void unit_exited(void *arg, pid_t pid, int status);
static void dispatch(runner *r);

static void unit_timeout(void *arg, uint64_t id)
{
    struct slot *s = arg;
    s->timed_out = true;
    kill(-s->pid, SIGKILL);
}

static void unit_argv(runner *r, int w, const cd_unit *u, char **argv, char bufs[4][PATH_MAX])
{
    cd_job *j = r->j;
    cd_job_ckpt_current(j, u->model, bufs[0], PATH_MAX);
    cd_job_ckpt_next(j, u->model, bufs[1], PATH_MAX);
    snprintf(bufs[2], PATH_MAX, "%d", u->epoch);
    snprintf(bufs[3], PATH_MAX, "%d", j->w.threads);
    const char *dev = j->w.workers[w].device ? j->w.workers[w].device : "cpu";
    const char *v[] = {j->trainer,    "train",      "--model",  j->trials[u->model].model_path,
                       "--ckpt",      bufs[0],      "--data",   cd_job_shard_path(j, w, u->shard),
                       "--epoch",     bufs[2],      "--out",    bufs[1],
                       "--threads",   bufs[3],      "--device", dev,
                       "--blas-core", j->blas_core, NULL};
    /* model_store = copy: the model file and checkpoints travel on stdin and stdout */
    const char *c[] = {
        j->trainer, "train",       "--stdio",    "--data", cd_job_shard_path(j, w, u->shard),
        "--epoch",  bufs[2],       "--threads",  bufs[3],  "--device",
        dev,        "--blas-core", j->blas_core, NULL};
    if (j->w.model_store == CD_STORE_COPY)
        memcpy(argv, c, sizeof c);
    else
        memcpy(argv, v, sizeof v);
}

/* Start argv for slot s, its stdout and stderr in logs/N-what.json and .log. send (model
 * file, input checkpoint, output checkpoint; NULL under model_store = shared and for
 * validation): the unit's request goes on stdin, its answer to xfer/N-what.ans (store.h). */
cd_code cd_run_start(runner *r, struct slot *s, char **argv, const char *host, const char *what,
                     const char *const *send, cd_err *err)
{
    cd_job *j = r->j;
    long n = ++r->seq;
    snprintf(s->out, sizeof s->out, "%s/logs/%06ld-%s.json", j->dir, n, what);
    snprintf(s->log, sizeof s->log, "%s/logs/%06ld-%s.log", j->dir, n, what);
    bool ssh = j->w.launcher == CD_LAUNCH_SSH && host != NULL;
    cd_launch l = {ssh ? j->w.ssh_command : NULL, host, NULL, s->out, s->log};
    cd_code rc = CD_OK;
    s->copy = send != NULL;
    s->bytes_in = s->bytes_out = 0;
    if (s->copy) {
        snprintf(s->req, sizeof s->req, "%s/xfer/%06ld-%s.req", j->dir, n, what);
        snprintf(s->ans, sizeof s->ans, "%s/xfer/%06ld-%s.ans", j->dir, n, what);
        snprintf(s->dest, sizeof s->dest, "%s", send[2]);
        l.in_path = s->req;
        l.out_path = s->ans;
        rc = cd_store_request(s->req, send[0], send[1], &s->bytes_in, err);
    }
    if (rc == CD_OK)
        rc = cd_launch_start(&l, argv, &s->pid, err);
    if (rc == CD_OK)
        rc = cd_loop_child(r->loop, s->pid, unit_exited, s, err);
    if (rc != CD_OK) {
        if (s->copy)
            unlink(s->req);
        return rc;
    }
    s->busy = true;
    s->timed_out = false;
    s->why[0] = '\0';
    s->start = cd_run_wall();
    s->timer = 0; /* a training or validation process runs at most unit_timeout seconds */
    if (j->w.unit_timeout > 0)
        s->timer = cd_loop_timer(r->loop, cd_loop_now() + j->w.unit_timeout, unit_timeout, s);
    return CD_OK;
}

static void start_unit(runner *r, int w, const cd_unit *u)
{
    struct slot *s = &r->slots[w];
    char bufs[4][PATH_MAX], what[64];
    char *argv[20];
    unit_argv(r, w, u, argv, bufs);
    snprintf(what, sizeof what, "t%03d-e%d-s%d", u->model, u->epoch, u->shard);
    s->u = *u;
    cd_err err = {0};
    const char *send[] = {r->j->trials[u->model].model_path, bufs[0], bufs[1]};
    bool copy = r->j->w.model_store == CD_STORE_COPY;
    if (cd_run_start(r, s, argv, r->j->w.workers[w].host, what, copy ? send : NULL, &err) != CD_OK)
        cd_run_fail(r, &err);
}

/* The journal record of the unit in slot s, ended at `end`. */
static cd_jrec unit_record(const runner *r, const struct slot *s, cd_jkind kind, double end)
{
    cd_jrec rec = {.kind = kind,
                   .model = s->u.model,
                   .epoch = s->u.epoch,
                   .shard = s->u.shard,
                   .worker = s->u.worker,
                   .start = s->start,
                   .end = end,
                   .attempt = r->j->trials[s->u.model].attempts + 1,
                   .bytes_in = s->bytes_in,
                   .bytes_out = s->bytes_out};
    return rec;
}

/* A failed unit: journal it, and take the worker out after `retries` failures in a row. */
static cd_code unit_failed(runner *r, struct slot *s, int status, double end, cd_err *err)
{
    cd_job *j = r->j;
    cd_jrec rec = unit_record(r, s, CD_J_FAIL, end);
    cd_run_failure_reason(s, status, rec.reason, sizeof rec.reason);
    snprintf(r->last_fail, sizeof r->last_fail,
             "unit t%03d epoch %d shard %s failed on worker %d: %s", s->u.model, s->u.epoch,
             j->w.shards[s->u.shard], s->u.worker, rec.reason);
    cd_run_progress(r, r->last_fail); /* the event, kept for the stop's message */
    cd_code rc = cd_job_record(j, &rec, err);
    if (rc != CD_OK || j->worker_fails[s->u.worker] < j->w.retries || j->worker_out[s->u.worker])
        return rc;
    cd_jrec out = {.kind = CD_J_OUT, .worker = s->u.worker};
    snprintf(out.reason, sizeof out.reason, "%d failures in a row, the last: %s",
             j->worker_fails[s->u.worker], rec.reason);
    char shard[1024]; /* a pg: shard without its password */
    cd_pg_mask(j->w.workers[s->u.worker].shard, shard, sizeof shard);
    fprintf(stderr, CD_SCHED_PROG ": worker %d (%s:%s) taken out: %s\n", s->u.worker,
            j->w.workers[s->u.worker].host, shard, out.reason);
    return cd_job_record(j, &out, err);
}

/* The fingerprint a unit should have run with: its input checkpoint's, or for a unit from
 * an init checkpoint (none recorded) on a cpu worker, the one every cpu launch is asked for. */
static const char *expected_numerics(const cd_job *j, int w, const unit_result *u)
{
    if (u->input_numerics[0] != '\0')
        return u->input_numerics;
    const char *dev = j->w.workers[w].device;
    return dev == NULL || strcmp(dev, "cpu") == 0 ? j->cpu_numerics : "";
}

/* Report a unit whose fingerprint differs; under numerics = strict it fails (true). */
static bool numerics_differ(runner *r, struct slot *s, const unit_result *u, const char *want)
{
    cd_job *j = r->j;
    char event[900];
    snprintf(event, sizeof event,
             "unit t%03d epoch %d shard %s on worker %d (%s) ran with other numerics than %s%s: "
             "%s; expected %s",
             s->u.model, s->u.epoch, j->w.shards[s->u.shard], s->u.worker,
             j->w.workers[s->u.worker].host,
             u->input_numerics[0] ? "its input checkpoint" : "this host's kernel and threads",
             j->w.numerics_strict ? " (numerics = strict: failed)" : "",
             u->numerics[0] ? u->numerics : "(none reported)", want);
    cd_run_progress(r, event);
    if (j->w.numerics_strict)
        snprintf(s->why, sizeof s->why, "numerics differ from the expected: %s",
                 u->numerics[0] ? u->numerics : "(none reported)");
    return j->w.numerics_strict;
}

/* model_store = copy: verify and store the answer of the unit in slot s; false (s->why
 * set) when it is damaged, cut or foreign. */
/* model_store = shared: the unit's output checkpoint is where the trainer was told to write
 * it, as a non-empty file. A trainer that exits 0 without it (a model_dir that is not shared
 * with the worker's host) would otherwise be journaled as done, and no resume could train the
 * unit again. */
static bool wrote_checkpoint(runner *r, struct slot *s)
{
    char path[PATH_MAX];
    struct stat st;
    cd_job_ckpt_next(r->j, s->u.model, path, sizeof path);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        return true;
    snprintf(s->why, sizeof s->why,
             "the trainer exited 0 but wrote no checkpoint \"%.200s\": is model_dir shared "
             "with the worker's host?",
             path);
    return false;
}

static bool receive(runner *r, struct slot *s)
{
    const cd_worker_spec *w = &r->j->w.workers[s->u.worker];
    char what[160];
    cd_err err = {0};
    snprintf(what, sizeof what, "the answer of worker %d (%.100s)", s->u.worker, w->host);
    if (cd_store_answer(s->ans, what, s->u.epoch, s->dest, s->out, &err) == CD_OK)
        return true;
    snprintf(s->why, sizeof s->why, "%s%s%s", err.msg, err.detail[0] ? "; " : "", err.detail);
    return false;
}

/* A citus: unit's shard against what the job's units read of it on that host (cluster.h):
 * told when it changed (and, once per shard, when that cannot be told). true: the job stops
 * (on_snapshot_change = stop; s->why and r->err say why); under continue the change is
 * journaled and the unit counts. */
static bool snapshot_changed(runner *r, struct slot *s, const unit_result *u, cd_err *err)
{
    cd_job *j = r->j;
    const char *host = j->w.workers[s->u.worker].host, *shard = j->w.shards[s->u.shard];
    char why[400], event[700];
    cd_snap snap = cd_seen_check(&j->seen, s->u.shard, host, u->cut, u->content, why, sizeof why);
    if (snap == CD_SNAP_UNKNOWN && !r->unknown_told[s->u.shard]) {
        r->unknown_told[s->u.shard] = true;
        snprintf(event, sizeof event,
                 "cannot tell whether shard %s on %s changed (%s): a restarted daemon pins on "
                 "first access, without a cut; run `cerebro-ds refresh --cluster`",
                 shard, host, why);
        cd_run_progress(r, event);
    }
    if (snap != CD_SNAP_CHANGED)
        return false;
    snprintf(event, sizeof event, "shard %s on %s changed during the job: %s (%s)", shard, host,
             why, j->w.snapshot_continue ? "on_snapshot_change = continue: going on" : "stopping");
    cd_run_progress(r, event);
    if (!j->w.snapshot_continue) {
        cd_err e = {0};
        snprintf(s->why, sizeof s->why, "shard %s changed: %s", shard, why);
        cd_fail(&e, CD_EINVAL, "shard %s changed during the job (read on %s)", shard, host);
        cd_detail(&e, "%s; its earlier units read the old rows (on_snapshot_change = stop)", why);
        cd_hint(&e,
                "to train on the new rows from here, `cerebro-sched resume %s "
                "--on-snapshot-change continue`; or start a new job",
                j->dir);
        r->snap_err = e;
        return true;
    }
    cd_jrec rec = {.kind = CD_J_CHANGED, .shard = s->u.shard, .worker = s->u.worker};
    snprintf(rec.reason, sizeof rec.reason, "%s", why);
    return cd_job_record(j, &rec, err) != CD_OK;
}

static cd_code unit_succeeded(runner *r, struct slot *s, double end, cd_err *err)
{
    cd_job *j = r->j;
    unit_result u;
    if (s->copy && !receive(r, s))
        return CD_ECORRUPT; /* failed by the caller, with s->why as its reason */
    if (!s->copy && !wrote_checkpoint(r, s))
        return CD_ECORRUPT; /* failed by the caller, with s->why as its reason */
    if (!cd_run_read_result(s->out, &u))
        return cd_fail(err, CD_ECORRUPT, "cerebro-train printed no result line in \"%s\"", s->out);
    const char *want = expected_numerics(j, s->u.worker, &u);
    cd_numerics_check check = want[0] == '\0'                 ? CD_NUM_NONE
                              : strcmp(want, u.numerics) == 0 ? CD_NUM_SAME
                                                              : CD_NUM_DIFFERS;
    if (check == CD_NUM_DIFFERS && numerics_differ(r, s, &u, want))
        return CD_ECORRUPT; /* failed by the caller, with s->why as its reason */
    if (j->w.citus != NULL && snapshot_changed(r, s, &u, err))
        return CD_ECORRUPT; /* failed by the caller, with s->why as its reason */
    cd_jrec rec = unit_record(r, s, CD_J_UNIT, end);
    snprintf(rec.cut, sizeof rec.cut, "%s", u.cut);
    snprintf(rec.content, sizeof rec.content, "%s", u.content);
    rec.rows = (uint64_t)u.rows;
    rec.loss = u.loss;
    rec.accuracy = u.acc;
    rec.check = check;
    snprintf(rec.numerics, sizeof rec.numerics, "%s", u.numerics);
    cd_code rc = cd_job_record(j, &rec, err);
    char event[256];
    snprintf(event, sizeof event, "unit t%03d epoch %d shard %s on worker %d: %.1f s, loss %.4f",
             s->u.model, s->u.epoch, j->w.shards[s->u.shard], s->u.worker, end - s->start, u.loss);
    cd_run_progress(r, event);
    return rc;
}

/* The trainer says the model diverged: not the worker's fault; the trial stops. */
static void unit_diverged(runner *r, struct slot *s, double end)
{
    cd_err err = {0};
    cd_jrec rec = unit_record(r, s, CD_J_DIVERGED, end);
    char event[256];
    snprintf(event, sizeof event,
             "trial t%03d diverged in epoch %d (its loss became NaN or infinite): stopped",
             s->u.model, s->u.epoch);
    cd_run_progress(r, event);
    if (cd_job_record(r->j, &rec, &err) != CD_OK)
        cd_run_fail(r, &err);
}

/* Take trial t out of this run once `retries` failures count against it (job.h). Only a
 * worker's suspect gains a count, when that worker trains another trial: the caller passes
 * the suspect of the worker whose unit ended (-1, -2: none). */
static cd_code take_out_blamed(runner *r, int t, cd_err *err)
{
    cd_job *j = r->j;
    cd_trial_state *s = t >= 0 ? &j->trials[t] : NULL;
    if (s == NULL || s->out || s->diverged || s->blame < j->w.retries)
        return CD_OK;
    cd_jrec rec = {.kind = CD_J_TRIAL_OUT, .model = t};
    snprintf(rec.reason, sizeof rec.reason,
             "%d failures, each on a worker that then trained another trial; the last: %s",
             s->blame, s->last_fail);
    fprintf(stderr, CD_SCHED_PROG ": trial t%03d taken out of this run: %s\n", t, rec.reason);
    return cd_job_record(j, &rec, err);
}

/* A training unit ended with status: journal its outcome. */
static void unit_outcome(runner *r, struct slot *s, int status, double end)
{
    cd_err err = {0};
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) { /* cerebro-train: the model diverged */
        unit_diverged(r, s, end);
        return;
    }
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    int suspect = r->j->suspect[s->u.worker];
    cd_code rc = ok ? unit_succeeded(r, s, end, &err) : unit_failed(r, s, status, end, &err);
    if (rc == CD_ECORRUPT && ok)
        rc = unit_failed(r, s, status, end, &err);
    if (rc == CD_OK)
        rc = take_out_blamed(r, suspect, &err);
    if (rc != CD_OK)
        cd_run_fail(r, &err);
    if (r->snap_err.code != CD_OK) /* on_snapshot_change = stop */
        cd_run_fail(r, &r->snap_err);
}

static void unit_exited(void *arg, pid_t pid, int status)
{
    struct slot *s = arg;
    runner *r = s->r;
    double end = cd_run_wall();
    struct stat st;
    if (s->timer != 0)
        cd_loop_cancel(r->loop, s->timer);
    s->busy = false;
    if (s->copy) /* what arrived, whole or not */
        s->bytes_out = stat(s->ans, &st) == 0 ? (uint64_t)st.st_size : 0;
    bool stopped = r->signo != 0 || r->fatal; /* by us: the unit runs again at resume */
    if (!stopped && s->valid)
        cd_valid_exited(r, s, status);
    else if (!stopped)
        unit_outcome(r, s, status, end);
    if (s->copy) { /* this host keeps the only copies: the streams go, whatever the outcome */
        unlink(s->req);
        unlink(s->ans);
    }
    if (!stopped)
        dispatch(r);
}

/* ---- decisions ---- */

/* Every shard no live worker reaches, quoted, into buf; and the hosts of the workers that
 * were taken out; the number of such shards. */
static int unreachable(const cd_job *j, char *buf, size_t size, char *hosts, size_t hsize)
{
    int n = 0;
    buf[0] = hosts[0] = '\0';
    for (int s = 0; s < j->w.nshards; s++)
        if (cd_sched_shard_unreachable(j->sched, s))
            snprintf(buf + strlen(buf), size - strlen(buf), "%s\"%s\"", n++ ? ", " : "",
                     j->w.shards[s]);
    for (int w = 0; w < j->w.nworkers; w++) {
        const char *h = j->w.workers[w].host;
        char *at = strstr(hosts, h);
        size_t len = strlen(h);
        if (!j->worker_out[w] || j->w.workers[w].gone ||
            (at != NULL && (at[len] == '\0' || at[len] == ',')))
            continue;
        snprintf(hosts + strlen(hosts), hsize - strlen(hosts), "%s%s", hosts[0] ? ", " : "", h);
    }
    return n;
}

/* The trials taken out in this run, "t001, t004", into buf; how many. */
static int trials_out(const cd_job *j, char *buf, size_t size)
{
    int n = 0;
    buf[0] = '\0';
    for (int t = 0; t < j->ntrials; t++)
        if (j->trials[t].out && strlen(buf) + 8 < size)
            snprintf(buf + strlen(buf), size - strlen(buf), "%st%03d", n++ ? ", " : "", t);
    return n;
}

static void trials_out_error(const cd_job *j, const char *names, int n, cd_err *err)
{
    int first = 0;
    while (!j->trials[first].out)
        first++;
    bool one = n == 1;
    cd_fail(err, CD_EIO,
            "%s %s %s taken out of this run: %s units kept failing on workers that trained "
            "other trials in between",
            one ? "trial" : "trials", names, one ? "was" : "were", one ? "its" : "their");
    cd_detail(err,
              "the other trials trained as far as they could; t%03d: %s; see the \"trialout\" "
              "and \"fail\" records in \"%s/journal\" and the logs in \"%s/logs\"",
              first, j->trials[first].out_reason, j->dir, j->dir);
    cd_hint(err,
            "fix what makes %s fail (the model files are in %s/models), then continue with "
            "`cerebro-sched resume %s`, which gives %s a new chance",
            one ? "it" : "them", j->dir, j->dir, one ? "it" : "them");
}

static void stalled(runner *r)
{
    cd_job *j = r->j;
    char shards[900], hosts[300];
    int n = unreachable(j, shards, sizeof shards, hosts, sizeof hosts);
    cd_err err = {0};
    if (n > 0) {
        cd_fail(&err, CD_EIO, "%s %s cannot be trained: every worker that reaches %s was taken out",
                n > 1 ? "shards" : "shard", shards, n > 1 ? "them" : "it");
        cd_detail(&err,
                  "workers taken out on %s; the last failure: %s; see the \"out\" and "
                  "\"fail\" records in \"%s/journal\" and the logs in \"%s/logs\"",
                  hosts, r->last_fail[0] ? r->last_fail : "(none in this run)", j->dir, j->dir);
        cd_hint(&err, "fix the workers, then continue with `cerebro-sched resume %s`", j->dir);
    } else if ((n = trials_out(j, shards, sizeof shards)) > 0) {
        trials_out_error(j, shards, n, &err);
    } else if (r->valid_held) {
        err = r->valid_err;
    } else {
        cd_fail(&err, CD_EINVAL, "the scheduler has nothing to run but the job is not finished");
    }
    cd_run_fail(r, &err);
}

static void dispatch(runner *r)
{
    cd_job *j = r->j;
    if (r->fatal || r->signo != 0) {
        cd_loop_stop(r->loop);
        return;
    }
    bool running = cd_valid_busy(r);
    for (int w = 0; w < j->w.nworkers && !r->fatal; w++) {
        cd_unit u;
        if (!r->slots[w].busy && !j->worker_out[w] && cd_sched_next(j->sched, w, cd_run_wall(), &u))
            start_unit(r, w, &u);
        running |= r->slots[w].busy;
    }
    cd_valid_start(r);
    running |= cd_valid_busy(r);
    if (!running && !r->fatal) {
        if (cd_job_finished(j))
            cd_loop_stop(r->loop);
        else
            stalled(r);
    }
    if (r->fatal)
        cd_loop_stop(r->loop);
    cd_run_progress(r, NULL);
}

static void on_signal(void *arg, int signo)
{
    runner *r = arg;
    if (r->signo == 0)
        r->signo = signo;
    for (int i = 0; i < r->j->w.nworkers + r->nvalid; i++)
        if (r->slots[i].busy)
            kill(-r->slots[i].pid, SIGTERM);
}

/* Wait for the children after a stop (they were signalled or are finishing). */
static void drain(runner *r)
{
    for (int i = 0; i < r->j->w.nworkers + r->nvalid; i++)
        if (r->slots[i].busy)
            kill(-r->slots[i].pid, SIGTERM);
    cd_err err = {0};
    while (cd_loop_children(r->loop) > 0)
        if (cd_loop_run(r->loop, &err) != CD_OK)
            break;
}

/* The highest process number in DIR/logs: a resumed job numbers its logs after it. */
static long last_log(const cd_job *j)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/logs", j->dir);
    DIR *d = opendir(path);
    long last = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        long n = strtol(e->d_name, NULL, 10);
        last = n > last ? n : last;
    }
    if (d != NULL)
        closedir(d);
    return last;
}

/* A citus: train: every worker host shows one cut (cluster.h), journaled when new. */
static cd_code check_cut(cd_job *j, cd_err *err)
{
    char cut[128], logs[PATH_MAX];
    snprintf(logs, sizeof logs, "%s/logs", j->dir);
    double timeout = j->w.unit_timeout > 0 ? j->w.unit_timeout : 60;
    cd_code rc = cd_cluster_cut(&j->w, logs, timeout, cut, sizeof cut, err);
    if (rc != CD_OK || strcmp(cut, j->cut) == 0)
        return rc;
    if (j->cut[0] != '\0')
        fprintf(stderr,
                CD_SCHED_PROG ": the cut of %s changed since the job last ran: %s -> %s; each "
                              "unit compares what it reads with what the job read before\n",
                j->w.citus->dir, j->cut, cut);
    cd_jrec rec = {.kind = CD_J_CUT};
    snprintf(rec.cut, sizeof rec.cut, "%s", cut);
    return cd_job_record(j, &rec, err);
}

static int drive(cd_job *j)
{
    runner r = {.j = j, .tty = isatty(2), .seq = last_log(j)};
    static const int sigs[] = {SIGINT, SIGTERM, 0};
    cd_err err = {0};
    r.nvalid = j->w.nvalid_parts > 0 ? j->w.nvalid_parts : 1;
    r.slots = calloc((size_t)(j->w.nworkers + r.nvalid), sizeof *r.slots);
    r.unknown_told = calloc((size_t)j->w.nshards + 1, sizeof *r.unknown_told);
    cd_code rc = r.slots && r.unknown_told ? cd_loop_new(&r.loop, &err)
                                           : cd_fail(&err, CD_ENOMEM, "out of memory");
    for (int i = 0; rc == CD_OK && i < j->w.nworkers + r.nvalid; i++)
        r.slots[i].r = &r;
    if (rc == CD_OK)
        rc = cd_loop_signals(r.loop, sigs, on_signal, &r, &err);
    if (rc == CD_OK && j->w.model_store == CD_STORE_COPY && !j->done)
        rc = cd_store_prepare(j->dir, &err);
    if (rc == CD_OK && j->w.citus != NULL && !j->done)
        rc = check_cut(j, &err);
    if (rc == CD_OK && !j->done) {
        dispatch(&r);
        if (!r.fatal && r.signo == 0)
            rc = cd_loop_run(r.loop, &err);
        drain(&r);
    }
    if (r.tty)
        fputc('\n', stderr);
    if (rc == CD_OK && r.fatal) {
        err = r.err;
        rc = err.code ? err.code : CD_EIO;
    }
    bool finished = rc == CD_OK && r.signo == 0 && (j->done || cd_job_finished(j));
    if (finished && !j->done)
        rc = cd_job_record(j, &(cd_jrec){.kind = CD_J_DONE}, &err);
    cd_code rrc = cd_report_write(j, finished, rc == CD_OK ? &err : &(cd_err){0});
    if (rc == CD_OK)
        rc = rrc;
    cd_loop_free(&r.loop);
    free(r.unknown_told);
    free(r.slots);
    if (rc != CD_OK) {
        cd_err_print(stderr, CD_SCHED_PROG, &err);
        return 1;
    }
    if (r.signo != 0) {
        fprintf(stderr,
                CD_SCHED_PROG ": stopped by signal %d; continue with `" CD_SCHED_PROG
                              " resume %s`\n",
                r.signo, j->dir);
        return 128 + r.signo;
    }
    fprintf(stderr, CD_SCHED_PROG ": job \"%s\" finished: see %s/leaderboard.txt\n", j->dir,
            j->dir);
    return 0;
}

/* ---- commands ---- */

/* Run job j, created or opened with result rc, then close it; the exit status. */
static int drive_and_close(cd_job *j, cd_code rc, const cd_err *err)
{
    int status = 1;
    if (rc != CD_OK)
        cd_err_print(stderr, CD_SCHED_PROG, err);
    else
        status = drive(j);
    cd_job_close(j);
    return status;
}

static const char run_usage[] =
    "Usage: " CD_SCHED_PROG " run WORKLOAD.ini [--job DIR]\n"
    "       " CD_SCHED_PROG " resume DIR [--on-snapshot-change stop|continue]\n";

int cd_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {{"job", required_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = "job";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(run_usage, stdout);
            return 0;
        }
        if (c != 'j')
            return cd_usage_error(CD_SCHED_PROG, "invalid option for run%s", "");
        dir = optarg;
    }
    if (optind != argc - 1)
        return cd_usage_error(CD_SCHED_PROG, "run takes one workload file%s", "");
    cd_job j;
    cd_err err = {0};
    return drive_and_close(&j, cd_job_create(&j, argv[optind], dir, &err), &err);
}

int cd_cmd_resume(int argc, char **argv)
{
    static const struct option opts[] = {{"on-snapshot-change", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    cd_workload_override ov = {"scheduler", "on_snapshot_change", NULL};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(run_usage, stdout);
            return 0;
        }
        if (c != 's')
            return cd_usage_error(CD_SCHED_PROG, "invalid option for resume%s", "");
        ov.value = optarg;
    }
    if (optind != argc - 1)
        return cd_usage_error(CD_SCHED_PROG, "resume takes one job directory%s", "");
    cd_job j;
    cd_err err = {0};
    return drive_and_close(
        &j, cd_job_open_with(&j, argv[optind], true, &ov, ov.value ? 1 : 0, &err), &err);
}
