/*
 * net.c: forward and backward passes of a model through the ops of its backend (see net.h,
 * backend.h). This walk of the layers is the only one, for every backend.
 *
 * Every layer of the model is a `unit`: a primitive op, or a residual block whose children
 * are primitive units (conv, bn, relu, conv, bn, and a conv + bn projection when the shape
 * changes). Each unit owns its output y [B * out] and its input gradient dx [B * in], in the
 * backend's memory like every other buffer here except the host copies of the tensors, of
 * the probabilities (hprobs) and the caller's batch. Each pass stops at the first op that
 * fails; the backend keeps the message.
 */
#include "net.h"

#include "hash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TENSORS 1024
#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

/* Call op of n's backend: BE(n, relu_forward, y, x, len). */
#define BE(n, op, ...) ((n)->be->ops->op((n)->be, __VA_ARGS__))

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
    float *y, *dx;    /* [B * out], [B * in] */
    float *save_mean, *save_invstd; /* batchnorm [c] */
    int32_t *argmax;                /* maxpool [B * out] */
    float *ws;                      /* conv workspace, as the backend asks */
    struct unit *sub;               /* residual: conv1 bn1 relu conv2 bn2 [pconv pbn] */
    int nsub;
    float *sum; /* residual [B * out]: body + skip before the final relu */
} unit;

struct cd_net {
    const cd_model_spec *m;
    cd_backend *be;
    int max_batch;
    unit *units;
    int nunits;
    cd_tensor tensors[MAX_TENSORS];
    int ntensors;
    float *probs, *dlogits; /* [B * out] */
    float *hprobs;          /* [B * out] host copy of probs (probs itself on the CPU) */
    float *xbuf;            /* [B * in] the batch on the backend; NULL on the CPU */
    int32_t *ybuf;          /* [B] its labels ... */
    float *yfbuf;           /* [B] ... */
    /* the last forward */
    const float *x; /* the batch as the ops read it (the caller's x on the CPU) */
    int rows;
    bool train;
    uint64_t step;
    const int32_t *y;   /* host labels */
    const float *yf;    /* ... */
    const int32_t *lab; /* the same on the backend */
    const float *labf;  /* ... */
};

/* ---- allocation ---- */

static size_t shape_size(const cd_shape *s)
{
    return (size_t)cd_shape_size(s);
}

/* count + 1 zeroed elements in the backend's memory, NULL when that failed. */
static void *dev_alloc(cd_net *n, size_t count, size_t size)
{
    void *p = NULL;
    return BE(n, alloc, &p, (count + 1) * size) == 0 ? p : NULL;
}

static void dev_free(cd_net *n, void *p)
{
    n->be->ops->free(n->be, p);
}

/* The backend's mirror of host[count]: host itself when the backend's memory is the host's. */
static float *mirror(cd_net *n, float *host, size_t count)
{
    return n->be->host_memory ? host : dev_alloc(n, count, sizeof(float));
}

static void unmirror(cd_net *n, float *dev, float *host)
{
    if (dev != host)
        dev_free(n, dev);
}

static int add_tensor(cd_net *n, const char *prefix, const char *name, bool param, int ndim,
                      const uint64_t *dims)
{
    if (n->ntensors == MAX_TENSORS)
        return -1;
    int i = n->ntensors++; /* counted now, so that cd_net_free frees a half-made one */
    cd_tensor *t = &n->tensors[i];
    snprintf(t->name, sizeof t->name, "%s.%s", prefix, name);
    t->ndim = ndim;
    t->n = 1;
    for (int d = 0; d < ndim; d++)
        t->n *= (t->dims[d] = dims[d]);
    t->data = calloc(t->n + 1, sizeof *t->data);
    t->grad = param ? calloc(t->n + 1, sizeof *t->grad) : NULL;
    if (t->data == NULL || (param && t->grad == NULL))
        return -1;
    t->ddata = mirror(n, t->data, t->n);
    t->dgrad = param ? mirror(n, t->grad, t->n) : NULL;
    return t->ddata != NULL && (!param || t->dgrad != NULL) ? i : -1;
}

