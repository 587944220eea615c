/*
 * backend_cpu.c: the CPU backend (backend.h): thin wrappers around the CPU ops of
 * trainer/ops/<op>.h, which are the specification, and host memory from calloc. A "device"
 * pointer is a host pointer, so to_device and to_host between a buffer and itself do nothing
 * and the trainer on this backend computes exactly what it computed before backends existed.
 * Only allocation can fail.
 */
#include "backend.h"

#include <stdio.h>
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
#include "optim_update.h"
#include "relu.h"
#include "sigmoid_bce.h"
#include "softmax_xent.h"

/* ---- memory ---- */

static int cpu_alloc(cd_backend *be, void **out, size_t bytes)
{
    *out = calloc(1, bytes ? bytes : 1);
    if (*out == NULL)
        return cd_backend_record(be, -1, CD_ENOMEM, "calloc of %zu bytes failed", bytes);
    return 0;
}

static void cpu_free(cd_backend *be, void *p)
{
    free(p);
}

static int cpu_memset0(cd_backend *be, void *p, size_t bytes)
{
    if (bytes > 0)
        memset(p, 0, bytes);
    return 0;
}

/* to_device, to_host and copy: host to host, nothing to do when dst is src. */
static int cpu_copy(cd_backend *be, void *dst, const void *src, size_t bytes)
{
    if (dst != src && bytes > 0)
        memcpy(dst, src, bytes);
    return 0;
}

static int cpu_sync(cd_backend *be)
{
    return 0;
}

static void cpu_close(cd_backend *be)
{
    free(be);
}

/* ---- ops ---- */

static int cpu_dense_forward(cd_backend *be, float *y, const float *x, const float *w,
                             const float *b, int batch, int in, int out)
{
    dense_forward(y, x, w, b, batch, in, out);
    return 0;
}

static int cpu_dense_backward(cd_backend *be, float *dx, float *dw, float *db, const float *dy,
                              const float *x, const float *w, int batch, int in, int out)
{
    dense_backward(dx, dw, db, dy, x, w, batch, in, out);
    return 0;
}

static int cpu_conv2d_forward(cd_backend *be, float *y, const float *x, const float *weight,
                              const float *bias, float *ws, int n, int c, int h, int w, int oc,
                              int kh, int kw, int stride, int pad)
{
    conv2d_forward(y, x, weight, bias, ws, n, c, h, w, oc, kh, kw, stride, pad);
    return 0;
}

static int cpu_conv2d_backward(cd_backend *be, float *dx, float *dweight, float *dbias,
                               const float *dy, const float *x, const float *weight, float *ws,
                               int n, int c, int h, int w, int oc, int kh, int kw, int stride,
                               int pad)
{
    conv2d_backward(dx, dweight, dbias, dy, x, weight, ws, n, c, h, w, oc, kh, kw, stride, pad);
    return 0;
}

static int cpu_maxpool2d_forward(cd_backend *be, float *y, int32_t *argmax, const float *x, int n,
                                 int c, int h, int w, int k, int stride, int pad)
{
    maxpool2d_forward(y, argmax, x, n, c, h, w, k, stride, pad);
    return 0;
}

static int cpu_maxpool2d_backward(cd_backend *be, float *dx, const float *dy, const int32_t *argmax,
                                  int n, int c, int h, int w, int k, int stride, int pad)
{
    maxpool2d_backward(dx, dy, argmax, n, c, h, w, k, stride, pad);
    return 0;
}

static int cpu_avgpool2d_forward(cd_backend *be, float *y, const float *x, int n, int c, int h,
                                 int w, int k, int stride, int pad)
{
    avgpool2d_forward(y, x, n, c, h, w, k, stride, pad);
    return 0;
}

static int cpu_avgpool2d_backward(cd_backend *be, float *dx, const float *dy, int n, int c, int h,
                                  int w, int k, int stride, int pad)
{
    avgpool2d_backward(dx, dy, n, c, h, w, k, stride, pad);
    return 0;
}

static int cpu_global_avgpool_forward(cd_backend *be, float *y, const float *x, int n, int c, int h,
                                      int w)
{
    global_avgpool_forward(y, x, n, c, h, w);
    return 0;
}

