/*
 * optim.c: sgd, momentum, adam and adamw steps in float32, in PyTorch 1.13's order of
 * operations (single-tensor CPU path). Scalars (lr, betas, bias corrections) are computed
 * in double as Python does and rounded to float where PyTorch passes them to a float kernel.
 * "x.add_(y, alpha=a)" and "x.addcmul_(y, z, value=a)" are fused multiply-adds, as in ATen's
 * vectorized CPU kernels (checked against torch 1.13 op by op).
 * Does not touch gradients beyond reading them; allocates only in create.
 */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct optim_slot {
    char *name;   /* parameter name */
    float *param; /* [n], not owned */
    float *grad;  /* [n], not owned */
    size_t n;
    float *buf;      /* [n] momentum buffer or exp_avg; NULL for sgd */
    float *buf2;     /* [n] exp_avg_sq; adam/adamw only */
    char *buf_name;  /* "<name>.momentum_buffer" or "<name>.exp_avg" */
    char *buf2_name; /* "<name>.exp_avg_sq" */
} optim_slot;

struct cd_optim {
    cd_optim_config cfg;
    uint64_t step;
    size_t nslots;
    optim_slot *slots; /* [nslots] */
};

static const char *const kind_names[] = {"sgd", "momentum", "adam", "adamw"};

/* self.add_(other, alpha=a): ATen computes fmadd(other, alpha, self). */
static inline float add_alpha(float self, float other, float alpha)
{
    return fmaf(other, alpha, self);
}

cd_optim_config cd_optim_defaults(cd_optim_kind kind)
{
    cd_optim_config c = {.kind = kind, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    if (kind == CD_OPTIM_MOMENTUM)
        c.momentum = 0.9;
    if (kind == CD_OPTIM_ADAMW)
        c.weight_decay = 0.01;
    return c;
}

const char *cd_optim_kind_name(cd_optim_kind kind)
{
    return (unsigned)kind < 4 ? kind_names[kind] : "unknown";
}

cd_code cd_optim_kind_parse(const char *name, cd_optim_kind *out, cd_err *err)
{
    for (int k = 0; k < 4; k++) {
        if (name != NULL && strcmp(name, kind_names[k]) == 0) {
            *out = (cd_optim_kind)k;
            return CD_OK;
        }
    }
    cd_fail(err, CD_EINVAL, "unknown optimizer \"%s\"", name ? name : "(null)");
    return cd_hint(err, "Use sgd, momentum, adam or adamw.");
}

static cd_code check_config(const cd_optim_config *c, cd_err *err)
{
    if ((unsigned)c->kind > CD_OPTIM_ADAMW)
        return cd_fail(err, CD_EINVAL, "unknown optimizer kind %d", (int)c->kind);
    if (!(c->lr > 0) || !isfinite(c->lr))
        return cd_fail(err, CD_EINVAL, "learning rate must be positive, not %g", c->lr);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return cd_fail(err, CD_EINVAL, "weight decay must be >= 0, not %g", c->weight_decay);
    if (c->kind == CD_OPTIM_MOMENTUM && !(c->momentum >= 0 && c->momentum < 1))
        return cd_fail(err, CD_EINVAL, "momentum must be in [0, 1), not %g", c->momentum);
    if (c->kind >= CD_OPTIM_ADAM) {
        if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
            return cd_fail(err, CD_EINVAL, "betas must be in [0, 1), not %g, %g", c->beta1,
                           c->beta2);
        if (!(c->eps > 0) || !isfinite(c->eps))
            return cd_fail(err, CD_EINVAL, "eps must be positive, not %g", c->eps);
    }
    return CD_OK;
}

static cd_code check_params(const cd_param *params, size_t nparams, cd_err *err)
{
    for (size_t i = 0; i < nparams; i++) {
        const cd_param *p = &params[i];
        if (p->name == NULL || p->name[0] == '\0')
            return cd_fail(err, CD_EINVAL, "parameter %zu has no name", i);
        if (p->n > 0 && (p->param == NULL || p->grad == NULL))
            return cd_fail(err, CD_EINVAL, "parameter \"%s\" has no data or gradient", p->name);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(params[j].name, p->name) == 0)
                return cd_fail(err, CD_EINVAL, "duplicate parameter name \"%s\"", p->name);
        }
    }
    return CD_OK;
}

