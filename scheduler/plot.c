/*
 * plot.c: curves.png and schedule.png through gnuplot (see plot.h): the data files and the
 * script in DIR/logs, running gnuplot in DIR, judging its log, renaming the PNGs into place.
 * Reads the job's state and journal records; changes neither.
 * Does not: read the CSV files, or draw anything itself.
 */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"

extern char **environ;

/* One colour per model, told apart (Tableau 10, its grey, kept for failed attempts, replaced
 * by a dark blue); from model 10 on they repeat, lighter (bars) or dashed (curves). */
static const char *const colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#393b79", "#bcbd22", "#17becf"};
enum { NCOLOURS = sizeof colours / sizeof colours[0] };

/* Pixel sizes; the Gantt chart grows with its rows. */
enum { CURVES_W = 1000, CURVES_H = 600, GANTT_W = 1000 };
#define LABEL_CHAR_PX 7.0 /* a character of a bar label (font size 9), wide */
#define BAR_HALF 0.35     /* half a bar's height, in rows: the rest is the gap between rows */

typedef struct range {
    double lo, hi;
    int n;
} range;

/* What the data files hold, for the script. */
typedef struct plot_data {
    bool valid;              /* curves from validation (else training) metrics */
    int *curve;              /* [ncurves] trials with a point, in curves.dat block order */
    int ncurves, maxep;      /* maxep: last epoch with a point */
    range acc, loss;         /* y values of the classifiers' and the MSE models' points... */
    range acc_all, loss_all; /* ...of the trials that did not diverge, and of all */
    int *bar_model;          /* [nbar_models] models with a unit, in gantt.dat block order */
    int nbar_models;
    bool failed, labels; /* gantt.dat has a block of failed attempts, of labels (last) */
    double makespan;     /* seconds, > 0 when there is a unit */
    double plot_px;      /* the Gantt chart's plot area width, about (gantt_plot_px) */
} plot_data;

static void range_add(range *r, double v)
{
    r->lo = r->n ? fmin(r->lo, v) : v;
    r->hi = r->n ? fmax(r->hi, v) : v;
    r->n++;
}

static bool log_scale(const range *r)
{
    return r->lo > 0 && r->hi / r->lo > 100;
}

/* A point of trial t at epoch e: the validation (or training) accuracy, or loss for MSE. */
static bool curve_point(const cd_job *j, bool valid, int t, int e, double *v)
{
    const cd_epoch_stat *st = &j->trials[t].ep[e - 1];
    bool mse = j->trials[t].mse;
    if (valid && !st->validated)
        return false;
    if (!valid && st->rows == 0)
        return false;
    if (valid)
        *v = mse ? st->valid_loss : st->valid_acc;
    else
        *v = (mse ? st->loss_sum : st->correct) / (double)st->rows;
    return isfinite(*v);
}

/* logs/curves.dat: a block "epoch value" per trial with a point (for gnuplot's `index`). */
static bool write_curves(const cd_job *j, plot_data *d, FILE *f)
{
    d->valid = j->w.valid_dir != NULL;
    for (int t = 0; t < j->ntrials; t++) {
        bool any = false;
        for (int e = 1; e <= j->trials[t].epochs_done; e++) {
            double v;
            if (!curve_point(j, d->valid, t, e, &v))
                continue;
            if (!any)
                fprintf(f, "%s# t%03d\n", d->ncurves ? "\n\n" : "", t);
            any = true;
            fprintf(f, "%d %.9g\n", e, v);
            bool mse = j->trials[t].mse;
            range_add(mse ? &d->loss_all : &d->acc_all, v);
            if (!j->trials[t].diverged)
                range_add(mse ? &d->loss : &d->acc, v);
            d->maxep = e > d->maxep ? e : d->maxep;
        }
        if (any)
            d->curve[d->ncurves++] = t;
    }
    /* a diverged trial's last losses (1e24) would flatten the others: its line leaves the
     * plot, unless all diverged */
    if (d->acc.n == 0)
        d->acc = d->acc_all;
    if (d->loss.n == 0)
        d->loss = d->loss_all;
    return !ferror(f);
}

