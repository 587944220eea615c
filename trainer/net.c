/*
 * net.c: forward and backward passes of a model through the CPU ops (see net.h).
 *
 * Every layer of the model is a `unit`: a primitive op, or a residual block whose children
 * are primitive units (conv, bn, relu, conv, bn, and a conv + bn projection when the shape
 * changes). Each unit owns its output y [B * out] and its input gradient dx [B * in].
 */
#include "net.h"

#include "hash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "add.h"
#include "avgpool2d.h"
#include "batchnorm.h"
#include "conv2d.h"
#include "dense.h"
#include "dropout.h"
#include "maxpool2d.h"
#include "mse.h"
#include "relu.h"
#include "sigmoid_bce.h"
#include "softmax_xent.h"

#define MAX_TENSORS 1024
#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

typedef enum prim {
    P_DENSE,
    P_CONV,
    P_MAXPOOL,
    P_AVGPOOL,
    P_GAVG,
    P_BN,
    P_RELU,
    P_DROPOUT,
    P_COPY,
    P_RESIDUAL
} prim;

typedef struct unit {
    prim op;
    cd_shape in, out;
    int k, stride, pad;
    float p;
    int w, b, rm, rv; /* tensor indices (-1 none): weight/gamma, bias/beta, running stats */
    float *y, *dx;
    float *save_mean, *save_invstd;
    int32_t *argmax;
    float *ws;
    struct unit *sub; /* residual: conv1 bn1 relu conv2 bn2 [pconv pbn] */
    int nsub;
    float *sum; /* residual: body + skip before the final relu */
} unit;

struct cd_net {
    const cd_model_spec *m;
    int max_batch;
    unit *units;
    int nunits;
    cd_tensor tensors[MAX_TENSORS];
    int ntensors;
    /* the last forward */
    const float *x;
    int rows;
    bool train;
    uint64_t step;
    const int32_t *y;
    const float *yf;
    float *probs, *dlogits;
};

/* ---- allocation ---- */

static size_t shape_size(const cd_shape *s)
{
    return (size_t)cd_shape_size(s);
}

static int add_tensor(cd_net *n, const char *prefix, const char *name, bool param, int ndim,
                      const uint64_t *dims)
{
    if (n->ntensors == MAX_TENSORS)
        return -1;
    cd_tensor *t = &n->tensors[n->ntensors];
    snprintf(t->name, sizeof t->name, "%s.%s", prefix, name);
    t->ndim = ndim;
    t->n = 1;
    for (int i = 0; i < ndim; i++)
        t->n *= (t->dims[i] = dims[i]);
    t->data = calloc(t->n + 1, sizeof *t->data);
    t->grad = param ? calloc(t->n + 1, sizeof *t->grad) : NULL;
    if (t->data == NULL || (param && t->grad == NULL))
        return -1;
    return n->ntensors++;
}

static bool alloc_unit(cd_net *n, unit *u, const char *prefix)
{
    size_t B = (size_t)n->max_batch, in = shape_size(&u->in), out = shape_size(&u->out);
    int c = u->in.d[0];
    u->w = u->b = u->rm = u->rv = -1;
    u->y = calloc(B * out + 1, sizeof *u->y);
    u->dx = calloc(B * in + 1, sizeof *u->dx);
    if (u->y == NULL || u->dx == NULL)
        return false;
    if (u->op == P_DENSE) {
        u->w = add_tensor(n, prefix, "weight", true, 2, (uint64_t[]){out, in});
        u->b = add_tensor(n, prefix, "bias", true, 1, (uint64_t[]){out});
    } else if (u->op == P_CONV) {
        uint64_t oc = (uint64_t)u->out.d[0], k = (uint64_t)u->k;
        u->w = add_tensor(n, prefix, "weight", true, 4, (uint64_t[]){oc, (uint64_t)c, k, k});
        u->b = add_tensor(n, prefix, "bias", true, 1, (uint64_t[]){oc});
        u->ws = calloc(
            conv2d_workspace_size(c, u->in.d[1], u->in.d[2], u->k, u->k, u->stride, u->pad) + 1,
            sizeof *u->ws);
        if (u->ws == NULL)
            return false;
    } else if (u->op == P_BN) {
        uint64_t cc = (uint64_t)c;
        u->w = add_tensor(n, prefix, "weight", true, 1, &cc);
        u->b = add_tensor(n, prefix, "bias", true, 1, &cc);
        u->rm = add_tensor(n, prefix, "running_mean", false, 1, &cc);
        u->rv = add_tensor(n, prefix, "running_var", false, 1, &cc);
        u->save_mean = calloc((size_t)c, sizeof(float));
        u->save_invstd = calloc((size_t)c, sizeof(float));
        if (u->save_mean == NULL || u->save_invstd == NULL || u->rv < 0)
            return false;
    } else if (u->op == P_MAXPOOL) {
        u->argmax = calloc(B * out + 1, sizeof *u->argmax);
        if (u->argmax == NULL)
            return false;
    }
    return !((u->op == P_DENSE || u->op == P_CONV) && u->b < 0);
}

