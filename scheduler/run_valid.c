/*
 * run_valid.c: validation of finished epochs (see run_int.h): the checkpoint at the end of
 * an epoch is scored by `cerebro-train eval` over the validation shards, one process per
 * part (workload.h: one on this host for a directory or pg: valid; one per worker host for
 * a citus: valid, over the host's shards through the launcher), one epoch at a time. The
 * parts' results are combined weighted by rows, so the mean loss and accuracy are those of
 * one eval over every shard. Under model_store = copy a part on a worker host gets the model
 * file and checkpoint on stdin (`eval --stdio`, store.h). A failed part fails the epoch's
 * validation, which is tried again (every part) up to `retries` times in a row, then held
 * for the rest of the run (valid_failed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "commands.h"
#include "run_int.h"
#include "store.h"

bool cd_valid_busy(const runner *r)
{
    for (int i = 0; i < r->nvalid; i++)
        if (r->slots[r->j->w.nworkers + i].busy)
            return true;
    return false;
}

/* Start part p of the validation r->v on its slot. */
static cd_code start_part(runner *r, int p, const char *ckpt, cd_err *err)
{
    cd_job *j = r->j;
    const cd_valid_part *part = &j->w.valid_parts[p];
    struct slot *s = &r->slots[j->w.nworkers + p];
    bool copy = j->w.model_store == CD_STORE_COPY && part->host != NULL;
    char threads[16], what[64];
    char *argv[16 + 2 * 1024];
    int k = 0;
    snprintf(threads, sizeof threads, "%d", j->w.threads);
    snprintf(what, sizeof what, "t%03d-e%d-valid%s", r->v.trial, r->v.epoch,
             r->nvalid > 1 ? "-" : "");
    if (r->nvalid > 1)
        snprintf(what + strlen(what), sizeof what - strlen(what), "%d", p);
    argv[k++] = j->trainer;
    argv[k++] = "eval";
    if (copy) {
        argv[k++] = "--stdio";
    } else {
        argv[k++] = "--model";
        argv[k++] = j->trials[r->v.trial].model_path;
        argv[k++] = "--ckpt";
        argv[k++] = (char *)ckpt;
    }
    for (int i = 0; i < part->ndata && i < 1024; i++) {
        argv[k++] = "--data";
        argv[k++] = part->data[i];
    }
    const char *tail[] = {"--threads", threads, "--blas-core", j->blas_core};
    for (int i = 0; i < 4; i++)
        argv[k++] = (char *)tail[i];
    argv[k] = NULL;
    s->valid = true;
    s->part = p;
    const char *send[] = {j->trials[r->v.trial].model_path, ckpt, ""};
    return cd_run_start(r, s, argv, part->host, what, copy ? send : NULL, err);
}

void cd_valid_start(runner *r)
{
    cd_job *j = r->j;
    if (cd_valid_busy(r) || j->npending == 0 || j->w.nvalid_parts == 0 || r->valid_held)
        return;
    int t = j->pending_valid[0], e = 1;
    while (e <= j->trials[t].epochs_done && j->trials[t].ep[e - 1].validated)
        e++;
    char ckpt[PATH_MAX];
    cd_job_ckpt_epoch(j, t, e, ckpt, sizeof ckpt);
    memset(&r->v, 0, sizeof r->v);
    r->v.trial = t;
    r->v.epoch = e;
    cd_err err = {0};
    for (int p = 0; p < j->w.nvalid_parts; p++) {
        if (start_part(r, p, ckpt, &err) != CD_OK) {
            cd_run_fail(r, &err);
            return;
        }
        r->v.left++;
    }
}

/* The validation of r->v failed (reason): tried again, or, after `retries` failures in a
 * row, held for the rest of the run: training goes on, and the job stops with this error
 * when nothing else can run (run.c; a host that is down then has its shards named). */
static void valid_failed(runner *r)
{
    cd_err *err = &r->valid_err;
    fprintf(stderr, CD_SCHED_PROG ": validation of t%03d epoch %d failed: %s\n", r->v.trial,
            r->v.epoch, r->v.reason);
    if (++r->valid_failures > r->j->w.retries) {
        cd_fail(err, CD_EIO, "validation of trial %d epoch %d failed %d times", r->v.trial,
                r->v.epoch, r->valid_failures);
        cd_detail(err, "the last: %s (log \"%s\")", r->v.reason, r->v.log);
        cd_hint(err, "fix it, then continue with `cerebro-sched resume %s`", r->j->dir);
        r->valid_held = true;
    }
}

/* One part's result, or why it has none (reason set). */
static bool part_result(runner *r, struct slot *s, int status, unit_result *u)
{
    const cd_valid_part *part = &r->j->w.valid_parts[s->part];
    cd_err err = {0};
    char what[300];
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    snprintf(what, sizeof what, "the validation answer of host %.200s",
             part->host ? part->host : "localhost");
    if (ok && s->copy && cd_store_result(s->ans, what, s->out, &err) != CD_OK)
        snprintf(s->why, sizeof s->why, "%s%s%s", err.msg, err.detail[0] ? "; " : "", err.detail);
    if (ok && s->why[0] == '\0' && cd_run_read_result(s->out, u))
        return true;
    if (r->v.reason[0] == '\0') {
        cd_run_failure_reason(s, status, r->v.reason, sizeof r->v.reason);
        if (part->host != NULL) {
            char on[sizeof r->v.reason];
            snprintf(on, sizeof on, "on %s: %s", part->host, r->v.reason);
            snprintf(r->v.reason, sizeof r->v.reason, "%s", on);
        }
        snprintf(r->v.log, sizeof r->v.log, "%s", s->log);
    }
    return false;
}

void cd_valid_exited(runner *r, struct slot *s, int status)
{
    unit_result u;
    if (part_result(r, s, status, &u)) {
        r->v.rows += u.rows;
        r->v.loss += u.loss * u.rows;
        r->v.correct += u.acc * u.rows;
    }
    if (--r->v.left > 0)
        return;
    if (r->v.reason[0] != '\0') {
        valid_failed(r);
        return;
    }
    r->valid_failures = 0;
    double rows = r->v.rows > 0 ? r->v.rows : 1;
    cd_jrec rec = {.kind = CD_J_VALID,
                   .model = r->v.trial,
                   .epoch = r->v.epoch,
                   .loss = r->nvalid > 1 ? r->v.loss / rows : u.loss,
                   .accuracy = r->nvalid > 1 ? r->v.correct / rows : u.acc};
    cd_err err = {0};
    if (cd_job_record(r->j, &rec, &err) != CD_OK)
        cd_run_fail(r, &err);
    char event[160];
    snprintf(event, sizeof event, "trial t%03d epoch %d: validation loss %.4f, accuracy %.4f",
             r->v.trial, r->v.epoch, rec.loss, rec.accuracy);
    cd_run_progress(r, event);
}
