/*
 * dropout.c: CPU body of seeded inverted dropout (see dropout.h). The hash is three rounds of
 * the splitmix64 finaliser over seed, step and index; the top 24 bits give a uniform float
 * in [0, 1), exact in float so that the CUDA body can make the same decisions.
 */
#include "dropout.h"

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

static void dropout_apply(float *y, const float *x, size_t n, float p, uint64_t seed, uint64_t step)
{
    if (p <= 0.0f) {
        for (size_t i = 0; i < n; i++)
            y[i] = x[i];
        return;
    }
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (size_t i = 0; i < n; i++)
        y[i] = dropout_keep(i, p, seed, step) ? x[i] * scale : 0.0f;
}

void dropout_forward(float *y, const float *x, size_t n, float p, uint64_t seed, uint64_t step)
{
    dropout_apply(y, x, n, p, seed, step);
}

void dropout_backward(float *dx, const float *dy, size_t n, float p, uint64_t seed, uint64_t step)
{
    dropout_apply(dx, dy, n, p, seed, step);
}
