/*
 * backend_cuda.c: the CUDA backend (backend.h): the CUDA bodies of ops_cuda.h on one device,
 * all work on one stream of the backend's own, memory from cudaMalloc, copies with
 * cudaMemcpyAsync on that stream (to_host then synchronises it). Every entry checks every
 * status; the first failure is kept with the CHECK macro's file:line record
 * (cd_cuda_last_error) for cd_backend_status. Compiled only when mk/cuda.mk finds CUDA, into
 * libcerebro-cuda.so (loaded by backend_dl.c) and into the tests of tests/cuda.
 * Does not: pick the device for other code (it calls cudaSetDevice once, at open), or
 * support two threads on one backend.
 */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>

#include "cuda_check.h"
#include "cuda_ctx.h"
#include "ops_cuda.h"

typedef struct cuda_impl {
    int ordinal;
    cudaStream_t stream;
} cuda_impl;

static cudaStream_t S(const cd_backend *be)
{
    return ((const cuda_impl *)be->impl)->stream;
}

/* Keep the first failure of entry `what` (the CHECK macros' record), pass rc through. */
static int done(cd_backend *be, const char *what, int rc)
{
    if (rc != 0)
        cd_backend_record(be, rc, CD_EIO, "%s: %s", what, cd_cuda_last_error());
    return rc;
}

/* ---- memory ---- */

/* *out stays NULL unless cudaMalloc succeeded. */
static int alloc_zeroed(void **out, size_t bytes, cudaStream_t stream)
{
    void *p = NULL;
    CHECK_CUDA(cudaMalloc(&p, bytes ? bytes : 1));
    *out = p;
    CHECK_CUDA(cudaMemsetAsync(p, 0, bytes ? bytes : 1, stream));
    return CD_CUDA_OK;
}

static int cuda_alloc(cd_backend *be, void **out, size_t bytes)
{
    *out = NULL;
    int rc = alloc_zeroed(out, bytes, S(be));
    if (rc == 0)
        return 0;
    if (*out != NULL)
        cudaFree(*out);
    *out = NULL;
    cudaGetLastError(); /* out of memory is not sticky: keep it from later launch checks */
    return cd_backend_record(be, rc, CD_ENOMEM, "alloc of %zu bytes: %s", bytes,
                             cd_cuda_last_error());
}

static void cuda_free(cd_backend *be, void *p)
{
    if (p != NULL)
        cudaFree(p); /* a failure here would repeat an earlier one: nothing to add */
}

static int memset0(void *p, size_t bytes, cudaStream_t stream)
{
    if (bytes > 0)
        CHECK_CUDA(cudaMemsetAsync(p, 0, bytes, stream));
    return CD_CUDA_OK;
}

static int cuda_memset0(cd_backend *be, void *p, size_t bytes)
{
    return done(be, "memset", memset0(p, bytes, S(be)));
}

static int copy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                cudaStream_t stream)
{
    if (bytes > 0 && dst != src)
        CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, kind, stream));
    if (kind == cudaMemcpyDeviceToHost)
        CHECK_CUDA(cudaStreamSynchronize(stream));
    return CD_CUDA_OK;
}

/* From pageable host memory: returns once src is staged, so the caller may reuse it. */
static int cuda_to_device(cd_backend *be, void *dst, const void *host, size_t bytes)
{
    return done(be, "copy to device", copy(dst, host, bytes, cudaMemcpyHostToDevice, S(be)));
}

static int cuda_to_host(cd_backend *be, void *host, const void *src, size_t bytes)
{
    return done(be, "copy to host", copy(host, src, bytes, cudaMemcpyDeviceToHost, S(be)));
}

static int cuda_copy(cd_backend *be, void *dst, const void *src, size_t bytes)
{
    return done(be, "copy on device", copy(dst, src, bytes, cudaMemcpyDeviceToDevice, S(be)));
}

static int sync_stream(cudaStream_t stream)
{
    CHECK_CUDA(cudaStreamSynchronize(stream));
    return CD_CUDA_OK;
}

static int cuda_sync(cd_backend *be)
{
    return done(be, "synchronize", sync_stream(S(be)));
}

