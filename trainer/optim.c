/*
 * optim.c: sgd, momentum, adam and adamw steps over named parameter tensors: validation, the
 * state tensors and their names, the step counter, and checkpoint access to the state. The
 * arithmetic is the op optim_update.h (PyTorch 1.13's order of operations), run on the
 * backend the parameters live on; state lives there too, with host copies for checkpoints.
 * Does not touch gradients beyond reading them; allocates only in create.
 */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct optim_slot {
    char *name;   /* parameter name */
    float *param; /* [n], backend memory, not owned */
    float *grad;  /* [n], backend memory, not owned */
    size_t n;
    float *buf;      /* [n] momentum buffer or exp_avg (backend memory); NULL for sgd */
    float *buf2;     /* [n] exp_avg_sq; adam/adamw only */
    float *hbuf;     /* [n] host copy of buf for checkpoints (buf itself on the CPU) */
    float *hbuf2;    /* [n] host copy of buf2 */
    char *buf_name;  /* "<name>.momentum_buffer" or "<name>.exp_avg" */
    char *buf2_name; /* "<name>.exp_avg_sq" */
} optim_slot;

struct cd_optim {
    cd_optim_config cfg;
    optim_hparams hp; /* cfg as the update op takes it */
    uint64_t step;
    size_t nslots;
    optim_slot *slots; /* [nslots] */
    cd_backend *be;
    cd_backend *own_be; /* cd_optim_create's CPU backend, closed with the optimizer */
};

static const char *const kind_names[] = {"sgd", "momentum", "adam", "adamw"};

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
    return cd_lr_schedule_check(&c->schedule, err);
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

/* A state buffer of n floats in be's memory, zeroed, and its host copy (*host: the buffer
 * itself on a host-memory backend). 0 or -1. */
static int state_alloc(cd_backend *be, size_t n, float **dev, float **host)
{
    void *p = NULL;
    if (be->ops->alloc(be, &p, n * sizeof(float)) != 0)
        return -1;
    *dev = p;
    *host = be->host_memory ? *dev : calloc(n, sizeof(float));
    return *host != NULL ? 0 : -1;
}

/* Allocate the name and state of one slot; 0 on success, -1 when out of memory. */
static int slot_init(cd_backend *be, optim_slot *s, const cd_param *p, cd_optim_kind kind)
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
    if (s->buf_name == NULL || state_alloc(be, n, &s->buf, &s->hbuf) != 0)
        return -1;
    if (kind == CD_OPTIM_MOMENTUM)
        return 0;
    s->buf2_name = join_name(p->name, ".exp_avg_sq");
    if (s->buf2_name == NULL || state_alloc(be, n, &s->buf2, &s->hbuf2) != 0)
        return -1;
    return 0;
}

static void slot_free(cd_backend *be, optim_slot *s)
{
    if (s->hbuf2 != s->buf2)
        free(s->hbuf2);
    if (s->hbuf != s->buf)
        free(s->hbuf);
    be->ops->free(be, s->buf2);
    be->ops->free(be, s->buf);
    free(s->name);
    free(s->buf_name);
    free(s->buf2_name);
    memset(s, 0, sizeof *s);
}

static optim_hparams hparams(const cd_optim_config *c)
{
    optim_hparams h = {.lr = c->lr,
                       .weight_decay = c->weight_decay,
                       .momentum = c->momentum,
                       .nesterov = c->nesterov,
                       .beta1 = c->beta1,
                       .beta2 = c->beta2,
                       .eps = c->eps};
    return h;
}

cd_code cd_optim_create_on(cd_optim **out, const cd_optim_config *cfg, const cd_param *params,
                           size_t nparams, cd_backend *be, cd_err *err)
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
    o->hp = hparams(cfg);
    o->be = be;
    o->slots = calloc(nparams ? nparams : 1, sizeof *o->slots);
    if (o->slots == NULL)
        goto fail_nomem;
    for (size_t i = 0; i < nparams; i++) {
        o->nslots = i + 1;
        if (slot_init(be, &o->slots[i], &params[i], cfg->kind) != 0)
            goto fail_nomem;
    }
    *out = o;
    return CD_OK;
fail_nomem:
    cd_optim_destroy(&o);
    return cd_fail(err, CD_ENOMEM, "out of memory creating the optimizer state on device \"%s\"",
                   be->device);
}

