/*
 * dropout.cu: CUDA body of dropout.h. The keep decision is the same splitmix64-based hash of
 * (seed, step, i) as dropout.c, and the uniform is the top 24 bits times 2^-24 (exact in
 * float), so the GPU drops exactly the elements the CPU drops. In-place safe.
 */
#include "cuda_check.h"
#include "cuda_launch.cuh"
#include "ops_cuda.h"

__device__ static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* p <= 0: copy; p >= 1: scale 0, everything dropped (u < 1 <= p). */
__global__ static void dropout_kernel(float *y, const float *x, size_t n, float p, float scale,
                                      uint64_t seed, uint64_t step)
{
    uint64_t base = mix64(mix64(seed) ^ step);
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        if (p <= 0.0f) {
            y[i] = x[i];
            continue;
        }
        uint64_t h = mix64(base ^ (uint64_t)i);
        float u = (float)(h >> 40) * (1.0f / 16777216.0f);
        y[i] = u >= p ? x[i] * scale : 0.0f;
    }
}

static int dropout_apply(float *y, const float *x, size_t n, float p, uint64_t seed, uint64_t step,
                         cudaStream_t stream)
{
    if (n == 0)
        return CD_CUDA_OK;
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    dropout_kernel<<<grid_for(n), THREADS, 0, stream>>>(y, x, n, p, scale, seed, step);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}

extern "C" int dropout_forward_cuda(float *y, const float *x, size_t n, float p, uint64_t seed,
                                    uint64_t step, cudaStream_t stream)
{
    return dropout_apply(y, x, n, p, seed, step, stream);
}

extern "C" int dropout_backward_cuda(float *dx, const float *dy, size_t n, float p, uint64_t seed,
                                     uint64_t step, cudaStream_t stream)
{
    return dropout_apply(dx, dy, n, p, seed, step, stream);
}