static unit prim_unit(prim op, cd_shape in, cd_shape out, int k, int stride, int pad)
{
    unit u = {.op = op, .in = in, .out = out, .k = k, .stride = stride, .pad = pad};
    return u;
}

/* Residual children: conv1(stride) bn1 relu conv2 bn2 [pconv(1x1, stride) pbn]. */
static bool build_residual(cd_net *n, unit *u, const cd_layer *l, const char *prefix)
{
    cd_shape mid = l->out;
    bool proj = l->units != l->in.d[0] || l->stride != 1;
    u->nsub = proj ? 7 : 5;
    u->sub = calloc((size_t)u->nsub, sizeof *u->sub);
    u->sum = calloc((size_t)n->max_batch * shape_size(&l->out) + 1, sizeof *u->sum);
    if (u->sub == NULL || u->sum == NULL)
        return false;
    u->sub[0] = prim_unit(P_CONV, l->in, mid, 3, l->stride, 1);
    u->sub[1] = prim_unit(P_BN, mid, mid, 0, 0, 0);
    u->sub[2] = prim_unit(P_RELU, mid, mid, 0, 0, 0);
    u->sub[3] = prim_unit(P_CONV, mid, mid, 3, 1, 1);
    u->sub[4] = prim_unit(P_BN, mid, mid, 0, 0, 0);
    if (proj) {
        u->sub[5] = prim_unit(P_CONV, l->in, mid, 1, l->stride, 0);
        u->sub[6] = prim_unit(P_BN, mid, mid, 0, 0, 0);
    }
    static const char *const names[7] = {"conv1", "bn1",       "relu",   "conv2",
                                         "bn2",   "proj.conv", "proj.bn"};
    for (int i = 0; i < u->nsub; i++) {
        char p[64];
        snprintf(p, sizeof p, "%s.%s", prefix, names[i]);
        if (!alloc_unit(n, &u->sub[i], p))
            return false;
    }
    return true;
}

static prim prim_of(cd_layer_kind k)
{
    switch (k) {
    case CD_L_DENSE:
        return P_DENSE;
    case CD_L_CONV2D:
        return P_CONV;
    case CD_L_MAXPOOL:
        return P_MAXPOOL;
    case CD_L_AVGPOOL:
        return P_AVGPOOL;
    case CD_L_GAVGPOOL:
        return P_GAVG;
    case CD_L_BATCHNORM:
        return P_BN;
    case CD_L_RELU:
        return P_RELU;
    case CD_L_DROPOUT:
        return P_DROPOUT;
    case CD_L_RESIDUAL:
        return P_RESIDUAL;
    default:
        return P_COPY;
    }
}

static bool build_unit(cd_net *n, int i)
{
    const cd_layer *l = &n->m->layers[i];
    unit *u = &n->units[i];
    *u = prim_unit(prim_of(l->kind), l->in, l->out, l->kernel, l->stride, l->pad);
    u->p = l->p;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%d", i);
    if (u->op == P_RESIDUAL) {
        u->w = u->b = u->rm = u->rv = -1;
        u->y = calloc((size_t)n->max_batch * shape_size(&l->out) + 1, sizeof *u->y);
        u->dx = calloc((size_t)n->max_batch * shape_size(&l->in) + 1, sizeof *u->dx);
        return u->y && u->dx && build_residual(n, u, l, prefix);
    }
    return alloc_unit(n, u, prefix);
}

