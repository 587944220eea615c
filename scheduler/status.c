/*
 * status.c: `cerebro-sched status DIR`: the progress of a running, stopped or finished job,
 * from its journal (read only: the job is neither locked nor changed).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "commands.h"
#include "job.h"
#include "report.h"

/* "running (pid N)" when another process holds the job's lock. */
static void run_state(const cd_job *j, char *buf, size_t size)
{
    char path[PATH_MAX], pid[32] = "";
    snprintf(path, sizeof path, "%s/lock", j->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool held = fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) != 0;
    ssize_t n = fd >= 0 ? pread(fd, pid, sizeof pid - 1, 0) : 0;
    pid[n > 0 ? n : 0] = '\0';
    pid[strcspn(pid, "\n")] = '\0';
    if (fd >= 0)
        close(fd);
    if (held)
        snprintf(buf, size, "running (pid %s)", pid);
    else
        snprintf(buf, size, "%s", j->done ? "finished" : "stopped (continue with resume)");
}

static void print_trials(const cd_job *j)
{
    for (int t = 0; t < j->ntrials; t++) {
        const cd_trial_state *s = &j->trials[t];
        const cd_trial *tr = cd_search_trial(j->search, t);
        printf("  t%03d  epochs %d/%d%s", t, s->epochs_done,
               tr->stopped ? s->epochs_done : tr->target, tr->stopped ? " (stopped)" : "");
        if (s->best_epoch > 0)
            printf("  best %.4f at epoch %d", s->best_score, s->best_epoch);
        if (s->diverged)
            printf("  (diverged in epoch %d)", s->epochs_done + 1);
        else if (s->out || s->out_before)
            printf("  (taken out of the last run in epoch %d: %s)", s->epochs_done + 1,
                   s->out_reason);
        putchar('\n');
    }
}

/* The schedule so far against the lower bound of its measured unit times (report.h). */
static void print_span(const cd_job *j)
{
    cd_report_span sp;
    cd_err err = {0};
    if (cd_report_span_of(j, &sp, &err) != CD_OK || sp.units == 0 || sp.bound <= 0)
        return;
    printf("schedule: makespan %.3f s, lower bound %.3f s from the measured unit times, "
           "ratio %.4f\n",
           sp.makespan, sp.bound, sp.makespan / sp.bound);
}

int cd_cmd_status(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
            puts("Usage: " CD_SCHED_PROG " status DIR");
            return 0;
        }
        return cd_usage_error(CD_SCHED_PROG, "status takes one job directory%s", "");
    }
    cd_job j;
    cd_err err = {0};
    if (cd_job_open(&j, argv[1], false, &err) != CD_OK) {
        cd_err_print(stderr, CD_SCHED_PROG, &err);
        cd_job_close(&j);
        return 1;
    }
    char state[64];
    run_state(&j, state, sizeof state);
    long done = cd_job_units_done(&j), left = cd_sched_units_left(j.sched);
    int out = 0, bt, be;
    double best;
    for (int w = 0; w < j.w.nworkers; w++)
        out += j.worker_out[w] || j.worker_out_before[w];
    cd_job_best(&j, &bt, &be, &best);
    printf("job %s: %s\n", j.dir, state);
    printf("workload %s: policy %s, %d trials, %d shards, %d workers (%d taken out)\n", j.w.path,
           cd_policy_name(j.w.policy), j.ntrials, j.w.nshards, j.w.nworkers, out);
    if (j.from_copy)
        printf("  (the file changed or vanished since the job started: this is the job's copy, "
               "%s/workload.ini)\n",
               j.dir);
    if (j.w.citus_saved)
        printf("  (shards and workers as the job's last run found them, %s/workers: the "
               "coordinator is not asked)\n",
               j.dir);
    printf("units %ld done, %ld to go\n", done, left);
    print_span(&j);
    if (bt >= 0)
        printf("best t%03d epoch %d: %.4f\n", bt, be, best);
    print_trials(&j);
    cd_job_close(&j);
    return 0;
}
