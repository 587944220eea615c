/*
 * test_ops.c: the CPU reference ops of trainer/ops/ checked by central finite differences
 * (every backward, input and parameter gradients), by tiny hand-computed cases and for
 * bit-identical repeats, all of it once on one thread and once on three (common/par.h), and
 * for agreement between one and three threads. The PyTorch comparison is test_ops_torch.c.
 *
 * Finite differences: the reference loss is sum(out * r) for fixed random r, computed in
 * double from the float forward outputs, so d loss / d out = r is the dy fed to backward.
 */
#include <math.h>
#include <stdbool.h>

#include "unit.h"

#include "par.h"

#include "add.h"
#include "avgpool2d.h"
#include "batchnorm.h"
#include "conv2d.h"
#include "dense.h"
#include "dropout.h"
#include "flatten.h"
#include "maxpool2d.h"
#include "mse.h"
#include "relu.h"
#include "sigmoid_bce.h"
#include "softmax_xent.h"

#define NMAX 512

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

/* Uniform in [-1, 1) from xorshift64*. */
static float frand(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545f4914f6cdd1dULL;
    return (float)(r >> 40) / 8388608.0f - 1.0f;
}

static void fill(float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] = frand();
}

/* Distinct values 0.05 apart in shuffled order, so max pooling never ties. */
static void fill_distinct(float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] = 0.05f * (float)i - 0.025f * (float)n;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)((frand() + 1.0f) * 0.5f * (float)(i + 1)) % (i + 1);
        float t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

typedef void (*fwd_fn)(void *ctx, float *out);

static double weighted_loss(fwd_fn f, void *ctx, float *out, const float *r, size_t nout)
{
    double s = 0.0;
    f(ctx, out);
    for (size_t i = 0; i < nout; i++)
        s += (double)out[i] * (double)r[i];
    return s;
}

/* Compare grad [np] with central differences of the weighted loss in param; 0 if all agree. */
static int gradcheck(const char *what, fwd_fn f, void *ctx, size_t nout, const float *r,
                     float *param, const float *grad, size_t np, float eps)
{
    float out[NMAX];
    int bad = 0;
    for (size_t i = 0; i < np; i++) {
        float keep = param[i];
        param[i] = keep + eps;
        double lp = weighted_loss(f, ctx, out, r, nout);
        param[i] = keep - eps;
        double lm = weighted_loss(f, ctx, out, r, nout);
        param[i] = keep;
        double num = (lp - lm) / (2.0 * (double)eps), g = grad[i];
        if (fabs(num - g) > 1e-2 * fmax(fabs(num), fabs(g)) + 5e-4) {
            if (bad++ < 3)
                fprintf(stderr, "%s[%zu]: analytic %.6g, numeric %.6g\n", what, i, g, num);
        }
    }
    CHECK(bad == 0);
    return bad;
}

/* ---- dense ---- */

struct dense_ctx {
    float x[NMAX], w[NMAX], b[NMAX];
    int batch, in, out;
};

static void dense_fwd(void *p, float *out)
{
    struct dense_ctx *c = p;
    dense_forward(out, c->x, c->w, c->b, c->batch, c->in, c->out);
}

static void test_dense_grad(void)
{
    static struct dense_ctx c = {.batch = 3, .in = 4, .out = 5};
    float r[NMAX], dx[NMAX], dw[NMAX] = {0}, db[NMAX] = {0};
    fill(c.x, 12);
    fill(c.w, 20);
    fill(c.b, 5);
    fill(r, 15);
    dense_backward(dx, dw, db, r, c.x, c.w, 3, 4, 5);
    gradcheck("dense dx", dense_fwd, &c, 15, r, c.x, dx, 12, 1e-2f);
    gradcheck("dense dw", dense_fwd, &c, 15, r, c.w, dw, 20, 1e-2f);
    gradcheck("dense db", dense_fwd, &c, 15, r, c.b, db, 5, 1e-2f);
    /* parameter gradients accumulate */
    float dw0 = dw[7];
    dense_backward(NULL, dw, db, r, c.x, c.w, 3, 4, 5);
    CHECK(fabsf(dw[7] - 2.0f * dw0) <= 1e-6f * fabsf(dw0) + 1e-7f);
}

