/*
 * optim_update.cu: CUDA body of optim_update.h, one thread per element (grid-stride). The
 * scalars come from the CPU's optim_scalars_for on the host, and every float32 expression is
 * the CPU body's in the same order: nvcc would contract a * b + c into an FMA (the CPU build
 * does not), so products, quotients, sums and the sqrt are spelled with the _rn intrinsics,
 * which nvcc never fuses, and the fused multiply-adds PyTorch does are explicit fmaf. The
 * result is meant to be bit-identical to the CPU body.
 */
#include "cuda_check.h"
#include "cuda_launch.cuh"
#include "ops_cuda.h"
#include "optim_update.h"

/* self.add_(other, alpha=a): ATen computes fmadd(other, alpha, self). */
__device__ static inline float add_alpha(float self, float other, float alpha)
{
    return fmaf(other, alpha, self);
}

/* sgd (buf NULL) or momentum (buf [n]) */
__global__ static void sgd_kernel(float *param, const float *grad, float *buf, size_t n,
                                  optim_scalars s)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float p = param[i], d = grad[i];
        if (s.use_wd)
            d = add_alpha(d, p, s.wd);
        if (buf != NULL) {
            float b = s.first ? d : __fadd_rn(__fmul_rn(buf[i], s.momentum), d);
            buf[i] = b;
            d = s.nesterov ? add_alpha(d, b, s.momentum) : b;
        }
        param[i] = add_alpha(p, d, s.neg_lr);
    }
}

__global__ static void adam_kernel(float *param, const float *grad, float *exp_avg,
                                   float *exp_avg_sq, size_t n, optim_scalars s, int adamw)
{
    const int l2 = !adamw && s.use_wd;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float p = param[i], g = grad[i];
        if (adamw)
            p = __fmul_rn(p, s.decay);
        if (l2)
            g = add_alpha(g, p, s.wd);
        float m = add_alpha(__fmul_rn(exp_avg[i], s.beta1), g, s.one_minus_beta1);
        float v = fmaf(__fmul_rn(s.one_minus_beta2, g), g, __fmul_rn(exp_avg_sq[i], s.beta2));
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), s.bc2_sqrt), s.eps);
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        param[i] = __fadd_rn(p, __fdiv_rn(__fmul_rn(s.neg_step_size, m), denom));
    }
}

static int sgd_launch(float *param, const float *grad, float *buf, size_t n, const optim_hparams *h,
                      uint64_t step, cudaStream_t stream)
{
    if (n == 0)
        return CD_CUDA_OK;
    optim_scalars s = optim_scalars_for(h, step);
    sgd_kernel<<<grid_for(n), THREADS, 0, stream>>>(param, grad, buf, n, s);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}

static int adam_launch(float *param, const float *grad, float *exp_avg, float *exp_avg_sq, size_t n,
                       const optim_hparams *h, uint64_t step, int adamw, cudaStream_t stream)
{
    if (n == 0)
        return CD_CUDA_OK;
    optim_scalars s = optim_scalars_for(h, step);
    adam_kernel<<<grid_for(n), THREADS, 0, stream>>>(param, grad, exp_avg, exp_avg_sq, n, s, adamw);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}

extern "C" int optim_sgd_update_cuda(float *param, const float *grad, size_t n,
                                     const optim_hparams *h, uint64_t step, cudaStream_t stream)
{
    return sgd_launch(param, grad, NULL, n, h, step, stream);
}

extern "C" int optim_momentum_update_cuda(float *param, const float *grad, float *buf, size_t n,
                                          const optim_hparams *h, uint64_t step,
                                          cudaStream_t stream)
{
    if (buf == NULL && n > 0)
        return cd_cuda_fail(CD_CUDA_ERR_ARG, __FILE__, __LINE__, "argument",
                            "optim_momentum_update_cuda", "no momentum buffer");
    return sgd_launch(param, grad, buf, n, h, step, stream);
}

extern "C" int optim_adam_update_cuda(float *param, const float *grad, float *exp_avg,
                                      float *exp_avg_sq, size_t n, const optim_hparams *h,
                                      uint64_t step, cudaStream_t stream)
{
    return adam_launch(param, grad, exp_avg, exp_avg_sq, n, h, step, 0, stream);
}

extern "C" int optim_adamw_update_cuda(float *param, const float *grad, float *exp_avg,
                                       float *exp_avg_sq, size_t n, const optim_hparams *h,
                                       uint64_t step, cudaStream_t stream)
{
    return adam_launch(param, grad, exp_avg, exp_avg_sq, n, h, step, 1, stream);
}
