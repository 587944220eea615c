/*
 * test_ops_cuda.cu: every CUDA op (trainer/ops/ops_cuda.h) against its CPU op, the
 * specification, on seeded random inputs, with a tolerance (cuBLAS and tree reductions sum
 * in another order). Dropout masks, maxpool argmax and the optimizer updates (the same
 * unfused float32 expressions) must match exactly. Without a CUDA device it prints a skip
 * line and exits 0. Built by mk/cuda.mk (make CUDA=1).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "add.h"
#include "avgpool2d.h"
#include "batchnorm.h"
#include "conv2d.h"
#include "dense.h"
#include "dropout.h"
#include "maxpool2d.h"
#include "mse.h"
#include "optim_update.h"
#include "relu.h"
#include "sigmoid_bce.h"
#include "softmax_xent.h"
}
#include "cuda_check.h"
#include "cuda_ctx.h"
#include "ops_cuda.h"

static int failures, checks;
static void *allocs[4096]; /* host buffers, freed at exit (device ones die with the process) */
static int nallocs;
static uint64_t rng = 0x1234abcdULL;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)
#define GPU(call) gpu_at(__FILE__, __LINE__, #call, (call))
#define NEAR(what, cpu, gpu, n, tol) near_at(__FILE__, __LINE__, what, cpu, gpu, n, tol)

/* A CUDA op's status and the stream's, with the op's failure record when it failed. */
static void gpu_at(const char *file, int line, const char *what, int rc)
{
    cudaError_t e = cudaStreamSynchronize(0);
    checks++;
    if (rc != 0 || e != cudaSuccess) {
        failures++;
        fprintf(stderr, "%s:%d: %s failed: %s\n", file, line, what,
                rc != 0 ? cd_cuda_last_error() : cudaGetErrorString(e));
    }
}

static float frand(void) /* uniform in [-1, 1) */
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)(rng >> 40) / 8388608.0f - 1.0f;
}

static float *hrand(size_t n)
{
    float *p = (float *)malloc(n * sizeof(float) + 1);
    if (nallocs < 4096)
        allocs[nallocs++] = p;
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

static float *hcopy(const float *src, size_t n)
{
    float *p = hrand(n);
    memcpy(p, src, n * sizeof(float));
    return p;
}

/* Device copy of bytes of host data (released with the process). */
static void *dup_dev(const void *h, size_t bytes)
{
    void *d = NULL;
    if (cudaMalloc(&d, bytes + 4) != cudaSuccess)
        return NULL;
    cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice);
    return d;
}
#define DEV(h, n) ((float *)dup_dev(h, (n) * sizeof(float)))

static float *down(const float *d, size_t n)
{
    float *h = hrand(n);
    cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost);
    return h;
}

static void near_at(const char *file, int line, const char *what, const float *cpu,
                    const float *gpu, size_t n, float tol)
{
    checks++;
    for (size_t i = 0; i < n; i++) {
        float err = fabsf(cpu[i] - gpu[i]) / (1.0f + fabsf(cpu[i]));
        if (!(err <= tol)) {
            failures++;
            fprintf(stderr, "%s:%d: %s[%zu]: cpu %.9g gpu %.9g (tol %g)\n", file, line, what, i,
                    cpu[i], gpu[i], tol);
            return;
        }
    }
}

static void test_elementwise(void)
{
    size_t n = 10007;
    float *a = hrand(n), *b = hrand(n), *y = hrand(n), *da = hrand(n), *db = hrand(n);
    float *dA = DEV(a, n), *dB = DEV(b, n), *dY = DEV(y, n), *dDa = DEV(y, n), *dDb = DEV(y, n);
    add_forward(y, a, b, n);
    GPU(add_forward_cuda(dY, dA, dB, n, 0));
    NEAR("add", y, down(dY, n), n, 0.0f);
    add_backward(da, db, a, n);
    GPU(add_backward_cuda(dDa, dDb, dA, n, 0));
    NEAR("add da", da, down(dDa, n), n, 0.0f);
    NEAR("add db", db, down(dDb, n), n, 0.0f);
    relu_forward(y, a, n);
    GPU(relu_forward_cuda(dY, dA, n, 0));
    NEAR("relu", y, down(dY, n), n, 0.0f);
    relu_backward(da, b, y, n);
    GPU(relu_backward_cuda(dDa, dB, dY, n, 0));
    NEAR("relu dx", da, down(dDa, n), n, 0.0f);
    float odd[6] = {NAN, -1.0f, -0.0f, 2.0f, INFINITY, -INFINITY}, oy[6];
    float *dOdd = DEV(odd, 6);
    relu_forward(oy, odd, 6); /* NaN stays NaN, -0 becomes +0: the same bits on both */
    GPU(relu_forward_cuda(dOdd, dOdd, 6, 0));
    CHECK(memcmp(oy, down(dOdd, 6), sizeof oy) == 0);
    float ps[] = {0.0f, 0.3f, 1.0f};
    for (int k = 0; k < 3; k++) {
        dropout_forward(y, a, n, ps[k], 42, 7 + k);
        GPU(dropout_forward_cuda(dY, dA, n, ps[k], 42, 7 + k, 0));
        NEAR("dropout", y, down(dY, n), n, 0.0f);
        dropout_backward(da, b, n, ps[k], 42, 7 + k);
        GPU(dropout_backward_cuda(dDa, dB, n, ps[k], 42, 7 + k, 0));
        NEAR("dropout dx", da, down(dDa, n), n, 0.0f);
    }
}