static void test_dense_known(void)
{
    float x[2] = {1, 2}, w[6] = {1, 0, 0, 1, 1, 1}, b[3] = {0.5f, -1, 0}, y[3];
    dense_forward(y, x, w, b, 1, 2, 3);
    CHECK(y[0] == 1.5f && y[1] == 1.0f && y[2] == 3.0f);
    float dy[3] = {1, 2, 3}, dx[2], dw[6] = {0}, db[3] = {0};
    dense_backward(dx, dw, db, dy, x, w, 1, 2, 3);
    CHECK(dx[0] == 4.0f && dx[1] == 5.0f);
    CHECK(dw[0] == 1 && dw[1] == 2 && dw[4] == 3 && dw[5] == 6 && db[2] == 3);
}

/* ---- elementwise: relu, add, dropout ---- */

struct ew_ctx {
    float x[NMAX], b[NMAX];
    size_t n;
    int op; /* 0 relu, 1 add, 2 dropout */
};

static void ew_fwd(void *p, float *out)
{
    struct ew_ctx *c = p;
    if (c->op == 0)
        relu_forward(out, c->x, c->n);
    else if (c->op == 1)
        add_forward(out, c->x, c->b, c->n);
    else
        dropout_forward(out, c->x, c->n, 0.3f, 42, 7);
}

static void test_elementwise_grad(void)
{
    static struct ew_ctx c = {.n = 40};
    float r[NMAX], y[NMAX], dx[NMAX], db[NMAX];
    fill(c.x, 40);
    fill(c.b, 40);
    fill(r, 40);
    for (int i = 0; i < 40; i++)
        c.x[i] += c.x[i] >= 0 ? 0.05f : -0.05f; /* keep relu inputs off the kink */
    c.op = 0;
    relu_forward(y, c.x, 40);
    relu_backward(dx, r, y, 40);
    gradcheck("relu dx", ew_fwd, &c, 40, r, c.x, dx, 40, 1e-2f);
    c.op = 1;
    add_backward(dx, db, r, 40);
    gradcheck("add da", ew_fwd, &c, 40, r, c.x, dx, 40, 1e-2f);
    gradcheck("add db", ew_fwd, &c, 40, r, c.b, db, 40, 1e-2f);
    c.op = 2;
    dropout_backward(dx, r, 40, 0.3f, 42, 7);
    gradcheck("dropout dx", ew_fwd, &c, 40, r, c.x, dx, 40, 1e-2f);
}

/* PyTorch's relu: a NaN stays NaN (it was mapped to 0, which hid a NaN made in training),
 * -0 and -inf become 0; the gradient is 0 where the output is not > 0. */
static void test_relu_nan(void)
{
    float x[6] = {NAN, -1.0f, -0.0f, 2.0f, INFINITY, -INFINITY}, y[6], dy[6], dx[6];
    relu_forward(y, x, 6);
    CHECK(isnan(y[0]));
    CHECK(y[1] == 0.0f && y[2] == 0.0f && !signbit(y[2]) && y[3] == 2.0f && isinf(y[4]) &&
          y[5] == 0.0f);
    for (int i = 0; i < 6; i++)
        dy[i] = 1.0f;
    relu_backward(dx, dy, y, 6);
    CHECK(dx[0] == 0.0f && dx[1] == 0.0f && dx[2] == 0.0f && dx[3] == 1.0f && dx[4] == 1.0f &&
          dx[5] == 0.0f);
}

static void test_dropout_mask(void)
{
    enum { N = 10000 };
    static float x[N], y[N], y2[N], y3[N];
    for (int i = 0; i < N; i++)
        x[i] = 1.0f;
    dropout_forward(y, x, N, 0.25f, 1, 5);
    dropout_forward(y2, x, N, 0.25f, 1, 5);
    dropout_forward(y3, x, N, 0.25f, 1, 6);
    int dropped = 0, same = 1, differ = 0;
    for (int i = 0; i < N; i++) {
        dropped += y[i] == 0.0f;
        same &= y[i] == 0.0f || y[i] == 1.0f / 0.75f;
        differ += (y[i] == 0.0f) != (y3[i] == 0.0f);
    }
    CHECK(dropped > 2300 && dropped < 2700);
    CHECK(same);
    CHECK(memcmp(y, y2, sizeof y) == 0);
    CHECK(differ > 1000);
    dropout_forward(y, x, N, 0.0f, 1, 5);
    CHECK(memcmp(y, x, sizeof y) == 0);
    dropout_forward(y, x, N, 1.0f, 1, 5);
    CHECK(y[0] == 0.0f && y[N - 1] == 0.0f);
    CHECK_EQ_INT(flatten_features(3, 4, 5), 60);
}

