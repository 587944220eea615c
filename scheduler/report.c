/*
 * report.c: a job's outputs (see report.h): CSV files, the leaderboard, the best checkpoint
 * and, through plot.c (gnuplot, when it is on PATH), two PNG plots. Reads the job's state
 * and its journal; changes neither.
 */
#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "commands.h"
#include "plot.h"
#include "sim.h"

typedef cd_atomic out;

/* DIR/name through its temporary file (atomicfile.h). */
static cd_code out_open(out *o, const cd_job *j, const char *name, cd_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", j->dir, name);
    return cd_atomic_fopen(o, path, 0644, err);
}

/* Flush, fsync, rename into place, fsync the directory; on a failure the temporary goes. */
static cd_code out_close(out *o, cd_err *err)
{
    return cd_atomic_commit(o, err);
}

/* A CSV field: quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void config_fields(FILE *f, const cd_job *j, int t)
{
    const cd_trial *tr = cd_search_trial(j->search, t);
    for (int k = 0; k < j->w.nkeys; k++) {
        fputc(',', f);
        csv_field(f, tr->config.values[k]);
    }
}

static cd_code write_results(const cd_job *j, cd_err *err)
{
    out o;
    cd_code rc = out_open(&o, j, "results.csv", err);
    if (rc != CD_OK)
        return rc;
    fputs("trial", o.f);
    for (int k = 0; k < j->w.nkeys; k++) {
        fputc(',', o.f);
        csv_field(o.f, j->w.keys[k].key);
    }
    fputs(",epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,seconds\n", o.f);
    for (int t = 0; t < j->ntrials; t++)
        for (int e = 1; e <= j->trials[t].epochs_done; e++) {
            const cd_epoch_stat *st = &j->trials[t].ep[e - 1];
            double rows = st->rows ? (double)st->rows : 1;
            fprintf(o.f, "t%03d", t);
            config_fields(o.f, j, t);
            fprintf(o.f, ",%d,%.6g,%.6g,", e, st->loss_sum / rows, st->correct / rows);
            if (st->validated)
                fprintf(o.f, "%.6g,%.6g", st->valid_loss, st->valid_acc);
            else
                fputc(',', o.f);
            fprintf(o.f, ",%.3f\n", st->seconds);
        }
    return out_close(&o, err);
}

static cd_code write_schedule(const cd_job *j, const cd_jrec *recs, int n, cd_err *err)
{
    out o;
    cd_code rc = out_open(&o, j, "schedule.csv", err);
    if (rc != CD_OK)
        return rc;
    double t0 = 0;
    for (int i = 0; i < n; i++)
        if ((recs[i].kind == CD_J_UNIT || recs[i].kind == CD_J_FAIL) &&
            (t0 == 0 || recs[i].start < t0))
            t0 = recs[i].start;
    fputs("unit,model,epoch,shard,worker,start,end,attempt,outcome,numerics_check,numerics,"
          "bytes_in,bytes_out\n",
          o.f);
    int unit = 0;
    for (int i = 0; i < n; i++) {
        const cd_jrec *r = &recs[i];
        if (r->kind != CD_J_UNIT && r->kind != CD_J_FAIL)
            continue;
        fprintf(o.f, "%d,t%03d,%d,", unit++, r->model, r->epoch);
        csv_field(o.f, j->w.shards[r->shard]);
        fprintf(o.f, ",%d,%.3f,%.3f,%d,", r->worker, r->start - t0, r->end - t0, r->attempt);
        char why[300];
        snprintf(why, sizeof why, "failed: %s", r->reason);
        csv_field(o.f, r->kind == CD_J_UNIT ? "ok" : why);
        fprintf(o.f, ",%s,", cd_numerics_check_name(r->check));
        csv_field(o.f, r->numerics);
        fprintf(o.f, ",%llu,%llu\n", (unsigned long long)r->bytes_in,
                (unsigned long long)r->bytes_out);
    }
    return out_close(&o, err);
}

static int by_score(const void *a, const void *b, void *arg)
{
    const cd_job *j = arg;
    const cd_trial_state *x = &j->trials[*(const int *)a], *y = &j->trials[*(const int *)b];
    if ((x->best_epoch > 0) != (y->best_epoch > 0))
        return x->best_epoch > 0 ? -1 : 1;
    if (x->best_score != y->best_score)
        return x->best_score > y->best_score ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

static cd_code write_leaderboard(const cd_job *j, cd_err *err)
{
    int *order = malloc(((size_t)j->ntrials + 1) * sizeof *order);
    if (order == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    for (int t = 0; t < j->ntrials; t++)
        order[t] = t;
    qsort_r(order, (size_t)j->ntrials, sizeof *order, by_score, (void *)j);
    out o;
    cd_code rc = out_open(&o, j, "leaderboard.txt", err);
    for (int i = 0; rc == CD_OK && i < j->ntrials; i++) {
        const cd_trial_state *s = &j->trials[order[i]];
        fprintf(o.f, "%3d  t%03d  %s %-8.4f  epoch %-3d of %-3d", i + 1, order[i],
                s->mse ? "-loss" : "acc", s->best_score, s->best_epoch, s->epochs_done);
        const cd_trial *tr = cd_search_trial(j->search, order[i]);
        for (int k = 0; k < j->w.nkeys; k++)
            fprintf(o.f, "  %s=%s", j->w.keys[k].key, tr->config.values[k]);
        if (s->diverged)
            fprintf(o.f, "  (diverged in epoch %d)", s->epochs_done + 1);
        else if (s->out || s->out_before)
            fprintf(o.f, "  (taken out in epoch %d: its units kept failing)", s->epochs_done + 1);
        fputc('\n', o.f);
    }
    free(order);
    return rc == CD_OK ? out_close(&o, err) : rc;
}

/* Copy the file `from` to DIR/name, through out_open / out_close. */
static cd_code copy_file(const cd_job *j, const char *from, const char *name, cd_err *err)
{
    FILE *in = fopen(from, "rb");
    if (in == NULL)
        return cd_fail(err, CD_EIO, "could not open \"%s\": %s", from, strerror(errno));
    out o;
    cd_code rc = out_open(&o, j, name, err);
    char buf[1 << 16];
    size_t n;
    bool ok = rc == CD_OK;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, o.f) == n;
    ok = ok && !ferror(in);
    fclose(in);
    if (rc == CD_OK && !ok) {
        cd_atomic_abort(&o);
        rc = cd_fail(err, CD_EIO, "could not copy \"%s\" to \"%s\"", from, o.path);
    }
    return rc == CD_OK ? out_close(&o, err) : rc;
}

