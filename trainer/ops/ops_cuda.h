/*
 * ops_cuda.h: CUDA bodies of the trainer ops. Each function mirrors the CPU op of the same
 * name without the _cuda suffix (see <op>.h for shapes, = vs += and semantics), takes
 * DEVICE pointers, a trailing stream, and returns 0 or a negative enum cd_cuda_status
 * (cuda_check.h) instead of exiting. Work is enqueued on the stream; only the loss forwards
 * synchronise it, because they hand the loss back in a HOST float (*loss, first argument,
 * in place of the CPU return value). conv2d_*_cuda take a device workspace of
 * conv2d_workspace_size_cuda(...) floats (one image's im2col matrix).
 * Compiles from C and C++ (needs the CUDA include dir: CUDA_CFLAGS in mk/cuda.mk).
 */
#ifndef CD_OPS_OPS_CUDA_H
#define CD_OPS_OPS_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "optim_update.h"

#ifdef __cplusplus
extern "C" {
#endif

/* add.h */
int add_forward_cuda(float *y, const float *a, const float *b, size_t n, cudaStream_t stream);
int add_backward_cuda(float *da, float *db, const float *dy, size_t n, cudaStream_t stream);

/* avgpool2d.h */
int avgpool2d_forward_cuda(float *y, const float *x, int n, int c, int h, int w, int k, int stride,
                           int pad, cudaStream_t stream);
int avgpool2d_backward_cuda(float *dx, const float *dy, int n, int c, int h, int w, int k,
                            int stride, int pad, cudaStream_t stream);
int global_avgpool_forward_cuda(float *y, const float *x, int n, int c, int h, int w,
                                cudaStream_t stream);
int global_avgpool_backward_cuda(float *dx, const float *dy, int n, int c, int h, int w,
                                 cudaStream_t stream);

/* batchnorm.h */
int batchnorm2d_forward_train_cuda(float *y, float *save_mean, float *save_invstd,
                                   float *running_mean, float *running_var, const float *x,
                                   const float *gamma, const float *beta, int n, int c, int h,
                                   int w, float momentum, float eps, cudaStream_t stream);
int batchnorm2d_forward_eval_cuda(float *y, const float *x, const float *gamma, const float *beta,
                                  const float *running_mean, const float *running_var, int n, int c,
                                  int h, int w, float eps, cudaStream_t stream);
int batchnorm2d_backward_train_cuda(float *dx, float *dgamma, float *dbeta, const float *dy,
                                    const float *x, const float *save_mean,
                                    const float *save_invstd, const float *gamma, int n, int c,
                                    int h, int w, cudaStream_t stream);
int batchnorm2d_backward_eval_cuda(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *x, const float *gamma, const float *running_mean,
                                   const float *running_var, int n, int c, int h, int w, float eps,
                                   cudaStream_t stream);
int batchnorm1d_forward_train_cuda(float *y, float *save_mean, float *save_invstd,
                                   float *running_mean, float *running_var, const float *x,
                                   const float *gamma, const float *beta, int n, int c,
                                   float momentum, float eps, cudaStream_t stream);
int batchnorm1d_forward_eval_cuda(float *y, const float *x, const float *gamma, const float *beta,
                                  const float *running_mean, const float *running_var, int n, int c,
                                  float eps, cudaStream_t stream);
int batchnorm1d_backward_train_cuda(float *dx, float *dgamma, float *dbeta, const float *dy,
                                    const float *x, const float *save_mean,
                                    const float *save_invstd, const float *gamma, int n, int c,
                                    cudaStream_t stream);
int batchnorm1d_backward_eval_cuda(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *x, const float *gamma, const float *running_mean,
                                   const float *running_var, int n, int c, float eps,
                                   cudaStream_t stream);

/* conv2d.h (conv2d_out_size is the CPU one). Workspace: c*kh*kw*oh*ow floats, one image's
 * im2col matrix (host function). */
size_t conv2d_workspace_size_cuda(int c, int h, int w, int kh, int kw, int stride, int pad);
int conv2d_forward_cuda(float *y, const float *x, const float *weight, const float *bias, float *ws,
                        int n, int c, int h, int w, int oc, int kh, int kw, int stride, int pad,
                        cudaStream_t stream);
int conv2d_backward_cuda(float *dx, float *dweight, float *dbias, const float *dy, const float *x,
                         const float *weight, float *ws, int n, int c, int h, int w, int oc, int kh,
                         int kw, int stride, int pad, cudaStream_t stream);

/* dense.h */
int dense_forward_cuda(float *y, const float *x, const float *w, const float *b, int batch, int in,
                       int out, cudaStream_t stream);
int dense_backward_cuda(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, int batch, int in, int out, cudaStream_t stream);

/* dropout.h (same counter-based hash: masks identical to the CPU body) */
int dropout_forward_cuda(float *y, const float *x, size_t n, float p, uint64_t seed, uint64_t step,
                         cudaStream_t stream);
int dropout_backward_cuda(float *dx, const float *dy, size_t n, float p, uint64_t seed,
                          uint64_t step, cudaStream_t stream);

/* maxpool2d.h */
int maxpool2d_forward_cuda(float *y, int32_t *argmax, const float *x, int n, int c, int h, int w,
                           int k, int stride, int pad, cudaStream_t stream);
int maxpool2d_backward_cuda(float *dx, const float *dy, const int32_t *argmax, int n, int c, int h,
                            int w, int k, int stride, int pad, cudaStream_t stream);

/* mse.h */
int mse_forward_cuda(float *loss, const float *pred, const float *target, size_t n,
                     cudaStream_t stream);
int mse_backward_cuda(float *dpred, const float *pred, const float *target, size_t n,
                      cudaStream_t stream);

/* optim_update.h (bit-identical to the CPU body: the same float32 expressions, unfused) */
int optim_sgd_update_cuda(float *param, const float *grad, size_t n, const optim_hparams *h,
                          uint64_t step, cudaStream_t stream);
int optim_momentum_update_cuda(float *param, const float *grad, float *buf, size_t n,
                               const optim_hparams *h, uint64_t step, cudaStream_t stream);
int optim_adam_update_cuda(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                           size_t n, const optim_hparams *h, uint64_t step, cudaStream_t stream);
int optim_adamw_update_cuda(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                            size_t n, const optim_hparams *h, uint64_t step, cudaStream_t stream);

/* relu.h */
int relu_forward_cuda(float *y, const float *x, size_t n, cudaStream_t stream);
int relu_backward_cuda(float *dx, const float *dy, const float *y, size_t n, cudaStream_t stream);

/* sigmoid_bce.h */
int sigmoid_bce_forward_cuda(float *loss, float *probs, const float *logits, const float *labels,
                             size_t n, cudaStream_t stream);
int sigmoid_bce_backward_cuda(float *dlogits, const float *probs, const float *labels, size_t n,
                              cudaStream_t stream);

/* softmax_xent.h */
int softmax_xent_forward_cuda(float *loss, float *probs, const float *logits, const int32_t *labels,
                              int batch, int classes, cudaStream_t stream);
int softmax_xent_backward_cuda(float *dlogits, const float *probs, const int32_t *labels, int batch,
                               int classes, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
