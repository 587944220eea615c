/*
 * optim.h: first-order optimizers (sgd, momentum, adam, adamw) over a set of float32
 * parameter tensors, computed element-wise in float32 in the order PyTorch 1.13's
 * single-tensor CPU path uses (torch/optim/sgd.py, adam.py, adamw.py with foreach=False),
 * so that results agree with PyTorch to ~1 ulp and are bit-deterministic run to run.
 *
 * The optimizer owns its state (momentum buffers, exp_avg, exp_avg_sq, the step counter)
 * and exposes it for checkpoints: cd_optim_state lists writable state tensors, so a restore
 * is "copy into each listed tensor, then cd_optim_set_step". It does not own the
 * parameters or gradients; it does not zero gradients, clip them or schedule the lr.
 */
#ifndef CD_OPTIM_H
#define CD_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "cd_err.h"

typedef enum cd_optim_kind {
    CD_OPTIM_SGD,      /* param -= lr * (grad + wd * param) */
    CD_OPTIM_MOMENTUM, /* buf = momentum * buf + g; param -= lr * buf (or nesterov) */
    CD_OPTIM_ADAM,     /* Adam, L2 weight decay added to the gradient */
    CD_OPTIM_ADAMW,    /* Adam, decoupled weight decay param *= 1 - lr * wd */
} cd_optim_kind;

typedef struct cd_optim_config {
    cd_optim_kind kind;
    double lr;           /* learning rate, > 0 */
    double weight_decay; /* >= 0; L2 (sgd, momentum, adam) or decoupled (adamw) */
    double momentum;     /* momentum only, in [0, 1) (dampening is always 0) */
    int nesterov;        /* momentum only: 1 for Nesterov momentum */
    double beta1, beta2; /* adam/adamw, in [0, 1) */
    double eps;          /* adam/adamw, > 0, added outside the sqrt */
} cd_optim_config;

/* A config with PyTorch's defaults for kind (lr 1e-3, betas 0.9/0.999, eps 1e-8, momentum
 * 0.9 for CD_OPTIM_MOMENTUM, weight decay 0; adamw weight decay 0.01). */
cd_optim_config cd_optim_defaults(cd_optim_kind kind);
/* "sgd" "momentum" "adam" "adamw" -> kind; CD_EINVAL otherwise. */
cd_code cd_optim_kind_parse(const char *name, cd_optim_kind *out, cd_err *err);
const char *cd_optim_kind_name(cd_optim_kind kind);

/* One trainable tensor: param[n] updated from grad[n]. The name is copied. */
typedef struct cd_param {
    const char *name;
    float *param; /* [n] */
    float *grad;  /* [n] */
    size_t n;
} cd_param;

/* One state tensor of the optimizer, owned by it; data may be written to restore it. */
typedef struct cd_optim_state {
    const char *name; /* "<param>.momentum_buffer", "<param>.exp_avg", "<param>.exp_avg_sq" */
    float *data;      /* [n] */
    size_t n;
} cd_optim_state;

typedef struct cd_optim cd_optim;

/* Validate cfg and params (names non-empty and unique, pointers set) and allocate zeroed
 * state. The param and grad pointers must stay valid for the optimizer's life. */
cd_code cd_optim_create(cd_optim **out, const cd_optim_config *cfg, const cd_param *params,
                        size_t nparams, cd_err *err);
/* Free the optimizer and set *o to NULL; safe on NULL. */
void cd_optim_destroy(cd_optim **o);

/* One step over every parameter with the current gradients. */
void cd_optim_step(cd_optim *o);

/* Steps taken so far (PyTorch's state["step"]); for momentum, 0 also means "no buffer yet". */
uint64_t cd_optim_get_step(const cd_optim *o);
void cd_optim_set_step(cd_optim *o, uint64_t step);

/* Number of state tensors (0 for sgd, nparams for momentum, 2 * nparams for adam/adamw). */
size_t cd_optim_state_count(const cd_optim *o);
/* State tensor i (0 <= i < count) into *out. CD_EINVAL when i is out of range. */
cd_code cd_optim_state_get(const cd_optim *o, size_t i, cd_optim_state *out, cd_err *err);
/* Copy data[n] into the state tensor called name. CD_ENOTFOUND for an unknown name,
 * CD_EINVAL when n differs from the tensor's size. */
cd_code cd_optim_state_restore(cd_optim *o, const char *name, const float *data, size_t n,
                               cd_err *err);

#endif