static char *join_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s != NULL) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

/* Allocate the name and state of one slot; 0 on success, -1 when out of memory. */
static int slot_init(optim_slot *s, const cd_param *p, cd_optim_kind kind)
{
    size_t n = p->n ? p->n : 1;
    s->param = p->param;
    s->grad = p->grad;
    s->n = p->n;
    if ((s->name = join_name(p->name, "")) == NULL)
        return -1;
    if (kind == CD_OPTIM_SGD)
        return 0;
    s->buf_name = join_name(p->name, kind == CD_OPTIM_MOMENTUM ? ".momentum_buffer" : ".exp_avg");
    if (s->buf_name == NULL || (s->buf = calloc(n, sizeof(float))) == NULL)
        return -1;
    if (kind == CD_OPTIM_MOMENTUM)
        return 0;
    s->buf2_name = join_name(p->name, ".exp_avg_sq");
    if (s->buf2_name == NULL || (s->buf2 = calloc(n, sizeof(float))) == NULL)
        return -1;
    return 0;
}

static void slot_free(optim_slot *s)
{
    free(s->name);
    free(s->buf);
    free(s->buf2);
    free(s->buf_name);
    free(s->buf2_name);
    memset(s, 0, sizeof *s);
}

cd_code cd_optim_create(cd_optim **out, const cd_optim_config *cfg, const cd_param *params,
                        size_t nparams, cd_err *err)
{
    *out = NULL;
    cd_code rc = check_config(cfg, err);
    if (rc == CD_OK)
        rc = check_params(params, nparams, err);
    if (rc != CD_OK)
        return rc;
    cd_optim *o = calloc(1, sizeof *o);
    if (o == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory creating the optimizer");
    o->cfg = *cfg;
    o->slots = calloc(nparams ? nparams : 1, sizeof *o->slots);
    if (o->slots == NULL)
        goto fail_nomem;
    for (size_t i = 0; i < nparams; i++) {
        o->nslots = i + 1;
        if (slot_init(&o->slots[i], &params[i], cfg->kind) != 0)
            goto fail_nomem;
    }
    *out = o;
    return CD_OK;
fail_nomem:
    cd_optim_destroy(&o);
    return cd_fail(err, CD_ENOMEM, "out of memory creating the optimizer");
}

void cd_optim_destroy(cd_optim **o)
{
    if (o == NULL || *o == NULL)
        return;
    for (size_t i = 0; i < (*o)->nslots; i++)
        slot_free(&(*o)->slots[i]);
    free((*o)->slots);
    free(*o);
    *o = NULL;
}

/* torch/optim/sgd.py _single_tensor_sgd, dampening 0. first: no momentum buffer yet. */
static void step_sgd(const cd_optim_config *c, optim_slot *s, int first)
{
    const float wd = (float)c->weight_decay, mom = (float)c->momentum, neg_lr = (float)-c->lr;
    for (size_t i = 0; i < s->n; i++) {
        float p = s->param[i], d = s->grad[i];
        if (c->weight_decay != 0)
            d = add_alpha(d, p, wd);
        if (c->kind == CD_OPTIM_MOMENTUM) {
            float b = first ? d : s->buf[i] * mom + d;
            s->buf[i] = b;
            d = c->nesterov ? add_alpha(d, b, mom) : b;
        }
        s->param[i] = add_alpha(p, d, neg_lr);
    }
}

/* Scalars of one adam step, as adam.py computes them (double, then float at the kernel). */
typedef struct adam_scalars {
    float beta1, one_minus_beta1, beta2, one_minus_beta2;
    float wd, decay;     /* L2 weight decay (adam), 1 - lr * wd (adamw) */
    float bc2_sqrt, eps; /* sqrt(bias_correction2), eps */
    float neg_step_size; /* -lr / bias_correction1 */
} adam_scalars;

static adam_scalars adam_prepare(const cd_optim_config *c, uint64_t step)
{
    double bc1 = 1.0 - pow(c->beta1, (double)step);
    double bc2 = 1.0 - pow(c->beta2, (double)step);
    adam_scalars a = {
        .beta1 = (float)c->beta1,
        .one_minus_beta1 = (float)(1.0 - c->beta1),
        .beta2 = (float)c->beta2,
        .one_minus_beta2 = (float)(1.0 - c->beta2),
        .wd = (float)c->weight_decay,
        .decay = (float)(1.0 - c->lr * c->weight_decay),
        .bc2_sqrt = (float)sqrt(bc2),
        .eps = (float)c->eps,
        .neg_step_size = (float)-(c->lr / bc1),
    };
    return a;
}

/* torch/optim/adam.py _single_tensor_adam and adamw.py _single_tensor_adamw, no amsgrad. */
static void step_adam(const cd_optim_config *c, const adam_scalars *a, optim_slot *s)
{
    const int adamw = c->kind == CD_OPTIM_ADAMW, l2 = !adamw && c->weight_decay != 0;
    for (size_t i = 0; i < s->n; i++) {
        float p = s->param[i], g = s->grad[i];
        if (adamw)
            p = p * a->decay;
        if (l2)
            g = add_alpha(g, p, a->wd);
        float m = add_alpha(s->buf[i] * a->beta1, g, a->one_minus_beta1);
        float v = fmaf(a->one_minus_beta2 * g, g, s->buf2[i] * a->beta2); /* addcmul_ */
        float denom = sqrtf(v) / a->bc2_sqrt + a->eps;
        s->buf[i] = m;
        s->buf2[i] = v;
        s->param[i] = p + a->neg_step_size * m / denom;
    }
}

void cd_optim_step(cd_optim *o)
{
    int first = o->step == 0;
    o->step++;
    if (o->cfg.kind == CD_OPTIM_SGD || o->cfg.kind == CD_OPTIM_MOMENTUM) {
        for (size_t i = 0; i < o->nslots; i++)
            step_sgd(&o->cfg, &o->slots[i], first);
        return;
    }
    adam_scalars a = adam_prepare(&o->cfg, o->step);
    for (size_t i = 0; i < o->nslots; i++)
        step_adam(&o->cfg, &a, &o->slots[i]);
}

uint64_t cd_optim_get_step(const cd_optim *o)
{
    return o->step;
}

void cd_optim_set_step(cd_optim *o, uint64_t step)
{
    o->step = step;
}

size_t cd_optim_state_count(const cd_optim *o)
{
    switch (o->cfg.kind) {
    case CD_OPTIM_MOMENTUM:
        return o->nslots;
    case CD_OPTIM_ADAM:
    case CD_OPTIM_ADAMW:
        return 2 * o->nslots;
    default:
        return 0;
    }
}

cd_code cd_optim_state_get(const cd_optim *o, size_t i, cd_optim_state *out, cd_err *err)
{
    size_t count = cd_optim_state_count(o);
    if (i >= count)
        return cd_fail(err, CD_EINVAL, "optimizer state index %zu out of range (%zu tensors)", i,
                       count);
    const optim_slot *s = &o->slots[o->cfg.kind == CD_OPTIM_MOMENTUM ? i : i / 2];
    int second = o->cfg.kind != CD_OPTIM_MOMENTUM && i % 2 == 1;
    out->name = second ? s->buf2_name : s->buf_name;
    out->data = second ? s->buf2 : s->buf;
    out->n = s->n;
    return CD_OK;
}

cd_code cd_optim_state_restore(cd_optim *o, const char *name, const float *data, size_t n,
                               cd_err *err)
{
    cd_optim_state st;
    for (size_t i = 0; i < cd_optim_state_count(o); i++) {
        cd_optim_state_get(o, i, &st, NULL);
        if (strcmp(st.name, name) != 0)
            continue;
        if (st.n != n)
            return cd_fail(err, CD_EINVAL, "optimizer state \"%s\" has %zu elements, not %zu", name,
                           st.n, n);
        if (n > 0)
            memcpy(st.data, data, n * sizeof(float));
        return CD_OK;
    }
    return cd_fail(err, CD_ENOTFOUND, "no optimizer state called \"%s\"", name);
}
