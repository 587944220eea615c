/*
 * conv2d.cu: CUDA body of conv2d.h, im2col + cuBLAS sgemm per image as the CPU body, in the
 * caller's device workspace ws of conv2d_workspace_size_cuda(...) floats (one image's
 * [c*kh*kw, oh*ow] matrix; the images run one after another on the stream). col2im gathers (one
 * thread per input element, kernel offsets in the CPU's order) instead of scattering, so no atomics
 * and a deterministic result. Row-major A [r, c] is column-major A^T: y_i = W col is computed as
 * y_i^T = col^T W^T.
 */
#include "cuda_check.h"
#include "cuda_ctx.h"
#include "cuda_launch.cuh"
#include "ops_cuda.h"

/* Geometry of one call. */
struct conv_geom {
    int c, h, w, kh, kw, stride, pad, oh, ow;
};

/* col [c*kh*kw, oh*ow] from one image x [c, h, w]; padding reads as zero. */
__global__ static void im2col_kernel(float *col, const float *x, struct conv_geom g)
{
    size_t ohw = (size_t)g.oh * g.ow, total = (size_t)g.c * g.kh * g.kw * ohw;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t row = i / ohw;
        int o = (int)(i % ohw), oy = o / g.ow, ox = o % g.ow;
        int kj = (int)(row % g.kw), ki = (int)((row / g.kw) % g.kh), ci = (int)(row / g.kw / g.kh);
        int iy = oy * g.stride - g.pad + ki, ix = ox * g.stride - g.pad + kj;
        int in = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
        col[i] = in ? x[((size_t)ci * g.h + iy) * g.w + ix] : 0.0f;
    }
}

/* dx [c, h, w] = sum over (ki, kj) in order of the col entries reading each element. */
__global__ static void col2im_kernel(float *dx, const float *col, struct conv_geom g)
{
    size_t ohw = (size_t)g.oh * g.ow, total = (size_t)g.c * g.h * g.w;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int ix = (int)(i % g.w), iy = (int)((i / g.w) % g.h), ci = (int)(i / g.w / g.h);
        float s = 0.0f;
        for (int ki = 0; ki < g.kh; ki++) {
            int ty = iy + g.pad - ki;
            if (ty < 0 || ty % g.stride != 0 || ty / g.stride >= g.oh)
                continue;
            for (int kj = 0; kj < g.kw; kj++) {
                int tx = ix + g.pad - kj;
                if (tx < 0 || tx % g.stride != 0 || tx / g.stride >= g.ow)
                    continue;
                size_t row = ((size_t)ci * g.kh + ki) * g.kw + kj;
                s += col[row * ohw + (size_t)(ty / g.stride) * g.ow + tx / g.stride];
            }
        }
        dx[i] = s;
    }
}

/* y [n, oc, ohw] += bias[o] */
__global__ static void conv_bias_kernel(float *y, const float *bias, int n, int oc, size_t ohw)
{
    size_t total = (size_t)n * oc * ohw;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += bias[(i / ohw) % oc];
}

/* dbias [oc] += sums of dy over images and positions, images outer as the CPU. */
__global__ static void conv_dbias_kernel(float *dbias, const float *dy, int n, int oc, size_t ohw)
{
    for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < oc; o += gridDim.x * blockDim.x) {
        float s = dbias[o];
        for (int i = 0; i < n; i++)
            for (size_t p = 0; p < ohw; p++)
                s += dy[((size_t)i * oc + o) * ohw + p];
        dbias[o] = s;
    }
}

static struct conv_geom geom(int c, int h, int w, int kh, int kw, int stride, int pad)
{
    struct conv_geom g = {c, h, w, kh, kw, stride, pad, 0, 0};
    g.oh = (h + 2 * pad - kh) / stride + 1;
    g.ow = (w + 2 * pad - kw) / stride + 1;
    return g;
}

