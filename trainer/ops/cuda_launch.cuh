/*
 * cuda_launch.cuh: what every CUDA op body shares: the block size, the grid for a
 * grid-stride loop over n elements, and a block-wide sum in double with a fixed tree order
 * (so a kernel's reductions are deterministic). Included by the .cu op bodies only.
 */
#ifndef CD_OPS_CUDA_LAUNCH_CUH
#define CD_OPS_CUDA_LAUNCH_CUH

#include <stddef.h>

#define THREADS 256

/* Blocks for a grid-stride loop over n elements (at least 1, at most 4096). */
static inline unsigned grid_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 1 ? 1 : (b > 4096 ? 4096 : b));
}

/* Block-wide sum of v in double (part: THREADS shared doubles); every thread gets it. */
__device__ static inline double block_sum(double v, double *part)
{
    part[threadIdx.x] = v;
    __syncthreads();
    for (int half = THREADS / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half)
            part[threadIdx.x] += part[threadIdx.x + half];
        __syncthreads();
    }
    double s = part[0];
    __syncthreads();
    return s;
}

#endif
