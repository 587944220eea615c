/*
 * test_search.c: search procedures (scheduler/search.h): grid count and order (the shipped
 * Fashion-MNIST grid included), random determinism and ranges, hyperband's brackets and
 * rungs (R = 9 and R = 81 with eta = 3 against Li et al.'s table), promotion of the best
 * 1/eta with ties by trial id, targets, stopped flags, and whole simulated runs.
 * The shipped workload is loaded over a mkdtemp shard tree under /tmp, removed at the end.
 */
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "search.h"
#include "unit.h"

/* ---- in-memory workloads ---- */

static char *list_a[] = {"1", "2", "3"};
static char *list_b[] = {"x", "y"};

static cd_workload grid_workload(void)
{
    static cd_search_key keys[2];
    keys[0] =
        (cd_search_key){.key = "train.lr", .dist = CD_DIST_LIST, .values = list_a, .nvalues = 3};
    keys[1] = (cd_search_key){
        .key = "model.layers", .dist = CD_DIST_LIST, .values = list_b, .nvalues = 2};
    return (cd_workload){.keys = keys, .nkeys = 2, .procedure = CD_PROC_GRID, .epochs = 4};
}

static cd_workload random_workload(uint64_t seed, int n)
{
    static cd_search_key keys[3];
    keys[0] =
        (cd_search_key){.key = "train.lr", .dist = CD_DIST_LOGUNIFORM, .lo = 1e-5, .hi = 1e-1};
    keys[1] =
        (cd_search_key){.key = "train.momentum", .dist = CD_DIST_UNIFORM, .lo = 0.5, .hi = 0.9};
    keys[2] = (cd_search_key){
        .key = "train.batch_size", .dist = CD_DIST_LIST, .values = list_a, .nvalues = 3};
    return (cd_workload){.keys = keys,
                         .nkeys = 3,
                         .procedure = CD_PROC_RANDOM,
                         .epochs = 2,
                         .n = n,
                         .search_seed = seed};
}

static cd_workload hyperband_workload(int R, int eta)
{
    cd_workload w = random_workload(3, 0);
    w.procedure = CD_PROC_HYPERBAND;
    w.R = R;
    w.eta = eta;
    return w;
}

static cd_search *new_search(const cd_workload *w)
{
    cd_search *s = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_search_new(&s, w, &err), CD_OK, &err);
    return s;
}

/* ---- grid ---- */

static void test_grid_order(void)
{
    cd_workload w = grid_workload();
    cd_search *s = new_search(&w);
    if (s == NULL)
        return;
    static const char *const want[][2] = {{"1", "x"}, {"1", "y"}, {"2", "x"},
                                          {"2", "y"}, {"3", "x"}, {"3", "y"}};
    CHECK_EQ_INT(cd_search_ntrials(s), 6);
    for (int id = 0; id < 6; id++) {
        const cd_trial *t = cd_search_trial(s, id);
        CHECK(strcmp(t->config.values[0], want[id][0]) == 0);
        CHECK(strcmp(t->config.values[1], want[id][1]) == 0);
        CHECK(t->target == 4 && t->final && !t->stopped && t->bracket == 0 && t->rung == 0);
    }
    CHECK(cd_search_trial(s, 6) == NULL && cd_search_trial(s, -1) == NULL);
    /* nothing is ever decided: done once every trial reported its last epoch */
    for (int id = 0; id < 6; id++)
        for (int e = 1; e <= 4; e++) {
            CHECK(!cd_search_done(s));
            CHECK(!cd_search_waiting(s, id, e));
            CHECK(!cd_search_report(s, id, e, 0.5));
        }
    CHECK(cd_search_done(s));
    cd_search_free(&s);
    CHECK(s == NULL);

    w.nkeys = 0; /* no searched key: the base model once */
    s = new_search(&w);
    CHECK(s != NULL && cd_search_ntrials(s) == 1);
    cd_search_free(&s);
}

static void test_grid_too_big(void)
{
    static char *many[1001];
    for (int i = 0; i < 1001; i++)
        many[i] = "v";
    cd_search_key keys[2] = {{.key = "train.lr", .values = many, .nvalues = 1001},
                             {.key = "train.eps", .values = many, .nvalues = 1000}};
    cd_workload w = {.keys = keys, .nkeys = 2, .procedure = CD_PROC_GRID, .epochs = 1};
    cd_search *s = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_search_new(&s, &w, &err), CD_EINVAL, &err);
    CHECK(s == NULL && strstr(err.msg, "more than") != NULL);
}

