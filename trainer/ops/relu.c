/*
 * relu.c: CPU body of the rectifier (see relu.h). No allocation, in-place safe; ranges of
 * elements run on the pool's threads (element-wise: results do not depend on T).
 */
#include "relu.h"

#include "par.h"

#define GRAIN 32768

struct relu_job {
    float *out;
    const float *a, *b;
};

static void forward_range(void *arg, long lo, long hi, int t)
{
    const struct relu_job *j = arg;
    float *y = j->out;
    const float *x = j->a;
    for (long i = lo; i < hi; i++)
        y[i] = x[i] > 0.0f || x[i] != x[i] ? x[i] : 0.0f; /* NaN stays NaN, as in PyTorch */
}

void relu_forward(float *y, const float *x, size_t n)
{
    struct relu_job j = {y, x, NULL};
    cd_par_for((long)n, GRAIN, forward_range, &j);
}

static void backward_range(void *arg, long lo, long hi, int t)
{
    const struct relu_job *j = arg;
    float *dx = j->out;
    const float *dy = j->a, *y = j->b;
    for (long i = lo; i < hi; i++) {
        float g = dy[i]; /* loaded unconditionally: the select vectorises */
        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
}

void relu_backward(float *dx, const float *dy, const float *y, size_t n)
{
    struct relu_job j = {dx, dy, y};
    cd_par_for((long)n, GRAIN, backward_range, &j);
}
