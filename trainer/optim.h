/*
 * optim.h: first-order optimizers (sgd, momentum, adam, adamw) over a set of float32
 * parameter tensors, computed element-wise in float32 in the order PyTorch 1.13's
 * single-tensor CPU path uses (torch/optim/sgd.py, adam.py, adamw.py with foreach=False),
 * so that results agree with PyTorch to ~1 ulp and are bit-deterministic run to run. The
 * element-wise updates are the op optim_update.h, run through a backend (backend.h): the
 * parameters, gradients and state live in that backend's memory (a GPU's, for CUDA).
 *
 * The optimizer owns its state (momentum buffers, exp_avg, exp_avg_sq, the step counter)
 * and exposes it for checkpoints through host copies: cd_optim_state_get copies a state
 * tensor to the host, cd_optim_state_restore copies one back, so a restore is "restore each
 * listed tensor, then cd_optim_set_step". The lr of a step is cfg.lr under cfg.schedule
 * (lr_schedule.h) at the number of steps taken before it, so restoring the step counter also
 * restores the schedule. It does not own the parameters or gradients; it does not zero
 * gradients or clip them.
 */
#ifndef CD_OPTIM_H
#define CD_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "cd_err.h"
#include "lr_schedule.h"

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
    cd_lr_schedule schedule; /* of lr over the steps; all zero: constant */
} cd_optim_config;

/* A config with PyTorch's defaults for kind (lr 1e-3, betas 0.9/0.999, eps 1e-8, momentum
 * 0.9 for CD_OPTIM_MOMENTUM, weight decay 0; adamw weight decay 0.01). */
cd_optim_config cd_optim_defaults(cd_optim_kind kind);
/* "sgd" "momentum" "adam" "adamw" -> kind; CD_EINVAL otherwise. */
cd_code cd_optim_kind_parse(const char *name, cd_optim_kind *out, cd_err *err);
const char *cd_optim_kind_name(cd_optim_kind kind);

/* One trainable tensor: param[n] updated from grad[n], both in the backend's memory. The
 * name is copied. */
typedef struct cd_param {
    const char *name;
    float *param; /* [n] */
    float *grad;  /* [n] */
    size_t n;
} cd_param;

/* One state tensor of the optimizer, owned by it, in host memory (the state itself on a
 * host-memory backend, else a copy made by cd_optim_state_get); valid until the next
 * step or cd_optim_destroy. Restore with cd_optim_state_restore, not by writing here. */
typedef struct cd_optim_state {
    const char *name; /* "<param>.momentum_buffer", "<param>.exp_avg", "<param>.exp_avg_sq" */
    float *data;      /* [n], host */
    size_t n;
} cd_optim_state;

typedef struct cd_optim cd_optim;

/* Validate cfg and params (names non-empty and unique, pointers set) and allocate zeroed
 * state in be's memory. The param and grad pointers and be must outlive the optimizer. */
cd_code cd_optim_create_on(cd_optim **out, const cd_optim_config *cfg, const cd_param *params,
                           size_t nparams, cd_backend *be, cd_err *err);
/* The same on a CPU backend of the optimizer's own (host pointers). */
cd_code cd_optim_create(cd_optim **out, const cd_optim_config *cfg, const cd_param *params,
                        size_t nparams, cd_err *err);
/* Free the optimizer and set *o to NULL; safe on NULL. */
void cd_optim_destroy(cd_optim **o);

/* One step over every parameter with the current gradients. An error only when the backend
 * failed (the step counter has then advanced, and the parameters are undefined). */
cd_code cd_optim_step(cd_optim *o, cd_err *err);

/* Steps taken so far (PyTorch's state["step"]); for momentum, 0 also means "no buffer yet". */
uint64_t cd_optim_get_step(const cd_optim *o);
void cd_optim_set_step(cd_optim *o, uint64_t step);

/* Number of state tensors (0 for sgd, nparams for momentum, 2 * nparams for adam/adamw). */
size_t cd_optim_state_count(const cd_optim *o);
/* State tensor i (0 <= i < count), copied to the host, into *out. CD_EINVAL when i is out of
 * range; the backend's error when the copy failed. */
cd_code cd_optim_state_get(const cd_optim *o, size_t i, cd_optim_state *out, cd_err *err);
/* Copy host data[n] into the state tensor called name. CD_ENOTFOUND for an unknown name,
 * CD_EINVAL when n differs from the tensor's size, the backend's error when the copy failed. */
cd_code cd_optim_state_restore(cd_optim *o, const char *name, const float *data, size_t n,
                               cd_err *err);

#endif
