/*
 * batchnorm.c: CPU bodies of batch normalisation (see batchnorm.h). Channel ch of sample i
 * is the contiguous run x[(i * c + ch) * hw .. + hw]; batchnorm1d is batchnorm2d with hw = 1.
 */
#include <math.h>
#include <stddef.h>

#include "clones.h"
#include "par.h"

#include "batchnorm.h"

#define AT(i, ch, c, hw) (((size_t)(i) * (c) + (ch)) * (hw))
#define LANES                                                                                      \
    16 /* independent float sums per run (one plane), so the loops vectorise;                      \
        * the runs' totals are added in double */

/* *sum += the sum of run[0..len), in LANES float partial sums. */
CD_CLONES static void run_sum(const float *run, size_t len, double *sum)
{
    float s[LANES] = {0};
    size_t p = 0;
    for (; p + LANES <= len; p += LANES)
        for (int l = 0; l < LANES; l++)
            s[l] += run[p + l];
    for (; p < len; p++)
        s[0] += run[p];
    for (int l = 0; l < LANES; l++)
        *sum += s[l];
}

/* *sq += the sum of (run[0..len) - mean)^2, in LANES float partial sums. */
CD_CLONES static void run_sq(const float *run, size_t len, float mean, double *sq)
{
    float q[LANES] = {0};
    size_t p = 0;
    for (; p + LANES <= len; p += LANES)
        for (int l = 0; l < LANES; l++)
            q[l] += (run[p + l] - mean) * (run[p + l] - mean);
    for (; p < len; p++)
        q[0] += (run[p] - mean) * (run[p] - mean);
    for (int l = 0; l < LANES; l++)
        *sq += q[l];
}

/* Mean and biased variance of channel ch (two passes; planes summed in double). */
CD_CLONES static void channel_stats(const float *x, int n, int c, size_t hw, int ch, double *mean,
                                    double *var)
{
    double sum = 0.0, sq = 0.0, m = (double)n * (double)hw;
    for (int i = 0; i < n; i++)
        run_sum(x + AT(i, ch, c, hw), hw, &sum);
    *mean = sum / m;
    for (int i = 0; i < n; i++)
        run_sq(x + AT(i, ch, c, hw), hw, (float)*mean, &sq);
    *var = sq / m;
}

/* y = scale * x + shift over channel ch. */
CD_CLONES static void channel_affine(float *y, const float *x, int n, int c, size_t hw, int ch,
                                     float scale, float shift)
{
    for (int i = 0; i < n; i++) {
        float *yr = y + AT(i, ch, c, hw);
        const float *xr = x + AT(i, ch, c, hw);
        for (size_t p = 0; p < hw; p++)
            yr[p] = scale * xr[p] + shift;
    }
}

/* One call's arguments; the channels are split across the threads (each channel is
 * computed the same way whatever the split: results do not depend on T). */
struct bn_job {
    float *y, *dx, *save_mean, *save_invstd, *running_mean, *running_var, *dgamma, *dbeta;
    const float *x, *dy, *gamma, *beta, *mean_in, *invstd_in, *rmean_in, *rvar_in;
    int n, c;
    size_t hw;
    float momentum, eps;
};

CD_CLONES static void forward_train_channels(void *arg, long lo, long hi, int t)
{
    const struct bn_job *j = arg;
    double m = (double)j->n * (double)j->hw;
    for (long ch = lo; ch < hi; ch++) {
        double mean, var;
        channel_stats(j->x, j->n, j->c, j->hw, (int)ch, &mean, &var);
        float invstd = (float)(1.0 / sqrt(var + (double)j->eps));
        j->save_mean[ch] = (float)mean;
        j->save_invstd[ch] = invstd;
        double unbiased = m > 1.0 ? var * m / (m - 1.0) : var;
        j->running_mean[ch] =
            (1.0f - j->momentum) * j->running_mean[ch] + j->momentum * (float)mean;
        j->running_var[ch] =
            (1.0f - j->momentum) * j->running_var[ch] + j->momentum * (float)unbiased;
        float scale = j->gamma[ch] * invstd;
        channel_affine(j->y, j->x, j->n, j->c, j->hw, (int)ch, scale,
                       j->beta[ch] - scale * (float)mean);
    }
}

/* Channels per range: at least enough work (~16k elements) to pay for a wake-up. */
static long grain(int n, size_t hw)
{
    size_t per = (size_t)n * hw;
    return per >= 16384 ? 1 : (long)(16384 / (per ? per : 1));
}

void batchnorm2d_forward_train(float *y, float *save_mean, float *save_invstd, float *running_mean,
                               float *running_var, const float *x, const float *gamma,
                               const float *beta, int n, int c, int h, int w, float momentum,
                               float eps)
{
    struct bn_job j = {.y = y,
                       .save_mean = save_mean,
                       .save_invstd = save_invstd,
                       .running_mean = running_mean,
                       .running_var = running_var,
                       .x = x,
                       .gamma = gamma,
                       .beta = beta,
                       .n = n,
                       .c = c,
                       .hw = (size_t)h * w,
                       .momentum = momentum,
                       .eps = eps};
    cd_par_for(c, grain(n, j.hw), forward_train_channels, &j);
}

