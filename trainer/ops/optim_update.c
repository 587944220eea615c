/*
 * optim_update.c: CPU body of optim_update.h, the reference for the CUDA body and for
 * optim.c's bits (tests/unit/test_optim.c checks it against PyTorch 1.13). Scalars are
 * computed in double as Python does and rounded to float where PyTorch passes them to a
 * float kernel. Built with -std=c11, so the compiler contracts nothing into an FMA: the only
 * fused multiply-adds are the explicit fmaf calls.
 */
#include "optim_update.h"

#include <math.h>

#include "par.h"

/* The element loops are built twice (clones.h): on CPUs with AVX2 and FMA fmaf is one
 * instruction and the loops vectorise; on the baseline fmaf is a libm call. Same results. */
#include "clones.h"

#define GRAIN 16384 /* elements per range: ranges below this are not worth a wake-up */

/* self.add_(other, alpha=a): ATen computes fmadd(other, alpha, self). */
static inline float add_alpha(float self, float other, float alpha)
{
    return fmaf(other, alpha, self);
}

optim_scalars optim_scalars_for(const optim_hparams *h, uint64_t step)
{
    double bc1 = 1.0 - pow(h->beta1, (double)step);
    double bc2 = 1.0 - pow(h->beta2, (double)step);
    optim_scalars s = {
        .neg_lr = (float)-h->lr,
        .wd = (float)h->weight_decay,
        .use_wd = h->weight_decay != 0,
        .momentum = (float)h->momentum,
        .nesterov = h->nesterov != 0,
        .first = step == 1,
        .beta1 = (float)h->beta1,
        .one_minus_beta1 = (float)(1.0 - h->beta1),
        .beta2 = (float)h->beta2,
        .one_minus_beta2 = (float)(1.0 - h->beta2),
        .decay = (float)(1.0 - h->lr * h->weight_decay),
        .bc2_sqrt = (float)sqrt(bc2),
        .eps = (float)h->eps,
        .neg_step_size = (float)-(h->lr / bc1),
    };
    return s;
}

/* One update's arguments; element ranges run on the pool's threads (element-wise: results
 * do not depend on the number of threads). */
struct update_job {
    float *param, *buf, *buf2;
    const float *grad;
    optim_scalars s;
    int adamw;
};

/* torch/optim/sgd.py _single_tensor_sgd, no momentum. */
CD_CLONES static void sgd_range(void *arg, long lo, long hi, int t)
{
    const struct update_job *j = arg;
    float *param = j->param;
    const float *grad = j->grad;
    const optim_scalars s = j->s;
    for (long i = lo; i < hi; i++) {
        float p = param[i], d = grad[i];
        if (s.use_wd)
            d = add_alpha(d, p, s.wd);
        param[i] = add_alpha(p, d, s.neg_lr);
    }
}

void optim_sgd_update(float *param, const float *grad, size_t n, const optim_hparams *h,
                      uint64_t step)
{
    struct update_job j = {.param = param, .grad = grad, .s = optim_scalars_for(h, step)};
    cd_par_for((long)n, GRAIN, sgd_range, &j);
}

/* torch/optim/sgd.py _single_tensor_sgd with momentum, dampening 0. */
CD_CLONES static void momentum_range(void *arg, long lo, long hi, int t)
{
    const struct update_job *j = arg;
    float *param = j->param, *buf = j->buf;
    const float *grad = j->grad;
    const optim_scalars s = j->s;
    for (long i = lo; i < hi; i++) {
        float p = param[i], d = grad[i];
        if (s.use_wd)
            d = add_alpha(d, p, s.wd);
        float b = s.first ? d : buf[i] * s.momentum + d;
        buf[i] = b;
        d = s.nesterov ? add_alpha(d, b, s.momentum) : b;
        param[i] = add_alpha(p, d, s.neg_lr);
    }
}

void optim_momentum_update(float *param, const float *grad, float *buf, size_t n,
                           const optim_hparams *h, uint64_t step)
{
    struct update_job j = {
        .param = param, .grad = grad, .buf = buf, .s = optim_scalars_for(h, step)};
    cd_par_for((long)n, GRAIN, momentum_range, &j);
}

/* torch/optim/adam.py _single_tensor_adam and adamw.py _single_tensor_adamw, no amsgrad. */
CD_CLONES static void adam_range(void *arg, long lo, long hi, int t)
{
    const struct update_job *j = arg;
    float *param = j->param, *exp_avg = j->buf, *exp_avg_sq = j->buf2;
    const float *grad = j->grad;
    const optim_scalars sc = j->s, *s = &sc; /* a local copy: stores cannot alias it */
    const int adamw = j->adamw, l2 = !adamw && s->use_wd;
    for (long i = lo; i < hi; i++) {
        float p = param[i], g = grad[i];
        if (adamw)
            p = p * s->decay;
        if (l2)
            g = add_alpha(g, p, s->wd);
        float m = add_alpha(exp_avg[i] * s->beta1, g, s->one_minus_beta1);
        float v = fmaf(s->one_minus_beta2 * g, g, exp_avg_sq[i] * s->beta2); /* addcmul_ */
        float denom = sqrtf(v) / s->bc2_sqrt + s->eps;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        param[i] = p + s->neg_step_size * m / denom;
    }
}

static void adam_update(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                        size_t n, const optim_hparams *h, uint64_t step, int adamw)
{
    struct update_job j = {.param = param,
                           .grad = grad,
                           .buf = exp_avg,
                           .buf2 = exp_avg_sq,
                           .s = optim_scalars_for(h, step),
                           .adamw = adamw};
    cd_par_for((long)n, GRAIN, adam_range, &j);
}

void optim_adam_update(float *param, const float *grad, float *exp_avg, float *exp_avg_sq, size_t n,
                       const optim_hparams *h, uint64_t step)
{
    adam_update(param, grad, exp_avg, exp_avg_sq, n, h, step, 0);
}

void optim_adamw_update(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                        size_t n, const optim_hparams *h, uint64_t step)
{
    adam_update(param, grad, exp_avg, exp_avg_sq, n, h, step, 1);
}
