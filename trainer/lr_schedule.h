/*
 * lr_schedule.h: the learning rate of each optimizer step as a function of the number of
 * steps taken before it (k, the checkpoint's step counter) and nothing else, so a unit started
 * from the previous unit's checkpoint continues the schedule exactly where one run over all
 * the shards would be (MOP equivalence).
 *
 * The schedules are PyTorch's (torch.optim.lr_scheduler, 1.13), stepped once after every
 * optimizer step, in their closed forms (_get_closed_form_lr; PyTorch's step() evaluates the
 * same values recursively, which agrees to a few ulps of a double, and the update rounds the
 * lr to float32 anyway):
 *
 *   constant   base
 *   step       base * gamma^floor(k / step_size)                StepLR(step_size, gamma)
 *   cosine     lr_min + (base - lr_min) * (1 + cos(pi k / T)) / 2
 *                                                      CosineAnnealingLR(T_max=T, eta_min)
 *              for k <= T = total_steps, then lr_min (PyTorch's would rise again after T)
 *   warm-up    base * (f + (1 - f) * k / W) for the first W steps   LinearLR(start_factor=f,
 *              end_factor=1, total_iters=W); then the schedule above at k - W, so cosine
 *              runs T = total_steps - W steps          SequentialLR([LinearLR, S], [W])
 *
 * Does not: know optimizers or epochs (optim.c calls it for every step).
 */
#ifndef CD_LR_SCHEDULE_H
#define CD_LR_SCHEDULE_H

#include <stdint.h>

#include "cd_err.h"

typedef enum cd_lr_kind { CD_LR_CONSTANT, CD_LR_STEP, CD_LR_COSINE } cd_lr_kind;

/* All zero: a constant lr without warm-up. */
typedef struct cd_lr_schedule {
    cd_lr_kind kind;
    uint64_t warmup_steps;      /* W; 0: no warm-up */
    double warmup_start_factor; /* f, in (0, 1] when W > 0 */
    uint64_t step_size;         /* step: >= 1 */
    double gamma;               /* step: > 0 */
    uint64_t total_steps;       /* cosine: T + W, > W */
    double lr_min;              /* cosine: >= 0 */
} cd_lr_schedule;

/* The lr of the step after k steps (k = 0 for the first step). */
double cd_lr_at(const cd_lr_schedule *s, double base_lr, uint64_t k);
/* CD_EINVAL, saying which value, when s is not a schedule cd_lr_at can evaluate. */
cd_code cd_lr_schedule_check(const cd_lr_schedule *s, cd_err *err);
/* "constant" "step" "cosine" */
const char *cd_lr_kind_name(cd_lr_kind kind);

#endif
