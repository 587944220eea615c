/*
 * relu.cu: CUDA body of relu.h (y = max(x, 0); dx = dy where y > 0). In-place safe.
 */
#include "cuda_check.h"
#include "cuda_launch.cuh"
#include "ops_cuda.h"

__global__ static void relu_fwd_kernel(float *y, const float *x, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = x[i] > 0.0f || x[i] != x[i] ? x[i] : 0.0f; /* NaN stays NaN, as in relu.c */
}

__global__ static void relu_bwd_kernel(float *dx, const float *dy, const float *y, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

extern "C" int relu_forward_cuda(float *y, const float *x, size_t n, cudaStream_t stream)
{
    if (n == 0)
        return CD_CUDA_OK;
    relu_fwd_kernel<<<grid_for(n), THREADS, 0, stream>>>(y, x, n);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}

extern "C" int relu_backward_cuda(float *dx, const float *dy, const float *y, size_t n,
                                  cudaStream_t stream)
{
    if (n == 0)
        return CD_CUDA_OK;
    relu_bwd_kernel<<<grid_for(n), THREADS, 0, stream>>>(dx, dy, y, n);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}