/* ---- losses: softmax cross-entropy, sigmoid BCE, MSE (scalar outputs) ---- */

struct loss_ctx {
    float z[NMAX], t[NMAX], probs[NMAX];
    int32_t labels[8];
    int batch, classes, op; /* 0 softmax xent, 1 sigmoid bce, 2 mse */
};

static void loss_fwd(void *p, float *out)
{
    struct loss_ctx *c = p;
    size_t n = (size_t)c->batch * c->classes;
    if (c->op == 0)
        out[0] = softmax_xent_forward(c->probs, c->z, c->labels, c->batch, c->classes);
    else if (c->op == 1)
        out[0] = sigmoid_bce_forward(c->probs, c->z, c->t, n);
    else
        out[0] = mse_forward(c->z, c->t, n);
}

static void test_loss_grad(void)
{
    static struct loss_ctx c = {.batch = 3, .classes = 5, .labels = {4, 0, 2}};
    float one[1] = {1.0f}, out[1], dz[NMAX];
    fill(c.z, 15);
    for (int i = 0; i < 15; i++)
        c.z[i] *= 3.0f;
    c.op = 0;
    loss_fwd(&c, out);
    softmax_xent_backward(dz, c.probs, c.labels, 3, 5);
    gradcheck("softmax_xent dlogits", loss_fwd, &c, 1, one, c.z, dz, 15, 1e-2f);
    for (int i = 0; i < 15; i++)
        c.t[i] = (float)(frand() > 0.0f);
    c.op = 1;
    loss_fwd(&c, out);
    sigmoid_bce_backward(dz, c.probs, c.t, 15);
    gradcheck("sigmoid_bce dlogits", loss_fwd, &c, 1, one, c.z, dz, 15, 1e-2f);
    fill(c.t, 15);
    c.op = 2;
    mse_backward(dz, c.z, c.t, 15);
    gradcheck("mse dpred", loss_fwd, &c, 1, one, c.z, dz, 15, 1e-2f);
}

static void test_loss_known(void)
{
    float z[4] = {0, 0, 1000, 0}, p[4], dz[4];
    int32_t lab[2] = {0, 1};
    float loss = softmax_xent_forward(p, z, lab, 2, 2);
    /* row 0: ln 2; row 1: 1000 (a probability that underflows still gives a finite loss) */
    CHECK(fabsf(loss - (0.69314718f + 1000.0f) / 2.0f) < 1e-3f);
    softmax_xent_backward(dz, p, lab, 2, 2);
    CHECK(dz[0] == -0.25f && dz[1] == 0.25f && dz[2] == 0.5f && dz[3] == -0.5f);
    float zb[2] = {0, 0}, tb[2] = {1, 0}, pb[2];
    CHECK(fabsf(sigmoid_bce_forward(pb, zb, tb, 2) - 0.69314718f) < 1e-6f);
    float a[2] = {1, 3}, b[2] = {0, 1};
    CHECK(mse_forward(a, b, 2) == 2.5f);
}

/* ---- conv2d ---- */

struct conv_ctx {
    float x[NMAX], w[NMAX], b[NMAX], ws[4096];
    int n, c, h, wd, oc, kh, kw, stride, pad;
};

static void conv_fwd(void *p, float *out)
{
    struct conv_ctx *c = p;
    conv2d_forward(out, c->x, c->w, c->b, c->ws, c->n, c->c, c->h, c->wd, c->oc, c->kh, c->kw,
                   c->stride, c->pad);
}

static void conv_case(int kh, int kw, int stride, int pad)
{
    static struct conv_ctx c = {.n = 2, .c = 3, .h = 5, .wd = 5, .oc = 4};
    c.kh = kh, c.kw = kw, c.stride = stride, c.pad = pad;
    int oh = conv2d_out_size(5, kh, stride, pad), ow = conv2d_out_size(5, kw, stride, pad);
    size_t nx = 150, nw = (size_t)4 * 3 * kh * kw, ny = (size_t)2 * 4 * oh * ow;
    float r[NMAX], dx[NMAX], dw[NMAX] = {0}, db[8] = {0};
    CHECK(conv2d_workspace_size(3, 5, 5, kh, kw, stride, pad) <= 4096 && ny <= NMAX);
    fill(c.x, nx);
    fill(c.w, nw);
    fill(c.b, 4);
    fill(r, ny);
    conv2d_backward(dx, dw, db, r, c.x, c.w, c.ws, 2, 3, 5, 5, 4, kh, kw, stride, pad);
    gradcheck("conv2d dx", conv_fwd, &c, ny, r, c.x, dx, nx, 1e-2f);
    gradcheck("conv2d dw", conv_fwd, &c, ny, r, c.w, dw, nw, 1e-2f);
    gradcheck("conv2d db", conv_fwd, &c, ny, r, c.b, db, 4, 1e-2f);
}