static bool is_unit(const cd_jrec *r)
{
    return r->kind == CD_J_UNIT || r->kind == CD_J_FAIL;
}

static void write_bar(FILE *f, const cd_jrec *r, double t0)
{
    fprintf(f, "%.6f %.6f %d %d\n", r->start - t0, r->end - t0, r->worker, r->epoch);
}

/* "w0 localhost:fm_p0": the worker's number, host and shard (and ":cuda:1" when not on
 * the CPU), the label of its row; it may train the other shards its host reaches too
 * (cd_job_shard_path). Returns its length. */
static int worker_label(const cd_job *j, int w, char *buf, size_t size)
{
    const cd_worker_spec *ws = &j->w.workers[w];
    bool cpu = ws->device == NULL || strcmp(ws->device, "cpu") == 0;
    return snprintf(buf, size, "w%d %s:%s%s%s", w, ws->host, j->w.shards[ws->shard_id],
                    cpu ? "" : ":", cpu ? "" : ws->device);
}

/* The Gantt chart's plot area width, about: the image less the row labels on the left and
 * the key on the right (its widest entry and sample), at ~8 px a character. */
static double gantt_plot_px(const cd_job *j, const plot_data *d)
{
    int left = 0, right = d->failed ? 14 : 5;
    for (int w = 0; w < j->w.nworkers; w++) {
        char buf[512];
        int len = worker_label(j, w, buf, sizeof buf);
        left = len > left ? len : left;
    }
    return fmax(GANTT_W - (70 + 8.0 * left) - (110 + 8.0 * right), 100);
}

/* The label of a unit's bar: "e2 fm_p1" (epoch and shard), or "e2" when only that fits, or
 * none; a line "x worker "text"" of the last block of gantt.dat. */
static void write_label(const cd_job *j, FILE *f, const cd_jrec *r, double t0, plot_data *d)
{
    char text[96];
    double px = (r->end - r->start) / d->makespan * d->plot_px;
    int len = snprintf(text, sizeof text, "e%d %s", r->epoch, j->w.shards[r->shard]);
    if (px < LABEL_CHAR_PX * len + 14)
        len = snprintf(text, sizeof text, "e%d", r->epoch);
    if (px < LABEL_CHAR_PX * len + 14)
        return;
    for (char *c = text; *c; c++)
        if (*c == '"' || *c == '\\' || *c == '\t')
            *c = '_';
    if (!d->labels)
        fputs("\n\n# bar labels\n", f);
    d->labels = true;
    fprintf(f, "%.6f %d \"%s\"\n", (r->start + r->end) / 2 - t0, r->worker, text);
}

/* logs/gantt.dat: "start end worker epoch" blocks, one per model with a unit, then the
 * failed attempts, then the bar labels. */
static bool write_gantt(const cd_job *j, const cd_jrec *recs, int n, plot_data *d, FILE *f)
{
    double t0 = INFINITY, t1 = -INFINITY;
    for (int i = 0; i < n; i++)
        if (is_unit(&recs[i])) {
            t0 = fmin(t0, recs[i].start);
            t1 = fmax(t1, recs[i].end);
        }
    if (!isfinite(t0))
        return true;
    d->makespan = fmax(t1 - t0, 1e-3);
    for (int m = 0; m < j->ntrials; m++) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (recs[i].kind == CD_J_UNIT && recs[i].model == m) {
                if (k++ == 0)
                    fprintf(f, "%s# t%03d\n", d->nbar_models ? "\n\n" : "", m);
                write_bar(f, &recs[i], t0);
            }
        if (k > 0)
            d->bar_model[d->nbar_models++] = m;
    }
    for (int i = 0; i < n; i++)
        if (recs[i].kind == CD_J_FAIL) {
            if (!d->failed)
                fputs("\n\n# failed attempts\n", f);
            d->failed = true;
            write_bar(f, &recs[i], t0);
        }
    d->plot_px = gantt_plot_px(j, d);
    for (int i = 0; i < n; i++)
        if (recs[i].kind == CD_J_UNIT)
            write_label(j, f, &recs[i], t0, d);
    return !ferror(f);
}

/* ---- the script ---- */