static bool alloc_unit(cd_net *n, unit *u, const char *prefix)
{
    size_t B = (size_t)n->max_batch, in = shape_size(&u->in), out = shape_size(&u->out);
    int c = u->in.d[0];
    u->w = u->b = u->rm = u->rv = -1;
    u->y = dev_alloc(n, B * out, sizeof *u->y);
    u->dx = dev_alloc(n, B * in, sizeof *u->dx);
    if (u->y == NULL || u->dx == NULL)
        return false;
    if (u->op == P_DENSE) {
        u->w = add_tensor(n, prefix, "weight", true, 2, (uint64_t[]){out, in});
        u->b = add_tensor(n, prefix, "bias", true, 1, (uint64_t[]){out});
    } else if (u->op == P_CONV) {
        uint64_t oc = (uint64_t)u->out.d[0], k = (uint64_t)u->k;
        u->w = add_tensor(n, prefix, "weight", true, 4, (uint64_t[]){oc, (uint64_t)c, k, k});
        u->b = add_tensor(n, prefix, "bias", true, 1, (uint64_t[]){oc});
        u->ws = dev_alloc(n,
                          n->be->ops->conv2d_workspace_size(c, u->in.d[1], u->in.d[2], u->k, u->k,
                                                            u->stride, u->pad),
                          sizeof *u->ws);
        if (u->ws == NULL)
            return false;
    } else if (u->op == P_BN) {
        uint64_t cc = (uint64_t)c;
        u->w = add_tensor(n, prefix, "weight", true, 1, &cc);
        u->b = add_tensor(n, prefix, "bias", true, 1, &cc);
        u->rm = add_tensor(n, prefix, "running_mean", false, 1, &cc);
        u->rv = add_tensor(n, prefix, "running_var", false, 1, &cc);
        u->save_mean = dev_alloc(n, (size_t)c, sizeof(float));
        u->save_invstd = dev_alloc(n, (size_t)c, sizeof(float));
        if (u->save_mean == NULL || u->save_invstd == NULL || u->rv < 0)
            return false;
    } else if (u->op == P_MAXPOOL) {
        u->argmax = dev_alloc(n, B * out, sizeof *u->argmax);
        if (u->argmax == NULL)
            return false;
    }
    bool params = u->op == P_DENSE || u->op == P_CONV || u->op == P_BN;
    return !(params && (u->w < 0 || u->b < 0)) && !(u->op == P_BN && u->rm < 0);
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
    u->sum = dev_alloc(n, (size_t)n->max_batch * shape_size(&l->out), sizeof *u->sum);
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
        u->y = dev_alloc(n, (size_t)n->max_batch * shape_size(&l->out), sizeof *u->y);
        u->dx = dev_alloc(n, (size_t)n->max_batch * shape_size(&l->in), sizeof *u->dx);
        return u->y && u->dx && build_residual(n, u, l, prefix);
    }
    return alloc_unit(n, u, prefix);
}

/* Loss buffers, and on a backend with memory of its own the batch's. */
static bool alloc_io(cd_net *n)
{
    size_t B = (size_t)n->max_batch, in = shape_size(&n->m->layers[0].in);
    size_t out = shape_size(&n->m->layers[n->m->nlayers - 1].out);
    n->probs = dev_alloc(n, B * out, sizeof *n->probs);
    n->dlogits = dev_alloc(n, B * out, sizeof *n->dlogits);
    if (n->be->host_memory) {
        n->hprobs = n->probs;
        return n->probs && n->dlogits;
    }
    n->hprobs = calloc(B * out + 1, sizeof *n->hprobs);
    n->xbuf = dev_alloc(n, B * in, sizeof *n->xbuf);
    n->ybuf = dev_alloc(n, B, sizeof *n->ybuf);
    n->yfbuf = dev_alloc(n, B, sizeof *n->yfbuf);
    return n->probs && n->dlogits && n->hprobs && n->xbuf && n->ybuf && n->yfbuf;
}

