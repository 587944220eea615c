/*
 * lr_schedule.c: learning-rate schedules as closed forms of the step counter (see
 * lr_schedule.h). Each expression is PyTorch's, in Python's order of evaluation, in double.
 */
#include "lr_schedule.h"

#include <math.h>

static const char *const kind_names[] = {"constant", "step", "cosine"};

const char *cd_lr_kind_name(cd_lr_kind kind)
{
    return (unsigned)kind <= CD_LR_COSINE ? kind_names[kind] : "unknown";
}

double cd_lr_at(const cd_lr_schedule *s, double base_lr, uint64_t k)
{
    uint64_t w = s->warmup_steps;
    if (k < w) { /* LinearLR: base * (start + (end - start) * min(W, k) / W) */
        double f = s->warmup_start_factor;
        return base_lr * (f + (1.0 - f) * (double)k / (double)w);
    }
    k -= w;
    switch (s->kind) {
    case CD_LR_STEP: /* StepLR: base * gamma ** (k // step_size) */
        return base_lr * pow(s->gamma, (double)(k / s->step_size));
    case CD_LR_COSINE: { /* CosineAnnealingLR, held at eta_min after T_max */
        uint64_t t = s->total_steps - w;
        if (k >= t)
            return s->lr_min;
        return s->lr_min + (base_lr - s->lr_min) * (1 + cos(M_PI * (double)k / (double)t)) / 2;
    }
    default:
        return base_lr;
    }
}

cd_code cd_lr_schedule_check(const cd_lr_schedule *s, cd_err *err)
{
    if ((unsigned)s->kind > CD_LR_COSINE)
        return cd_fail(err, CD_EINVAL, "unknown lr schedule %d", (int)s->kind);
    if (s->warmup_steps > 0 && !(s->warmup_start_factor > 0 && s->warmup_start_factor <= 1))
        return cd_fail(err, CD_EINVAL, "lr warm-up start factor must be in (0, 1], not %g",
                       s->warmup_start_factor);
    if (s->kind == CD_LR_STEP && (s->step_size < 1 || !(s->gamma > 0) || !isfinite(s->gamma)))
        return cd_fail(err, CD_EINVAL,
                       "the step lr schedule needs a step size >= 1 and a gamma > 0, not %llu "
                       "and %g",
                       (unsigned long long)s->step_size, s->gamma);
    if (s->kind == CD_LR_COSINE && s->total_steps <= s->warmup_steps)
        return cd_fail(err, CD_EINVAL,
                       "the cosine lr schedule needs more total steps (%llu) than warm-up steps "
                       "(%llu)",
                       (unsigned long long)s->total_steps, (unsigned long long)s->warmup_steps);
    if (s->kind == CD_LR_COSINE && (!(s->lr_min >= 0) || !isfinite(s->lr_min)))
        return cd_fail(err, CD_EINVAL, "the cosine lr schedule needs lr_min >= 0, not %g",
                       s->lr_min);
    return CD_OK;
}
