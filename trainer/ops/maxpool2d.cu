/*
 * maxpool2d.cu: CUDA body of maxpool2d.h. Forward: one thread per output, the CPU's window
 * scan (first maximum in row-major order, padding never wins). Backward: one thread per
 * input element gathers the dy of every window whose argmax is that element, in output
 * order, so the sums match the CPU scatter without atomics.
 * (Custom kernels rather than cuDNN pooling: cuDNN does not return the argmax.)
 */
#include <math.h>

#include "cuda_check.h"
#include "cuda_launch.cuh"
#include "ops_cuda.h"

__global__ static void maxpool_fwd_kernel(float *y, int32_t *argmax, const float *x, long planes,
                                          int h, int w, int oh, int ow, int k, int stride, int pad)
{
    size_t total = (size_t)planes * oh * ow;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t p = i / ((size_t)oh * ow);
        int o = (int)(i % ((size_t)oh * ow)), oy = o / ow, ox = o % ow;
        int y0 = oy * stride - pad, x0 = ox * stride - pad;
        const float *plane = x + p * h * w;
        float best = -INFINITY;
        int32_t at = -1;
        for (int ky = y0; ky < y0 + k; ky++)
            for (int kx = x0; kx < x0 + k; kx++) {
                if (ky < 0 || ky >= h || kx < 0 || kx >= w)
                    continue;
                float v = plane[ky * w + kx];
                if (at < 0 || v > best) {
                    best = v;
                    at = ky * w + kx;
                }
            }
        y[i] = best;
        argmax[i] = at;
    }
}

/* Output range [lo, hi] along one axis whose window covers input index v. */
__device__ static void covering(int v, int k, int stride, int pad, int out, int *lo, int *hi)
{
    int a = v + pad - k + 1; /* smallest window start covering v */
    *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
    *hi = (v + pad) / stride;
    if (*hi > out - 1)
        *hi = out - 1;
}

__global__ static void maxpool_bwd_kernel(float *dx, const float *dy, const int32_t *argmax,
                                          long planes, int h, int w, int oh, int ow, int k,
                                          int stride, int pad)
{
    size_t total = (size_t)planes * h * w;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t p = i / ((size_t)h * w);
        int at = (int)(i % ((size_t)h * w)), iy = at / w, ix = at % w;
        int ylo, yhi, xlo, xhi;
        covering(iy, k, stride, pad, oh, &ylo, &yhi);
        covering(ix, k, stride, pad, ow, &xlo, &xhi);
        const int32_t *ap = argmax + p * oh * ow;
        const float *dyp = dy + p * oh * ow;
        float g = 0.0f;
        for (int oy = ylo; oy <= yhi; oy++)
            for (int ox = xlo; ox <= xhi; ox++)
                if (ap[oy * ow + ox] == at)
                    g += dyp[oy * ow + ox];
        dx[i] = g;
    }
}

extern "C" int maxpool2d_forward_cuda(float *y, int32_t *argmax, const float *x, int n, int c,
                                      int h, int w, int k, int stride, int pad, cudaStream_t stream)
{
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    size_t total = (size_t)n * c * oh * ow;
    if (total == 0)
        return CD_CUDA_OK;
    maxpool_fwd_kernel<<<grid_for(total), THREADS, 0, stream>>>(y, argmax, x, (long)n * c, h, w, oh,
                                                                ow, k, stride, pad);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}

extern "C" int maxpool2d_backward_cuda(float *dx, const float *dy, const int32_t *argmax, int n,
                                       int c, int h, int w, int k, int stride, int pad,
                                       cudaStream_t stream)
{
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    size_t total = (size_t)n * c * h * w;
    if (total == 0)
        return CD_CUDA_OK;
    maxpool_bwd_kernel<<<grid_for(total), THREADS, 0, stream>>>(dx, dy, argmax, (long)n * c, h, w,
                                                                oh, ow, k, stride, pad);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}
