/*
 * sigmoid_bce.cu: CUDA body of sigmoid_bce.h. One block writes probs and sums the stable
 * per-element loss in double (fixed tree order); the mean comes back in *loss (host) after a
 * stream synchronise.
 */
#include "cuda_check.h"
#include "cuda_ctx.h"
#include "cuda_launch.cuh"
#include "ops_cuda.h"

__global__ static void bce_fwd_kernel(double *out, float *probs, const float *logits,
                                      const float *labels, size_t n)
{
    __shared__ double part[THREADS];
    double s = 0.0;
    for (size_t i = threadIdx.x; i < n; i += THREADS) {
        double z = logits[i], y = labels[i];
        probs[i] = (float)(1.0 / (1.0 + exp(-z)));
        s += (z > 0.0 ? z : 0.0) - z * y + log1p(exp(-fabs(z)));
    }
    double total = block_sum(s, part);
    if (threadIdx.x == 0)
        *out = n > 0 ? total / (double)n : 0.0;
}

__global__ static void bce_bwd_kernel(float *dlogits, const float *probs, const float *labels,
                                      size_t n, float scale)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dlogits[i] = scale * (probs[i] - labels[i]);
}

extern "C" int sigmoid_bce_forward_cuda(float *loss, float *probs, const float *logits,
                                        const float *labels, size_t n, cudaStream_t stream)
{
    struct cd_cuda_ctx *ctx;
    double mean = 0.0;
    CHECK_STATUS(cd_cuda_ctx_get(&ctx, stream));
    bce_fwd_kernel<<<1, THREADS, 0, stream>>>(ctx->scratch, probs, logits, labels, n);
    CHECK_LAUNCH();
    CHECK_CUDA(cudaMemcpyAsync(&mean, ctx->scratch, sizeof mean, cudaMemcpyDeviceToHost, stream));
    CHECK_CUDA(cudaStreamSynchronize(stream));
    *loss = (float)mean;
    return CD_CUDA_OK;
}

extern "C" int sigmoid_bce_backward_cuda(float *dlogits, const float *probs, const float *labels,
                                         size_t n, cudaStream_t stream)
{
    if (n == 0)
        return CD_CUDA_OK;
    bce_bwd_kernel<<<grid_for(n), THREADS, 0, stream>>>(dlogits, probs, labels, n, 1.0f / (float)n);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}
