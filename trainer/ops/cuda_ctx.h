/*
 * cuda_ctx.h: per-device CUDA library state for the ops: one cuBLAS and one cuDNN handle and
 * a small device scratch (loss scalars) per device, created lazily on first use of the
 * current device and bound to the caller's stream on each get. Not thread-safe: one trainer
 * thread drives a device. Only the ops (*.cu) and the trainer's setup/teardown use it.
 */
#ifndef CD_OPS_CUDA_CTX_H
#define CD_OPS_CUDA_CTX_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#define CD_CUDA_MAX_DEVICES 16

struct cd_cuda_ctx {
    int device;            /* CUDA ordinal */
    cublasHandle_t cublas; /* pointer mode host, math mode default (no TF32) */
    cudnnHandle_t cudnn;
    double *scratch; /* device, CD_CUDA_SCRATCH doubles */
};

#define CD_CUDA_SCRATCH 4

#ifdef __cplusplus
extern "C" {
#endif

/* *out = the context of the current device with both handles set to stream. 0 or an error. */
int cd_cuda_ctx_get(struct cd_cuda_ctx **out, cudaStream_t stream);
/* Destroy every context created (reverse order of creation inside each). */
void cd_cuda_ctx_destroy_all(void);

#ifdef __cplusplus
}
#endif

#endif