static void test_conv2d_grad(void)
{
    conv_case(3, 3, 1, 0);
    conv_case(3, 3, 1, 1);
    conv_case(3, 3, 1, 2);
    conv_case(3, 1, 1, 0); /* ow == w, oh < h: im2col's shifted blocks */
    conv_case(1, 3, 1, 1); /* ow == w, oh > h */
    conv_case(3, 3, 2, 1);
    conv_case(3, 2, 2, 1);
    conv_case(1, 1, 1, 0);
}

/* Shapes of a batched case: n images [c, h, w], oc filters k x k. */
struct conv_shape {
    int n, c, h, w, oc, k, stride, pad;
    bool bias, dx;
};

/* True when |a - b| <= tol (1 + |a|) everywhere. */
static bool close_all(const float *a, const float *b, size_t n, float tol)
{
    for (size_t i = 0; i < n; i++)
        if (fabsf(a[i] - b[i]) > tol * (1.0f + fabsf(a[i])))
            return false;
    return true;
}

/* The n images in one call (several images per GEMM, the last batch shorter, or on the
 * threads) against one call per image: y, dx, and dweight and dbias summed over the
 * images, up to rounding (other GEMM shapes add in another order). */
static void conv_batched_case(struct conv_shape s)
{
    int oh = conv2d_out_size(s.h, s.k, s.stride, s.pad);
    int ow = conv2d_out_size(s.w, s.k, s.stride, s.pad);
    size_t xi = (size_t)s.c * s.h * s.w, yi = (size_t)s.oc * oh * ow;
    size_t nw = (size_t)s.oc * s.c * s.k * s.k,
           wsn = conv2d_workspace_size(s.c, s.h, s.w, s.k, s.k, s.stride, s.pad);
    float *x = malloc(sizeof(float) * xi * s.n), *dy = malloc(sizeof(float) * yi * s.n);
    float *y = malloc(sizeof(float) * yi * s.n), *y1 = malloc(sizeof(float) * yi * s.n);
    float *dx = malloc(sizeof(float) * xi * s.n), *dx1 = malloc(sizeof(float) * xi * s.n);
    float *w = malloc(sizeof(float) * nw), *dw = calloc(nw, sizeof(float));
    float *dw1 = calloc(nw, sizeof(float)), *ws = malloc(sizeof(float) * wsn);
    float b[8], db[8] = {0}, db1[8] = {0};
    CHECK(s.oc <= 8);
    fill(x, xi * s.n);
    fill(dy, yi * s.n);
    fill(w, nw);
    fill(b, 8);
    const float *bias = s.bias ? b : NULL;
    conv2d_forward(y, x, w, bias, ws, s.n, s.c, s.h, s.w, s.oc, s.k, s.k, s.stride, s.pad);
    conv2d_backward(s.dx ? dx : NULL, dw, s.bias ? db : NULL, dy, x, w, ws, s.n, s.c, s.h, s.w,
                    s.oc, s.k, s.k, s.stride, s.pad);
    for (int i = 0; i < s.n; i++) {
        conv2d_forward(y1 + i * yi, x + i * xi, w, bias, ws, 1, s.c, s.h, s.w, s.oc, s.k, s.k,
                       s.stride, s.pad);
        conv2d_backward(s.dx ? dx1 + i * xi : NULL, dw1, s.bias ? db1 : NULL, dy + i * yi,
                        x + i * xi, w, ws, 1, s.c, s.h, s.w, s.oc, s.k, s.k, s.stride, s.pad);
    }
    CHECK(close_all(y, y1, yi * s.n, 1e-5f));
    CHECK(!s.dx || close_all(dx, dx1, xi * s.n, 1e-5f));
    CHECK(close_all(dw, dw1, nw, 1e-4f) && close_all(db, db1, 8, 1e-4f));
    free(x), free(dy), free(y), free(y1), free(dx), free(dx1), free(w), free(dw), free(dw1);
    free(ws);
}