static char dir[] = "/tmp/cd-test-search-XXXXXX";

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void test_grid_shipped(void)
{
    char train[PATH_MAX], valid[PATH_MAX];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(train, sizeof train, "%s/train", dir);
    snprintf(valid, sizeof valid, "%s/train/part0", dir);
    CHECK(mkdir(train, 0755) == 0 && mkdir(valid, 0755) == 0);
    snprintf(valid, sizeof valid, "%s/train/part0/x.npy", dir);
    FILE *f = fopen(valid, "w");
    CHECK(f != NULL && fclose(f) == 0);
    snprintf(valid, sizeof valid, "%s/train/part0", dir);
    cd_workload_override ov[] = {{"data", "train", train}, {"data", "valid", valid}};
    cd_workload w;
    cd_err err = {0};
    CHECK_CODE(cd_workload_load_with(&w, "conf/workloads/fashion-grid.ini", ov, 2, &err), CD_OK,
               &err);
    cd_search *s = err.code == CD_OK ? new_search(&w) : NULL;
    if (s != NULL) {
        CHECK_EQ_INT(cd_search_ntrials(s), 16);
        const cd_trial *first = cd_search_trial(s, 0), *t1 = cd_search_trial(s, 1);
        const cd_trial *last = cd_search_trial(s, 15);
        CHECK(strstr(first->config.values[0], "fashion-mlp.ini") != NULL);
        CHECK(strcmp(first->config.values[1], "0.001") == 0);
        CHECK(strcmp(first->config.values[2], "64") == 0);
        CHECK(strcmp(first->config.values[3], "0.0001") == 0);
        CHECK(strcmp(t1->config.values[3], "0.00001") == 0); /* the last key varies fastest */
        CHECK(strcmp(t1->config.values[2], "64") == 0);
        CHECK(strstr(last->config.values[0], "fashion-cnn.ini") != NULL);
        CHECK(strcmp(last->config.values[1], "0.0001") == 0);
        CHECK(strcmp(last->config.values[2], "256") == 0);
        CHECK(last->target == 10 && last->final);
        cd_search_free(&s);
    }
    cd_workload_free(&w);
    CHECK(nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) == 0);
}

/* ---- random ---- */

static void test_random(void)
{
    cd_workload w = random_workload(42, 400);
    cd_search *a = new_search(&w), *b = new_search(&w);
    w.search_seed = 43;
    cd_search *c = new_search(&w);
    if (a == NULL || b == NULL || c == NULL)
        return;
    CHECK_EQ_INT(cd_search_ntrials(a), 400);
    int below_mid = 0, differ = 0, seen[3] = {0};
    for (int id = 0; id < 400; id++) {
        char **va = cd_search_trial(a, id)->config.values;
        char **vb = cd_search_trial(b, id)->config.values;
        char **vc = cd_search_trial(c, id)->config.values;
        for (int k = 0; k < 3; k++)
            CHECK(strcmp(va[k], vb[k]) == 0); /* the same seed: the same trials */
        differ += strcmp(va[0], vc[0]) != 0;
        double lr = atof(va[0]), mom = atof(va[1]);
        CHECK(lr >= 1e-5 && lr <= 1e-1);
        CHECK(mom >= 0.5 && mom <= 0.9);
        CHECK(strlen(va[0]) <= 12); /* %.6g */
        below_mid += lr < 1e-3;     /* the geometric middle: half of a log-uniform sample */
        seen[atoi(va[2]) - 1]++;
        CHECK(cd_search_trial(a, id)->target == 2 && cd_search_trial(a, id)->final);
    }
    CHECK(differ > 390);
    if (below_mid < 160 || below_mid > 240)
        fprintf(stderr, "  %d of 400 below 1e-3\n", below_mid);
    CHECK(below_mid >= 160 && below_mid <= 240); /* uniform in [1e-5, 1e-1] would give ~4 */
    for (int i = 0; i < 3; i++)
        CHECK(seen[i] > 100);
    cd_search_free(&a);
    cd_search_free(&b);
    cd_search_free(&c);
}

