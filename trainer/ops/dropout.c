/*
 * dropout.c: CPU body of seeded inverted dropout (see dropout.h). The hash is three rounds of
 * the splitmix64 finaliser over seed, step and index; the top 24 bits give a uniform float
 * in [0, 1), exact in float so that the CUDA body can make the same decisions.
 */
#include "dropout.h"

#include "par.h"

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int dropout_keep(size_t i, float p, uint64_t seed, uint64_t step)
{
    uint64_t h = mix64(mix64(mix64(seed) ^ step) ^ (uint64_t)i);
    float u = (float)(h >> 40) * (1.0f / 16777216.0f);
    return u >= p;
}

struct dropout_job {
    float *y;
    const float *x;
    float p, scale;
    uint64_t seed, step;
};

/* Element i's decision depends on i only: ranges run on the pool's threads. */
static void apply_range(void *arg, long lo, long hi, int t)
{
    const struct dropout_job *j = arg;
    float *y = j->y, p = j->p, scale = j->scale;
    const float *x = j->x;
    for (long i = lo; i < hi; i++)
        y[i] = p <= 0.0f || dropout_keep((size_t)i, p, j->seed, j->step) ? x[i] * scale : 0.0f;
}

static void dropout_apply(float *y, const float *x, size_t n, float p, uint64_t seed, uint64_t step)
{
    struct dropout_job j = {y,    x,   p, p <= 0.0f ? 1.0f : p < 1.0f ? 1.0f / (1.0f - p) : 0.0f,
                            seed, step};
    cd_par_for((long)n, 8192, apply_range, &j);
}

void dropout_forward(float *y, const float *x, size_t n, float p, uint64_t seed, uint64_t step)
{
    dropout_apply(y, x, n, p, seed, step);
}

void dropout_backward(float *dx, const float *dy, size_t n, float p, uint64_t seed, uint64_t step)
{
    dropout_apply(dx, dy, n, p, seed, step);
}
