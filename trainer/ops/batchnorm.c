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
#define LANES 16 /* independent float sums per run (one plane): two vectors of 8 */

/* 8 float lanes as one vector (GCC and Clang; AVX in the x86-64-v3 clone, two SSE
 * registers in the baseline). Written out because GCC 12 vectorises a loop with two float
 * accumulators by itself badly: it interleaves the lanes with permutes, and the statistics
 * were compute-bound on those. */
typedef float v8f __attribute__((vector_size(32)));
/* the same, for loads from any float (as the __m256_u of immintrin.h) */
typedef float v8f_u __attribute__((vector_size(32), aligned(4), may_alias));
#define LOAD8(p) (*(const v8f_u *)(p))

/* A channel's LANES partial sums in double: lane l of every plane's float sums is added to
 * lane l here, and the lanes are added once per channel (lane_total), so a small plane
 * (7x7, or 1 for batchnorm1d) does not pay a serial reduction of its own. */
struct lanes {
    double v[LANES];
};

/* a += the lanes of the float sums lo[0..8), hi[0..8) of one plane. */
static void lanes_add(struct lanes *a, const v8f *lo, const v8f *hi)
{
    for (int l = 0; l < 8; l++) {
        a->v[l] += (*lo)[l];
        a->v[l + 8] += (*hi)[l];
    }
}

static double lane_total(const struct lanes *a)
{
    double t = 0.0;
    for (int l = 0; l < LANES; l++)
        t += a->v[l];
    return t;
}

/* Ask for plane run[0..len) ahead of its pass: a channel's planes are hw floats apart by
 * c * hw, too short a run for the hardware prefetcher to pick up by itself. */
static void prefetch_run(const float *run, size_t len)
{
    for (size_t p = 0; p < len; p += 16) /* one 64-byte line */
        __builtin_prefetch(run + p);
}

/* Mean of one run in float lanes (the pivot of channel_stats). */
static float run_mean(const float *run, size_t len)
{
    v8f s0 = {0}, s1 = {0};
    size_t p = 0;
    for (; p + LANES <= len; p += LANES) {
        s0 += LOAD8(run + p);
        s1 += LOAD8(run + p + 8);
    }
    for (; p < len; p++)
        s0[0] += run[p];
    struct lanes a = {{0}};
    lanes_add(&a, &s0, &s1);
    return len ? (float)(lane_total(&a) / (double)len) : 0.0f;
}

/* sum += the lanes of (run - pivot), sq += those of (run - pivot)^2: one pass. */
CD_CLONES static void run_sums(const float *run, size_t len, float pivot, struct lanes *sum,
                               struct lanes *sq)
{
    v8f s0 = {0}, s1 = {0}, q0 = {0}, q1 = {0}, k = pivot - (v8f){0};
    size_t p = 0;
    for (; p + LANES <= len; p += LANES) {
        v8f a = LOAD8(run + p) - k, b = LOAD8(run + p + 8) - k;
        s0 += a;
        s1 += b;
        q0 += a * a;
        q1 += b * b;
    }
    for (; p < len; p++) {
        float d = run[p] - pivot;
        s0[0] += d;
        q0[0] += d * d;
    }
    lanes_add(sum, &s0, &s1);
    lanes_add(sq, &q0, &q1);
}

/* Mean and biased variance of channel ch in one pass over its planes: sums of x - K and of
 * (x - K)^2 with the pivot K the mean of the first plane, so that var = E[(x-K)^2] -
 * (E[x-K])^2 cancels little (K is near the mean; the two-pass result up to rounding). */
CD_CLONES static void channel_stats(const float *x, int n, int c, size_t hw, int ch, double *mean,
                                    double *var)
{
    struct lanes sum = {{0}}, sq = {{0}};
    double m = (double)n * (double)hw;
    float pivot = run_mean(x + AT(0, ch, c, hw), hw);
    for (int i = 0; i < n; i++) {
        if (i + 1 < n)
            prefetch_run(x + AT(i + 1, ch, c, hw), hw);
        run_sums(x + AT(i, ch, c, hw), hw, pivot, &sum, &sq);
    }
    double d = lane_total(&sum) / m, v = lane_total(&sq) / m - d * d;
    *mean = (double)pivot + d;
    *var = v > 0.0 ? v : 0.0;
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

/* Sums over channel ch of dy and of dy * xhat, xhat = (x - mean) invstd, in one pass (float
 * lanes per plane, double lanes across planes; invstd applied to the total). */
CD_CLONES static void channel_dsums(const float *dy, const float *x, int n, int c, size_t hw,
                                    int ch, float mean, float invstd, double *sdy, double *sdyx)
{
    struct lanes a = {{0}}, b = {{0}};
    v8f k = mean - (v8f){0};
    for (int i = 0; i < n; i++) {
        const float *g = dy + AT(i, ch, c, hw), *xr = x + AT(i, ch, c, hw);
        if (i + 1 < n) {
            prefetch_run(g + (size_t)c * hw, hw);
            prefetch_run(xr + (size_t)c * hw, hw);
        }
        v8f s0 = {0}, s1 = {0}, q0 = {0}, q1 = {0};
        size_t p = 0;
        for (; p + LANES <= hw; p += LANES) {
            v8f g0 = LOAD8(g + p), g1 = LOAD8(g + p + 8);
            s0 += g0;
            s1 += g1;
            q0 += g0 * (LOAD8(xr + p) - k);
            q1 += g1 * (LOAD8(xr + p + 8) - k);
        }
        for (; p < hw; p++) {
            s0[0] += g[p];
            q0[0] += g[p] * (xr[p] - mean);
        }
        lanes_add(&a, &s0, &s1);
        lanes_add(&b, &q0, &q1);
    }
    *sdy = lane_total(&a);
    *sdyx = lane_total(&b) * (double)invstd;
}

/* dx = k (dy - mean(dy) - xhat mean(dy xhat)) over channel ch, as k dy + (b (x - mean) + c0)
 * with b = -k invstd mean(dy xhat) and c0 = -k mean(dy). */
CD_CLONES static void channel_dx(float *dx, const float *dy, const float *x, int n, int c,
                                 size_t hw, int ch, float mean, float k, float b, float c0)
{
    for (int i = 0; i < n; i++) {
        size_t at = AT(i, ch, c, hw);
        float *d = dx + at;
        const float *g = dy + at, *xr = x + at;
        for (size_t p = 0; p < hw; p++)
            d[p] = k * g[p] + (b * (xr[p] - mean) + c0);
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
        float k = j->gamma[ch] * invstd, mdy = (float)(sdy / m), mdyx = (float)(sdyx / m);
        channel_dx(j->dx, j->dy, j->x, j->n, j->c, j->hw, (int)ch, mean, k, -k * invstd * mdyx,
                   -k * mdy);
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
