/*
 * cuda_check.h: status checks for the CUDA bodies of the ops. Each macro prints the failing
 * call, the library's message, file and line to stderr and makes the enclosing function
 * return an error code (never exit: style.md item 5). Use inside functions returning int.
 */
#ifndef CD_OPS_CUDA_CHECK_H
#define CD_OPS_CUDA_CHECK_H

#include <stdio.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

/* Error codes returned by every *_cuda function (0 = success). */
enum cd_cuda_status {
    CD_CUDA_OK = 0,
    CD_CUDA_ERR_RUNTIME = -1, /* CUDA runtime call or kernel launch failed */
    CD_CUDA_ERR_CUBLAS = -2,
    CD_CUDA_ERR_CUDNN = -3,
    CD_CUDA_ERR_ARG = -4, /* bad argument (e.g. NULL context) */
};

#define CHECK_CUDA(call)                                                                           \
    do {                                                                                           \
        cudaError_t cd_e_ = (call);                                                                \
        if (cd_e_ != cudaSuccess) {                                                                \
            fprintf(stderr, "%s:%d: cuda error: %s: %s\n", __FILE__, __LINE__, #call,              \
                    cudaGetErrorString(cd_e_));                                                    \
            return CD_CUDA_ERR_RUNTIME;                                                            \
        }                                                                                          \
    } while (0)

/* After a <<<...>>> launch: reports configuration errors (the launch itself is async). */
#define CHECK_LAUNCH() CHECK_CUDA(cudaGetLastError())

#define CHECK_CUBLAS(call)                                                                         \
    do {                                                                                           \
        cublasStatus_t cd_s_ = (call);                                                             \
        if (cd_s_ != CUBLAS_STATUS_SUCCESS) {                                                      \
            fprintf(stderr, "%s:%d: cublas error: %s: %s\n", __FILE__, __LINE__, #call,            \
                    cublasGetStatusString(cd_s_));                                                 \
            return CD_CUDA_ERR_CUBLAS;                                                             \
        }                                                                                          \
    } while (0)

#define CHECK_CUDNN(call)                                                                          \
    do {                                                                                           \
        cudnnStatus_t cd_s_ = (call);                                                              \
        if (cd_s_ != CUDNN_STATUS_SUCCESS) {                                                       \
            fprintf(stderr, "%s:%d: cudnn error: %s: %s\n", __FILE__, __LINE__, #call,             \
                    cudnnGetErrorString(cd_s_));                                                   \
            return CD_CUDA_ERR_CUDNN;                                                              \
        }                                                                                          \
    } while (0)

/* Propagate a non-zero status from a helper returning int. */
#define CHECK_STATUS(call)                                                                         \
    do {                                                                                           \
        int cd_r_ = (call);                                                                        \
        if (cd_r_ != 0)                                                                            \
            return cd_r_;                                                                          \
    } while (0)

#endif
