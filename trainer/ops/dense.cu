/*
 * dense.cu: CUDA body of dense.h with cuBLAS sgemm. cuBLAS is column-major; a row-major
 * [r, c] matrix is its column-major transpose, so y = x W^T is computed as y^T = W x^T.
 * As the CPU body, the bias is written first and the product accumulated onto it (beta 1).
 */
#include "cuda_check.h"
#include "cuda_ctx.h"
#include "cuda_launch.cuh"
#include "ops_cuda.h"

/* y [batch, out] = b broadcast over rows */
__global__ static void bias_rows_kernel(float *y, const float *b, int batch, int out)
{
    size_t total = (size_t)batch * out;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = b[i % out];
}

/* db [out] += column sums of dy [batch, out], rows in order (as the CPU). */
__global__ static void bias_grad_kernel(float *db, const float *dy, int batch, int out)
{
    for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < out; o += gridDim.x * blockDim.x) {
        float s = db[o];
        for (int i = 0; i < batch; i++)
            s += dy[(size_t)i * out + o];
        db[o] = s;
    }
}

extern "C" int dense_forward_cuda(float *y, const float *x, const float *w, const float *b,
                                  int batch, int in, int out, cudaStream_t stream)
{
    struct cd_cuda_ctx *ctx;
    const float one = 1.0f, zero = 0.0f;
    if (batch <= 0 || out <= 0)
        return CD_CUDA_OK;
    CHECK_STATUS(cd_cuda_ctx_get(&ctx, stream));
    if (b != NULL) {
        bias_rows_kernel<<<grid_for((size_t)batch * out), THREADS, 0, stream>>>(y, b, batch, out);
        CHECK_LAUNCH();
    }
    /* y^T [out, batch] = W [out, in] (col-major W^T, op T) x^T [in, batch] */
    CHECK_CUBLAS(cublasSgemm(ctx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, batch, in, &one, w, in, x,
                             in, b != NULL ? &one : &zero, y, out));
    return CD_CUDA_OK;
}

extern "C" int dense_backward_cuda(float *dx, float *dw, float *db, const float *dy, const float *x,
                                   const float *w, int batch, int in, int out, cudaStream_t stream)
{
    struct cd_cuda_ctx *ctx;
    const float one = 1.0f, zero = 0.0f;
    if (batch <= 0 || out <= 0)
        return CD_CUDA_OK;
    CHECK_STATUS(cd_cuda_ctx_get(&ctx, stream));
    /* dw^T [in, out] += x^T [in, batch] x dy [batch, out] */
    CHECK_CUBLAS(cublasSgemm(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, batch, &one, x, in, dy,
                             out, &one, dw, in));
    if (db != NULL) {
        bias_grad_kernel<<<grid_for((size_t)out), THREADS, 0, stream>>>(db, dy, batch, out);
        CHECK_LAUNCH();
    }
    /* dx^T [in, batch] = W^T [in, out] x dy^T [out, batch] */
    if (dx != NULL)
        CHECK_CUBLAS(cublasSgemm(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, batch, out, &one, w, in,
                                 dy, out, &zero, dx, in));
    return CD_CUDA_OK;
}
