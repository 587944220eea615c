/*
 * backend.h: where the trainer computes. A backend is a table of the ops net.c and optim.c
 * call (the arguments of trainer/ops/<op>.h and optim_update.h, after the backend) plus memory
 * operations, over a context. Two tables: backend_cpu.c (the CPU ops; its memory is host
 * memory, so a host pointer is also a "device" pointer and nothing is copied) and
 * backend_cuda.c (the CUDA ops of ops_cuda.h on one device and stream). A CUDA build makes
 * it a shared object that backend_dl.c loads on the first cuda device (cerebro-train) or
 * links it directly (tests/cuda); without it, cuda devices are refused with a clear message.
 * Nothing else knows which backend it runs on.
 *
 * Does: parse a device name ("cpu", "cuda", "cuda:N"); give the ops pointers in the backend's
 * memory (alloc); keep the first failure of any entry (what, and file:line from the CUDA
 * CHECK macros) for cd_backend_status to turn into a cd_err.
 * Entries return 0 or a negative status. Work may be queued and still running on return
 * (CUDA), except to_host, sync and the loss forwards, whose results are on the host when they
 * return. Host buffers handed to to_device may be reused as soon as it returns.
 * Does not: choose what to compute (net.c, optim.c), or allow two threads on one backend.
 */
#ifndef CD_BACKEND_H
#define CD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cd_err.h"
#include "fingerprint.h"
#include "optim_update.h"

typedef struct cd_backend cd_backend;

typedef struct cd_backend_ops {
    /* ---- memory (bytes may be 0) ---- */
    int (*alloc)(cd_backend *be, void **out, size_t bytes); /* zeroed */
    void (*free)(cd_backend *be, void *p);                  /* NULL is a no-op */
    int (*memset0)(cd_backend *be, void *p, size_t bytes);
    int (*to_device)(cd_backend *be, void *dst, const void *host, size_t bytes);
    int (*to_host)(cd_backend *be, void *host, const void *src, size_t bytes);
    int (*copy)(cd_backend *be, void *dst, const void *src, size_t bytes);
    int (*sync)(cd_backend *be);
    void (*close)(cd_backend *be); /* releases the context and be itself */
    /* floats of workspace the conv2d entries need for one call of this geometry */
    size_t (*conv2d_workspace_size)(int c, int h, int w, int kh, int kw, int stride, int pad);

    /* ---- ops (trainer/ops/<op>.h; the loss forwards return the loss in *loss) ---- */
    int (*dense_forward)(cd_backend *be, float *y, const float *x, const float *w, const float *b,
                         int batch, int in, int out);
    int (*dense_backward)(cd_backend *be, float *dx, float *dw, float *db, const float *dy,
                          const float *x, const float *w, int batch, int in, int out);
    int (*conv2d_forward)(cd_backend *be, float *y, const float *x, const float *weight,
                          const float *bias, float *ws, int n, int c, int h, int w, int oc, int kh,
                          int kw, int stride, int pad);
    int (*conv2d_backward)(cd_backend *be, float *dx, float *dweight, float *dbias, const float *dy,
                           const float *x, const float *weight, float *ws, int n, int c, int h,
                           int w, int oc, int kh, int kw, int stride, int pad);
    int (*maxpool2d_forward)(cd_backend *be, float *y, int32_t *argmax, const float *x, int n,
                             int c, int h, int w, int k, int stride, int pad);
    int (*maxpool2d_backward)(cd_backend *be, float *dx, const float *dy, const int32_t *argmax,
                              int n, int c, int h, int w, int k, int stride, int pad);
    int (*avgpool2d_forward)(cd_backend *be, float *y, const float *x, int n, int c, int h, int w,
                             int k, int stride, int pad);
    int (*avgpool2d_backward)(cd_backend *be, float *dx, const float *dy, int n, int c, int h,
                              int w, int k, int stride, int pad);
    int (*global_avgpool_forward)(cd_backend *be, float *y, const float *x, int n, int c, int h,
                                  int w);
    int (*global_avgpool_backward)(cd_backend *be, float *dx, const float *dy, int n, int c, int h,
                                   int w);
    int (*batchnorm2d_forward_train)(cd_backend *be, float *y, float *save_mean, float *save_invstd,
                                     float *running_mean, float *running_var, const float *x,
                                     const float *gamma, const float *beta, int n, int c, int h,
                                     int w, float momentum, float eps);
    int (*batchnorm2d_forward_eval)(cd_backend *be, float *y, const float *x, const float *gamma,
                                    const float *beta, const float *running_mean,
                                    const float *running_var, int n, int c, int h, int w,
                                    float eps);
    int (*batchnorm2d_backward_train)(cd_backend *be, float *dx, float *dgamma, float *dbeta,
                                      const float *dy, const float *x, const float *save_mean,
                                      const float *save_invstd, const float *gamma, int n, int c,
                                      int h, int w);
    int (*batchnorm1d_forward_train)(cd_backend *be, float *y, float *save_mean, float *save_invstd,
                                     float *running_mean, float *running_var, const float *x,
                                     const float *gamma, const float *beta, int n, int c,
                                     float momentum, float eps);
    int (*batchnorm1d_forward_eval)(cd_backend *be, float *y, const float *x, const float *gamma,
                                    const float *beta, const float *running_mean,
                                    const float *running_var, int n, int c, float eps);
    int (*batchnorm1d_backward_train)(cd_backend *be, float *dx, float *dgamma, float *dbeta,
                                      const float *dy, const float *x, const float *save_mean,
                                      const float *save_invstd, const float *gamma, int n, int c);
    int (*relu_forward)(cd_backend *be, float *y, const float *x, size_t n);
    int (*relu_backward)(cd_backend *be, float *dx, const float *dy, const float *y, size_t n);
    int (*dropout_forward)(cd_backend *be, float *y, const float *x, size_t n, float p,
                           uint64_t seed, uint64_t step);
    int (*dropout_backward)(cd_backend *be, float *dx, const float *dy, size_t n, float p,
                            uint64_t seed, uint64_t step);
    int (*add_forward)(cd_backend *be, float *y, const float *a, const float *b, size_t n);
    int (*softmax_xent_forward)(cd_backend *be, float *loss, float *probs, const float *logits,
                                const int32_t *labels, int batch, int classes);
    int (*softmax_xent_backward)(cd_backend *be, float *dlogits, const float *probs,
                                 const int32_t *labels, int batch, int classes);
    int (*sigmoid_bce_forward)(cd_backend *be, float *loss, float *probs, const float *logits,
                               const float *labels, size_t n);
    int (*sigmoid_bce_backward)(cd_backend *be, float *dlogits, const float *probs,
                                const float *labels, size_t n);
    int (*mse_forward)(cd_backend *be, float *loss, const float *pred, const float *target,
                       size_t n);
    int (*mse_backward)(cd_backend *be, float *dpred, const float *pred, const float *target,
                        size_t n);

    /* ---- optimizer updates (optim_update.h) ---- */
    int (*optim_sgd_update)(cd_backend *be, float *param, const float *grad, size_t n,
                            const optim_hparams *h, uint64_t step);
    int (*optim_momentum_update)(cd_backend *be, float *param, const float *grad, float *buf,
                                 size_t n, const optim_hparams *h, uint64_t step);
    int (*optim_adam_update)(cd_backend *be, float *param, const float *grad, float *exp_avg,
                             float *exp_avg_sq, size_t n, const optim_hparams *h, uint64_t step);
    int (*optim_adamw_update)(cd_backend *be, float *param, const float *grad, float *exp_avg,
                              float *exp_avg_sq, size_t n, const optim_hparams *h, uint64_t step);
} cd_backend_ops;