static void test_losses(void)
{
    size_t n = 3001;
    int batch = 37, classes = 11;
    float *p = hrand(n), *t = hrand(n), *g = hrand(n), *probs = hrand(n);
    float *dP = DEV(p, n), *dT = DEV(t, n), *dG = DEV(g, n), *dProbs = DEV(g, n);
    float loss = 0.0f;
    float cpu = mse_forward(p, t, n);
    GPU(mse_forward_cuda(&loss, dP, dT, n, 0));
    NEAR("mse", &cpu, &loss, 1, 1e-6f);
    mse_backward(g, p, t, n);
    GPU(mse_backward_cuda(dG, dP, dT, n, 0));
    NEAR("mse dpred", g, down(dG, n), n, 1e-6f);
    for (size_t i = 0; i < n; i++)
        t[i] = (t[i] + 1.0f) / 2.0f; /* labels in [0, 1] */
    cudaMemcpy(dT, t, n * sizeof(float), cudaMemcpyHostToDevice);
    cpu = sigmoid_bce_forward(probs, p, t, n);
    GPU(sigmoid_bce_forward_cuda(&loss, dProbs, dP, dT, n, 0));
    NEAR("bce", &cpu, &loss, 1, 1e-6f);
    NEAR("bce probs", probs, down(dProbs, n), n, 1e-6f);
    sigmoid_bce_backward(g, probs, t, n);
    GPU(sigmoid_bce_backward_cuda(dG, dProbs, dT, n, 0));
    NEAR("bce dlogits", g, down(dG, n), n, 1e-6f);
    int32_t labels[37];
    for (int i = 0; i < batch; i++)
        labels[i] = (int32_t)((i * 7) % classes);
    int32_t *dL = (int32_t *)dup_dev(labels, sizeof labels);
    cpu = softmax_xent_forward(probs, p, labels, batch, classes);
    GPU(softmax_xent_forward_cuda(&loss, dProbs, dP, dL, batch, classes, 0));
    NEAR("xent", &cpu, &loss, 1, 1e-6f);
    NEAR("xent probs", probs, down(dProbs, (size_t)batch * classes), (size_t)batch * classes,
         1e-6f);
    softmax_xent_backward(g, probs, labels, batch, classes);
    GPU(softmax_xent_backward_cuda(dG, dProbs, dL, batch, classes, 0));
    NEAR("xent dlogits", g, down(dG, (size_t)batch * classes), (size_t)batch * classes, 1e-6f);
}

static void test_dense(void)
{
    int batch = 13, in = 29, out = 17;
    size_t nx = (size_t)batch * in, nw = (size_t)out * in, ny = (size_t)batch * out;
    float *x = hrand(nx), *w = hrand(nw), *b = hrand(out), *y = hrand(ny), *dy = hrand(ny);
    float *dx = hrand(nx), *dw = hrand(nw), *db = hrand(out);
    float *dX = DEV(x, nx), *dW = DEV(w, nw), *dB = DEV(b, out), *dYv = DEV(y, ny);
    float *dDy = DEV(dy, ny), *dDx = DEV(dx, nx), *dDw = DEV(dw, nw), *dDb = DEV(db, out);
    for (int bias = 0; bias < 2; bias++) {
        dense_forward(y, x, w, bias ? b : NULL, batch, in, out);
        GPU(dense_forward_cuda(dYv, dX, dW, bias ? dB : NULL, batch, in, out, 0));
        NEAR("dense y", y, down(dYv, ny), ny, 1e-5f);
    }
    dense_backward(dx, dw, db, dy, x, w, batch, in, out); /* dw, db accumulate */
    GPU(dense_backward_cuda(dDx, dDw, dDb, dDy, dX, dW, batch, in, out, 0));
    NEAR("dense dx", dx, down(dDx, nx), nx, 1e-5f);
    NEAR("dense dw", dw, down(dDw, nw), nw, 1e-5f);
    NEAR("dense db", db, down(dDb, out), out, 1e-5f);
}

