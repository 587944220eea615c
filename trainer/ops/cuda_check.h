/*
 * cuda_check.h: status checks for the CUDA bodies of the ops. Each macro records the failing
 * call, the library's message, file and line ("dense.cu:52: cublas error: cublasSgemm(...):
 * ...", read back with cd_cuda_last_error) and makes the enclosing function return an error
 * code (never exit, never print: style.md item 5; the trainer's backend turns the record into
 * a cd_err). Use inside functions returning int.
 */
#ifndef CD_OPS_CUDA_CHECK_H
#define CD_OPS_CUDA_CHECK_H

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

#ifdef __cplusplus
extern "C" {
#endif
/* Record "file:line: what error: call: message" as the last failure; returns status. */
int cd_cuda_fail(int status, const char *file, int line, const char *what, const char *call,
                 const char *message);
/* The last failure recorded (by a CHECK macro or cd_cuda_fail), "" before any. One thread
 * drives the CUDA ops (cuda_ctx.h), so one record suffices. */
const char *cd_cuda_last_error(void);
#ifdef __cplusplus
}
#endif

#define CHECK_CUDA(call)                                                                           \
    do {                                                                                           \
        cudaError_t cd_e_ = (call);                                                                \
        if (cd_e_ != cudaSuccess)                                                                  \
            return cd_cuda_fail(CD_CUDA_ERR_RUNTIME, __FILE__, __LINE__, "cuda", #call,            \
                                cudaGetErrorString(cd_e_));                                        \
    } while (0)

/* After a <<<...>>> launch: reports configuration errors (the launch itself is async). */
#define CHECK_LAUNCH() CHECK_CUDA(cudaGetLastError())

#define CHECK_CUBLAS(call)                                                                         \
    do {                                                                                           \
        cublasStatus_t cd_s_ = (call);                                                             \
        if (cd_s_ != CUBLAS_STATUS_SUCCESS)                                                        \
            return cd_cuda_fail(CD_CUDA_ERR_CUBLAS, __FILE__, __LINE__, "cublas", #call,           \
                                cublasGetStatusString(cd_s_));                                     \
    } while (0)

#define CHECK_CUDNN(call)                                                                          \
    do {                                                                                           \
        cudnnStatus_t cd_s_ = (call);                                                              \
        if (cd_s_ != CUDNN_STATUS_SUCCESS)                                                         \
            return cd_cuda_fail(CD_CUDA_ERR_CUDNN, __FILE__, __LINE__, "cudnn", #call,             \
                                cudnnGetErrorString(cd_s_));                                       \
    } while (0)

/* Propagate a non-zero status from a helper returning int. */
#define CHECK_STATUS(call)                                                                         \
    do {                                                                                           \
        int cd_r_ = (call);                                                                        \
        if (cd_r_ != 0)                                                                            \
            return cd_r_;                                                                          \
    } while (0)

#endif