static void test_conv2d_batched(void)
{
    /* 5x5 planes: 8 images per GEMM, so 11 = 8 + 3; 6x4 pad 0 (flip with oh != h) */
    conv_batched_case((struct conv_shape){11, 3, 5, 5, 4, 3, 1, 1, true, true});
    conv_batched_case((struct conv_shape){11, 3, 6, 4, 4, 3, 1, 0, true, true});
    conv_batched_case((struct conv_shape){9, 2, 4, 4, 3, 3, 1, 2, false, true});
    /* stride 2 (odd 7x5 plane) and 1x1 stride 2: the col2im path, batched */
    conv_batched_case((struct conv_shape){10, 3, 7, 5, 5, 3, 2, 1, true, true});
    conv_batched_case((struct conv_shape){9, 4, 5, 5, 6, 1, 2, 0, false, true});
    /* no input gradient (a first layer); 14x14: 4 per GEMM; 28x28: one */
    conv_batched_case((struct conv_shape){11, 1, 5, 5, 4, 3, 1, 1, true, false});
    conv_batched_case((struct conv_shape){9, 2, 14, 14, 3, 3, 1, 1, true, true});
    conv_batched_case((struct conv_shape){3, 2, 28, 28, 3, 3, 1, 1, true, true});
}

static void test_conv2d_known(void)
{
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 1, 1, 1}, b[1] = {0.5f}, y[4], ws[64];
    conv2d_forward(y, x, w, b, ws, 1, 1, 3, 3, 1, 2, 2, 1, 0);
    CHECK(y[0] == 12.5f && y[1] == 16.5f && y[2] == 24.5f && y[3] == 28.5f);
    conv2d_forward(y, x, w, NULL, ws, 1, 1, 3, 3, 1, 2, 2, 2, 1);
    CHECK(y[0] == 1.0f && y[1] == 5.0f && y[2] == 11.0f && y[3] == 28.0f);
    float dy[4] = {1, 0, 0, 0}, dx[9], dw[4] = {0};
    conv2d_backward(dx, dw, NULL, dy, x, w, ws, 1, 1, 3, 3, 1, 2, 2, 2, 1);
    CHECK(dx[0] == 1.0f && dx[1] == 0.0f && dw[3] == 1.0f && dw[0] == 0.0f);
}

/* ---- pooling ---- */

struct pool_ctx {
    float x[NMAX];
    int32_t arg[NMAX];
    int k, stride, pad, op; /* 0 max, 1 avg, 2 global avg; x is [2, 3, 5, 5] */
};

static void pool_fwd(void *p, float *out)
{
    struct pool_ctx *c = p;
    if (c->op == 0)
        maxpool2d_forward(out, c->arg, c->x, 2, 3, 5, 5, c->k, c->stride, c->pad);
    else if (c->op == 1)
        avgpool2d_forward(out, c->x, 2, 3, 5, 5, c->k, c->stride, c->pad);
    else
        global_avgpool_forward(out, c->x, 2, 3, 5, 5);
}

static void pool_case(int op, int k, int stride, int pad)
{
    static struct pool_ctx c;
    float r[NMAX], y[NMAX], dx[NMAX];
    int o = conv2d_out_size(5, k, stride, pad);
    size_t ny = op == 2 ? 6 : (size_t)6 * o * o;
    c.k = k, c.stride = stride, c.pad = pad, c.op = op;
    fill_distinct(c.x, 150);
    fill(r, ny);
    pool_fwd(&c, y);
    if (op == 0)
        maxpool2d_backward(dx, r, c.arg, 2, 3, 5, 5, k, stride, pad);
    else if (op == 1)
        avgpool2d_backward(dx, r, 2, 3, 5, 5, k, stride, pad);
    else
        global_avgpool_backward(dx, r, 2, 3, 5, 5);
    gradcheck(op == 0 ? "maxpool dx" : "avgpool dx", pool_fwd, &c, ny, r, c.x, dx, 150, 1e-3f);
}

static void test_pool_grad(void)
{
    pool_case(0, 2, 2, 0);
    pool_case(0, 3, 2, 1);
    pool_case(0, 3, 1, 1);
    pool_case(1, 2, 2, 0);
    pool_case(1, 3, 2, 1);
    pool_case(2, 0, 1, 0);
}

/* ---- batchnorm ---- */

struct bn_ctx {
    float x[NMAX], g[8], b[8], rm[8], rv[8], mean[8], invstd[8];
    int n, c, h, w, train;
};

