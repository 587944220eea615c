/*
 * test_rows.c: the packing of models into rows of the Latin square (scheduler/rows.h): equal
 * or unknown costs give row i mod S, costly models get rows of their own, MULTIFIT wins
 * where LPT is not optimal, rows already loaded are topped up, and the same costs always
 * give the same rows. How the rows bring schedules to the lower bound is test_sim.c's.
 */
#include <math.h>

#include "rows.h"
#include "unit.h"

static double largest(const double *load, int n)
{
    double m = load[0];
    for (int i = 1; i < n; i++)
        m = fmax(m, load[i]);
    return m;
}

static void test_equal_and_unknown(void)
{
    double cost[10], load[4] = {0};
    int count[4] = {0}, row[10];
    cd_err err = {0};
    for (int i = 0; i < 10; i++)
        cost[i] = 2.5;
    CHECK_CODE(cd_rows_pack(cost, 10, 4, load, count, row, &err), CD_OK, &err);
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(row[i], i % 4);
    CHECK(load[0] == 7.5 && load[3] == 5);
    CHECK(count[0] == 3 && count[1] == 3 && count[2] == 2 && count[3] == 2);
    /* unknown costs (0, negative, NaN) count as the mean of the known ones: here none */
    double unknown[6] = {0, -1, NAN, 0, 0, 0}, l2[4] = {0};
    int c2[4] = {0}, r2[6];
    CHECK_CODE(cd_rows_pack(unknown, 6, 4, l2, c2, r2, &err), CD_OK, &err);
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(r2[i], i % 4);
    CHECK(l2[0] == 2 && l2[2] == 1);
}

/* Two-mode costs: the slow models in rows of their own, the fast ones filling the others. */
static void test_costly_models_apart(void)
{
    /* 16 models, 5 slow (4) at ids 2, 6, 8, 11, 14 as in bench/sched.sh's seed 7 of M = 16,
     * 30% slow, l_m / l_s = 4; i mod 8 would put 0 and 8, 6 and 14 together */
    double cost[16], load[8] = {0};
    int count[8] = {0}, row[16];
    cd_err err = {0};
    for (int i = 0; i < 16; i++)
        cost[i] = (i == 2 || i == 6 || i == 8 || i == 11 || i == 14) ? 4 : 1;
    CHECK_CODE(cd_rows_pack(cost, 16, 8, load, count, row, &err), CD_OK, &err);
    for (int i = 0; i < 16; i++)
        for (int j = i + 1; j < 16; j++)
            if (cost[i] == 4 && cost[j] == 4)
                CHECK(row[i] != row[j]);
    CHECK(largest(load, 8) == 4); /* the bound: max(31 / 8, 4) */
}

/* {3, 3, 2, 2, 2} in 2 rows: LPT gives 7 (3+2+2, 3+2), first-fit decreasing into 6 gives
 * 3+3 and 2+2+2. */
static void test_multifit_beats_lpt(void)
{
    double cost[] = {2, 3, 2, 3, 2}, load[2] = {0};
    int count[2] = {0}, row[5];
    cd_err err = {0};
    CHECK_CODE(cd_rows_pack(cost, 5, 2, load, count, row, &err), CD_OK, &err);
    CHECK(load[0] == 6 && load[1] == 6);
    CHECK(row[1] == row[3] && row[0] == row[2] && row[2] == row[4] && row[0] != row[1]);
    CHECK(count[row[1]] == 2 && count[row[0]] == 3);
}

/* A second batch tops up the rows of the first: the lightest rows first. */
static void test_loaded_rows(void)
{
    double load[3] = {5, 0, 2}, cost[] = {4, 1};
    int count[3] = {2, 0, 1}, row[2];
    cd_err err = {0};
    CHECK_CODE(cd_rows_pack(cost, 2, 3, load, count, row, &err), CD_OK, &err);
    CHECK_EQ_INT(row[0], 1);
    CHECK_EQ_INT(row[1], 2);
    CHECK(load[0] == 5 && load[1] == 4 && load[2] == 3);
    CHECK(count[1] == 1 && count[2] == 2);
    CHECK_CODE(cd_rows_pack(cost, 2, 0, load, count, row, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_rows_pack(cost, 0, 3, load, count, row, &err), CD_OK, &err);
}

/* The rows are a function of the costs alone: the same costs, the same rows, and a model's
 * row does not depend on how costs of other models tie. */
static void test_deterministic(void)
{
    uint64_t st = 99;
    for (int trial = 0; trial < 50; trial++) {
        int n = 1 + (int)(st % 40), S = 1 + (int)((st >> 8) % 9);
        double cost[40], la[9] = {0}, lb[9] = {0};
        int ca[9] = {0}, cb[9] = {0}, ra[40], rb[40];
        for (int i = 0; i < n; i++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            cost[i] = 1 + (double)(st >> 60);
        }
        cd_err err = {0};
        CHECK_CODE(cd_rows_pack(cost, n, S, la, ca, ra, &err), CD_OK, &err);
        CHECK_CODE(cd_rows_pack(cost, n, S, lb, cb, rb, &err), CD_OK, &err);
        CHECK(memcmp(ra, rb, (size_t)n * sizeof *ra) == 0);
        double total = 0, top = 0;
        for (int i = 0; i < n; i++) {
            CHECK(ra[i] >= 0 && ra[i] < S);
            total += cost[i];
            top = fmax(top, cost[i]);
        }
        /* LPT's guarantee: within 4/3 of the bound max(total / S, the largest cost) */
        CHECK(largest(la, S) <= 4.0 / 3 * fmax(total / S, top) + 1e-9);
    }
}

int main(void)
{
    RUN(test_equal_and_unknown);
    RUN(test_costly_models_apart);
    RUN(test_multifit_beats_lpt);
    RUN(test_loaded_rows);
    RUN(test_deterministic);
    return UNIT_DONE();
}