static void test_conv2d(void)
{
    int n = 3, c = 4, h = 9, w = 8, oc = 5, k = 3, geo[3][2] = {{1, 1}, {2, 0}, {2, 1}};
    for (int gi = 0; gi < 3; gi++) {
        int stride = geo[gi][0], pad = geo[gi][1];
        int oh = conv2d_out_size(h, k, stride, pad), ow = conv2d_out_size(w, k, stride, pad);
        size_t nx = (size_t)n * c * h * w, nw = (size_t)oc * c * k * k;
        size_t ny = (size_t)n * oc * oh * ow,
               nws = conv2d_workspace_size(c, h, w, k, k, stride, pad);
        size_t nws_gpu = conv2d_workspace_size_cuda(c, h, w, k, k, stride, pad);
        float *x = hrand(nx), *wt = hrand(nw), *b = hrand(oc), *y = hrand(ny), *dy = hrand(ny);
        float *dx = hrand(nx), *dw = hrand(nw), *db = hrand(oc), *ws = hrand(nws);
        float *dX = DEV(x, nx), *dWt = DEV(wt, nw), *dB = DEV(b, oc), *dYv = DEV(y, ny);
        float *dDy = DEV(dy, ny), *dDx = DEV(dx, nx), *dDw = DEV(dw, nw), *dDb = DEV(db, oc);
        float *dWs = DEV(ws, nws_gpu);
        conv2d_forward(y, x, wt, b, ws, n, c, h, w, oc, k, k, stride, pad);
        GPU(conv2d_forward_cuda(dYv, dX, dWt, dB, dWs, n, c, h, w, oc, k, k, stride, pad, 0));
        NEAR("conv y", y, down(dYv, ny), ny, 1e-5f);
        conv2d_backward(dx, dw, db, dy, x, wt, ws, n, c, h, w, oc, k, k, stride, pad);
        GPU(conv2d_backward_cuda(dDx, dDw, dDb, dDy, dX, dWt, dWs, n, c, h, w, oc, k, k, stride,
                                 pad, 0));
        NEAR("conv dx", dx, down(dDx, nx), nx, 1e-5f);
        NEAR("conv dw", dw, down(dDw, nw), nw, 1e-5f);
        NEAR("conv db", db, down(dDb, oc), oc, 1e-5f);
    }
}

static void test_pools(void)
{
    int n = 2, c = 3, h = 11, w = 10, geo[3][3] = {{2, 2, 0}, {3, 2, 1}, {3, 1, 1}};
    for (int gi = 0; gi < 3; gi++) {
        int k = geo[gi][0], stride = geo[gi][1], pad = geo[gi][2];
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * oh * ow;
        float *x = hrand(nx), *y = hrand(ny), *dy = hrand(ny), *dx = hrand(nx);
        int32_t *am = (int32_t *)malloc(ny * sizeof(int32_t)), *am2 = (int32_t *)malloc(ny * 4);
        allocs[nallocs++] = am;
        allocs[nallocs++] = am2;
        float *dX = DEV(x, nx), *dYv = DEV(y, ny), *dDy = DEV(dy, ny), *dDx = DEV(dx, nx);
        int32_t *dAm = (int32_t *)dup_dev(am, ny * sizeof(int32_t));
        maxpool2d_forward(y, am, x, n, c, h, w, k, stride, pad);
        GPU(maxpool2d_forward_cuda(dYv, dAm, dX, n, c, h, w, k, stride, pad, 0));
        NEAR("maxpool y", y, down(dYv, ny), ny, 0.0f);
        cudaMemcpy(am2, dAm, ny * sizeof(int32_t), cudaMemcpyDeviceToHost);
        CHECK(memcmp(am, am2, ny * sizeof(int32_t)) == 0);
        maxpool2d_backward(dx, dy, am, n, c, h, w, k, stride, pad);
        GPU(maxpool2d_backward_cuda(dDx, dDy, dAm, n, c, h, w, k, stride, pad, 0));
        NEAR("maxpool dx", dx, down(dDx, nx), nx, 1e-6f);
        avgpool2d_forward(y, x, n, c, h, w, k, stride, pad);
        GPU(avgpool2d_forward_cuda(dYv, dX, n, c, h, w, k, stride, pad, 0));
        NEAR("avgpool y", y, down(dYv, ny), ny, 1e-5f);
        avgpool2d_backward(dx, dy, n, c, h, w, k, stride, pad);
        GPU(avgpool2d_backward_cuda(dDx, dDy, n, c, h, w, k, stride, pad, 0));
        NEAR("avgpool dx", dx, down(dDx, nx), nx, 1e-5f);
        global_avgpool_forward(y, x, n, c, h, w);
        GPU(global_avgpool_forward_cuda(dYv, dX, n, c, h, w, 0));
        NEAR("gap y", y, down(dYv, (size_t)n * c), (size_t)n * c, 1e-6f);
        global_avgpool_backward(dx, dy, n, c, h, w);
        GPU(global_avgpool_backward_cuda(dDx, dDy, n, c, h, w, 0));
        NEAR("gap dx", dx, down(dDx, nx), nx, 1e-6f);
    }
}