/* s as a gnuplot single-quoted string: no escapes but '' for a quote. */
static void gp_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s == '\n' ? ' ' : *s, f);
    }
    fputc('\'', f);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

/* "t003  0.001, 64": the trial and its values (model files by name), at most ~48 chars. */
static void trial_label(const cd_job *j, int t, char *buf, size_t size)
{
    const cd_trial *tr = cd_search_trial(j->search, t);
    size_t len = (size_t)snprintf(buf, size, "t%03d ", t);
    for (int k = 0; k < j->w.nkeys && len < size; k++) {
        const char *v = tr->config.values[k];
        if (strcmp(j->w.keys[k].key, "model.file") == 0)
            v = base_name(v);
        len += (size_t)snprintf(buf + len, size - len, "%s%s", k ? ", " : " ", v);
    }
    if (len >= 48 && size > 48)
        strcpy(buf + 45, "...");
    if (j->trials[t].diverged && strlen(buf) + 12 < size)
        strcat(buf, " (diverged)");
}

static void key_title(const cd_job *j, FILE *f)
{
    char buf[256];
    size_t len = (size_t)snprintf(buf, sizeof buf, "trial ");
    for (int k = 0; k < j->w.nkeys && len < sizeof buf; k++)
        len +=
            (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", k ? ", " : " ", j->w.keys[k].key);
    if (len >= 48)
        strcpy(buf + 45, "...");
    fputs("set key outside right top Left reverse title ", f);
    gp_str(f, buf);
    fputs(" left\n", f);
}

/* set [y|y2]range and, past two decades, a log scale; the range padded by 8% of it. */
static void set_axis(FILE *f, const char *axis, const range *r)
{
    double lo = r->lo, hi = r->hi;
    if (log_scale(r)) {
        fprintf(f, "set logscale %s\nset %srange [%.6g:%.6g]\n", axis, axis, lo / 1.5, hi * 1.5);
        return;
    }
    double pad = hi > lo ? 0.08 * (hi - lo) : fmax(0.05 * fabs(hi), 0.01);
    fprintf(f, "set %srange [%.6g:%.6g]\n", axis, lo - pad, hi + pad);
}

static void script_curves(const cd_job *j, const plot_data *d, FILE *f)
{
    const char *what = d->valid ? "validation" : "training";
    bool mixed = d->acc.n && d->loss.n;
    fprintf(f, "set terminal @TERM noenhanced size %d,%d\n", CURVES_W, CURVES_H);
    fputs("set output 'curves.png.tmp'\n", f);
    if (mixed)
        fprintf(f, "set title '%s accuracy (left) and loss of MSE models (right) per epoch'\n",
                what);
    else
        fprintf(f, "set title '%s %s per epoch, one line per trial'\n", what,
                d->acc.n ? "accuracy" : "loss");
    fputs("set xlabel 'epoch'\nset grid\n", f);
    fprintf(f, "set ylabel '%s %s'\n", what, d->acc.n ? "accuracy" : "loss");
    double pad = fmax(0.04 * (d->maxep - 1), 0.15); /* the first and last points inside */
    fprintf(f, "set xrange [%g:%g]\n", 1 - pad, d->maxep + pad);
    if (d->maxep <= 20)
        fputs("set xtics 1\n", f);
    set_axis(f, "y", d->acc.n ? &d->acc : &d->loss);
    if (mixed) {
        fprintf(f, "set y2label '%s loss'\nset ytics nomirror\nset y2tics\n", what);
        set_axis(f, "y2", &d->loss);
    }
    key_title(j, f);
    fputs("plot ", f);
    for (int i = 0; i < d->ncurves; i++) {
        int t = d->curve[i];
        char label[256];
        trial_label(j, t, label, sizeof label);
        if (mixed && j->trials[t].mse && strlen(label) + 8 < sizeof label)
            strcat(label, " (loss)");
        fprintf(f,
                "%s'logs/curves.dat' index %d using 1:2 %swith linespoints lw 2 pt 7 ps 1.2 "
                "dt %d lc rgb '%s' title ",
                i ? ", \\\n     " : "", i, mixed && j->trials[t].mse ? "axes x1y2 " : "",
                t / NCOLOURS % 4 + 1, colours[t % NCOLOURS]);
        gp_str(f, label);
    }
    fputs("\nunset output\n", f);
}

static void script_gantt(const cd_job *j, const plot_data *d, FILE *f)
{
    int rows = j->w.nworkers, h = 160 + 50 * rows;
    fprintf(f, "reset\nset terminal @TERM noenhanced size %d,%d\n", GANTT_W, h < 400 ? 400 : h);
    fputs("set output 'schedule.png.tmp'\n", f);
    fputs("set title 'schedule: one row per worker, one colour per model; bars: epoch, shard'\n",
          f);
    fputs("set xlabel 'seconds from the first unit'\nset ylabel 'worker (host:shard)'\n", f);
    fprintf(f, "set xrange [0:%.6g]\nset yrange [%g:-0.5]\n", d->makespan, rows - 0.5);
    fputs("set ytics scale 0 (", f);
    for (int w = 0; w < rows; w++) {
        char buf[512];
        worker_label(j, w, buf, sizeof buf);
        fputs(w ? ", " : "", f);
        gp_str(f, buf);
        fprintf(f, " %d", w);
    }
    fputs(")\nset grid xtics back lc rgb '#c8c8c8'\n", f);
    fputs("set key outside right top Left reverse title 'model' left\n", f);
    fputs("set style fill solid 1.0 border lc rgb 'white'\nplot ", f);
    char bar[96];
    snprintf(bar, sizeof bar, "using (($1 + $2) / 2):3:(($2 - $1) / 2):(%g) with boxxyerror",
             BAR_HALF);
    for (int i = 0; i < d->nbar_models; i++) {
        int m = d->bar_model[i];
        fprintf(f,
                "%s'logs/gantt.dat' index %d %s fs solid %.2f border lc rgb 'white' "
                "lc rgb '%s' title 't%03d'",
                i ? ", \\\n     " : "", i, bar, m / NCOLOURS % 2 ? 0.5 : 1.0, colours[m % NCOLOURS],
                m);
    }
    int block = d->nbar_models;
    if (d->failed)
        fprintf(f,
                ", \\\n     'logs/gantt.dat' index %d %s fs pattern 4 border lc rgb '#606060' "
                "lc rgb '#606060' title 'failed attempt'",
                block++, bar);
    if (d->labels)
        fprintf(f,
                ", \\\n     'logs/gantt.dat' index %d using 1:2:3 with labels tc rgb 'white' "
                "font ',9' notitle",
                block);
    fputs("\nunset output\n", f);
}

/* logs/plots.gp: the curves (when a trial has a point), then the Gantt chart (when a unit
 * ran). */
static void write_script(const cd_job *j, const plot_data *d, FILE *f)
{
    fputs("# cerebro-sched's plots of this job (scheduler/plot.h); run in the job directory:\n"
          "#     gnuplot logs/plots.gp\n"
          "TERM = strstrt(GPVAL_TERMINALS, 'pngcairo') > 0 ? 'pngcairo' : 'png'\n",
          f);
    if (d->ncurves > 0)
        script_curves(j, d, f);
    if (d->nbar_models > 0 || d->failed)
        script_gantt(j, d, f);
}

/* Open DIR/logs/NAME for writing into *f; false (and *f NULL) when it cannot be. */
static bool write_log_file(const cd_job *j, const char *name, FILE **f)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/logs/%s", j->dir, name);
    *f = fopen(path, "w");
    return *f != NULL;
}