static int cpu_global_avgpool_backward(cd_backend *be, float *dx, const float *dy, int n, int c,
                                       int h, int w)
{
    global_avgpool_backward(dx, dy, n, c, h, w);
    return 0;
}

static int cpu_bn2d_forward_train(cd_backend *be, float *y, float *save_mean, float *save_invstd,
                                  float *running_mean, float *running_var, const float *x,
                                  const float *gamma, const float *beta, int n, int c, int h, int w,
                                  float momentum, float eps)
{
    batchnorm2d_forward_train(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta,
                              n, c, h, w, momentum, eps);
    return 0;
}

static int cpu_bn2d_forward_eval(cd_backend *be, float *y, const float *x, const float *gamma,
                                 const float *beta, const float *running_mean,
                                 const float *running_var, int n, int c, int h, int w, float eps)
{
    batchnorm2d_forward_eval(y, x, gamma, beta, running_mean, running_var, n, c, h, w, eps);
    return 0;
}

static int cpu_bn2d_backward_train(cd_backend *be, float *dx, float *dgamma, float *dbeta,
                                   const float *dy, const float *x, const float *save_mean,
                                   const float *save_invstd, const float *gamma, int n, int c,
                                   int h, int w)
{
    batchnorm2d_backward_train(dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, n, c, h, w);
    return 0;
}

static int cpu_bn1d_forward_train(cd_backend *be, float *y, float *save_mean, float *save_invstd,
                                  float *running_mean, float *running_var, const float *x,
                                  const float *gamma, const float *beta, int n, int c,
                                  float momentum, float eps)
{
    batchnorm1d_forward_train(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta,
                              n, c, momentum, eps);
    return 0;
}

static int cpu_bn1d_forward_eval(cd_backend *be, float *y, const float *x, const float *gamma,
                                 const float *beta, const float *running_mean,
                                 const float *running_var, int n, int c, float eps)
{
    batchnorm1d_forward_eval(y, x, gamma, beta, running_mean, running_var, n, c, eps);
    return 0;
}

static int cpu_bn1d_backward_train(cd_backend *be, float *dx, float *dgamma, float *dbeta,
                                   const float *dy, const float *x, const float *save_mean,
                                   const float *save_invstd, const float *gamma, int n, int c)
{
    batchnorm1d_backward_train(dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, n, c);
    return 0;
}

static int cpu_relu_forward(cd_backend *be, float *y, const float *x, size_t n)
{
    relu_forward(y, x, n);
    return 0;
}

static int cpu_relu_backward(cd_backend *be, float *dx, const float *dy, const float *y, size_t n)
{
    relu_backward(dx, dy, y, n);
    return 0;
}

static int cpu_dropout_forward(cd_backend *be, float *y, const float *x, size_t n, float p,
                               uint64_t seed, uint64_t step)
{
    dropout_forward(y, x, n, p, seed, step);
    return 0;
}

static int cpu_dropout_backward(cd_backend *be, float *dx, const float *dy, size_t n, float p,
                                uint64_t seed, uint64_t step)
{
    dropout_backward(dx, dy, n, p, seed, step);
    return 0;
}

static int cpu_add_forward(cd_backend *be, float *y, const float *a, const float *b, size_t n)
{
    add_forward(y, a, b, n);
    return 0;
}

static int cpu_softmax_xent_forward(cd_backend *be, float *loss, float *probs, const float *logits,
                                    const int32_t *labels, int batch, int classes)
{
    *loss = softmax_xent_forward(probs, logits, labels, batch, classes);
    return 0;
}

static int cpu_softmax_xent_backward(cd_backend *be, float *dlogits, const float *probs,
                                     const int32_t *labels, int batch, int classes)
{
    softmax_xent_backward(dlogits, probs, labels, batch, classes);
    return 0;
}

static int cpu_sigmoid_bce_forward(cd_backend *be, float *loss, float *probs, const float *logits,
                                   const float *labels, size_t n)
{
    *loss = sigmoid_bce_forward(probs, logits, labels, n);
    return 0;
}

static int cpu_sigmoid_bce_backward(cd_backend *be, float *dlogits, const float *probs,
                                    const float *labels, size_t n)
{
    sigmoid_bce_backward(dlogits, probs, labels, n);
    return 0;
}