/* batchnorm2d with (h, w); h = w = 1 goes through the batchnorm1d entry points. */
static void test_batchnorm(int n, int c, int h, int w)
{
    size_t nx = (size_t)n * c * h * w;
    int one = h == 1 && w == 1;
    float *x = hrand(nx), *y = hrand(nx), *dy = hrand(nx), *dx = hrand(nx), *gm = hrand(c);
    float *bt = hrand(c), *rm = hrand(c), *rv = hrand(c), *sm = hrand(c), *si = hrand(c);
    float *dg = hrand(c), *dbt = hrand(c);
    for (int i = 0; i < c; i++)
        rv[i] = fabsf(rv[i]) + 0.5f;
    float *dX = DEV(x, nx), *dYv = DEV(y, nx), *dDy = DEV(dy, nx), *dDx = DEV(dx, nx);
    float *dGm = DEV(gm, c), *dBt = DEV(bt, c), *dRm = DEV(rm, c), *dRv = DEV(rv, c);
    float *dSm = DEV(sm, c), *dSi = DEV(si, c), *dDg = DEV(dg, c), *dDbt = DEV(dbt, c);
    float *rm0 = hcopy(rm, c), *rv0 = hcopy(rv, c);
    if (one) {
        batchnorm1d_forward_eval(y, x, gm, bt, rm, rv, n, c, 1e-5f);
        GPU(batchnorm1d_forward_eval_cuda(dYv, dX, dGm, dBt, dRm, dRv, n, c, 1e-5f, 0));
    } else {
        batchnorm2d_forward_eval(y, x, gm, bt, rm, rv, n, c, h, w, 1e-5f);
        GPU(batchnorm2d_forward_eval_cuda(dYv, dX, dGm, dBt, dRm, dRv, n, c, h, w, 1e-5f, 0));
    }
    NEAR("bn eval y", y, down(dYv, nx), nx, 1e-5f);
    if (one) {
        batchnorm1d_backward_eval(dx, dg, dbt, dy, x, gm, rm, rv, n, c, 1e-5f);
        GPU(batchnorm1d_backward_eval_cuda(dDx, dDg, dDbt, dDy, dX, dGm, dRm, dRv, n, c, 1e-5f, 0));
    } else {
        batchnorm2d_backward_eval(dx, dg, dbt, dy, x, gm, rm, rv, n, c, h, w, 1e-5f);
        GPU(batchnorm2d_backward_eval_cuda(dDx, dDg, dDbt, dDy, dX, dGm, dRm, dRv, n, c, h, w,
                                           1e-5f, 0));
    }
    NEAR("bn eval dx", dx, down(dDx, nx), nx, 1e-5f);
    NEAR("bn eval dgamma", dg, down(dDg, c), c, 1e-5f);
    if (one) {
        batchnorm1d_forward_train(y, sm, si, rm, rv, x, gm, bt, n, c, 0.1f, 1e-5f);
        GPU(batchnorm1d_forward_train_cuda(dYv, dSm, dSi, dRm, dRv, dX, dGm, dBt, n, c, 0.1f, 1e-5f,
                                           0));
    } else {
        batchnorm2d_forward_train(y, sm, si, rm, rv, x, gm, bt, n, c, h, w, 0.1f, 1e-5f);
        GPU(batchnorm2d_forward_train_cuda(dYv, dSm, dSi, dRm, dRv, dX, dGm, dBt, n, c, h, w, 0.1f,
                                           1e-5f, 0));
    }
    CHECK(memcmp(rm0, rm, c * sizeof(float)) != 0 && memcmp(rv0, rv, c * sizeof(float)) != 0);
    NEAR("bn train y", y, down(dYv, nx), nx, 1e-5f);
    NEAR("bn save_mean", sm, down(dSm, c), c, 1e-6f);
    NEAR("bn save_invstd", si, down(dSi, c), c, 1e-6f);
    NEAR("bn running_mean", rm, down(dRm, c), c, 1e-6f);
    NEAR("bn running_var", rv, down(dRv, c), c, 1e-6f);
    if (one) {
        batchnorm1d_backward_train(dx, dg, dbt, dy, x, sm, si, gm, n, c);
        GPU(batchnorm1d_backward_train_cuda(dDx, dDg, dDbt, dDy, dX, dSm, dSi, dGm, n, c, 0));
    } else {
        batchnorm2d_backward_train(dx, dg, dbt, dy, x, sm, si, gm, n, c, h, w);
        GPU(batchnorm2d_backward_train_cuda(dDx, dDg, dDbt, dDy, dX, dSm, dSi, dGm, n, c, h, w, 0));
    }
    NEAR("bn train dx", dx, down(dDx, nx), nx, 1e-4f);
    NEAR("bn train dgamma", dg, down(dDg, c), c, 1e-5f);
    NEAR("bn train dbeta", dbt, down(dDbt, c), c, 1e-5f);
}