static void cuda_close(cd_backend *be)
{
    cuda_impl *ci = be->impl;
    if (ci != NULL) {
        cudaStreamSynchronize(ci->stream);
        cd_cuda_ctx_destroy_all();
        cudaStreamDestroy(ci->stream);
        free(ci);
    }
    free(be);
}

/* ---- ops ---- */

static int cuda_dense_forward(cd_backend *be, float *y, const float *x, const float *w,
                              const float *b, int batch, int in, int out)
{
    return done(be, "dense_forward", dense_forward_cuda(y, x, w, b, batch, in, out, S(be)));
}

static int cuda_dense_backward(cd_backend *be, float *dx, float *dw, float *db, const float *dy,
                               const float *x, const float *w, int batch, int in, int out)
{
    return done(be, "dense_backward",
                dense_backward_cuda(dx, dw, db, dy, x, w, batch, in, out, S(be)));
}

static int cuda_conv2d_forward(cd_backend *be, float *y, const float *x, const float *weight,
                               const float *bias, float *ws, int n, int c, int h, int w, int oc,
                               int kh, int kw, int stride, int pad)
{
    return done(
        be, "conv2d_forward",
        conv2d_forward_cuda(y, x, weight, bias, ws, n, c, h, w, oc, kh, kw, stride, pad, S(be)));
}

static int cuda_conv2d_backward(cd_backend *be, float *dx, float *dweight, float *dbias,
                                const float *dy, const float *x, const float *weight, float *ws,
                                int n, int c, int h, int w, int oc, int kh, int kw, int stride,
                                int pad)
{
    return done(be, "conv2d_backward",
                conv2d_backward_cuda(dx, dweight, dbias, dy, x, weight, ws, n, c, h, w, oc, kh, kw,
                                     stride, pad, S(be)));
}

static int cuda_maxpool2d_forward(cd_backend *be, float *y, int32_t *argmax, const float *x, int n,
                                  int c, int h, int w, int k, int stride, int pad)
{
    return done(be, "maxpool2d_forward",
                maxpool2d_forward_cuda(y, argmax, x, n, c, h, w, k, stride, pad, S(be)));
}

static int cuda_maxpool2d_backward(cd_backend *be, float *dx, const float *dy,
                                   const int32_t *argmax, int n, int c, int h, int w, int k,
                                   int stride, int pad)
{
    return done(be, "maxpool2d_backward",
                maxpool2d_backward_cuda(dx, dy, argmax, n, c, h, w, k, stride, pad, S(be)));
}

static int cuda_avgpool2d_forward(cd_backend *be, float *y, const float *x, int n, int c, int h,
                                  int w, int k, int stride, int pad)
{
    return done(be, "avgpool2d_forward",
                avgpool2d_forward_cuda(y, x, n, c, h, w, k, stride, pad, S(be)));
}

static int cuda_avgpool2d_backward(cd_backend *be, float *dx, const float *dy, int n, int c, int h,
                                   int w, int k, int stride, int pad)
{
    return done(be, "avgpool2d_backward",
                avgpool2d_backward_cuda(dx, dy, n, c, h, w, k, stride, pad, S(be)));
}

static int cuda_global_avgpool_forward(cd_backend *be, float *y, const float *x, int n, int c,
                                       int h, int w)
{
    return done(be, "global_avgpool_forward", global_avgpool_forward_cuda(y, x, n, c, h, w, S(be)));
}

static int cuda_global_avgpool_backward(cd_backend *be, float *dx, const float *dy, int n, int c,
                                        int h, int w)
{
    return done(be, "global_avgpool_backward",
                global_avgpool_backward_cuda(dx, dy, n, c, h, w, S(be)));
}

static int cuda_bn2d_forward_train(cd_backend *be, float *y, float *save_mean, float *save_invstd,
                                   float *running_mean, float *running_var, const float *x,
                                   const float *gamma, const float *beta, int n, int c, int h,
                                   int w, float momentum, float eps)
{
    return done(be, "batchnorm2d_forward_train",
                batchnorm2d_forward_train_cuda(y, save_mean, save_invstd, running_mean, running_var,
                                               x, gamma, beta, n, c, h, w, momentum, eps, S(be)));
}