extern "C" size_t conv2d_workspace_size_cuda(int c, int h, int w, int kh, int kw, int stride,
                                             int pad)
{
    struct conv_geom g = geom(c, h, w, kh, kw, stride, pad);
    return (size_t)c * kh * kw * (size_t)g.oh * g.ow;
}

extern "C" int conv2d_forward_cuda(float *y, const float *x, const float *weight, const float *bias,
                                   float *ws, int n, int c, int h, int w, int oc, int kh, int kw,
                                   int stride, int pad, cudaStream_t stream)
{
    struct conv_geom g = geom(c, h, w, kh, kw, stride, pad);
    struct cd_cuda_ctx *ctx;
    const float one = 1.0f, zero = 0.0f;
    int ohw = g.oh * g.ow, ckk = c * kh * kw;
    if (n <= 0 || ohw <= 0 || oc <= 0)
        return CD_CUDA_OK;
    CHECK_STATUS(cd_cuda_ctx_get(&ctx, stream));
    for (int i = 0; i < n; i++) {
        im2col_kernel<<<grid_for((size_t)ckk * ohw), THREADS, 0, stream>>>(
            ws, x + (size_t)i * c * h * w, g);
        CHECK_LAUNCH();
        /* y_i^T [ohw, oc] = col^T [ohw, ckk] x W^T [ckk, oc] */
        CHECK_CUBLAS(cublasSgemm(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_N, ohw, oc, ckk, &one, ws, ohw,
                                 weight, ckk, &zero, y + (size_t)i * oc * ohw, ohw));
    }
    if (bias != NULL) {
        conv_bias_kernel<<<grid_for((size_t)n * oc * ohw), THREADS, 0, stream>>>(y, bias, n, oc,
                                                                                 ohw);
        CHECK_LAUNCH();
    }
    return CD_CUDA_OK;
}

extern "C" int conv2d_backward_cuda(float *dx, float *dweight, float *dbias, const float *dy,
                                    const float *x, const float *weight, float *ws, int n, int c,
                                    int h, int w, int oc, int kh, int kw, int stride, int pad,
                                    cudaStream_t stream)
{
    struct conv_geom g = geom(c, h, w, kh, kw, stride, pad);
    struct cd_cuda_ctx *ctx;
    const float one = 1.0f, zero = 0.0f;
    int ohw = g.oh * g.ow, ckk = c * kh * kw;
    if (n <= 0 || ohw <= 0 || oc <= 0)
        return CD_CUDA_OK;
    CHECK_STATUS(cd_cuda_ctx_get(&ctx, stream));
    for (int i = 0; i < n; i++) {
        const float *dyi = dy + (size_t)i * oc * ohw;
        im2col_kernel<<<grid_for((size_t)ckk * ohw), THREADS, 0, stream>>>(
            ws, x + (size_t)i * c * h * w, g);
        CHECK_LAUNCH();
        /* dW^T [ckk, oc] += col [ckk, ohw] x dy_i^T [ohw, oc] */
        CHECK_CUBLAS(cublasSgemm(ctx->cublas, CUBLAS_OP_T, CUBLAS_OP_N, ckk, oc, ohw, &one, ws, ohw,
                                 dyi, ohw, &one, dweight, ckk));
        if (dx == NULL)
            continue;
        /* ws^T [ohw, ckk] = dy_i^T [ohw, oc] x W [oc, ckk] */
        CHECK_CUBLAS(cublasSgemm(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_T, ohw, ckk, oc, &one, dyi,
                                 ohw, weight, ckk, &zero, ws, ohw));
        col2im_kernel<<<grid_for((size_t)c * h * w), THREADS, 0, stream>>>(
            dx + (size_t)i * c * h * w, ws, g);
        CHECK_LAUNCH();
    }
    if (dbias != NULL) {
        conv_dbias_kernel<<<grid_for((size_t)oc), THREADS, 0, stream>>>(dbias, dy, n, oc, ohw);
        CHECK_LAUNCH();
    }
    return CD_CUDA_OK;
}
