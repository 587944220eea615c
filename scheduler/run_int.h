/*
 * run_int.h: what run.c (the driver: units, decisions, commands) and run_valid.c
 * (validation) share: the slots of trainer processes and the runner. Internal to those
 * files; the interface is commands.h.
 */
#ifndef CD_RUN_INT_H
#define CD_RUN_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "job.h"
#include "loop.h"

struct slot {
    struct runner *r;
    bool busy;
    pid_t pid;
    cd_unit u;
    double start;
    uint64_t timer;
    bool timed_out;
    char why[300]; /* a failure's reason found by the scheduler itself, "" if none */
    bool valid;    /* a validation slot */
    int part;      /* validation: its part (cd_workload.valid_parts) */
    char out[PATH_MAX], log[PATH_MAX];
    bool copy; /* model_store = copy: the unit's streams are req and ans */
    char req[PATH_MAX], ans[PATH_MAX];
    char dest[PATH_MAX];          /* copy: where the answer's checkpoint goes ("": eval) */
    uint64_t bytes_in, bytes_out; /* copy: the request's and the answer's sizes */
};

/* The validation of one epoch: one eval per part, combined when the last one ends. */
typedef struct valid_run {
    int trial, epoch;
    int left;                   /* parts still running */
    double rows, loss, correct; /* sums over the parts: rows, loss x rows, accuracy x rows */
    char reason[300];           /* the first part's failure, "" if none */
    char log[PATH_MAX];         /* its log */
} valid_run;

typedef struct runner {
    cd_job *j;
    cd_loop *loop;
    struct slot *slots; /* [nworkers], then [nvalid] validation slots */
    int nvalid;
    long seq; /* trainer processes started */
    valid_run v;
    int valid_failures;
    bool valid_held;  /* validation failed `retries` times in a row: no more in this run */
    cd_err valid_err; /* why */
    int signo;
    bool fatal;
    cd_err err;
    bool *unknown_told; /* [nshards] an unknown snapshot was told */
    cd_err snap_err;    /* a shard changed under on_snapshot_change = stop */
    bool tty;
    char last_fail[512]; /* the last unit that failed, and why */
} runner;

typedef struct unit_result {
    double rows, loss, acc;
    char numerics[CD_FP_MAX], input_numerics[CD_FP_MAX];
    char cut[128], content[128], snapshot[256];
} unit_result;

double cd_run_wall(void);
/* The first fatal error stops the job. */
void cd_run_fail(runner *r, const cd_err *e);
/* The progress line (a terminal) or an event line. */
void cd_run_progress(runner *r, const char *event);
/* The trainer's JSON line in path; false when it has none. */
bool cd_run_read_result(const char *path, unit_result *u);
/* Why a process failed: its exit, and the last line of its stderr. */
void cd_run_failure_reason(const struct slot *s, int status, char *buf, size_t size);
/* Start argv for slot s on host (NULL: here), logs N-what; send: the copy request (model,
 * input checkpoint, output checkpoint or "" for eval), NULL for none (run.c). */
cd_code cd_run_start(runner *r, struct slot *s, char **argv, const char *host, const char *what,
                     const char *const *send, cd_err *err);

/* run_valid.c: start the validation of the next pending epoch when no part runs; a part
 * ended with status. */
void cd_valid_start(runner *r);
void cd_valid_exited(runner *r, struct slot *s, int status);
bool cd_valid_busy(const runner *r);

#endif
