/*
 * cuda_ctx.cu: lazily created per-device cuBLAS / cuDNN handles (see cuda_ctx.h), and the
 * record of the last failure of a CHECK macro (cuda_check.h). Does not select devices: the
 * caller's cudaSetDevice decides which context is returned.
 */
#include <stdio.h>

#include "cuda_check.h"
#include "cuda_ctx.h"

static struct cd_cuda_ctx g_ctx[CD_CUDA_MAX_DEVICES];
static int g_ready[CD_CUDA_MAX_DEVICES];
static char g_last_error[512];

extern "C" int cd_cuda_fail(int status, const char *file, int line, const char *what,
                            const char *call, const char *message)
{
    snprintf(g_last_error, sizeof g_last_error, "%s:%d: %s error: %s: %s", file, line, what, call,
             message != NULL ? message : "(no message)");
    return status;
}

extern "C" const char *cd_cuda_last_error(void)
{
    return g_last_error;
}

static int ctx_create(struct cd_cuda_ctx *c, int dev)
{
    c->device = dev;
    CHECK_CUBLAS(cublasCreate(&c->cublas));
    int rc;
    cudaError_t e;
    cudnnStatus_t s = cudnnCreate(&c->cudnn);
    if (s != CUDNN_STATUS_SUCCESS) {
        rc = cd_cuda_fail(CD_CUDA_ERR_CUDNN, __FILE__, __LINE__, "cudnn", "cudnnCreate",
                          cudnnGetErrorString(s));
        goto fail_cublas;
    }
    e = cudaMalloc((void **)&c->scratch, CD_CUDA_SCRATCH * sizeof(double));
    if (e != cudaSuccess) {
        rc = cd_cuda_fail(CD_CUDA_ERR_RUNTIME, __FILE__, __LINE__, "cuda", "cudaMalloc scratch",
                          cudaGetErrorString(e));
        goto fail_cudnn;
    }
    return CD_CUDA_OK;
fail_cudnn:
    cudnnDestroy(c->cudnn);
    c->cudnn = NULL;
fail_cublas:
    cublasDestroy(c->cublas);
    c->cublas = NULL;
    return rc;
}

extern "C" int cd_cuda_ctx_get(struct cd_cuda_ctx **out, cudaStream_t stream)
{
    int dev = 0;
    CHECK_CUDA(cudaGetDevice(&dev));
    if (dev < 0 || dev >= CD_CUDA_MAX_DEVICES || out == NULL)
        return cd_cuda_fail(CD_CUDA_ERR_ARG, __FILE__, __LINE__, "argument", "cd_cuda_ctx_get",
                            "no output pointer, or a device beyond CD_CUDA_MAX_DEVICES");
    if (!g_ready[dev]) {
        CHECK_STATUS(ctx_create(&g_ctx[dev], dev));
        g_ready[dev] = 1;
    }
    CHECK_CUBLAS(cublasSetStream(g_ctx[dev].cublas, stream));
    CHECK_CUDNN(cudnnSetStream(g_ctx[dev].cudnn, stream));
    *out = &g_ctx[dev];
    return CD_CUDA_OK;
}

extern "C" void cd_cuda_ctx_destroy_all(void)
{
    int prev = 0;
    cudaGetDevice(&prev);
    for (int d = 0; d < CD_CUDA_MAX_DEVICES; d++) {
        if (!g_ready[d])
            continue;
        cudaSetDevice(d);
        cudaFree(g_ctx[d].scratch);
        cudnnDestroy(g_ctx[d].cudnn);
        cublasDestroy(g_ctx[d].cublas);
        g_ctx[d].scratch = NULL;
        g_ctx[d].cudnn = NULL;
        g_ctx[d].cublas = NULL;
        g_ready[d] = 0;
    }
    cudaSetDevice(prev);
}