cd_code cd_net_new(cd_net **out, const cd_model_spec *m, int max_batch, cd_err *err)
{
    *out = NULL;
    cd_net *n = calloc(1, sizeof *n);
    if (n == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    n->m = m;
    n->max_batch = max_batch;
    n->nunits = m->nlayers;
    n->units = calloc((size_t)m->nlayers, sizeof *n->units);
    size_t outsz = (size_t)max_batch * shape_size(&m->layers[m->nlayers - 1].out) + 1;
    n->probs = calloc(outsz, sizeof *n->probs);
    n->dlogits = calloc(outsz, sizeof *n->dlogits);
    bool ok = n->units && n->probs && n->dlogits;
    for (int i = 0; ok && i < m->nlayers; i++)
        ok = build_unit(n, i);
    if (!ok) {
        cd_net_free(&n);
        return cd_fail(err, CD_ENOMEM,
                       "out of memory for a model of %lld parameters and "
                       "batches of %d rows",
                       (long long)m->params, max_batch);
    }
    *out = n;
    return CD_OK;
}

static void free_unit(unit *u)
{
    for (int i = u->nsub - 1; i >= 0; i--)
        free_unit(&u->sub[i]);
    free(u->sub);
    free(u->sum);
    free(u->ws);
    free(u->argmax);
    free(u->save_invstd);
    free(u->save_mean);
    free(u->dx);
    free(u->y);
}

void cd_net_free(cd_net **np)
{
    cd_net *n = *np;
    if (n == NULL)
        return;
    for (int i = n->ntensors - 1; i >= 0; i--) {
        free(n->tensors[i].grad);
        free(n->tensors[i].data);
    }
    for (int i = n->nunits - 1; i >= 0 && n->units; i--)
        free_unit(&n->units[i]);
    free(n->units);
    free(n->dlogits);
    free(n->probs);
    free(n);
    *np = NULL;
}

/* ---- initialisation ---- */

static void he_uniform(cd_tensor *t, uint64_t *state)
{
    uint64_t fan_in = t->n / t->dims[0];
    double bound = sqrt(6.0 / (double)(fan_in ? fan_in : 1));
    for (uint64_t i = 0; i < t->n; i++) {
        double u = (double)(cd_splitmix64(state) >> 11) / 9007199254740992.0; /* [0, 1) */
        t->data[i] = (float)((2 * u - 1) * bound);
    }
}

void cd_net_init(cd_net *n, uint64_t seed)
{
    uint64_t state = seed * 0x2545F4914F6CDD1Dull + 1;
    for (int i = 0; i < n->ntensors; i++) {
        cd_tensor *t = &n->tensors[i];
        const char *leaf = strrchr(t->name, '.') + 1;
        bool bn = strstr(t->name, "bn") != NULL || t->grad == NULL || t->ndim == 1;
        if (strcmp(leaf, "weight") == 0 && !bn)
            he_uniform(t, &state);
        else
            for (uint64_t k = 0; k < t->n; k++)
                t->data[k] = strcmp(leaf, "running_var") == 0 || strcmp(leaf, "weight") == 0;
    }
}

int cd_net_ntensors(const cd_net *n)
{
    return n->ntensors;
}

cd_tensor *cd_net_tensor(cd_net *n, int i)
{
    return i >= 0 && i < n->ntensors ? &n->tensors[i] : NULL;
}

/* ---- forward ---- */

static float *T(cd_net *n, int i)
{
    return n->tensors[i].data;
}

static float *G(cd_net *n, int i)
{
    return n->tensors[i].grad;
}

static void bn_forward(cd_net *n, unit *u, const float *x, int B)
{
    int c = u->in.d[0];
    if (u->in.ndim == 3 && n->train)
        batchnorm2d_forward_train(u->y, u->save_mean, u->save_invstd, T(n, u->rm), T(n, u->rv), x,
                                  T(n, u->w), T(n, u->b), B, c, u->in.d[1], u->in.d[2], BN_MOMENTUM,
                                  BN_EPS);
    else if (u->in.ndim == 3)
        batchnorm2d_forward_eval(u->y, x, T(n, u->w), T(n, u->b), T(n, u->rm), T(n, u->rv), B, c,
                                 u->in.d[1], u->in.d[2], BN_EPS);
    else if (n->train)
        batchnorm1d_forward_train(u->y, u->save_mean, u->save_invstd, T(n, u->rm), T(n, u->rv), x,
                                  T(n, u->w), T(n, u->b), B, c, BN_MOMENTUM, BN_EPS);
    else
        batchnorm1d_forward_eval(u->y, x, T(n, u->w), T(n, u->b), T(n, u->rm), T(n, u->rv), B, c,
                                 BN_EPS);
}

static void residual_forward(cd_net *n, unit *u, const float *x, int B, uint64_t salt);

static void unit_forward(cd_net *n, unit *u, const float *x, int B, uint64_t salt)
{
    int c = u->in.d[0], h = u->in.d[1], w = u->in.d[2];
    size_t in = shape_size(&u->in);
    switch (u->op) {
    case P_DENSE:
        dense_forward(u->y, x, T(n, u->w), T(n, u->b), B, (int)in, u->out.d[0]);
        break;
    case P_CONV:
        conv2d_forward(u->y, x, T(n, u->w), T(n, u->b), u->ws, B, c, h, w, u->out.d[0], u->k, u->k,
                       u->stride, u->pad);
        break;
    case P_MAXPOOL:
        maxpool2d_forward(u->y, u->argmax, x, B, c, h, w, u->k, u->stride, u->pad);
        break;
    case P_AVGPOOL:
        avgpool2d_forward(u->y, x, B, c, h, w, u->k, u->stride, u->pad);
        break;
    case P_GAVG:
        global_avgpool_forward(u->y, x, B, c, h, w);
        break;
    case P_BN:
        bn_forward(n, u, x, B);
        break;
    case P_RELU:
        relu_forward(u->y, x, (size_t)B * in);
        break;
    case P_DROPOUT:
        if (n->train)
            dropout_forward(u->y, x, (size_t)B * in, u->p, n->m->dropout_seed,
                            n->step * 131 + salt);
        else
            memcpy(u->y, x, (size_t)B * in * sizeof *x);
        break;
    case P_COPY:
        memcpy(u->y, x, (size_t)B * in * sizeof *x);
        break;
    case P_RESIDUAL:
        residual_forward(n, u, x, B, salt);
        break;
    }
}

static void residual_forward(cd_net *n, unit *u, const float *x, int B, uint64_t salt)
{
    const float *t = x;
    for (int i = 0; i < 5; i++) {
        unit_forward(n, &u->sub[i], t, B, salt);
        t = u->sub[i].y;
    }
    const float *skip = x;
    if (u->nsub == 7) {
        unit_forward(n, &u->sub[5], x, B, salt);
        unit_forward(n, &u->sub[6], u->sub[5].y, B, salt);
        skip = u->sub[6].y;
    }
    size_t len = (size_t)B * shape_size(&u->out);
    add_forward(u->sum, u->sub[4].y, skip, len);
    relu_forward(u->y, u->sum, len);
}

static float loss_forward(cd_net *n, const float *logits, int B, int *correct)
{
    const cd_model_spec *m = n->m;
    *correct = 0;
    if (m->loss == CD_LOSS_SOFTMAX_XENT) {
        float loss = softmax_xent_forward(n->probs, logits, n->y, B, m->classes);
        for (int r = 0; r < B; r++) {
            const float *p = n->probs + (size_t)r * m->classes;
            int best = 0;
            for (int k = 1; k < m->classes; k++)
                best = p[k] > p[best] ? k : best;
            *correct += best == n->y[r];
        }
        return loss;
    }
    if (m->loss == CD_LOSS_SIGMOID_BCE) {
        float loss = sigmoid_bce_forward(n->probs, logits, n->yf, (size_t)B);
        for (int r = 0; r < B; r++)
            *correct += (n->probs[r] > 0.5f) == (n->yf[r] > 0.5f);
        return loss;
    }
    memcpy(n->probs, logits, (size_t)B * sizeof *logits);
    return mse_forward(logits, n->yf, (size_t)B);
}

float cd_net_forward(cd_net *n, const float *x, int rows, const int32_t *y, const float *yf,
                     bool train, uint64_t step, int *correct)
{
    n->x = x;
    n->rows = rows;
    n->train = train;
    n->step = step;
    n->y = y;
    n->yf = yf;
    const float *t = x;
    for (int i = 0; i < n->nunits; i++) {
        unit_forward(n, &n->units[i], t, rows, (uint64_t)i);
        t = n->units[i].y;
    }
    return loss_forward(n, t, rows, correct);
}

const float *cd_net_output(const cd_net *n, int *per_row)
{
    *per_row = (int)shape_size(&n->m->layers[n->m->nlayers - 1].out);
    return n->probs;
}

/* ---- backward ---- */

static void bn_backward(cd_net *n, unit *u, const float *dy, const float *x, int B)
{
    int c = u->in.d[0];
    if (u->in.ndim == 3)
        batchnorm2d_backward_train(u->dx, G(n, u->w), G(n, u->b), dy, x, u->save_mean,
                                   u->save_invstd, T(n, u->w), B, c, u->in.d[1], u->in.d[2]);
    else
        batchnorm1d_backward_train(u->dx, G(n, u->w), G(n, u->b), dy, x, u->save_mean,
                                   u->save_invstd, T(n, u->w), B, c);
}

static void residual_backward(cd_net *n, unit *u, const float *dy, const float *x, int B,
                              uint64_t salt);

static void unit_backward(cd_net *n, unit *u, const float *dy, const float *x, int B, uint64_t salt)
{
    int c = u->in.d[0], h = u->in.d[1], w = u->in.d[2];
    size_t in = shape_size(&u->in);
    /* x == n->x: the layer reads the batch itself, whose gradient nobody needs */
    switch (u->op) {
    case P_DENSE:
        dense_backward(x == n->x ? NULL : u->dx, G(n, u->w), G(n, u->b), dy, x, T(n, u->w), B,
                       (int)in, u->out.d[0]);
        break;
    case P_CONV:
        conv2d_backward(x == n->x ? NULL : u->dx, G(n, u->w), G(n, u->b), dy, x, T(n, u->w),
                        u->ws, B, c, h, w, u->out.d[0], u->k, u->k, u->stride, u->pad);
        break;
    case P_MAXPOOL:
        maxpool2d_backward(u->dx, dy, u->argmax, B, c, h, w, u->k, u->stride, u->pad);
        break;
    case P_AVGPOOL:
        avgpool2d_backward(u->dx, dy, B, c, h, w, u->k, u->stride, u->pad);
        break;
    case P_GAVG:
        global_avgpool_backward(u->dx, dy, B, c, h, w);
        break;
    case P_BN:
        bn_backward(n, u, dy, x, B);
        break;
    case P_RELU:
        relu_backward(u->dx, dy, u->y, (size_t)B * in);
        break;
    case P_DROPOUT:
        dropout_backward(u->dx, dy, (size_t)B * in, u->p, n->m->dropout_seed, n->step * 131 + salt);
        break;
    case P_COPY:
        memcpy(u->dx, dy, (size_t)B * in * sizeof *dy);
        break;
    case P_RESIDUAL:
        residual_backward(n, u, dy, x, B, salt);
        break;
    }
}

static void residual_backward(cd_net *n, unit *u, const float *dy, const float *x, int B,
                              uint64_t salt)
{
    size_t out = (size_t)B * shape_size(&u->out), in = (size_t)B * shape_size(&u->in);
    relu_backward(u->sum, dy, u->y, out); /* sum now holds d(sum) */
    const float *g = u->sum;
    for (int i = 4; i >= 0; i--) {
        unit_backward(n, &u->sub[i], g, i ? u->sub[i - 1].y : x, B, salt);
        g = u->sub[i].dx;
    }
    if (u->nsub == 7) {
        unit_backward(n, &u->sub[6], u->sum, u->sub[5].y, B, salt);
        unit_backward(n, &u->sub[5], u->sub[6].dx, x, B, salt);
        add_forward(u->dx, u->sub[0].dx, u->sub[5].dx, in);
    } else {
        add_forward(u->dx, u->sub[0].dx, u->sum, in);
    }
}

void cd_net_backward(cd_net *n)
{
    const cd_model_spec *m = n->m;
    int B = n->rows;
    for (int i = 0; i < n->ntensors; i++)
        if (n->tensors[i].grad != NULL)
            memset(n->tensors[i].grad, 0, n->tensors[i].n * sizeof(float));
    const float *logits = n->units[n->nunits - 1].y;
    if (m->loss == CD_LOSS_SOFTMAX_XENT)
        softmax_xent_backward(n->dlogits, n->probs, n->y, B, m->classes);
    else if (m->loss == CD_LOSS_SIGMOID_BCE)
        sigmoid_bce_backward(n->dlogits, n->probs, n->yf, (size_t)B);
    else
        mse_backward(n->dlogits, logits, n->yf, (size_t)B);
    const float *g = n->dlogits;
    for (int i = n->nunits - 1; i >= 0; i--) {
        unit_backward(n, &n->units[i], g, i ? n->units[i - 1].y : n->x, B, (uint64_t)i);
        g = n->units[i].dx;
    }
}