static cd_code write_inputs(const cd_job *j, const cd_jrec *recs, int n, plot_data *d, cd_err *err)
{
    FILE *f;
    bool ok = write_log_file(j, "curves.dat", &f);
    ok = ok && write_curves(j, d, f);
    ok = (f == NULL || fclose(f) == 0) && ok;
    f = NULL;
    ok = ok && write_log_file(j, "gantt.dat", &f);
    ok = ok && write_gantt(j, recs, n, d, f);
    ok = (f == NULL || fclose(f) == 0) && ok;
    f = NULL;
    ok = ok && write_log_file(j, "plots.gp", &f);
    if (ok)
        write_script(j, d, f);
    ok = ok && !ferror(f);
    ok = (f == NULL || fclose(f) == 0) && ok;
    return ok ? CD_OK
              : cd_fail(err, CD_EIO, "could not write the plot data in \"%s/logs\": %s", j->dir,
                        strerror(errno));
}

/* Run `gnuplot logs/plots.gp` in DIR, its output in logs/gnuplot.log. *status: its wait
 * status, or -1 when gnuplot is not on PATH. */
static cd_code run_gnuplot(const cd_job *j, int *status, cd_err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, j->dir);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "logs/gnuplot.log", O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = {"gnuplot", "logs/plots.gp", NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    *status = -1;
    if (rc == ENOENT)
        return CD_OK;
    if (rc != 0)
        return cd_fail(err, CD_EIO, "could not run gnuplot: %s", strerror(rc));
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return cd_fail(err, CD_EIO, "could not wait for gnuplot: %s", strerror(errno));
    return CD_OK;
}

