/*
 * batchnorm.cu: CUDA body of batchnorm.h. One block per channel reduces in double (fixed
 * tree order), as the CPU sums in double; then the block writes its channel. Custom kernels
 * rather than cudnnBatchNormalization*: cuDNN requires eps >= CUDNN_BN_MIN_EPSILON, has no
 * eval-mode backward, and would sum in float. batchnorm1d is batchnorm2d with h = w = 1.
 */
#include "cuda_check.h"
#include "cuda_launch.cuh"
#include "ops_cuda.h"

/* Index of element j (0 .. n*hw-1) of channel ch. */
__device__ static size_t at(size_t j, int ch, int c, size_t hw)
{
    size_t i = j / hw, p = j % hw;
    return (i * c + ch) * hw + p;
}

__global__ static void bn_fwd_train_kernel(float *y, float *save_mean, float *save_invstd,
                                           float *running_mean, float *running_var, const float *x,
                                           const float *gamma, const float *beta, int n, int c,
                                           size_t hw, float momentum, float eps)
{
    __shared__ double part[THREADS];
    int ch = blockIdx.x;
    size_t cnt = (size_t)n * hw;
    double m = (double)cnt, s = 0.0;
    for (size_t j = threadIdx.x; j < cnt; j += THREADS)
        s += x[at(j, ch, c, hw)];
    double mean = block_sum(s, part) / m;
    s = 0.0;
    for (size_t j = threadIdx.x; j < cnt; j += THREADS) {
        double d = x[at(j, ch, c, hw)] - mean;
        s += d * d;
    }
    double var = block_sum(s, part) / m;
    float invstd = (float)(1.0 / sqrt(var + (double)eps));
    if (threadIdx.x == 0) {
        double unbiased = m > 1.0 ? var * m / (m - 1.0) : var;
        save_mean[ch] = (float)mean;
        save_invstd[ch] = invstd;
        running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * (float)mean;
        running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * (float)unbiased;
    }
    float scale = gamma[ch] * invstd, shift = beta[ch] - scale * (float)mean;
    for (size_t j = threadIdx.x; j < cnt; j += THREADS)
        y[at(j, ch, c, hw)] = scale * x[at(j, ch, c, hw)] + shift;
}

__global__ static void bn_fwd_eval_kernel(float *y, const float *x, const float *gamma,
                                          const float *beta, const float *running_mean,
                                          const float *running_var, int c, size_t hw, size_t total,
                                          float eps)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int ch = (int)((i / hw) % c);
        float invstd = (float)(1.0 / sqrt((double)running_var[ch] + (double)eps));
        float scale = gamma[ch] * invstd;
        y[i] = scale * x[i] + (beta[ch] - scale * running_mean[ch]);
    }
}

/* train: mean/invstd from save_*; eval (train == 0): from running stats, dx = gamma invstd dy */
__global__ static void bn_bwd_kernel(float *dx, float *dgamma, float *dbeta, const float *dy,
                                     const float *x, const float *mean_v, const float *stat_v,
                                     const float *gamma, int n, int c, size_t hw, int train,
                                     float eps)
{
    __shared__ double part[THREADS];
    int ch = blockIdx.x;
    size_t cnt = (size_t)n * hw;
    double m = (double)cnt;
    float mean = mean_v[ch];
    float invstd = train ? stat_v[ch] : (float)(1.0 / sqrt((double)stat_v[ch] + (double)eps));
    double a = 0.0, b = 0.0;
    for (size_t j = threadIdx.x; j < cnt; j += THREADS) {
        size_t k = at(j, ch, c, hw);
        a += dy[k];
        b += (double)dy[k] * ((double)(x[k] - mean) * invstd);
    }
    double sdy = block_sum(a, part), sdyx = block_sum(b, part);
    if (threadIdx.x == 0) {
        dgamma[ch] += (float)sdyx;
        dbeta[ch] += (float)sdy;
    }
    float kk = gamma[ch] * invstd, mdy = (float)(sdy / m), mdyx = (float)(sdyx / m);
    for (size_t j = threadIdx.x; j < cnt; j += THREADS) {
        size_t k = at(j, ch, c, hw);
        if (train) {
            float xhat = (x[k] - mean) * invstd;
            dx[k] = kk * (dy[k] - mdy - xhat * mdyx);
        } else {
            dx[k] = gamma[ch] * invstd * dy[k];
        }
    }
}

