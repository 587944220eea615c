/*
 * test_optim.c: unit tests for the optimizers (trainer/optim.c).
 *
 * Oracle: PyTorch 1.13 on CPU (foreach=False). tests/unit/data/optim/make-fixtures.py ran
 * 20 steps of each case below on two tensors (8x5 and 12) and saved torch's parameters after
 * every step; each step here must agree within 1e-6 relative (max(|x|, 1) as the scale).
 * Also: stopping after 10 steps, saving the state and restoring it into a new optimizer gives
 * bit-identical parameters to 20 uninterrupted steps; bad configs are refused.
 * Run from the repository root; torch is not needed.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"
#include "optim.h"
#include "unit.h"

#define DATA "tests/unit/data/optim/"
#define STEPS 20
#define NW 40
#define NB 12
#define NP (NW + NB)

typedef struct optim_case {
    const char *name;
    cd_optim_config cfg;
} optim_case;

/* Must match CASES in make-fixtures.py. */
static const optim_case cases[] = {
    {"sgd", {.kind = CD_OPTIM_SGD, .lr = 0.1}},
    {"sgd_wd", {.kind = CD_OPTIM_SGD, .lr = 0.05, .weight_decay = 0.01}},
    {"momentum", {.kind = CD_OPTIM_MOMENTUM, .lr = 0.05, .momentum = 0.9}},
    {"nesterov_wd",
     {.kind = CD_OPTIM_MOMENTUM, .lr = 0.03, .momentum = 0.8, .nesterov = 1, .weight_decay = 1e-3}},
    {"adam", {.kind = CD_OPTIM_ADAM, .lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}},
    {"adam_wd",
     {.kind = CD_OPTIM_ADAM,
      .lr = 3e-3,
      .beta1 = 0.8,
      .beta2 = 0.99,
      .eps = 1e-6,
      .weight_decay = 0.1}},
    {"adamw",
     {.kind = CD_OPTIM_ADAMW,
      .lr = 1e-2,
      .beta1 = 0.9,
      .beta2 = 0.999,
      .eps = 1e-8,
      .weight_decay = 0.01}},
};
#define NCASES (sizeof cases / sizeof cases[0])

static float params0[NP];
static float grads[STEPS][NP];

/* Load DATA/name.npy, which must hold exactly n float32 values, into dst. */
static int load_f32(const char *name, float *dst, size_t n)
{
    char path[256];
    cd_npy a;
    cd_err err = {0};
    snprintf(path, sizeof path, DATA "%s.npy", name);
    CHECK_CODE(cd_npy_open(path, &a, &err), CD_OK, &err);
    if (err.code != CD_OK)
        return -1;
    int ok = strcmp(a.descr, "<f4") == 0 && a.data_bytes == n * sizeof(float);
    CHECK(ok);
    if (ok)
        memcpy(dst, a.data, n * sizeof(float));
    cd_npy_close(&a);
    return ok ? 0 : -1;
}

/* Two parameters over one [NP] buffer: "w" [0:NW] and "b" [NW:NP]. */
static void make_params(cd_param ps[2], float *p, float *g)
{
    ps[0] = (cd_param){.name = "w", .param = p, .grad = g, .n = NW};
    ps[1] = (cd_param){.name = "b", .param = p + NW, .grad = g + NW, .n = NB};
}

static double rel_diff(float got, float want)
{
    double scale = fabs((double)want) > 1 ? fabs((double)want) : 1;
    return fabs((double)got - (double)want) / scale;
}

static void run_case(const optim_case *c)
{
    float want[STEPS][NP], p[NP], g[NP];
    cd_param ps[2];
    cd_optim *o = NULL;
    cd_err err = {0};
    if (load_f32(c->name, &want[0][0], STEPS * NP) != 0)
        return;
    memcpy(p, params0, sizeof p);
    make_params(ps, p, g);
    CHECK_CODE(cd_optim_create(&o, &c->cfg, ps, 2, &err), CD_OK, &err);
    if (o == NULL)
        return;
    double maxd = 0;
    int exact = 0;
    for (int s = 0; s < STEPS; s++) {
        memcpy(g, grads[s], sizeof g);
        CHECK_CODE(cd_optim_step(o, &err), CD_OK, &err);
        for (int i = 0; i < NP; i++) {
            double d = rel_diff(p[i], want[s][i]);
            maxd = d > maxd ? d : maxd;
            exact += memcmp(&p[i], &want[s][i], sizeof(float)) == 0;
        }
    }
    CHECK(maxd <= 1e-6);
    CHECK_EQ_INT(cd_optim_get_step(o), STEPS);
    fprintf(stderr, "     %-12s max rel diff vs torch %.3g, bit-identical %d/%d\n", c->name, maxd,
            exact, STEPS * NP);
    cd_optim_destroy(&o);
    CHECK(o == NULL);
}

static void test_against_torch(void)
{
    if (load_f32("params0", params0, NP) != 0 || load_f32("grads", &grads[0][0], STEPS * NP) != 0)
        return;
    for (size_t k = 0; k < NCASES; k++)
        run_case(&cases[k]);
}

