/*
 * fuzz_workload.c: libFuzzer target for the workload file reader of cerebro-sched
 * (scheduler/workload*.c over libinih and ini_lines.h): the analyst's file that decides which
 * models train on which shards.
 *
 * Input: the workload file, w.ini in a directory of fuzz_dir() that also holds a model file
 * (models/m.ini) and shards (data/train/part0..part2, data/valid). Inputs that name pg: or
 * citus: data, /dev or /proc are skipped: they would connect to a database or read devices.
 * Checks: cd_workload_load returns CD_OK, CD_EINVAL or CD_ENOTFOUND only and frees what it
 * made when it fails; a file with a NUL byte or a line inih would cut is refused; an accepted
 * workload has shards, every worker on one of them and every
 * shard with a worker, searched keys with values (lists) or bounds (lo <= hi, loguniform above
 * 0), the numbers of its procedure in range; the model file of its first configuration (the
 * first value of every key, the lower bound of a range) is written or refused with CD_EINVAL,
 * and, when written, has no line longer than inih reads whole.
 * Seeds: tests/fuzz/seeds/fuzz_workload/, workloads in the forms of conf/workloads (grid,
 * random, hyperband, workers, continued [search] values).
 * Does not: test pg: or citus: data (tests/66-citus-sched.bats), overrides (--set), or load
 * the written model file (its values are the analyst's to choose).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "ini_lines.h"
#include "workload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char model_text[] = "[model]\ninput = 4\nlayers = dense:8, relu, dense:3\n"
                                 "classes = 3\n[train]\noptimizer = adam\nlr = 0.01\n";

static void put(const char *rel, const void *text, size_t n)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), rel);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (n > 0 && fwrite(text, 1, n, f) != n) || fclose(f) != 0)
        abort();
}

static void make_tree(void)
{
    static const char *dirs[] = {"data",
                                 "data/train",
                                 "data/train/part0",
                                 "data/train/part1",
                                 "data/train/part2",
                                 "data/valid",
                                 "models",
                                 "out"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", fuzz_dir(), dirs[i]);
        if (mkdir(path, 0755) != 0)
            abort();
    }
    put("data/valid/x.npy", "", 0);
    put("models/m.ini", model_text, sizeof model_text - 1);
}

/* Inputs that would reach outside the tree: a database, devices, the process table. */
static int reaches_out(const uint8_t *data, size_t size)
{
    static const char *words[] = {"pg:", "citus:", "/dev", "/proc", "/sys"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (memmem(data, size, words[i], strlen(words[i])) != NULL)
            return 1;
    return 0;
}

static void check_workload(const cd_workload *w)
{
    if (w->nshards < 1 || w->nworkers < 1 || w->path == NULL || w->train_dir == NULL)
        abort();
    int *seen = calloc((size_t)w->nshards, sizeof *seen);
    if (seen == NULL)
        abort();
    for (int i = 0; i < w->nworkers; i++) {
        int s = w->workers[i].shard_id;
        if (s < 0 || s >= w->nshards || w->workers[i].host == NULL || w->workers[i].shard == NULL)
            abort();
        seen[s]++;
    }
    for (int s = 0; s < w->nshards; s++)
        if (seen[s] == 0)
            abort();
    free(seen);
    for (int i = 0; i < w->nkeys; i++) {
        const cd_search_key *k = &w->keys[i];
        if ((k->dist == CD_DIST_LIST && (k->nvalues < 1 || k->values == NULL)) ||
            (k->dist != CD_DIST_LIST && !(k->lo <= k->hi)) ||
            (k->dist == CD_DIST_LOGUNIFORM && !(k->lo > 0)))
            abort();
    }
    if ((w->procedure != CD_PROC_HYPERBAND && w->epochs < 1) ||
        (w->procedure == CD_PROC_RANDOM && w->n < 1) ||
        (w->procedure == CD_PROC_HYPERBAND && (w->R < 1 || w->eta < 2)) || w->threads < 1 ||
        w->retries < 0 || !(w->unit_timeout >= 0))
        abort();
}

/* The model file of w's first configuration: written or refused, and readable when written. */
static void check_first_model(const cd_workload *w)
{
    char **values = calloc((size_t)w->nkeys + 1, sizeof *values);
    char(*bounds)[32] = calloc((size_t)w->nkeys + 1, sizeof *bounds);
    if (values == NULL || bounds == NULL)
        abort();
    for (int i = 0; i < w->nkeys; i++) {
        const cd_search_key *k = &w->keys[i];
        snprintf(bounds[i], sizeof bounds[i], "%.17g", k->lo);
        values[i] = k->dist == CD_DIST_LIST ? k->values[0] : bounds[i];
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/out/t000.ini", fuzz_dir());
    cd_config_values c = {values};
    cd_err err;
    cd_code rc = cd_workload_write_model(w, &c, path, &err);
    if (rc == CD_OK) {
        char *text = NULL;
        size_t n = 0;
        FILE *f = fopen(path, "rb");
        if (f == NULL || getdelim(&text, &n, '\0', f) < 0 ||
            fuzz_longest_line(text, strlen(text)) > CD_INI_MAX_LINE - 2)
            abort();
        fclose(f);
        free(text);
    } else if (rc != CD_EINVAL) {
        abort();
    }
    free(bounds);
    free(values);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int made;
    if (!made) {
        make_tree();
        made = 1;
    }
    if (reaches_out(data, size))
        return 0;
    put("w.ini", data, size);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/w.ini", fuzz_dir());
    cd_workload w;
    cd_err err;
    cd_code rc = cd_workload_load(&w, path, &err);
    if (rc == CD_OK) {
        if (!fuzz_ini_readable(data, size, CD_INI_MAX_LINE - 2))
            abort();
        check_workload(&w);
        check_first_model(&w);
        cd_workload_free(&w);
    } else if (rc != CD_EINVAL && rc != CD_ENOTFOUND) {
        abort();
    }
    return 0;
}