static void bn_fwd(void *p, float *out)
{
    struct bn_ctx *c = p;
    if (c->train)
        batchnorm2d_forward_train(out, c->mean, c->invstd, c->rm, c->rv, c->x, c->g, c->b, c->n,
                                  c->c, c->h, c->w, 0.1f, 1e-5f);
    else
        batchnorm2d_forward_eval(out, c->x, c->g, c->b, c->rm, c->rv, c->n, c->c, c->h, c->w,
                                 1e-5f);
}

static void bn_case(int n, int ch, int h, int w, int train)
{
    static struct bn_ctx c;
    size_t nx = (size_t)n * ch * h * w;
    float r[NMAX], y[NMAX], dx[NMAX], dg[8] = {0}, dbt[8] = {0};
    c.n = n, c.c = ch, c.h = h, c.w = w, c.train = train;
    fill(c.x, nx);
    fill(c.g, ch);
    fill(c.b, ch);
    fill(c.rm, ch);
    for (int i = 0; i < ch; i++)
        c.rv[i] = 0.5f + 0.4f * frand();
    fill(r, nx);
    bn_fwd(&c, y);
    if (train)
        batchnorm2d_backward_train(dx, dg, dbt, r, c.x, c.mean, c.invstd, c.g, n, ch, h, w);
    else
        batchnorm2d_backward_eval(dx, dg, dbt, r, c.x, c.g, c.rm, c.rv, n, ch, h, w, 1e-5f);
    gradcheck("batchnorm dx", bn_fwd, &c, nx, r, c.x, dx, nx, 1e-2f);
    gradcheck("batchnorm dgamma", bn_fwd, &c, nx, r, c.g, dg, ch, 1e-2f);
    gradcheck("batchnorm dbeta", bn_fwd, &c, nx, r, c.b, dbt, ch, 1e-2f);
}

static void test_batchnorm_grad(void)
{
    bn_case(3, 2, 5, 5, 1); /* batchnorm2d */
    bn_case(3, 2, 5, 5, 0);
    bn_case(4, 3, 1, 1, 1); /* batchnorm1d shapes */
    bn_case(4, 3, 1, 1, 0);
}

static void test_batchnorm_known(void)
{
    /* one feature, batch {1, 3}: mean 2, biased var 1, unbiased 2 */
    float x[2] = {1, 3}, g[1] = {2}, b[1] = {1}, rm[1] = {0}, rv[1] = {1}, m[1], is[1], y[2];
    batchnorm1d_forward_train(y, m, is, rm, rv, x, g, b, 2, 1, 0.5f, 0.0f);
    CHECK(m[0] == 2.0f && is[0] == 1.0f && y[0] == -1.0f && y[1] == 3.0f);
    CHECK(rm[0] == 1.0f && rv[0] == 1.5f);
    batchnorm1d_forward_eval(y, x, g, b, rm, rv, 2, 1, 0.0f);
    CHECK(fabsf(y[1] - (2.0f * 2.0f / sqrtf(1.5f) + 1.0f)) < 1e-6f);
}

/* Double two-pass mean and biased variance of channel ch of x [n, c, hw]. */
static void bn_ref_stats(const float *x, int n, int c, int hw, int ch, double *mean, double *var)
{
    double s = 0.0, q = 0.0, m = (double)n * hw;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++)
            s += x[((size_t)i * c + ch) * hw + p];
    *mean = s / m;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++) {
            double d = x[((size_t)i * c + ch) * hw + p] - *mean;
            q += d * d;
        }
    *var = q / m;
}

/* Forward and backward of one channel against double references (tolerance tol). */
static void bn_check_channel(const float *x, const float *y, const float *dy, const float *dx,
                             const float *m, const float *is, const float *g, const float *b, int n,
                             int c, int hw, int ch, float tol)
{
    double mean, var, sdy = 0.0, sdyx = 0.0, cnt = (double)n * hw;
    bn_ref_stats(x, n, c, hw, ch, &mean, &var);
    double ris = 1.0 / sqrt(var + 1e-5);
    CHECK(fabs(m[ch] - mean) <= 1e-6 * fabs(mean) + 1e-6);
    CHECK(fabs(is[ch] - ris) <= 1e-4 * ris);
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++) {
            size_t at = ((size_t)i * c + ch) * hw + p;
            sdy += dy[at];
            sdyx += dy[at] * (x[at] - mean) * ris;
        }
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++) {
            size_t at = ((size_t)i * c + ch) * hw + p;
            double xhat = (x[at] - mean) * ris;
            double dref = g[ch] * ris * (dy[at] - sdy / cnt - xhat * sdyx / cnt);
            CHECK(fabs(y[at] - (g[ch] * xhat + b[ch])) <= tol);
            CHECK(fabs(dx[at] - dref) <= tol * (1.0 + fabs(dref)));
        }
}