static int cpu_mse_forward(cd_backend *be, float *loss, const float *pred, const float *target,
                           size_t n)
{
    *loss = mse_forward(pred, target, n);
    return 0;
}

static int cpu_mse_backward(cd_backend *be, float *dpred, const float *pred, const float *target,
                            size_t n)
{
    mse_backward(dpred, pred, target, n);
    return 0;
}

/* ---- optimizer updates ---- */

static int cpu_sgd_update(cd_backend *be, float *param, const float *grad, size_t n,
                          const optim_hparams *h, uint64_t step)
{
    optim_sgd_update(param, grad, n, h, step);
    return 0;
}

static int cpu_momentum_update(cd_backend *be, float *param, const float *grad, float *buf,
                               size_t n, const optim_hparams *h, uint64_t step)
{
    optim_momentum_update(param, grad, buf, n, h, step);
    return 0;
}

static int cpu_adam_update(cd_backend *be, float *param, const float *grad, float *exp_avg,
                           float *exp_avg_sq, size_t n, const optim_hparams *h, uint64_t step)
{
    optim_adam_update(param, grad, exp_avg, exp_avg_sq, n, h, step);
    return 0;
}

static int cpu_adamw_update(cd_backend *be, float *param, const float *grad, float *exp_avg,
                            float *exp_avg_sq, size_t n, const optim_hparams *h, uint64_t step)
{
    optim_adamw_update(param, grad, exp_avg, exp_avg_sq, n, h, step);
    return 0;
}

static const cd_backend_ops cpu_ops = {
    .alloc = cpu_alloc,
    .free = cpu_free,
    .memset0 = cpu_memset0,
    .to_device = cpu_copy,
    .to_host = cpu_copy,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .close = cpu_close,
    .conv2d_workspace_size = conv2d_workspace_size,
    .dense_forward = cpu_dense_forward,
    .dense_backward = cpu_dense_backward,
    .conv2d_forward = cpu_conv2d_forward,
    .conv2d_backward = cpu_conv2d_backward,
    .maxpool2d_forward = cpu_maxpool2d_forward,
    .maxpool2d_backward = cpu_maxpool2d_backward,
    .avgpool2d_forward = cpu_avgpool2d_forward,
    .avgpool2d_backward = cpu_avgpool2d_backward,
    .global_avgpool_forward = cpu_global_avgpool_forward,
    .global_avgpool_backward = cpu_global_avgpool_backward,
    .batchnorm2d_forward_train = cpu_bn2d_forward_train,
    .batchnorm2d_forward_eval = cpu_bn2d_forward_eval,
    .batchnorm2d_backward_train = cpu_bn2d_backward_train,
    .batchnorm1d_forward_train = cpu_bn1d_forward_train,
    .batchnorm1d_forward_eval = cpu_bn1d_forward_eval,
    .batchnorm1d_backward_train = cpu_bn1d_backward_train,
    .relu_forward = cpu_relu_forward,
    .relu_backward = cpu_relu_backward,
    .dropout_forward = cpu_dropout_forward,
    .dropout_backward = cpu_dropout_backward,
    .add_forward = cpu_add_forward,
    .softmax_xent_forward = cpu_softmax_xent_forward,
    .softmax_xent_backward = cpu_softmax_xent_backward,
    .sigmoid_bce_forward = cpu_sigmoid_bce_forward,
    .sigmoid_bce_backward = cpu_sigmoid_bce_backward,
    .mse_forward = cpu_mse_forward,
    .mse_backward = cpu_mse_backward,
    .optim_sgd_update = cpu_sgd_update,
    .optim_momentum_update = cpu_momentum_update,
    .optim_adam_update = cpu_adam_update,
    .optim_adamw_update = cpu_adamw_update,
};

cd_code cd_backend_cpu_open(cd_backend **out, cd_err *err)
{
    cd_backend *be = calloc(1, sizeof *be);
    *out = NULL;
    if (be == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory opening the cpu backend");
    be->ops = &cpu_ops;
    snprintf(be->device, sizeof be->device, "cpu");
    cd_fp_cpu_backend(be->numerics, sizeof be->numerics);
    be->host_memory = true;
    *out = be;
    return CD_OK;
}