/* Every optimizer update over a tensor with grid-stride tails, 4 steps (the first momentum
 * step sets the buffer), with and without weight decay: bit-identical to the CPU body. */
static void test_optim_update(void)
{
    size_t n = 10007;
    /* lr, weight_decay, momentum, nesterov, beta1, beta2, eps (field order) */
    const optim_hparams hs[] = {
        {0.1, 0.0, 0.0, 0, 0.9, 0.999, 1e-8},
        {0.05, 0.01, 0.9, 0, 0.8, 0.99, 1e-6},
        {0.03, 1e-3, 0.8, 1, 0.9, 0.999, 1e-8},
    };
    for (size_t hi = 0; hi < sizeof hs / sizeof hs[0]; hi++) {
        for (int kind = 0; kind < 4; kind++) {
            const optim_hparams *h = &hs[hi];
            float *p = hrand(n), *m = hcopy(p, n), *v = hcopy(p, n), *g = hrand(n);
            for (size_t i = 0; i < n; i++)
                v[i] = fabsf(v[i]); /* exp_avg_sq >= 0 */
            float *dP = DEV(p, n), *dM = DEV(m, n), *dV = DEV(v, n), *dG = DEV(g, n);
            for (uint64_t step = 1; step <= 4; step++) {
                for (size_t i = 0; i < n; i++)
                    g[i] = frand() * (i % 5 == 0 ? 1e-4f : 1.0f);
                cudaMemcpy(dG, g, n * sizeof(float), cudaMemcpyHostToDevice);
                if (kind == 0) {
                    optim_sgd_update(p, g, n, h, step);
                    GPU(optim_sgd_update_cuda(dP, dG, n, h, step, 0));
                } else if (kind == 1) {
                    optim_momentum_update(p, g, m, n, h, step);
                    GPU(optim_momentum_update_cuda(dP, dG, dM, n, h, step, 0));
                } else if (kind == 2) {
                    optim_adam_update(p, g, m, v, n, h, step);
                    GPU(optim_adam_update_cuda(dP, dG, dM, dV, n, h, step, 0));
                } else {
                    optim_adamw_update(p, g, m, v, n, h, step);
                    GPU(optim_adamw_update_cuda(dP, dG, dM, dV, n, h, step, 0));
                }
            }
            NEAR("optim param", p, down(dP, n), n, 0.0f);
            NEAR("optim buf / exp_avg", m, down(dM, n), n, 0.0f);
            NEAR("optim exp_avg_sq", v, down(dV, n), n, 0.0f);
        }
    }
}

int main(void)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        printf("skipped: no CUDA device found (cudaGetDeviceCount: %s)\n",
               e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 0;
    }
    test_elementwise();
    test_losses();
    test_dense();
    test_conv2d();
    test_pools();
    test_batchnorm(4, 3, 5, 6);
    test_batchnorm(16, 7, 1, 1);
    test_optim_update();
    cd_cuda_ctx_destroy_all();
    for (int i = 0; i < nallocs; i++)
        free(allocs[i]);
    printf("test_ops_cuda: %d checks, %d failed\n", checks, failures);
    return failures != 0;
}