/* The one-pass statistics (sums of x - K, K the first plane's mean) where a plain sum of
 * squares would cancel: channel 0 has mean 1000 and variance 1/3; channel 1's first plane
 * is 50 below the others (a pivot far from the mean). Planes of 7x7 and 5x3 (lane tails),
 * and batchnorm1d (planes of one). */
static void bn_offset_case(int n, int h, int w)
{
    enum { C = 2 };
    static float x[NMAX], y[NMAX], dy[NMAX], dx[NMAX];
    int hw = h * w;
    CHECK(n * C * hw <= NMAX);
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++) {
            x[((size_t)i * C + 0) * hw + p] = 1000.0f + frand();
            x[((size_t)i * C + 1) * hw + p] = (i == 0 ? 0.0f : 50.0f) + frand();
        }
    fill(dy, (size_t)n * C * hw);
    float g[C] = {1.5f, 0.5f}, b[C] = {0.1f, -0.2f}, m[C], is[C], rm[C] = {0}, rv[C] = {1, 1};
    float dg[C] = {0}, db[C] = {0};
    batchnorm2d_forward_train(y, m, is, rm, rv, x, g, b, n, C, h, w, 0.1f, 1e-5f);
    batchnorm2d_backward_train(dx, dg, db, dy, x, m, is, g, n, C, h, w);
    for (int ch = 0; ch < C; ch++)
        bn_check_channel(x, y, dy, dx, m, is, g, b, n, C, hw, ch, 2e-3f);
}

static void test_batchnorm_offsets(void)
{
    bn_offset_case(3, 7, 7);
    bn_offset_case(4, 5, 3);
    bn_offset_case(40, 1, 1);
}

/* ---- determinism: the same call twice is bit-identical ---- */

static void test_determinism(void)
{
    static float x[2 * 8 * 12 * 12], w[16 * 8 * 9], b[16], y1[2 * 16 * 144], y2[2 * 16 * 144];
    static float dx1[2 * 8 * 144], dx2[2 * 8 * 144], dw1[16 * 72], dw2[16 * 72], ws[72 * 144];
    float db1[16] = {0}, db2[16] = {0};
    fill(x, sizeof x / 4);
    fill(w, sizeof w / 4);
    fill(b, 16);
    fill(y2, sizeof y2 / 4); /* used as dy */
    memset(dw1, 0, sizeof dw1);
    memset(dw2, 0, sizeof dw2);
    conv2d_forward(y1, x, w, b, ws, 2, 8, 12, 12, 16, 3, 3, 1, 1);
    conv2d_backward(dx1, dw1, db1, y2, x, w, ws, 2, 8, 12, 12, 16, 3, 3, 1, 1);
    conv2d_backward(dx2, dw2, db2, y2, x, w, ws, 2, 8, 12, 12, 16, 3, 3, 1, 1);
    CHECK(memcmp(dx1, dx2, sizeof dx1) == 0 && memcmp(dw1, dw2, sizeof dw1) == 0);
    CHECK(memcmp(db1, db2, sizeof db1) == 0);
    conv2d_forward(y2, x, w, b, ws, 2, 8, 12, 12, 16, 3, 3, 1, 1);
    CHECK(memcmp(y1, y2, sizeof y1) == 0);
    dense_forward(y1, x, w, b, 12, 96, 16);
    dense_forward(y2, x, w, b, 12, 96, 16);
    CHECK(memcmp(y1, y2, 12 * 16 * sizeof(float)) == 0);
    float m[8], is[8], rm[8] = {0}, rv[8] = {0}, g[8], bt[8];
    fill(g, 8);
    fill(bt, 8);
    batchnorm2d_forward_train(y1, m, is, rm, rv, x, g, bt, 2, 8, 12, 12, 0.1f, 1e-5f);
    batchnorm2d_forward_train(y2, m, is, rm, rv, x, g, bt, 2, 8, 12, 12, 0.1f, 1e-5f);
    CHECK(memcmp(y1, y2, 2 * 8 * 144 * sizeof(float)) == 0);
}

