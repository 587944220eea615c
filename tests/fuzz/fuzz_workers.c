/*
 * fuzz_workers.c: libFuzzer target for the reader of DIR/workers (scheduler/cluster.c), the
 * list of a citus: job's workers that every resume merges with the placements found on the
 * coordinator. The journal names workers by their number in this list, so a file read wrong
 * credits units to the wrong worker or shard.
 *
 * Input: the file DIR/workers, in a directory of fuzz_dir(). The placements found: 3 shards
 * under one table's directory, 4 workers (two placements of the first shard).
 * Checks: cd_cluster_workers returns CD_OK, CD_ECORRUPT or CD_EINVAL only and leaves the
 * workers as found when it fails; a file holding a NUL byte is refused; after a merge, every
 * placement found is exactly one worker that is not gone, with its own shard, and every worker
 * (gone or not) names a shard of the table whose directory ends in that shard's name; the
 * merged list, written back, merges with the same placements to itself (a resume of a resume
 * changes nothing). cd_cluster_saved (a look at the job, nothing found) of any input returns
 * CD_OK or CD_ECORRUPT only, refuses a NUL byte, and gives workers that each name a shard it
 * read; of the merged list written back, exactly that list's shards and workers, none gone.
 * Seeds: tests/fuzz/seeds/fuzz_workers/, files as cerebro-sched writes them: the same
 * placements, one moved, one added.
 * Does not: test the cut (cd_cluster_cut), which runs commands on the worker hosts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TABLE "/mnt/cerebro-ds/db/public.t/"
static char *shards[] = {"s102008", "s102009", "s102010"};
static const cd_worker_spec found[] = {
    {"127.0.0.2", TABLE "s102008", "cpu", 0, false},
    {"127.0.0.3", TABLE "s102009", "cpu", 1, false},
    {"127.0.0.2", TABLE "s102010", "cpu", 2, false},
    {"127.0.0.3", TABLE "s102008", "cpu", 0, false},
};
#define NFOUND (int)(sizeof found / sizeof found[0])

/* A workload with the placements found as its workers (the strings its own, as
 * cd_workload_load leaves them). */
static void init_workload(cd_workload *w)
{
    *w = (cd_workload){.train_dir = TABLE, .shards = shards, .nshards = 3};
    w->workers = calloc(NFOUND, sizeof *w->workers);
    if (w->workers == NULL)
        abort();
    for (int i = 0; i < NFOUND; i++)
        w->workers[i] = (cd_worker_spec){strdup(found[i].host), strdup(found[i].shard),
                                         strdup(found[i].device), found[i].shard_id, false};
    w->nworkers = NFOUND;
}

static int same_worker(const cd_worker_spec *a, const cd_worker_spec *b)
{
    return strcmp(a->host, b->host) == 0 && strcmp(a->shard, b->shard) == 0 &&
           a->shard_id == b->shard_id && a->gone == b->gone;
}

/* The invariants of a merged list; aborts when one does not hold. */
static void check_merged(const cd_workload *w)
{
    int live = 0;
    for (int i = 0; i < w->nworkers; i++) {
        const cd_worker_spec *ws = &w->workers[i];
        if (ws->shard_id < 0 || ws->shard_id >= w->nshards || ws->device == NULL)
            abort();
        const char *base = strrchr(ws->shard, '/');
        if (strcmp(base != NULL ? base + 1 : ws->shard, w->shards[ws->shard_id]) != 0)
            abort();
        live += !ws->gone;
    }
    if (live != NFOUND)
        abort();
    for (int k = 0; k < NFOUND; k++) {
        int n = 0;
        for (int i = 0; i < w->nworkers; i++)
            n += !w->workers[i].gone && same_worker(&w->workers[i], &found[k]);
        if (n != 1)
            abort();
    }
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
}

/* cd_cluster_saved of the file as it is now; aborts when an invariant above does not hold.
 * merged: the list the file was just written from, or NULL. */
static void check_saved(const uint8_t *data, size_t size, const cd_workload *merged)
{
    cd_workload w = {0};
    cd_err err;
    cd_code rc = cd_cluster_saved(fuzz_dir(), &w, &err);
    if (rc != CD_OK && rc != CD_ECORRUPT)
        abort();
    if (rc == CD_OK && data != NULL && memchr(data, '\0', size) != NULL)
        abort();
    for (int i = 0; rc == CD_OK && i < w.nworkers; i++)
        if (w.workers[i].shard_id < 0 || w.workers[i].shard_id >= w.nshards || w.workers[i].gone)
            abort();
    if (merged != NULL &&
        (rc != CD_OK || w.nshards != merged->nshards || w.nworkers != merged->nworkers))
        abort();
    for (int i = 0; merged != NULL && i < w.nshards; i++)
        if (strcmp(w.shards[i], merged->shards[i]) != 0)
            abort();
    for (int i = 0; merged != NULL && i < w.nworkers; i++) {
        cd_worker_spec ws = merged->workers[i];
        ws.gone = false;
        if (!same_worker(&w.workers[i], &ws))
            abort();
    }
    cd_workload_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *log;
    if (log == NULL && (log = fopen("/dev/null", "w")) == NULL)
        abort();
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/workers", fuzz_dir());
    write_file(path, data, size);
    cd_workload w, again;
    cd_err err;
    check_saved(data, size, NULL);
    init_workload(&w);
    cd_code rc = cd_cluster_workers(fuzz_dir(), &w, false, log, &err);
    if (rc == CD_OK) {
        if (memchr(data, '\0', size) != NULL)
            abort();
        check_merged(&w);
        check_saved(NULL, 0, &w);
        init_workload(&again);
        if (cd_cluster_workers(fuzz_dir(), &again, true, log, &err) != CD_OK ||
            again.nworkers != w.nworkers)
            abort();
        for (int i = 0; i < w.nworkers; i++)
            if (!same_worker(&w.workers[i], &again.workers[i]))
                abort();
        cd_workers_free(again.workers, again.nworkers);
    } else if (rc != CD_ECORRUPT && rc != CD_EINVAL) {
        abort();
    } else {
        if (w.nworkers != NFOUND)
            abort();
        for (int i = 0; i < NFOUND; i++)
            if (!same_worker(&w.workers[i], &found[i]))
                abort();
    }
    cd_workers_free(w.workers, w.nworkers);
    return 0;
}
