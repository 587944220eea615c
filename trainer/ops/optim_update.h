/*
 * optim_update.h: the element-wise parameter updates of the optimizers (optim.h) over one
 * tensor: sgd, momentum (heavy ball or nesterov), adam (L2 weight decay) and adamw (decoupled
 * weight decay), in float32 in PyTorch 1.13's single-tensor order of operations (sgd.py,
 * adam.py, adamw.py with foreach=False, dampening 0, no amsgrad).
 *
 * Every function updates param[n] in place from grad[n] and its state buffers (buf: the
 * momentum buffer; exp_avg, exp_avg_sq), for the step number step (1 for the first step:
 * momentum then sets buf = grad). The float32 scalars of a step are rounded from the double
 * hyper-parameters by optim_scalars_for, on the host, for both bodies (optim_update.c and the
 * CUDA body optim_update.cu), which evaluate the same float32 expressions in the same order:
 * "x.add_(y, alpha=a)" and "x.addcmul_(y, z, value=a)" are fused multiply-adds, as in ATen's
 * vectorized CPU kernels, and nothing else is fused.
 */
#ifndef CD_OPS_OPTIM_UPDATE_H
#define CD_OPS_OPTIM_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Hyper-parameters as configured (double, as Python holds them). */
typedef struct optim_hparams {
    double lr;
    double weight_decay; /* L2 (sgd, momentum, adam) or decoupled (adamw); 0: none */
    double momentum;     /* momentum */
    int nesterov;        /* momentum: 1 for Nesterov */
    double beta1, beta2; /* adam, adamw */
    double eps;          /* adam, adamw: added outside the sqrt */
} optim_hparams;

/* The float32 scalars of one step, as PyTorch hands them to its float kernels. */
typedef struct optim_scalars {
    float neg_lr;   /* -lr */
    float wd;       /* weight decay */
    int use_wd;     /* weight_decay != 0 */
    float momentum; /* momentum */
    int nesterov;
    int first; /* step == 1: no momentum buffer yet */
    float beta1, one_minus_beta1, beta2, one_minus_beta2;
    float decay;         /* adamw: 1 - lr * wd */
    float bc2_sqrt;      /* sqrt(1 - beta2^step) */
    float eps;           /* eps */
    float neg_step_size; /* -lr / (1 - beta1^step) */
} optim_scalars;

optim_scalars optim_scalars_for(const optim_hparams *h, uint64_t step);

/* param -= lr * (grad + wd * param) */
void optim_sgd_update(float *param, const float *grad, size_t n, const optim_hparams *h,
                      uint64_t step);
/* g = grad + wd * param; buf = step 1 ? g : momentum * buf + g;
 * param -= lr * (nesterov ? g + momentum * buf : buf) */
void optim_momentum_update(float *param, const float *grad, float *buf, size_t n,
                           const optim_hparams *h, uint64_t step);
/* Adam with L2 weight decay added to the gradient. */
void optim_adam_update(float *param, const float *grad, float *exp_avg, float *exp_avg_sq, size_t n,
                       const optim_hparams *h, uint64_t step);
/* AdamW: param *= 1 - lr * wd first, then Adam without weight decay. */
void optim_adamw_update(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                        size_t n, const optim_hparams *h, uint64_t step);

#ifdef __cplusplus
}
#endif

#endif