extern "C" int batchnorm2d_forward_train_cuda(float *y, float *save_mean, float *save_invstd,
                                              float *running_mean, float *running_var,
                                              const float *x, const float *gamma, const float *beta,
                                              int n, int c, int h, int w, float momentum, float eps,
                                              cudaStream_t stream)
{
    if (c <= 0)
        return CD_CUDA_OK;
    bn_fwd_train_kernel<<<c, THREADS, 0, stream>>>(y, save_mean, save_invstd, running_mean,
                                                   running_var, x, gamma, beta, n, c, (size_t)h * w,
                                                   momentum, eps);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}

extern "C" int batchnorm2d_forward_eval_cuda(float *y, const float *x, const float *gamma,
                                             const float *beta, const float *running_mean,
                                             const float *running_var, int n, int c, int h, int w,
                                             float eps, cudaStream_t stream)
{
    size_t total = (size_t)n * c * h * w, b = (total + THREADS - 1) / THREADS;
    if (total == 0)
        return CD_CUDA_OK;
    bn_fwd_eval_kernel<<<(unsigned)(b > 4096 ? 4096 : b), THREADS, 0, stream>>>(
        y, x, gamma, beta, running_mean, running_var, c, (size_t)h * w, total, eps);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}

extern "C" int batchnorm2d_backward_train_cuda(float *dx, float *dgamma, float *dbeta,
                                               const float *dy, const float *x,
                                               const float *save_mean, const float *save_invstd,
                                               const float *gamma, int n, int c, int h, int w,
                                               cudaStream_t stream)
{
    if (c <= 0)
        return CD_CUDA_OK;
    bn_bwd_kernel<<<c, THREADS, 0, stream>>>(dx, dgamma, dbeta, dy, x, save_mean, save_invstd,
                                             gamma, n, c, (size_t)h * w, 1, 0.0f);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}

extern "C" int batchnorm2d_backward_eval_cuda(float *dx, float *dgamma, float *dbeta,
                                              const float *dy, const float *x, const float *gamma,
                                              const float *running_mean, const float *running_var,
                                              int n, int c, int h, int w, float eps,
                                              cudaStream_t stream)
{
    if (c <= 0)
        return CD_CUDA_OK;
    bn_bwd_kernel<<<c, THREADS, 0, stream>>>(dx, dgamma, dbeta, dy, x, running_mean, running_var,
                                             gamma, n, c, (size_t)h * w, 0, eps);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}

extern "C" int batchnorm1d_forward_train_cuda(float *y, float *save_mean, float *save_invstd,
                                              float *running_mean, float *running_var,
                                              const float *x, const float *gamma, const float *beta,
                                              int n, int c, float momentum, float eps,
                                              cudaStream_t stream)
{
    return batchnorm2d_forward_train_cuda(y, save_mean, save_invstd, running_mean, running_var, x,
                                          gamma, beta, n, c, 1, 1, momentum, eps, stream);
}

extern "C" int batchnorm1d_forward_eval_cuda(float *y, const float *x, const float *gamma,
                                             const float *beta, const float *running_mean,
                                             const float *running_var, int n, int c, float eps,
                                             cudaStream_t stream)
{
    return batchnorm2d_forward_eval_cuda(y, x, gamma, beta, running_mean, running_var, n, c, 1, 1,
                                         eps, stream);
}

extern "C" int batchnorm1d_backward_train_cuda(float *dx, float *dgamma, float *dbeta,
                                               const float *dy, const float *x,
                                               const float *save_mean, const float *save_invstd,
                                               const float *gamma, int n, int c,
                                               cudaStream_t stream)
{
    return batchnorm2d_backward_train_cuda(dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma,
                                           n, c, 1, 1, stream);
}

extern "C" int batchnorm1d_backward_eval_cuda(float *dx, float *dgamma, float *dbeta,
                                              const float *dy, const float *x, const float *gamma,
                                              const float *running_mean, const float *running_var,
                                              int n, int c, float eps, cudaStream_t stream)
{
    return batchnorm2d_backward_eval_cuda(dx, dgamma, dbeta, dy, x, gamma, running_mean,
                                          running_var, n, c, 1, 1, eps, stream);
}