static int cuda_bn2d_forward_eval(cd_backend *be, float *y, const float *x, const float *gamma,
                                  const float *beta, const float *running_mean,
                                  const float *running_var, int n, int c, int h, int w, float eps)
{
    return done(be, "batchnorm2d_forward_eval",
                batchnorm2d_forward_eval_cuda(y, x, gamma, beta, running_mean, running_var, n, c, h,
                                              w, eps, S(be)));
}

static int cuda_bn2d_backward_train(cd_backend *be, float *dx, float *dgamma, float *dbeta,
                                    const float *dy, const float *x, const float *save_mean,
                                    const float *save_invstd, const float *gamma, int n, int c,
                                    int h, int w)
{
    return done(be, "batchnorm2d_backward_train",
                batchnorm2d_backward_train_cuda(dx, dgamma, dbeta, dy, x, save_mean, save_invstd,
                                                gamma, n, c, h, w, S(be)));
}

static int cuda_bn1d_forward_train(cd_backend *be, float *y, float *save_mean, float *save_invstd,
                                   float *running_mean, float *running_var, const float *x,
                                   const float *gamma, const float *beta, int n, int c,
                                   float momentum, float eps)
{
    return done(be, "batchnorm1d_forward_train",
                batchnorm1d_forward_train_cuda(y, save_mean, save_invstd, running_mean, running_var,
                                               x, gamma, beta, n, c, momentum, eps, S(be)));
}

static int cuda_bn1d_forward_eval(cd_backend *be, float *y, const float *x, const float *gamma,
                                  const float *beta, const float *running_mean,
                                  const float *running_var, int n, int c, float eps)
{
    return done(be, "batchnorm1d_forward_eval",
                batchnorm1d_forward_eval_cuda(y, x, gamma, beta, running_mean, running_var, n, c,
                                              eps, S(be)));
}

static int cuda_bn1d_backward_train(cd_backend *be, float *dx, float *dgamma, float *dbeta,
                                    const float *dy, const float *x, const float *save_mean,
                                    const float *save_invstd, const float *gamma, int n, int c)
{
    return done(be, "batchnorm1d_backward_train",
                batchnorm1d_backward_train_cuda(dx, dgamma, dbeta, dy, x, save_mean, save_invstd,
                                                gamma, n, c, S(be)));
}

static int cuda_relu_forward(cd_backend *be, float *y, const float *x, size_t n)
{
    return done(be, "relu_forward", relu_forward_cuda(y, x, n, S(be)));
}

static int cuda_relu_backward(cd_backend *be, float *dx, const float *dy, const float *y, size_t n)
{
    return done(be, "relu_backward", relu_backward_cuda(dx, dy, y, n, S(be)));
}

static int cuda_dropout_forward(cd_backend *be, float *y, const float *x, size_t n, float p,
                                uint64_t seed, uint64_t step)
{
    return done(be, "dropout_forward", dropout_forward_cuda(y, x, n, p, seed, step, S(be)));
}

static int cuda_dropout_backward(cd_backend *be, float *dx, const float *dy, size_t n, float p,
                                 uint64_t seed, uint64_t step)
{
    return done(be, "dropout_backward", dropout_backward_cuda(dx, dy, n, p, seed, step, S(be)));
}

static int cuda_add_forward(cd_backend *be, float *y, const float *a, const float *b, size_t n)
{
    return done(be, "add_forward", add_forward_cuda(y, a, b, n, S(be)));
}

static int cuda_softmax_xent_forward(cd_backend *be, float *loss, float *probs, const float *logits,
                                     const int32_t *labels, int batch, int classes)
{
    return done(be, "softmax_xent_forward",
                softmax_xent_forward_cuda(loss, probs, logits, labels, batch, classes, S(be)));
}

static int cuda_softmax_xent_backward(cd_backend *be, float *dlogits, const float *probs,
                                      const int32_t *labels, int batch, int classes)
{
    return done(be, "softmax_xent_backward",
                softmax_xent_backward_cuda(dlogits, probs, labels, batch, classes, S(be)));
}

static int cuda_sigmoid_bce_forward(cd_backend *be, float *loss, float *probs, const float *logits,
                                    const float *labels, size_t n)
{
    return done(be, "sigmoid_bce_forward",
                sigmoid_bce_forward_cuda(loss, probs, logits, labels, n, S(be)));
}

