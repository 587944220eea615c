/*
 * avgpool2d.cu: CUDA body of avgpool2d.h. avgpool2d uses cuDNN pooling
 * (CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING = PyTorch count_include_pad=True, floor
 * output size); its backward is a gather kernel (cuDNN's pooling backward wants x and y,
 * which this op's contract does not pass). Global average pooling: one thread per plane,
 * summed in double in order as the CPU body.
 */
#include "cuda_check.h"
#include "cuda_ctx.h"
#include "cuda_launch.cuh"
#include "ops_cuda.h"

/* Descriptors of one pooling call; destroyed by pool_desc_free in reverse order. */
struct pool_desc {
    cudnnPoolingDescriptor_t pool;
    cudnnTensorDescriptor_t x, y;
};

static void pool_desc_free(struct pool_desc *d)
{
    if (d->y)
        cudnnDestroyTensorDescriptor(d->y);
    if (d->x)
        cudnnDestroyTensorDescriptor(d->x);
    if (d->pool)
        cudnnDestroyPoolingDescriptor(d->pool);
}

static int pool_desc_init(struct pool_desc *d, int n, int c, int h, int w, int k, int stride,
                          int pad, int oh, int ow)
{
    CHECK_CUDNN(cudnnCreatePoolingDescriptor(&d->pool));
    CHECK_CUDNN(cudnnSetPooling2dDescriptor(d->pool, CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING,
                                            CUDNN_NOT_PROPAGATE_NAN, k, k, pad, pad, stride,
                                            stride));
    CHECK_CUDNN(cudnnCreateTensorDescriptor(&d->x));
    CHECK_CUDNN(cudnnSetTensor4dDescriptor(d->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));
    CHECK_CUDNN(cudnnCreateTensorDescriptor(&d->y));
    CHECK_CUDNN(
        cudnnSetTensor4dDescriptor(d->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, oh, ow));
    return CD_CUDA_OK;
}

extern "C" int avgpool2d_forward_cuda(float *y, const float *x, int n, int c, int h, int w, int k,
                                      int stride, int pad, cudaStream_t stream)
{
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    struct cd_cuda_ctx *ctx;
    struct pool_desc d = {NULL, NULL, NULL};
    const float one = 1.0f, zero = 0.0f;
    if ((size_t)n * c * oh * ow == 0)
        return CD_CUDA_OK;
    CHECK_STATUS(cd_cuda_ctx_get(&ctx, stream));
    int rc = pool_desc_init(&d, n, c, h, w, k, stride, pad, oh, ow);
    if (rc == CD_CUDA_OK) {
        cudnnStatus_t s = cudnnPoolingForward(ctx->cudnn, d.pool, &one, d.x, x, &zero, d.y, y);
        if (s != CUDNN_STATUS_SUCCESS)
            rc = cd_cuda_fail(CD_CUDA_ERR_CUDNN, __FILE__, __LINE__, "cudnn", "cudnnPoolingForward",
                              cudnnGetErrorString(s));
    }
    pool_desc_free(&d);
    return rc;
}

/* One thread per input element: sum of inv * dy over the windows covering it, in output
 * order (the CPU's accumulation order). */
__global__ static void avgpool_bwd_kernel(float *dx, const float *dy, long planes, int h, int w,
                                          int oh, int ow, int k, int stride, int pad, float inv)
{
    size_t total = (size_t)planes * h * w;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t p = i / ((size_t)h * w);
        int at = (int)(i % ((size_t)h * w)), iy = at / w, ix = at % w;
        int ay = iy + pad - k + 1, ax = ix + pad - k + 1;
        int ylo = ay <= 0 ? 0 : (ay + stride - 1) / stride, yhi = (iy + pad) / stride;
        int xlo = ax <= 0 ? 0 : (ax + stride - 1) / stride, xhi = (ix + pad) / stride;
        yhi = yhi < oh - 1 ? yhi : oh - 1;
        xhi = xhi < ow - 1 ? xhi : ow - 1;
        const float *dyp = dy + p * oh * ow;
        float g = 0.0f;
        for (int oy = ylo; oy <= yhi; oy++)
            for (int ox = xlo; ox <= xhi; ox++)
                g += inv * dyp[oy * ow + ox];
        dx[i] = g;
    }
}

extern "C" int avgpool2d_backward_cuda(float *dx, const float *dy, int n, int c, int h, int w,
                                       int k, int stride, int pad, cudaStream_t stream)
{
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    size_t total = (size_t)n * c * h * w;
    if (total == 0)
        return CD_CUDA_OK;
    avgpool_bwd_kernel<<<grid_for(total), THREADS, 0, stream>>>(
        dx, dy, (long)n * c, h, w, oh, ow, k, stride, pad, 1.0f / ((float)k * (float)k));
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}

__global__ static void gap_fwd_kernel(float *y, const float *x, long planes, size_t hw)
{
    for (long p = blockIdx.x * (long)blockDim.x + threadIdx.x; p < planes;
         p += (long)gridDim.x * blockDim.x) {
        double sum = 0.0;
        for (size_t i = 0; i < hw; i++)
            sum += x[(size_t)p * hw + i];
        y[p] = (float)(sum / (double)hw);
    }
}

__global__ static void gap_bwd_kernel(float *dx, const float *dy, long planes, size_t hw)
{
    size_t total = (size_t)planes * hw;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        dx[i] = dy[i / hw] / (float)hw;
}

extern "C" int global_avgpool_forward_cuda(float *y, const float *x, int n, int c, int h, int w,
                                           cudaStream_t stream)
{
    long planes = (long)n * c;
    if (planes == 0)
        return CD_CUDA_OK;
    gap_fwd_kernel<<<grid_for((size_t)planes), THREADS, 0, stream>>>(y, x, planes, (size_t)h * w);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}

extern "C" int global_avgpool_backward_cuda(float *dx, const float *dy, int n, int c, int h, int w,
                                            cudaStream_t stream)
{
    size_t total = (size_t)n * c * h * w;
    if (total == 0)
        return CD_CUDA_OK;
    gap_bwd_kernel<<<grid_for(total), THREADS, 0, stream>>>(dx, dy, (long)n * c, (size_t)h * w);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}