/* ---- threads: the same results on 1 and 3 threads (bit-identical except summed weight
 * gradients, whose per-range partial sums round differently) ---- */

struct big {
    float x[4 * 8 * 14 * 14], w[16 * 8 * 9], b[16], dy[4 * 16 * 14 * 14];
    float y[2][4 * 16 * 14 * 14], dx[2][4 * 8 * 14 * 14], dw[2][16 * 8 * 9], db[2][16];
    float p[2][4 * 16 * 7 * 7], pdx[2][4 * 16 * 14 * 14], dd[2][64 * 300];
    int32_t arg[2][4 * 16 * 7 * 7];
    float g[16], bt[16], m[2][16], is[2][16], rm[2][16], rv[2][16], ws[72 * 196];
};

static void run_big(struct big *s, int k)
{
    memset(s->dw[k], 0, sizeof s->dw[k]);
    memset(s->db[k], 0, sizeof s->db[k]);
    conv2d_forward(s->y[k], s->x, s->w, s->b, s->ws, 4, 8, 14, 14, 16, 3, 3, 1, 1);
    conv2d_backward(s->dx[k], s->dw[k], s->db[k], s->dy, s->x, s->w, s->ws, 4, 8, 14, 14, 16, 3, 3,
                    1, 1);
    maxpool2d_forward(s->p[k], s->arg[k], s->y[k], 4, 16, 14, 14, 2, 2, 0);
    maxpool2d_backward(s->pdx[k], s->dy, s->arg[k], 4, 16, 14, 14, 2, 2, 0);
    memset(s->rm[k], 0, sizeof s->rm[k]);
    memset(s->rv[k], 0, sizeof s->rv[k]);
    batchnorm2d_forward_train(s->y[k], s->m[k], s->is[k], s->rm[k], s->rv[k], s->y[k], s->g, s->bt,
                              4, 16, 14, 14, 0.1f, 1e-5f);
    relu_forward(s->y[k], s->y[k], sizeof s->y[k] / 4);
    dropout_forward(s->y[k], s->y[k], sizeof s->y[k] / 4, 0.3f, 7, 9);
    dense_forward(s->dd[k], s->x, s->w, s->b, 64, 98, 12);
}

static void test_threads_agree(void)
{
    static struct big s;
    fill(s.x, sizeof s.x / 4);
    fill(s.w, sizeof s.w / 4);
    fill(s.b, 16);
    fill(s.dy, sizeof s.dy / 4);
    fill(s.g, 16);
    fill(s.bt, 16);
    int keep = cd_par_threads();
    cd_par_set_threads(1);
    run_big(&s, 0);
    cd_par_set_threads(3);
    run_big(&s, 1);
    cd_par_set_threads(keep);
    CHECK(memcmp(s.y[0], s.y[1], sizeof s.y[0]) == 0);
    CHECK(memcmp(s.dx[0], s.dx[1], sizeof s.dx[0]) == 0);
    CHECK(memcmp(s.p[0], s.p[1], sizeof s.p[0]) == 0);
    CHECK(memcmp(s.arg[0], s.arg[1], sizeof s.arg[0]) == 0);
    CHECK(memcmp(s.pdx[0], s.pdx[1], sizeof s.pdx[0]) == 0);
    CHECK(memcmp(s.m[0], s.m[1], sizeof s.m[0]) == 0 && memcmp(s.rv[0], s.rv[1], 64) == 0);
    CHECK(memcmp(s.dd[0], s.dd[1], 64 * 12 * sizeof(float)) == 0);
    CHECK(close_all(s.dw[0], s.dw[1], sizeof s.dw[0] / 4, 1e-5f));
    CHECK(close_all(s.db[0], s.db[1], 16, 1e-5f));
}

static void run_all(void)
{
    RUN(test_dense_known);
    RUN(test_dense_grad);
    RUN(test_elementwise_grad);
    RUN(test_relu_nan);
    RUN(test_dropout_mask);
    RUN(test_loss_known);
    RUN(test_loss_grad);
    RUN(test_conv2d_known);
    RUN(test_conv2d_grad);
    RUN(test_conv2d_batched);
    RUN(test_pool_grad);
    RUN(test_batchnorm_known);
    RUN(test_batchnorm_grad);
    RUN(test_batchnorm_offsets);
    RUN(test_determinism);
}

int main(void)
{
    run_all();
    cd_par_set_threads(3);
    run_all();
    RUN(test_threads_agree);
    cd_par_shutdown();
    return UNIT_DONE();
}