static int cuda_sigmoid_bce_backward(cd_backend *be, float *dlogits, const float *probs,
                                     const float *labels, size_t n)
{
    return done(be, "sigmoid_bce_backward",
                sigmoid_bce_backward_cuda(dlogits, probs, labels, n, S(be)));
}

static int cuda_mse_forward(cd_backend *be, float *loss, const float *pred, const float *target,
                            size_t n)
{
    return done(be, "mse_forward", mse_forward_cuda(loss, pred, target, n, S(be)));
}

static int cuda_mse_backward(cd_backend *be, float *dpred, const float *pred, const float *target,
                             size_t n)
{
    return done(be, "mse_backward", mse_backward_cuda(dpred, pred, target, n, S(be)));
}

/* ---- optimizer updates ---- */

static int cuda_sgd_update(cd_backend *be, float *param, const float *grad, size_t n,
                           const optim_hparams *h, uint64_t step)
{
    return done(be, "optim_sgd_update", optim_sgd_update_cuda(param, grad, n, h, step, S(be)));
}

static int cuda_momentum_update(cd_backend *be, float *param, const float *grad, float *buf,
                                size_t n, const optim_hparams *h, uint64_t step)
{
    return done(be, "optim_momentum_update",
                optim_momentum_update_cuda(param, grad, buf, n, h, step, S(be)));
}

static int cuda_adam_update(cd_backend *be, float *param, const float *grad, float *exp_avg,
                            float *exp_avg_sq, size_t n, const optim_hparams *h, uint64_t step)
{
    return done(be, "optim_adam_update",
                optim_adam_update_cuda(param, grad, exp_avg, exp_avg_sq, n, h, step, S(be)));
}

static int cuda_adamw_update(cd_backend *be, float *param, const float *grad, float *exp_avg,
                             float *exp_avg_sq, size_t n, const optim_hparams *h, uint64_t step)
{
    return done(be, "optim_adamw_update",
                optim_adamw_update_cuda(param, grad, exp_avg, exp_avg_sq, n, h, step, S(be)));
}

static const cd_backend_ops cuda_ops = {
    .alloc = cuda_alloc,
    .free = cuda_free,
    .memset0 = cuda_memset0,
    .to_device = cuda_to_device,
    .to_host = cuda_to_host,
    .copy = cuda_copy,
    .sync = cuda_sync,
    .close = cuda_close,
    .conv2d_workspace_size = conv2d_workspace_size_cuda,
    .dense_forward = cuda_dense_forward,
    .dense_backward = cuda_dense_backward,
    .conv2d_forward = cuda_conv2d_forward,
    .conv2d_backward = cuda_conv2d_backward,
    .maxpool2d_forward = cuda_maxpool2d_forward,
    .maxpool2d_backward = cuda_maxpool2d_backward,
    .avgpool2d_forward = cuda_avgpool2d_forward,
    .avgpool2d_backward = cuda_avgpool2d_backward,
    .global_avgpool_forward = cuda_global_avgpool_forward,
    .global_avgpool_backward = cuda_global_avgpool_backward,
    .batchnorm2d_forward_train = cuda_bn2d_forward_train,
    .batchnorm2d_forward_eval = cuda_bn2d_forward_eval,
    .batchnorm2d_backward_train = cuda_bn2d_backward_train,
    .batchnorm1d_forward_train = cuda_bn1d_forward_train,
    .batchnorm1d_forward_eval = cuda_bn1d_forward_eval,
    .batchnorm1d_backward_train = cuda_bn1d_backward_train,
    .relu_forward = cuda_relu_forward,
    .relu_backward = cuda_relu_backward,
    .dropout_forward = cuda_dropout_forward,
    .dropout_backward = cuda_dropout_backward,
    .add_forward = cuda_add_forward,
    .softmax_xent_forward = cuda_softmax_xent_forward,
    .softmax_xent_backward = cuda_softmax_xent_backward,
    .sigmoid_bce_forward = cuda_sigmoid_bce_forward,
    .sigmoid_bce_backward = cuda_sigmoid_bce_backward,
    .mse_forward = cuda_mse_forward,
    .mse_backward = cuda_mse_backward,
    .optim_sgd_update = cuda_sgd_update,
    .optim_momentum_update = cuda_momentum_update,
    .optim_adam_update = cuda_adam_update,
    .optim_adamw_update = cuda_adamw_update,
};