/* ---- hyperband ---- */

/* Brackets and rung-0 targets of hyperband(R, eta) against sizes[] and targets[]. */
static void check_brackets(int R, int eta, const int *sizes, const int *targets, int nb)
{
    cd_workload w = hyperband_workload(R, eta);
    cd_search *s = new_search(&w);
    if (s == NULL)
        return;
    int id = 0;
    for (int b = 0; b < nb; b++)
        for (int i = 0; i < sizes[b]; i++, id++) {
            const cd_trial *t = cd_search_trial(s, id);
            CHECK(t != NULL && t->bracket == b && t->rung == 0 && t->target == targets[b]);
            CHECK(t != NULL && t->final == (b == nb - 1) && !t->stopped);
        }
    CHECK_EQ_INT(cd_search_ntrials(s), id);
    cd_search_free(&s);
}

static void test_hyperband_brackets(void)
{
    /* R = 9, eta = 3: s_max = 2; n = ceil(3/3*9), ceil(3/2*3), ceil(3/1*1); r = 9/9, 9/3, 9 */
    check_brackets(9, 3, (const int[]){9, 5, 3}, (const int[]){1, 3, 9}, 3);
    /* Li et al., Table 1 (R = 81, eta = 3) */
    check_brackets(81, 3, (const int[]){81, 34, 15, 8, 5}, (const int[]){1, 3, 9, 27, 81}, 5);
    /* R not a power of eta: floor(R * eta^-s); R below eta: one bracket of one config */
    check_brackets(10, 3, (const int[]){9, 5, 3}, (const int[]){1, 3, 10}, 3);
    check_brackets(2, 3, (const int[]){1}, (const int[]){2}, 1);
    check_brackets(8, 2, (const int[]){8, 6, 4, 4}, (const int[]){1, 2, 4, 8}, 4);
}

/* Report scores[i] for trials first.. at their targets, in order `order` (indices). */
static bool report_rung(cd_search *s, int first, const double *scores, const int *order, int n)
{
    bool changed = false;
    for (int k = 0; k < n; k++) {
        int id = first + order[k];
        const cd_trial *t = cd_search_trial(s, id);
        CHECK(!changed); /* nothing is decided before the rung's last report */
        changed = cd_search_report(s, id, t->target, scores[order[k]]);
    }
    return changed;
}