/* The first non-blank line of logs/gnuplot.log into buf ("" when there is none). */
static void first_log_line(const cd_job *j, char *buf, size_t size)
{
    char path[PATH_MAX], *text = NULL;
    snprintf(path, sizeof path, "%s/logs/gnuplot.log", j->dir);
    buf[0] = '\0';
    if (cd_read_file(path, &text, NULL, &(cd_err){0}) != CD_OK) {
        snprintf(buf, size, "could not read \"%s\"", path);
        return;
    }
    char *line = text + strspn(text, " \t\n");
    snprintf(buf, size, "%.*s", (int)strcspn(line, "\n"), line);
    free(text);
}

/* DIR/NAME.tmp to DIR/NAME when keep, else both removed. */
static bool settle(const cd_job *j, const char *name, bool keep)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/%s", j->dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (keep)
        return rename(tmp, path) == 0;
    unlink(tmp);
    unlink(path);
    return true;
}

/* After gnuplot ran with wait status `status`: the PNGs drawn (curves, gantt) into place,
 * or, when it failed or printed anything, none; the error says what gnuplot said. */
static cd_code judge(const cd_job *j, int status, bool curves, bool gantt, cd_err *err)
{
    char line[512];
    first_log_line(j, line, sizeof line);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && line[0] == '\0';
    bool renamed = settle(j, "curves.png", ok && curves);
    renamed = settle(j, "schedule.png", ok && gantt) && renamed;
    if (ok && renamed)
        return CD_OK;
    if (ok)
        return cd_fail(err, CD_EIO, "could not rename the plots into \"%s\": %s", j->dir,
                       strerror(errno));
    cd_fail(err, CD_EIO, "gnuplot could not draw the plots");
    if (line[0] != '\0')
        cd_detail(err, "gnuplot: %s", line);
    else if (WIFSIGNALED(status))
        cd_detail(err, "gnuplot was killed by signal %d", WTERMSIG(status));
    else
        cd_detail(err, "gnuplot exited with status %d", WEXITSTATUS(status));
    return cd_hint(err, "see %s/logs/gnuplot.log; the script is logs/plots.gp", j->dir);
}

cd_code cd_plot_write(const cd_job *j, const cd_jrec *recs, int n, cd_err *err)
{
    plot_data d = {0};
    d.curve = malloc(((size_t)j->ntrials + 1) * sizeof *d.curve);
    d.bar_model = malloc(((size_t)j->ntrials + 1) * sizeof *d.bar_model);
    cd_code rc = d.curve && d.bar_model ? write_inputs(j, recs, n, &d, err)
                                        : cd_fail(err, CD_ENOMEM, "out of memory");
    free(d.curve);
    free(d.bar_model);
    bool curves = d.ncurves > 0, gantt = d.nbar_models > 0 || d.failed;
    if (rc == CD_OK && !curves && !gantt) { /* nothing to draw; none from before */
        settle(j, "curves.png", false);
        settle(j, "schedule.png", false);
        return CD_OK;
    }
    int status = -1;
    if (rc == CD_OK)
        rc = run_gnuplot(j, &status, err);
    if (rc != CD_OK || status == -1)
        return rc; /* status -1: gnuplot is not installed */
    return judge(j, status, curves, gantt, err);
}