/* Run steps [from, to) on p with the fixture gradients. */
static void run_steps(cd_optim *o, float *p, float *g, int from, int to)
{
    cd_err err = {0};
    for (int s = from; s < to; s++) {
        memcpy(g, grads[s], NP * sizeof(float));
        CHECK_CODE(cd_optim_step(o, &err), CD_OK, &err);
    }
}

/* Save the state after 10 steps, restore it into a fresh optimizer, compare bits. */
static void resume_case(const optim_case *c)
{
    float p1[NP], g1[NP], p2[NP], g2[NP];
    cd_param ps1[2], ps2[2];
    cd_optim *a = NULL, *b = NULL;
    cd_err err = {0};
    memcpy(p1, params0, sizeof p1);
    make_params(ps1, p1, g1);
    make_params(ps2, p2, g2);
    CHECK_CODE(cd_optim_create(&a, &c->cfg, ps1, 2, &err), CD_OK, &err);
    CHECK_CODE(cd_optim_create(&b, &c->cfg, ps2, 2, &err), CD_OK, &err);
    if (a == NULL || b == NULL)
        goto out;
    run_steps(a, p1, g1, 0, 10);
    memcpy(p2, p1, sizeof p2);
    cd_optim_set_step(b, cd_optim_get_step(a));
    for (size_t i = 0; i < cd_optim_state_count(a); i++) {
        cd_optim_state st;
        CHECK_CODE(cd_optim_state_get(a, i, &st, &err), CD_OK, &err);
        CHECK_CODE(cd_optim_state_restore(b, st.name, st.data, st.n, &err), CD_OK, &err);
    }
    run_steps(a, p1, g1, 10, STEPS);
    run_steps(b, p2, g2, 10, STEPS);
    CHECK(memcmp(p1, p2, sizeof p1) == 0);
out:
    cd_optim_destroy(&a);
    cd_optim_destroy(&b);
}

static void test_resume_bit_identical(void)
{
    for (size_t k = 0; k < NCASES; k++)
        resume_case(&cases[k]);
}

static void test_state_listing(void)
{
    float p[NP], g[NP];
    cd_param ps[2];
    cd_optim *o = NULL;
    cd_optim_state st;
    cd_err err = {0};
    make_params(ps, p, g);
    cd_optim_config cfg = cd_optim_defaults(CD_OPTIM_ADAM);
    CHECK_CODE(cd_optim_create(&o, &cfg, ps, 2, &err), CD_OK, &err);
    if (o == NULL)
        return;
    CHECK_EQ_INT(cd_optim_state_count(o), 4);
    CHECK_CODE(cd_optim_state_get(o, 1, &st, &err), CD_OK, &err);
    CHECK(strcmp(st.name, "w.exp_avg_sq") == 0 && st.n == NW);
    CHECK_CODE(cd_optim_state_get(o, 2, &st, &err), CD_OK, &err);
    CHECK(strcmp(st.name, "b.exp_avg") == 0 && st.n == NB);
    CHECK_CODE(cd_optim_state_get(o, 4, &st, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_optim_state_restore(o, "b.exp_avg", p, 3, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_optim_state_restore(o, "x.exp_avg", p, NB, &err), CD_ENOTFOUND, &err);
    cd_optim_destroy(&o);
    cfg = cd_optim_defaults(CD_OPTIM_SGD);
    CHECK_CODE(cd_optim_create(&o, &cfg, ps, 2, &err), CD_OK, &err);
    CHECK_EQ_INT(o ? cd_optim_state_count(o) : 99, 0);
    cd_optim_destroy(&o);
}

static void test_bad_config(void)
{
    float p[NP], g[NP];
    cd_param ps[2];
    cd_optim *o = NULL;
    cd_optim_kind k;
    cd_err err = {0};
    make_params(ps, p, g);
    cd_optim_config cfg = cd_optim_defaults(CD_OPTIM_ADAM);
    cfg.lr = 0;
    CHECK_CODE(cd_optim_create(&o, &cfg, ps, 2, &err), CD_EINVAL, &err);
    cfg = cd_optim_defaults(CD_OPTIM_ADAM);
    cfg.beta2 = 1.0;
    CHECK_CODE(cd_optim_create(&o, &cfg, ps, 2, &err), CD_EINVAL, &err);
    cfg = cd_optim_defaults(CD_OPTIM_MOMENTUM);
    cfg.momentum = -0.1;
    CHECK_CODE(cd_optim_create(&o, &cfg, ps, 2, &err), CD_EINVAL, &err);
    ps[1].name = "w";
    cfg = cd_optim_defaults(CD_OPTIM_SGD);
    CHECK_CODE(cd_optim_create(&o, &cfg, ps, 2, &err), CD_EINVAL, &err);
    CHECK(o == NULL);
    CHECK_CODE(cd_optim_kind_parse("adamw", &k, &err), CD_OK, &err);
    CHECK_EQ_INT(k, CD_OPTIM_ADAMW);
    CHECK_CODE(cd_optim_kind_parse("rmsprop", &k, &err), CD_EINVAL, &err);
    CHECK(strcmp(cd_optim_kind_name(CD_OPTIM_MOMENTUM), "momentum") == 0);
}

int main(void)
{
    RUN(test_against_torch);
    RUN(test_resume_bit_identical);
    RUN(test_state_listing);
    RUN(test_bad_config);
    return UNIT_DONE();
}
