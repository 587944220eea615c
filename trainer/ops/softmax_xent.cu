/*
 * softmax_xent.cu: CUDA body of softmax_xent.h. One block; each thread takes whole rows
 * (the CPU's per-row arithmetic in double), and the row losses are summed in double in a
 * fixed tree order. The mean loss comes back in *loss (host) after a stream synchronise.
 */
#include "cuda_check.h"
#include "cuda_ctx.h"
#include "cuda_launch.cuh"
#include "ops_cuda.h"

/* Softmax of one row into p; returns log(sum(exp(z - max))) + max (as softmax_xent.c). */
__device__ static double softmax_row(float *p, const float *z, int classes)
{
    float max = z[0];
    for (int k = 1; k < classes; k++)
        if (z[k] > max)
            max = z[k];
    double sum = 0.0;
    for (int k = 0; k < classes; k++)
        sum += exp((double)z[k] - (double)max);
    for (int k = 0; k < classes; k++)
        p[k] = (float)(exp((double)z[k] - (double)max) / sum);
    return log(sum) + (double)max;
}

__global__ static void xent_fwd_kernel(double *out, float *probs, const float *logits,
                                       const int32_t *labels, int batch, int classes)
{
    __shared__ double part[THREADS];
    double s = 0.0;
    for (int i = threadIdx.x; i < batch; i += THREADS) {
        const float *z = logits + (size_t)i * classes;
        double logz = softmax_row(probs + (size_t)i * classes, z, classes);
        s += logz - (double)z[labels[i]];
    }
    double total = block_sum(s, part);
    if (threadIdx.x == 0)
        *out = batch > 0 ? total / batch : 0.0;
}

__global__ static void xent_bwd_kernel(float *dlogits, const float *probs, const int32_t *labels,
                                       int batch, int classes, float scale)
{
    size_t n = (size_t)batch * classes;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        int row = (int)(i / classes), k = (int)(i % classes);
        dlogits[i] = scale * (probs[i] - (k == labels[row] ? 1.0f : 0.0f));
    }
}

extern "C" int softmax_xent_forward_cuda(float *loss, float *probs, const float *logits,
                                         const int32_t *labels, int batch, int classes,
                                         cudaStream_t stream)
{
    struct cd_cuda_ctx *ctx;
    double mean = 0.0;
    CHECK_STATUS(cd_cuda_ctx_get(&ctx, stream));
    xent_fwd_kernel<<<1, THREADS, 0, stream>>>(ctx->scratch, probs, logits, labels, batch, classes);
    CHECK_LAUNCH();
    CHECK_CUDA(cudaMemcpyAsync(&mean, ctx->scratch, sizeof mean, cudaMemcpyDeviceToHost, stream));
    CHECK_CUDA(cudaStreamSynchronize(stream));
    *loss = (float)mean;
    return CD_CUDA_OK;
}

extern "C" int softmax_xent_backward_cuda(float *dlogits, const float *probs, const int32_t *labels,
                                          int batch, int classes, cudaStream_t stream)
{
    size_t n = (size_t)batch * classes;
    if (n == 0)
        return CD_CUDA_OK;
    size_t b = (n + THREADS - 1) / THREADS;
    xent_bwd_kernel<<<(unsigned)(b > 4096 ? 4096 : b), THREADS, 0, stream>>>(
        dlogits, probs, labels, batch, classes, 1.0f / (float)batch);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}