static void test_hyperband_promotion(void)
{
    /* bracket 0 of R = 9, eta = 3: trials 0-8 */
    static const double scores[9] = {0.5, 0.9, 0.5, 0.8, 0.1, NAN, 0.5, 0.3, 0.2};
    static const int forward[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    static const int backward[9] = {8, 7, 6, 5, 4, 3, 2, 1, 0};
    for (int pass = 0; pass < 2; pass++) {
        cd_workload w = hyperband_workload(9, 3);
        cd_search *s = new_search(&w);
        if (s == NULL)
            return;
        CHECK(!cd_search_report(s, 0, 0, 1.0)); /* below the target: only counts */
        CHECK(!cd_search_waiting(s, 0, 0));
        CHECK(report_rung(s, 0, scores, pass ? backward : forward, 9));
        /* best 3 of 9: 0.9 (1), 0.8 (3), then the tie at 0.5 goes to the lowest id (0) */
        for (int id = 0; id < 9; id++) {
            const cd_trial *t = cd_search_trial(s, id);
            bool kept = id == 1 || id == 3 || id == 0;
            CHECK(t->stopped == !kept);
            CHECK_EQ_INT(t->target, kept ? 3 : 1);
            CHECK_EQ_INT(t->rung, kept ? 1 : 0);
            CHECK(!t->final);
            CHECK(cd_search_waiting(s, id, 1) == false); /* kept: target 3; others: stopped */
            CHECK(cd_search_waiting(s, id, 3) == kept);
        }
        CHECK(!cd_search_report(s, 5, 2, 1.0)); /* a stopped trial: ignored */
        CHECK(!cd_search_report(s, 99, 1, 1.0) && !cd_search_report(s, -1, 1, 1.0));
        /* rung 1: 3 trials to 3 epochs, the best one (a tie: the lowest id) to 9 */
        CHECK(!cd_search_report(s, 3, 3, 0.7));
        CHECK(!cd_search_report(s, 3, 3, 0.99)); /* a second score for the rung: ignored */
        CHECK(!cd_search_report(s, 1, 3, 0.6));
        CHECK(cd_search_report(s, 0, 3, 0.7));
        CHECK(!cd_search_trial(s, 0)->stopped && cd_search_trial(s, 0)->final);
        CHECK(cd_search_trial(s, 0)->target == 9 && cd_search_trial(s, 0)->rung == 2);
        CHECK(cd_search_trial(s, 1)->stopped && cd_search_trial(s, 3)->stopped);
        CHECK(!cd_search_waiting(s, 0, 9)); /* final: nothing to wait for */
        CHECK(!cd_search_done(s));          /* brackets 1 and 2 have not reported */
        cd_search_free(&s);
    }
}

/* A deterministic score of a trial after an epoch. */
static double score_of(int id, int epoch)
{
    return (double)((id * 37) % 17) / 17.0 + 0.01 * epoch;
}

/* Train every trial an epoch at a time until the search is done; returns the epochs
 * trained, *finished the trials that trained a final target. */
static int simulate(cd_search *s, int *finished)
{
    int n = cd_search_ntrials(s), total = 0;
    int *done = calloc((size_t)n, sizeof *done);
    *finished = 0;
    for (int round = 0; round < 1000 && !cd_search_done(s); round++)
        for (int id = 0; id < n; id++) {
            const cd_trial *t = cd_search_trial(s, id);
            if (t->stopped || done[id] >= t->target || cd_search_waiting(s, id, done[id]))
                continue;
            done[id]++;
            total++;
            cd_search_report(s, id, done[id], score_of(id, done[id]));
        }
    for (int id = 0; id < n; id++) {
        const cd_trial *t = cd_search_trial(s, id);
        *finished += !t->stopped && t->final && done[id] == t->target;
    }
    free(done);
    return total;
}

static void test_hyperband_run(void)
{
    cd_workload w = hyperband_workload(9, 3);
    cd_search *s = new_search(&w);
    if (s == NULL)
        return;
    CHECK(!cd_search_done(s));
    int finished;
    /* bracket 0: 9x1 + 3x2 + 1x6; bracket 1: 5x3 + 1x6; bracket 2: 3x9 */
    CHECK_EQ_INT(simulate(s, &finished), 9 + 6 + 6 + 15 + 6 + 27);
    CHECK_EQ_INT(finished, 1 + 1 + 3);
    CHECK(cd_search_done(s));
    int stopped = 0;
    for (int id = 0; id < cd_search_ntrials(s); id++)
        stopped += cd_search_trial(s, id)->stopped;
    CHECK_EQ_INT(stopped, 17 - 5);
    /* the same run again: the same survivors */
    cd_search *again = new_search(&w);
    if (again != NULL) {
        simulate(again, &finished);
        for (int id = 0; id < cd_search_ntrials(s); id++)
            CHECK(cd_search_trial(s, id)->stopped == cd_search_trial(again, id)->stopped);
        cd_search_free(&again);
    }
    cd_search_free(&s);

    w = hyperband_workload(81, 3);
    s = new_search(&w);
    if (s != NULL) {
        /* 81 + 27x2 + 9x6 + 3x18 + 1x54; 34x3 + 11x6 + 3x18 + 1x54; 15x9 + 5x18 + 1x54;
         * 8x27 + 2x54; 5x81 */
        int want =
            (81 + 54 + 54 + 54 + 54) + (102 + 66 + 54 + 54) + (135 + 90 + 54) + (216 + 108) + 405;
        CHECK_EQ_INT(simulate(s, &finished), want);
        CHECK_EQ_INT(finished, 1 + 1 + 1 + 2 + 5);
        CHECK(cd_search_done(s));
        cd_search_free(&s);
    }
}

int main(void)
{
    RUN(test_grid_order);
    RUN(test_grid_too_big);
    RUN(test_grid_shipped);
    RUN(test_random);
    RUN(test_hyperband_brackets);
    RUN(test_hyperband_promotion);
    RUN(test_hyperband_run);
    return UNIT_DONE();
}
