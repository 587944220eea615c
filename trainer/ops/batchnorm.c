/*
 * batchnorm.c: CPU bodies of batch normalisation (see batchnorm.h). Channel ch of sample i
 * is the contiguous run x[(i * c + ch) * hw .. + hw]; batchnorm1d is batchnorm2d with hw = 1.
 */
#include <math.h>
#include <stddef.h>

#include "batchnorm.h"

#define AT(i, ch, c, hw) (((size_t)(i) * (c) + (ch)) * (hw))

/* Mean and biased variance of channel ch (two passes, in double). */
static void channel_stats(const float *x, int n, int c, size_t hw, int ch, double *mean,
                          double *var)
{
    double sum = 0.0, sq = 0.0, m = (double)n * (double)hw;
    for (int i = 0; i < n; i++)
        for (size_t p = 0; p < hw; p++)
            sum += x[AT(i, ch, c, hw) + p];
    *mean = sum / m;
    for (int i = 0; i < n; i++)
        for (size_t p = 0; p < hw; p++) {
            double d = x[AT(i, ch, c, hw) + p] - *mean;
            sq += d * d;
        }
    *var = sq / m;
}

/* y = scale * x + shift over channel ch. */
static void channel_affine(float *y, const float *x, int n, int c, size_t hw, int ch, float scale,
                           float shift)
{
    for (int i = 0; i < n; i++)
        for (size_t p = 0; p < hw; p++)
            y[AT(i, ch, c, hw) + p] = scale * x[AT(i, ch, c, hw) + p] + shift;
}

void batchnorm2d_forward_train(float *y, float *save_mean, float *save_invstd, float *running_mean,
                               float *running_var, const float *x, const float *gamma,
                               const float *beta, int n, int c, int h, int w, float momentum,
                               float eps)
{
    size_t hw = (size_t)h * w;
    double m = (double)n * (double)hw;
    for (int ch = 0; ch < c; ch++) {
        double mean, var;
        channel_stats(x, n, c, hw, ch, &mean, &var);
        float invstd = (float)(1.0 / sqrt(var + (double)eps));
        save_mean[ch] = (float)mean;
        save_invstd[ch] = invstd;
        double unbiased = m > 1.0 ? var * m / (m - 1.0) : var;
        running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * (float)mean;
        running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * (float)unbiased;
        float scale = gamma[ch] * invstd;
        channel_affine(y, x, n, c, hw, ch, scale, beta[ch] - scale * (float)mean);
    }
}

void batchnorm2d_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                              const float *running_mean, const float *running_var, int n, int c,
                              int h, int w, float eps)
{
    size_t hw = (size_t)h * w;
    for (int ch = 0; ch < c; ch++) {
        float invstd = (float)(1.0 / sqrt((double)running_var[ch] + (double)eps));
        float scale = gamma[ch] * invstd;
        channel_affine(y, x, n, c, hw, ch, scale, beta[ch] - scale * running_mean[ch]);
    }
}

/* Sums over channel ch of dy and of dy * xhat, xhat = (x - mean) invstd, in double. */
static void channel_dsums(const float *dy, const float *x, int n, int c, size_t hw, int ch,
                          float mean, float invstd, double *sdy, double *sdyx)
{
    *sdy = 0.0;
    *sdyx = 0.0;
    for (int i = 0; i < n; i++)
        for (size_t p = 0; p < hw; p++) {
            size_t at = AT(i, ch, c, hw) + p;
            *sdy += dy[at];
            *sdyx += (double)dy[at] * ((double)(x[at] - mean) * invstd);
        }
}

void batchnorm2d_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *save_mean, const float *save_invstd,
                                const float *gamma, int n, int c, int h, int w)
{
    size_t hw = (size_t)h * w;
    double m = (double)n * (double)hw;
    for (int ch = 0; ch < c; ch++) {
        double sdy, sdyx;
        float mean = save_mean[ch], invstd = save_invstd[ch];
        channel_dsums(dy, x, n, c, hw, ch, mean, invstd, &sdy, &sdyx);
        dgamma[ch] += (float)sdyx;
        dbeta[ch] += (float)sdy;
        /* dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)) */
        float k = gamma[ch] * invstd, mdy = (float)(sdy / m), mdyx = (float)(sdyx / m);
        for (int i = 0; i < n; i++)
            for (size_t p = 0; p < hw; p++) {
                size_t at = AT(i, ch, c, hw) + p;
                float xhat = (x[at] - mean) * invstd;
                dx[at] = k * (dy[at] - mdy - xhat * mdyx);
            }
    }
}

void batchnorm2d_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
                               const float *x, const float *gamma, const float *running_mean,
                               const float *running_var, int n, int c, int h, int w, float eps)
{
    size_t hw = (size_t)h * w;
    for (int ch = 0; ch < c; ch++) {
        double sdy, sdyx;
        float invstd = (float)(1.0 / sqrt((double)running_var[ch] + (double)eps));
        channel_dsums(dy, x, n, c, hw, ch, running_mean[ch], invstd, &sdy, &sdyx);
        dgamma[ch] += (float)sdyx;
        dbeta[ch] += (float)sdy;
        for (int i = 0; i < n; i++)
            for (size_t p = 0; p < hw; p++)
                dx[AT(i, ch, c, hw) + p] = gamma[ch] * invstd * dy[AT(i, ch, c, hw) + p];
    }
}

void batchnorm1d_forward_train(float *y, float *save_mean, float *save_invstd, float *running_mean,
                               float *running_var, const float *x, const float *gamma,
                               const float *beta, int n, int c, float momentum, float eps)
{
    batchnorm2d_forward_train(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta,
                              n, c, 1, 1, momentum, eps);
}

void batchnorm1d_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                              const float *running_mean, const float *running_var, int n, int c,
                              float eps)
{
    batchnorm2d_forward_eval(y, x, gamma, beta, running_mean, running_var, n, c, 1, 1, eps);
}

void batchnorm1d_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *save_mean, const float *save_invstd,
                                const float *gamma, int n, int c)
{
    batchnorm2d_backward_train(dx, dgamma, dbeta, dy, x, save_mean, save_invstd, gamma, n, c, 1, 1);
}

void batchnorm1d_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
                               const float *x, const float *gamma, const float *running_mean,
                               const float *running_var, int n, int c, float eps)
{
    batchnorm2d_backward_eval(dx, dgamma, dbeta, dy, x, gamma, running_mean, running_var, n, c, 1,
                              1, eps);
}