cd_code cd_optim_create(cd_optim **out, const cd_optim_config *cfg, const cd_param *params,
                        size_t nparams, cd_err *err)
{
    cd_backend *be = NULL;
    *out = NULL;
    cd_code rc = cd_backend_cpu_open(&be, err);
    if (rc == CD_OK)
        rc = cd_optim_create_on(out, cfg, params, nparams, be, err);
    if (rc != CD_OK) {
        cd_backend_close(&be);
        return rc;
    }
    (*out)->own_be = be;
    return CD_OK;
}

void cd_optim_destroy(cd_optim **o)
{
    if (o == NULL || *o == NULL)
        return;
    for (size_t i = 0; i < (*o)->nslots; i++)
        slot_free((*o)->be, &(*o)->slots[i]);
    free((*o)->slots);
    cd_backend_close(&(*o)->own_be);
    free(*o);
    *o = NULL;
}

/* One slot's update on the backend; 0 or the backend's status. */
static int step_slot(cd_optim *o, optim_slot *s)
{
    cd_backend *be = o->be;
    switch (o->cfg.kind) {
    case CD_OPTIM_SGD:
        return be->ops->optim_sgd_update(be, s->param, s->grad, s->n, &o->hp, o->step);
    case CD_OPTIM_MOMENTUM:
        return be->ops->optim_momentum_update(be, s->param, s->grad, s->buf, s->n, &o->hp, o->step);
    case CD_OPTIM_ADAM:
        return be->ops->optim_adam_update(be, s->param, s->grad, s->buf, s->buf2, s->n, &o->hp,
                                          o->step);
    case CD_OPTIM_ADAMW:
        return be->ops->optim_adamw_update(be, s->param, s->grad, s->buf, s->buf2, s->n, &o->hp,
                                           o->step);
    }
    return -1;
}

cd_code cd_optim_step(cd_optim *o, cd_err *err)
{
    o->hp.lr = cd_lr_at(&o->cfg.schedule, o->cfg.lr, o->step);
    o->step++;
    for (size_t i = 0; i < o->nslots; i++)
        if (step_slot(o, &o->slots[i]) != 0)
            return cd_backend_status(o->be, err);
    return CD_OK;
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

/* Slot and buffer of state tensor i (i < count); second: exp_avg_sq. */
static optim_slot *state_slot(const cd_optim *o, size_t i, int *second)
{
    *second = o->cfg.kind != CD_OPTIM_MOMENTUM && i % 2 == 1;
    return &o->slots[o->cfg.kind == CD_OPTIM_MOMENTUM ? i : i / 2];
}

cd_code cd_optim_state_get(const cd_optim *o, size_t i, cd_optim_state *out, cd_err *err)
{
    size_t count = cd_optim_state_count(o);
    if (i >= count)
        return cd_fail(err, CD_EINVAL, "optimizer state index %zu out of range (%zu tensors)", i,
                       count);
    int second;
    const optim_slot *s = state_slot(o, i, &second);
    out->name = second ? s->buf2_name : s->buf_name;
    out->data = second ? s->hbuf2 : s->hbuf;
    out->n = s->n;
    const float *dev = second ? s->buf2 : s->buf;
    if (o->be->ops->to_host(o->be, out->data, dev, s->n * sizeof(float)) != 0)
        return cd_backend_status(o->be, err);
    return CD_OK;
}

cd_code cd_optim_state_restore(cd_optim *o, const char *name, const float *data, size_t n,
                               cd_err *err)
{
    for (size_t i = 0; i < cd_optim_state_count(o); i++) {
        int second;
        optim_slot *s = state_slot(o, i, &second);
        if (strcmp(second ? s->buf2_name : s->buf_name, name) != 0)
            continue;
        if (s->n != n)
            return cd_fail(err, CD_EINVAL, "optimizer state \"%s\" has %zu elements, not %zu", name,
                           s->n, n);
        float *dev = second ? s->buf2 : s->buf;
        if (n > 0 && o->be->ops->to_device(o->be, dev, data, n * sizeof(float)) != 0)
            return cd_backend_status(o->be, err);
        return CD_OK;
    }
    return cd_fail(err, CD_ENOTFOUND, "no optimizer state called \"%s\"", name);
}