cd_code cd_net_new(cd_net **out, const cd_model_spec *m, int max_batch, cd_backend *be, cd_err *err)
{
    *out = NULL;
    cd_net *n = calloc(1, sizeof *n);
    if (n == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    n->m = m;
    n->be = be;
    n->max_batch = max_batch;
    n->nunits = m->nlayers;
    n->units = calloc((size_t)m->nlayers, sizeof *n->units);
    bool ok = n->units && alloc_io(n);
    for (int i = 0; ok && i < m->nlayers; i++)
        ok = build_unit(n, i);
    if (!ok) {
        cd_net_free(&n);
        cd_fail(err, CD_ENOMEM,
                "out of memory for a model of %lld parameters and batches of %d rows on device "
                "\"%s\"",
                (long long)m->params, max_batch, be->device);
        if (be->status != 0)
            cd_detail(err, "%s", be->error);
        cd_hint(err, "use a smaller batch_size, or another device");
        return CD_ENOMEM;
    }
    *out = n;
    return CD_OK;
}

static void free_unit(cd_net *n, unit *u)
{
    for (int i = u->nsub - 1; i >= 0; i--)
        free_unit(n, &u->sub[i]);
    free(u->sub);
    dev_free(n, u->sum);
    dev_free(n, u->ws);
    dev_free(n, u->argmax);
    dev_free(n, u->save_invstd);
    dev_free(n, u->save_mean);
    dev_free(n, u->dx);
    dev_free(n, u->y);
}

void cd_net_free(cd_net **np)
{
    cd_net *n = *np;
    if (n == NULL)
        return;
    for (int i = n->ntensors - 1; i >= 0; i--) {
        cd_tensor *t = &n->tensors[i];
        unmirror(n, t->dgrad, t->grad);
        unmirror(n, t->ddata, t->data);
        free(t->grad);
        free(t->data);
    }
    for (int i = n->nunits - 1; i >= 0 && n->units; i--)
        free_unit(n, &n->units[i]);
    free(n->units);
    dev_free(n, n->yfbuf);
    dev_free(n, n->ybuf);
    dev_free(n, n->xbuf);
    if (n->hprobs != n->probs)
        free(n->hprobs);
    dev_free(n, n->dlogits);
    dev_free(n, n->probs);
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

/* ---- host <-> backend ---- */

cd_code cd_net_status(const cd_net *n, cd_err *err)
{
    return cd_backend_status(n->be, err);
}

/* A pass stopped: the backend's failure (which every failing entry records). */
static cd_code pass_failed(const cd_net *n, cd_err *err)
{
    cd_code rc = cd_backend_status(n->be, err);
    return rc != CD_OK ? rc : cd_fail(err, CD_EIO, "a pass of the net stopped without a reason");
}

cd_code cd_net_to_device(cd_net *n, cd_err *err)
{
    for (int i = 0; i < n->ntensors; i++) {
        cd_tensor *t = &n->tensors[i];
        if (BE(n, to_device, t->ddata, t->data, t->n * sizeof *t->data) != 0)
            return pass_failed(n, err);
    }
    return CD_OK;
}

cd_code cd_net_to_host(cd_net *n, cd_err *err)
{
    for (int i = 0; i < n->ntensors; i++) {
        cd_tensor *t = &n->tensors[i];
        if (BE(n, to_host, t->data, t->ddata, t->n * sizeof *t->data) != 0 ||
            (t->grad != NULL && BE(n, to_host, t->grad, t->dgrad, t->n * sizeof *t->grad) != 0))
            return pass_failed(n, err);
    }
    return CD_OK;
}

/* ---- forward ---- */

static float *T(cd_net *n, int i)
{
    return n->tensors[i].ddata;
}

static float *G(cd_net *n, int i)
{
    return n->tensors[i].dgrad;
}

static int bn_forward(cd_net *n, unit *u, const float *x, int B)
{
    int c = u->in.d[0];
    if (u->in.ndim == 3 && n->train)
        return BE(n, batchnorm2d_forward_train, u->y, u->save_mean, u->save_invstd, T(n, u->rm),
                  T(n, u->rv), x, T(n, u->w), T(n, u->b), B, c, u->in.d[1], u->in.d[2], BN_MOMENTUM,
                  BN_EPS);
    if (u->in.ndim == 3)
        return BE(n, batchnorm2d_forward_eval, u->y, x, T(n, u->w), T(n, u->b), T(n, u->rm),
                  T(n, u->rv), B, c, u->in.d[1], u->in.d[2], BN_EPS);
    if (n->train)
        return BE(n, batchnorm1d_forward_train, u->y, u->save_mean, u->save_invstd, T(n, u->rm),
                  T(n, u->rv), x, T(n, u->w), T(n, u->b), B, c, BN_MOMENTUM, BN_EPS);
    return BE(n, batchnorm1d_forward_eval, u->y, x, T(n, u->w), T(n, u->b), T(n, u->rm),
              T(n, u->rv), B, c, BN_EPS);
}

static int residual_forward(cd_net *n, unit *u, const float *x, int B, uint64_t salt);

/* 0, or the backend's status */
static int unit_forward(cd_net *n, unit *u, const float *x, int B, uint64_t salt)
{
    int c = u->in.d[0], h = u->in.d[1], w = u->in.d[2];
    size_t in = shape_size(&u->in);
    switch (u->op) {
    case P_DENSE:
        return BE(n, dense_forward, u->y, x, T(n, u->w), T(n, u->b), B, (int)in, u->out.d[0]);
    case P_CONV:
        return BE(n, conv2d_forward, u->y, x, T(n, u->w), T(n, u->b), u->ws, B, c, h, w,
                  u->out.d[0], u->k, u->k, u->stride, u->pad);
    case P_MAXPOOL:
        return BE(n, maxpool2d_forward, u->y, u->argmax, x, B, c, h, w, u->k, u->stride, u->pad);
    case P_AVGPOOL:
        return BE(n, avgpool2d_forward, u->y, x, B, c, h, w, u->k, u->stride, u->pad);
    case P_GAVG:
        return BE(n, global_avgpool_forward, u->y, x, B, c, h, w);
    case P_BN:
        return bn_forward(n, u, x, B);
    case P_RELU:
        return BE(n, relu_forward, u->y, x, (size_t)B * in);
    case P_DROPOUT:
        if (n->train)
            return BE(n, dropout_forward, u->y, x, (size_t)B * in, u->p, n->m->dropout_seed,
                      n->step * 131 + salt);
        return BE(n, copy, u->y, x, (size_t)B * in * sizeof *x);
    case P_COPY:
        return BE(n, copy, u->y, x, (size_t)B * in * sizeof *x);
    case P_RESIDUAL:
        return residual_forward(n, u, x, B, salt);
    }
    return -1;
}

static int residual_forward(cd_net *n, unit *u, const float *x, int B, uint64_t salt)
{
    const float *t = x;
    for (int i = 0; i < 5; i++) {
        if (unit_forward(n, &u->sub[i], t, B, salt) != 0)
            return -1;
        t = u->sub[i].y;
    }
    const float *skip = x;
    if (u->nsub == 7) {
        if (unit_forward(n, &u->sub[5], x, B, salt) != 0 ||
            unit_forward(n, &u->sub[6], u->sub[5].y, B, salt) != 0)
            return -1;
        skip = u->sub[6].y;
    }
    size_t len = (size_t)B * shape_size(&u->out);
    if (BE(n, add_forward, u->sum, u->sub[4].y, skip, len) != 0)
        return -1;
    return BE(n, relu_forward, u->y, u->sum, len);
}

/* The loss into *loss and the outputs into probs (backend) and hprobs (host). */
static int loss_forward(cd_net *n, const float *logits, int B, float *loss)
{
    const cd_model_spec *m = n->m;
    size_t out = shape_size(&m->layers[m->nlayers - 1].out);
    int rc;
    if (m->loss == CD_LOSS_SOFTMAX_XENT)
        rc = BE(n, softmax_xent_forward, loss, n->probs, logits, n->lab, B, m->classes);
    else if (m->loss == CD_LOSS_SIGMOID_BCE)
        rc = BE(n, sigmoid_bce_forward, loss, n->probs, logits, n->labf, (size_t)B);
    else if ((rc = BE(n, copy, n->probs, logits, (size_t)B * sizeof *logits)) == 0)
        rc = BE(n, mse_forward, loss, logits, n->labf, (size_t)B);
    if (rc != 0)
        return rc;
    return BE(n, to_host, n->hprobs, n->probs, (size_t)B * out * sizeof *n->hprobs);
}

/* Right predictions of the last forward (argmax, or p > 0.5 for sigmoid_bce; 0 for mse). */
static int count_correct(const cd_net *n, int B)
{
    const cd_model_spec *m = n->m;
    int correct = 0;
    if (m->loss == CD_LOSS_SOFTMAX_XENT) {
        for (int r = 0; r < B; r++) {
            const float *p = n->hprobs + (size_t)r * m->classes;
            int best = 0;
            for (int k = 1; k < m->classes; k++)
                best = p[k] > p[best] ? k : best;
            correct += best == n->y[r];
        }
    } else if (m->loss == CD_LOSS_SIGMOID_BCE) {
        for (int r = 0; r < B; r++)
            correct += (n->hprobs[r] > 0.5f) == (n->yf[r] > 0.5f);
    }
    return correct;
}

/* The batch where the ops read it: the caller's arrays on the CPU, copies elsewhere. */
static int upload_batch(cd_net *n, const float *x, int rows, const int32_t *y, const float *yf)
{
    n->y = y;
    n->yf = yf;
    if (n->be->host_memory) {
        n->x = x;
        n->lab = y;
        n->labf = yf;
        return 0;
    }
    size_t len = (size_t)rows * shape_size(&n->m->layers[0].in);
    n->x = n->xbuf;
    n->lab = y != NULL ? n->ybuf : NULL;
    n->labf = yf != NULL ? n->yfbuf : NULL;
    int rc = BE(n, to_device, n->xbuf, x, len * sizeof *x);
    if (rc == 0 && y != NULL)
        rc = BE(n, to_device, n->ybuf, y, (size_t)rows * sizeof *y);
    if (rc == 0 && yf != NULL)
        rc = BE(n, to_device, n->yfbuf, yf, (size_t)rows * sizeof *yf);
    return rc;
}

float cd_net_forward(cd_net *n, const float *x, int rows, const int32_t *y, const float *yf,
                     bool train, uint64_t step, int *correct)
{
    float loss = NAN;
    n->rows = rows;
    n->train = train;
    n->step = step;
    *correct = 0;
    if (upload_batch(n, x, rows, y, yf) != 0)
        return NAN;
    const float *t = n->x;
    for (int i = 0; i < n->nunits; i++) {
        if (unit_forward(n, &n->units[i], t, rows, (uint64_t)i) != 0)
            return NAN;
        t = n->units[i].y;
    }
    if (loss_forward(n, t, rows, &loss) != 0)
        return NAN;
    *correct = count_correct(n, rows);
    return loss;
}

const float *cd_net_output(const cd_net *n, int *per_row)
{
    *per_row = (int)shape_size(&n->m->layers[n->m->nlayers - 1].out);
    return n->hprobs;
}

/* ---- backward ---- */

static int bn_backward(cd_net *n, unit *u, const float *dy, const float *x, int B)
{
    int c = u->in.d[0];
    if (u->in.ndim == 3)
        return BE(n, batchnorm2d_backward_train, u->dx, G(n, u->w), G(n, u->b), dy, x, u->save_mean,
                  u->save_invstd, T(n, u->w), B, c, u->in.d[1], u->in.d[2]);
    return BE(n, batchnorm1d_backward_train, u->dx, G(n, u->w), G(n, u->b), dy, x, u->save_mean,
              u->save_invstd, T(n, u->w), B, c);
}

static int residual_backward(cd_net *n, unit *u, const float *dy, const float *x, int B,
                             uint64_t salt);

/* 0, or the backend's status */
static int unit_backward(cd_net *n, unit *u, const float *dy, const float *x, int B, uint64_t salt)
{
    int c = u->in.d[0], h = u->in.d[1], w = u->in.d[2];
    size_t in = shape_size(&u->in);
    /* x == n->x: the layer reads the batch itself, whose gradient nobody needs */
    switch (u->op) {
    case P_DENSE:
        return BE(n, dense_backward, x == n->x ? NULL : u->dx, G(n, u->w), G(n, u->b), dy, x,
                  T(n, u->w), B, (int)in, u->out.d[0]);
    case P_CONV:
        return BE(n, conv2d_backward, x == n->x ? NULL : u->dx, G(n, u->w), G(n, u->b), dy, x,
                  T(n, u->w), u->ws, B, c, h, w, u->out.d[0], u->k, u->k, u->stride, u->pad);
    case P_MAXPOOL:
        return BE(n, maxpool2d_backward, u->dx, dy, u->argmax, B, c, h, w, u->k, u->stride, u->pad);
    case P_AVGPOOL:
        return BE(n, avgpool2d_backward, u->dx, dy, B, c, h, w, u->k, u->stride, u->pad);
    case P_GAVG:
        return BE(n, global_avgpool_backward, u->dx, dy, B, c, h, w);
    case P_BN:
        return bn_backward(n, u, dy, x, B);
    case P_RELU:
        return BE(n, relu_backward, u->dx, dy, u->y, (size_t)B * in);
    case P_DROPOUT:
        return BE(n, dropout_backward, u->dx, dy, (size_t)B * in, u->p, n->m->dropout_seed,
                  n->step * 131 + salt);
    case P_COPY:
        return BE(n, copy, u->dx, dy, (size_t)B * in * sizeof *dy);
    case P_RESIDUAL:
        return residual_backward(n, u, dy, x, B, salt);
    }
    return -1;
}

static int residual_backward(cd_net *n, unit *u, const float *dy, const float *x, int B,
                             uint64_t salt)
{
    size_t out = (size_t)B * shape_size(&u->out), in = (size_t)B * shape_size(&u->in);
    if (BE(n, relu_backward, u->sum, dy, u->y, out) != 0) /* sum now holds d(sum) */
        return -1;
    const float *g = u->sum;
    for (int i = 4; i >= 0; i--) {
        if (unit_backward(n, &u->sub[i], g, i ? u->sub[i - 1].y : x, B, salt) != 0)
            return -1;
        g = u->sub[i].dx;
    }
    if (u->nsub == 7) {
        if (unit_backward(n, &u->sub[6], u->sum, u->sub[5].y, B, salt) != 0 ||
            unit_backward(n, &u->sub[5], u->sub[6].dx, x, B, salt) != 0)
            return -1;
        return BE(n, add_forward, u->dx, u->sub[0].dx, u->sub[5].dx, in);
    }
    return BE(n, add_forward, u->dx, u->sub[0].dx, u->sum, in);
}

/* Zeroed gradients, then the loss gradient into dlogits. */
static int loss_backward(cd_net *n, int B)
{
    const cd_model_spec *m = n->m;
    for (int i = 0; i < n->ntensors; i++)
        if (n->tensors[i].dgrad != NULL &&
            BE(n, memset0, n->tensors[i].dgrad, n->tensors[i].n * sizeof(float)) != 0)
            return -1;
    const float *logits = n->units[n->nunits - 1].y;
    if (m->loss == CD_LOSS_SOFTMAX_XENT)
        return BE(n, softmax_xent_backward, n->dlogits, n->probs, n->lab, B, m->classes);
    if (m->loss == CD_LOSS_SIGMOID_BCE)
        return BE(n, sigmoid_bce_backward, n->dlogits, n->probs, n->labf, (size_t)B);
    return BE(n, mse_backward, n->dlogits, logits, n->labf, (size_t)B);
}

cd_code cd_net_backward(cd_net *n, cd_err *err)
{
    int B = n->rows;
    if (loss_backward(n, B) != 0)
        return pass_failed(n, err);
    const float *g = n->dlogits;
    for (int i = n->nunits - 1; i >= 0; i--) {
        if (unit_backward(n, &n->units[i], g, i ? n->units[i - 1].y : n->x, B, (uint64_t)i) != 0)
            return pass_failed(n, err);
        g = n->units[i].dx;
    }
    return CD_OK;
}