CD_CLONES static void forward_eval_channels(void *arg, long lo, long hi, int t)
{
    const struct bn_job *j = arg;
    for (long ch = lo; ch < hi; ch++) {
        float invstd = (float)(1.0 / sqrt((double)j->rvar_in[ch] + (double)j->eps));
        float scale = j->gamma[ch] * invstd;
        channel_affine(j->y, j->x, j->n, j->c, j->hw, (int)ch, scale,
                       j->beta[ch] - scale * j->rmean_in[ch]);
    }
}

void batchnorm2d_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                              const float *running_mean, const float *running_var, int n, int c,
                              int h, int w, float eps)
{
    struct bn_job j = {.y = y,
                       .x = x,
                       .gamma = gamma,
                       .beta = beta,
                       .rmean_in = running_mean,
                       .rvar_in = running_var,
                       .n = n,
                       .c = c,
                       .hw = (size_t)h * w,
                       .eps = eps};
    cd_par_for(c, grain(n, j.hw), forward_eval_channels, &j);
}

/* Sums over channel ch of dy and of dy * xhat, xhat = (x - mean) invstd (planes in double). */
CD_CLONES static void channel_dsums(const float *dy, const float *x, int n, int c, size_t hw,
                                    int ch, float mean, float invstd, double *sdy, double *sdyx)
{
    *sdy = 0.0;
    *sdyx = 0.0;
    for (int i = 0; i < n; i++) {
        const float *g = dy + AT(i, ch, c, hw), *xr = x + AT(i, ch, c, hw);
        float s[LANES] = {0}, q[LANES] = {0};
        size_t p = 0;
        for (; p + LANES <= hw; p += LANES)
            for (int l = 0; l < LANES; l++) {
                s[l] += g[p + l];
                q[l] += g[p + l] * ((xr[p + l] - mean) * invstd);
            }
        for (; p < hw; p++) {
            s[0] += g[p];
            q[0] += g[p] * ((xr[p] - mean) * invstd);
        }
        for (int l = 0; l < LANES; l++) {
            *sdy += s[l];
            *sdyx += q[l];
        }
    }
}

CD_CLONES static void backward_train_channels(void *arg, long lo, long hi, int t)
{
    const struct bn_job *j = arg;
    double m = (double)j->n * (double)j->hw;
    for (long ch = lo; ch < hi; ch++) {
        double sdy, sdyx;
        float mean = j->mean_in[ch], invstd = j->invstd_in[ch];
        channel_dsums(j->dy, j->x, j->n, j->c, j->hw, (int)ch, mean, invstd, &sdy, &sdyx);
        j->dgamma[ch] += (float)sdyx;
        j->dbeta[ch] += (float)sdy;
        /* dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)) */
        float k = j->gamma[ch] * invstd, mdy = (float)(sdy / m), mdyx = (float)(sdyx / m);
        for (int i = 0; i < j->n; i++) {
            size_t at = AT(i, ch, j->c, j->hw);
            float *d = j->dx + at;
            const float *g = j->dy + at, *xr = j->x + at;
            for (size_t p = 0; p < j->hw; p++)
                d[p] = k * (g[p] - mdy - (xr[p] - mean) * invstd * mdyx);
        }
    }
}

void batchnorm2d_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *save_mean, const float *save_invstd,
                                const float *gamma, int n, int c, int h, int w)
{
    struct bn_job j = {.dx = dx,
                       .dgamma = dgamma,
                       .dbeta = dbeta,
                       .dy = dy,
                       .x = x,
                       .mean_in = save_mean,
                       .invstd_in = save_invstd,
                       .gamma = gamma,
                       .n = n,
                       .c = c,
                       .hw = (size_t)h * w};
    cd_par_for(c, grain(n, j.hw), backward_train_channels, &j);
}

static void backward_eval_channels(void *arg, long lo, long hi, int t)
{
    const struct bn_job *j = arg;
    for (long ch = lo; ch < hi; ch++) {
        double sdy, sdyx;
        float invstd = (float)(1.0 / sqrt((double)j->rvar_in[ch] + (double)j->eps));
        channel_dsums(j->dy, j->x, j->n, j->c, j->hw, (int)ch, j->rmean_in[ch], invstd, &sdy,
                      &sdyx);
        j->dgamma[ch] += (float)sdyx;
        j->dbeta[ch] += (float)sdy;
        float k = j->gamma[ch] * invstd;
        for (int i = 0; i < j->n; i++) {
            size_t at = AT(i, ch, j->c, j->hw);
            for (size_t p = 0; p < j->hw; p++)
                j->dx[at + p] = k * j->dy[at + p];
        }
    }
}

void batchnorm2d_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
                               const float *x, const float *gamma, const float *running_mean,
                               const float *running_var, int n, int c, int h, int w, float eps)
{
    struct bn_job j = {.dx = dx,
                       .dgamma = dgamma,
                       .dbeta = dbeta,
                       .dy = dy,
                       .x = x,
                       .gamma = gamma,
                       .rmean_in = running_mean,
                       .rvar_in = running_var,
                       .n = n,
                       .c = c,
                       .hw = (size_t)h * w,
                       .eps = eps};
    cd_par_for(c, grain(n, j.hw), backward_eval_channels, &j);
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