static cd_code write_best(const cd_job *j, cd_err *err)
{
    int t, e;
    double score;
    cd_job_best(j, &t, &e, &score);
    if (t < 0)
        return CD_OK;
    char ckpt[PATH_MAX];
    cd_job_ckpt_epoch(j, t, e, ckpt, sizeof ckpt);
    cd_code rc = copy_file(j, ckpt, "best.ckpt", err);
    return rc == CD_OK ? copy_file(j, j->trials[t].model_path, "best.ini", err) : rc;
}

/* ---- plots ---- */

/* Drawn last (plot.h). A plot that fails is a warning: gnuplot is optional, and the job's
 * results and exit status stand (report.h). */
static void write_plots(const cd_job *j, const cd_jrec *recs, int n)
{
    cd_err err = {0};
    if (cd_plot_write(j, recs, n, &err) == CD_OK)
        return;
    fprintf(stderr, CD_SCHED_PROG ": warning: %s\n", err.msg);
    if (err.detail[0] != '\0')
        fprintf(stderr, "DETAIL: %s\n", err.detail);
    if (err.hint[0] != '\0')
        fprintf(stderr, "HINT: %s\n", err.hint);
}

cd_code cd_report_write(cd_job *j, bool finished, cd_err *err)
{
    char path[PATH_MAX];
    cd_jrec *recs = NULL;
    int n = 0;
    snprintf(path, sizeof path, "%s/journal", j->dir);
    cd_code rc = cd_journal_read(path, &recs, &n, err);
    if (rc == CD_OK)
        rc = write_results(j, err);
    if (rc == CD_OK)
        rc = write_schedule(j, recs, n, err);
    if (rc == CD_OK)
        rc = write_leaderboard(j, err);
    if (rc == CD_OK && finished)
        rc = write_best(j, err);
    if (rc == CD_OK)
        write_plots(j, recs, n);
    free(recs);
    return rc;
}

/* ---- the schedule against its lower bound ---- */

static void span_of(const cd_job *j, const cd_jrec *recs, int n, double *cost, cd_report_span *o)
{
    double first = 0, last = 0;
    int S = j->w.nshards;
    bool any = false;
    for (int i = 0; i < n; i++) {
        const cd_jrec *r = &recs[i];
        if (r->kind != CD_J_UNIT && r->kind != CD_J_FAIL)
            continue;
        first = !any || r->start < first ? r->start : first;
        last = !any || r->end > last ? r->end : last;
        any = true;
        if (r->kind == CD_J_UNIT && r->model < j->ntrials && r->shard < S) {
            cost[(size_t)r->model * (size_t)S + (size_t)r->shard] += r->end - r->start;
            o->units++;
        }
    }
    o->makespan = last - first;
}

cd_code cd_report_span_of(const cd_job *j, cd_report_span *span, cd_err *err)
{
    char path[PATH_MAX];
    cd_jrec *recs = NULL;
    int n = 0, S = j->w.nshards, M = j->ntrials;
    *span = (cd_report_span){0};
    snprintf(path, sizeof path, "%s/journal", j->dir);
    cd_code rc = cd_journal_read(path, &recs, &n, err);
    if (rc == CD_ENOTFOUND) {
        cd_err_clear(err);
        return CD_OK; /* nothing ran */
    }
    double *cost = calloc((size_t)(M > 0 ? M : 1) * (size_t)S, sizeof *cost);
    int *alone = malloc((size_t)S * sizeof *alone);
    if (rc == CD_OK && (cost == NULL || alone == NULL))
        rc = cd_fail(err, CD_ENOMEM, "out of memory");
    if (rc == CD_OK) {
        span_of(j, recs, n, cost, span);
        for (int s = 0; s < S; s++)
            alone[s] = cd_sched_sole_worker(j->sched, s);
        span->bound = cd_makespan_bound(cost, M, S, j->w.nworkers, alone);
    }
    free(alone);
    free(cost);
    free(recs);
    return rc;
}
