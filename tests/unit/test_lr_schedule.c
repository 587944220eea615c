/*
 * test_lr_schedule.c: learning-rate schedules (trainer/lr_schedule.c) and their use by the
 * optimizer (trainer/optim.c).
 *
 * Oracle: PyTorch 1.13's schedulers stepped after every optimizer step, the lr read from
 * param_groups[0]["lr"] before each step (the values below were printed by it):
 *   SequentialLR([LinearLR(start_factor=0.25, total_iters=2), StepLR(3, 0.5)], [2]), lr 0.1
 *   SequentialLR([LinearLR(total_iters=3), CosineAnnealingLR(7, 0.001)], [3]), lr 0.1
 * Also: the lr reaches the update (sgd with a gradient of 1 moves the parameter by the lr),
 * a restored step counter resumes the schedule bit for bit, bad schedules are refused.
 */
#include <math.h>

#include "lr_schedule.h"
#include "optim.h"
#include "unit.h"

static void check_close(double got, double want, int step)
{
    unit_checks++;
    if (fabs(got - want) > 1e-15 * fabs(want)) {
        unit_failures++;
        fprintf(stderr, "step %d: lr %.17g, PyTorch %.17g\n", step, got, want);
    }
}

static void test_step_with_warmup(void)
{
    static const double torch[] = {0.025, 0.0625, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025};
    cd_lr_schedule s = {.kind = CD_LR_STEP,
                        .warmup_steps = 2,
                        .warmup_start_factor = 0.25,
                        .step_size = 3,
                        .gamma = 0.5};
    cd_err err = {0};
    CHECK_CODE(cd_lr_schedule_check(&s, &err), CD_OK, &err);
    for (int k = 0; k < 10; k++)
        check_close(cd_lr_at(&s, 0.1, (uint64_t)k), torch[k], k);
}

static void test_cosine_with_warmup(void)
{
    static const double torch[] = {0.033333333333333333,
                                   0.055555555555555559,
                                   0.077777777777777779,
                                   0.10000000000000001,
                                   0.095097958961169751,
                                   0.081362745192007313,
                                   0.061514786230837566,
                                   0.039485213769162447,
                                   0.019637254807992697,
                                   0.0059020410388302587,
                                   0.001};
    cd_lr_schedule s = {.kind = CD_LR_COSINE,
                        .warmup_steps = 3,
                        .warmup_start_factor = 1.0 / 3,
                        .total_steps = 10,
                        .lr_min = 0.001};
    for (int k = 0; k < 11; k++)
        check_close(cd_lr_at(&s, 0.1, (uint64_t)k), torch[k], k);
    /* after lr_total_steps: held at lr_min (PyTorch's would rise again, 0.0059 at 11) */
    CHECK(cd_lr_at(&s, 0.1, 11) == 0.001 && cd_lr_at(&s, 0.1, 1000) == 0.001);
    /* without warm-up: CosineAnnealingLR(T_max=10) from the first step */
    s.warmup_steps = 0;
    check_close(cd_lr_at(&s, 0.1, 0), 0.1, 0);
    check_close(cd_lr_at(&s, 0.1, 5), 0.001 + 0.099 / 2, 5);
    /* constant: the lr, after a warm-up if any */
    cd_lr_schedule c = {.kind = CD_LR_CONSTANT, .warmup_steps = 4, .warmup_start_factor = 0.5};
    check_close(cd_lr_at(&c, 0.2, 0), 0.1, 0);
    check_close(cd_lr_at(&c, 0.2, 2), 0.15, 2);
    CHECK(cd_lr_at(&c, 0.2, 4) == 0.2 && cd_lr_at(&(cd_lr_schedule){0}, 0.2, 9) == 0.2);
}

/* sgd on one parameter with a gradient of 1: each step subtracts float(lr of that step). */
static void test_reaches_the_update(void)
{
    float p = 10.0f, g = 1.0f, p2 = 10.0f, g2 = 1.0f;
    cd_optim_config cfg = {.kind = CD_OPTIM_SGD,
                           .lr = 0.1,
                           .schedule = {.kind = CD_LR_COSINE,
                                        .warmup_steps = 3,
                                        .warmup_start_factor = 1.0 / 3,
                                        .total_steps = 10,
                                        .lr_min = 0.001}};
    cd_param prm = {"w", &p, &g, 1}, prm2 = {"w", &p2, &g2, 1};
    cd_optim *o = NULL, *o2 = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_optim_create(&o, &cfg, &prm, 1, &err), CD_OK, &err);
    CHECK_CODE(cd_optim_create(&o2, &cfg, &prm2, 1, &err), CD_OK, &err);
    if (o == NULL || o2 == NULL)
        return;
    float want = 10.0f;
    for (uint64_t k = 0; k < 14; k++) {
        want = want - (float)cd_lr_at(&cfg.schedule, 0.1, k);
        CHECK_CODE(cd_optim_step(o, &err), CD_OK, &err);
        CHECK(p == want);
        if (k == 6) { /* a new optimizer from the "checkpoint" of step 7 */
            cd_optim_destroy(&o2);
            p2 = p;
            CHECK_CODE(cd_optim_create(&o2, &cfg, &prm2, 1, &err), CD_OK, &err);
            cd_optim_set_step(o2, 7);
        } else if (k > 6) {
            CHECK_CODE(cd_optim_step(o2, &err), CD_OK, &err);
            CHECK(p2 == p);
        }
    }
    cd_optim_destroy(&o2);
    cd_optim_destroy(&o);
}

static void test_bad(void)
{
    static const cd_lr_schedule bad[] = {
        {.kind = CD_LR_STEP, .gamma = 0.1},   /* no step size */
        {.kind = CD_LR_STEP, .step_size = 2}, /* gamma 0 */
        {.kind = CD_LR_COSINE, .total_steps = 5, .warmup_steps = 5, .warmup_start_factor = 1},
        {.kind = CD_LR_CONSTANT, .warmup_steps = 5},            /* start factor 0 */
        {.kind = CD_LR_COSINE, .total_steps = 5, .lr_min = -1}, /* negative floor */
        {.kind = (cd_lr_kind)7},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cd_err err = {0};
        CHECK_CODE(cd_lr_schedule_check(&bad[i], &err), CD_EINVAL, &err);
        float p = 0, g = 0;
        cd_param prm = {"w", &p, &g, 1};
        cd_optim_config cfg = {.kind = CD_OPTIM_SGD, .lr = 0.1, .schedule = bad[i]};
        cd_optim *o = NULL;
        CHECK_CODE(cd_optim_create(&o, &cfg, &prm, 1, &err), CD_EINVAL, &err);
        CHECK(o == NULL);
    }
    CHECK(strcmp(cd_lr_kind_name(CD_LR_COSINE), "cosine") == 0);
}

int main(void)
{
    RUN(test_step_with_warmup);
    RUN(test_cosine_with_warmup);
    RUN(test_reaches_the_update);
    RUN(test_bad);
    return UNIT_DONE();
}
