/*
 * mse.cu: CUDA body of mse.h. The forward sums (pred - target)^2 in double in one block
 * (fixed tree order: deterministic, not the CPU's index order) and synchronises the stream
 * to hand the mean back in *loss (host).
 */
#include "cuda_check.h"
#include "cuda_ctx.h"
#include "cuda_launch.cuh"
#include "ops_cuda.h"

__global__ static void mse_sum_kernel(double *out, const float *pred, const float *target, size_t n)
{
    __shared__ double part[THREADS];
    double s = 0.0;
    for (size_t i = threadIdx.x; i < n; i += THREADS) {
        double d = (double)pred[i] - (double)target[i];
        s += d * d;
    }
    double total = block_sum(s, part);
    if (threadIdx.x == 0)
        *out = n > 0 ? total / (double)n : 0.0;
}

__global__ static void mse_bwd_kernel(float *dpred, const float *pred, const float *target,
                                      size_t n, float scale)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dpred[i] = scale * (pred[i] - target[i]);
}

extern "C" int mse_forward_cuda(float *loss, const float *pred, const float *target, size_t n,
                                cudaStream_t stream)
{
    struct cd_cuda_ctx *ctx;
    double mean = 0.0;
    CHECK_STATUS(cd_cuda_ctx_get(&ctx, stream));
    mse_sum_kernel<<<1, THREADS, 0, stream>>>(ctx->scratch, pred, target, n);
    CHECK_LAUNCH();
    CHECK_CUDA(cudaMemcpyAsync(&mean, ctx->scratch, sizeof mean, cudaMemcpyDeviceToHost, stream));
    CHECK_CUDA(cudaStreamSynchronize(stream));
    *loss = (float)mean;
    return CD_CUDA_OK;
}

extern "C" int mse_backward_cuda(float *dpred, const float *pred, const float *target, size_t n,
                                 cudaStream_t stream)
{
    if (n == 0)
        return CD_CUDA_OK;
    mse_bwd_kernel<<<grid_for(n), THREADS, 0, stream>>>(dpred, pred, target, n, 2.0f / (float)n);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}