struct cd_backend {
    const cd_backend_ops *ops;
    char device[24]; /* "cpu", "cuda:0" */
    /* the backend's part of the numeric fingerprint (fingerprint.h): "backend=cpu blas=...
     * core=..." or "backend=cuda device=... cc=... cudnn=... cublas=..." */
    char numerics[CD_FP_MAX];
    bool host_memory; /* its memory is host memory: host pointers serve, copies are not needed */
    int status;       /* the first failure's status, 0 while none */
    cd_code code;     /* ... as a cd_code (CD_ENOMEM for allocations) */
    char error[600];  /* ... and its message: "entry: file:line: library error: call: text" */
    void *impl;       /* the backend's own context (CUDA: device and stream) */
};

/* Open "cpu", "cuda" (= cuda:0) or "cuda:N". CD_EINVAL for another name; for cuda,
 * CD_ENOTFOUND when there is no such device (none at all, N out of range) and
 * CD_EUNSUPPORTED when this build has no CUDA backend; each with a hint. */
cd_code cd_backend_open(cd_backend **out, const char *device, cd_err *err);
/* Close and set *be to NULL; safe on NULL. */
void cd_backend_close(cd_backend **be);
/* CD_OK, or the first failure of an entry as err: what failed where, and a hint. */
cd_code cd_backend_status(const cd_backend *be, cd_err *err);

/* For the backends: record a failure (the first one is kept); returns status (< 0). */
int cd_backend_record(cd_backend *be, int status, cd_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The backends' constructors, called by cd_backend_open. */
cd_code cd_backend_cpu_open(cd_backend **out, cd_err *err);
cd_code cd_backend_cuda_open(cd_backend **out, int ordinal, cd_err *err);
/* "cuda" when this binary has the CUDA backend, "" otherwise (for --version). */
const char *cd_backend_cuda_built(void);

#endif