/* ---- open ---- */

static cd_code device_count(int ordinal, cd_err *err)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        cd_fail(err, CD_ENOTFOUND, "no CUDA device found");
        cd_detail(err, "cudaGetDeviceCount: %s",
                  e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return cd_hint(err, "use --device cpu, or run on a host with an NVIDIA GPU and its driver");
    }
    if (ordinal >= count || ordinal >= CD_CUDA_MAX_DEVICES) {
        cd_fail(err, CD_ENOTFOUND, "no CUDA device %d", ordinal);
        cd_detail(err, "this host has %d CUDA device%s (cuda:0 to cuda:%d)%s", count,
                  count == 1 ? "" : "s", count - 1,
                  ordinal < count ? "; the trainer supports the first 16" : "");
        return cd_hint(err, "use --device cuda:N with N from 0 to %d, or --device cpu",
                       (count < CD_CUDA_MAX_DEVICES ? count : CD_CUDA_MAX_DEVICES) - 1);
    }
    return CD_OK;
}

/* Device, stream, and the cuBLAS / cuDNN handles now, so that a broken setup fails here. */
static int cuda_setup(cuda_impl *ci)
{
    struct cd_cuda_ctx *ctx;
    CHECK_CUDA(cudaSetDevice(ci->ordinal));
    CHECK_CUDA(cudaStreamCreateWithFlags(&ci->stream, cudaStreamNonBlocking));
    CHECK_STATUS(cd_cuda_ctx_get(&ctx, ci->stream));
    return CD_CUDA_OK;
}

/* The backend's part of the fingerprint: device name, compute capability, library versions. */
static void cuda_numerics(int ordinal, char *buf, size_t size)
{
    struct cudaDeviceProp prop;
    char v[64];
    buf[0] = '\0';
    cd_fp_add(buf, size, "backend", "cuda");
    if (cudaGetDeviceProperties(&prop, ordinal) != cudaSuccess) {
        cd_fp_add(buf, size, "device", "unknown");
    } else {
        cd_fp_add(buf, size, "device", prop.name);
        snprintf(v, sizeof v, "%d.%d", prop.major, prop.minor);
        cd_fp_add(buf, size, "cc", v);
    }
    snprintf(v, sizeof v, "%zu", cudnnGetVersion());
    cd_fp_add(buf, size, "cudnn", v);
    int major = 0, minor = 0, patch = 0;
    cublasGetProperty(MAJOR_VERSION, &major);
    cublasGetProperty(MINOR_VERSION, &minor);
    cublasGetProperty(PATCH_LEVEL, &patch);
    snprintf(v, sizeof v, "%d.%d.%d", major, minor, patch);
    cd_fp_add(buf, size, "cublas", v);
}

cd_code cd_backend_cuda_open(cd_backend **out, int ordinal, cd_err *err)
{
    *out = NULL;
    cd_code rc = device_count(ordinal, err);
    if (rc != CD_OK)
        return rc;
    cd_backend *be = calloc(1, sizeof *be);
    cuda_impl *ci = calloc(1, sizeof *ci);
    if (be == NULL || ci == NULL) {
        free(ci);
        free(be);
        return cd_fail(err, CD_ENOMEM, "out of memory opening the cuda backend");
    }
    ci->ordinal = ordinal;
    if (cuda_setup(ci) != 0) {
        cd_fail(err, CD_EIO, "could not set up CUDA device %d", ordinal);
        cd_detail(err, "%s", cd_cuda_last_error());
        if (ci->stream != NULL)
            cudaStreamDestroy(ci->stream);
        cd_cuda_ctx_destroy_all();
        free(ci);
        free(be);
        return cd_hint(err, "check the device with nvidia-smi, or use --device cpu");
    }
    be->ops = &cuda_ops;
    be->impl = ci;
    snprintf(be->device, sizeof be->device, "cuda:%d", ordinal);
    cuda_numerics(ordinal, be->numerics, sizeof be->numerics);
    be->host_memory = false;
    *out = be;
    return CD_OK;
}

const char *cd_backend_cuda_built(void)
{
    return "cuda";
}
