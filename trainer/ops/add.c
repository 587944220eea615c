/*
 * add.c: CPU body of the elementwise sum (see add.h). In-place safe (y == a or y == b);
 * ranges of elements run on the pool's threads.
 */
#include "add.h"

#include <string.h>

#include "par.h"

#define GRAIN 32768

struct add_job {
    float *y, *db;
    const float *a, *b;
};

static void forward_range(void *arg, long lo, long hi, int t)
{
    const struct add_job *j = arg;
    float *y = j->y;
    const float *a = j->a, *b = j->b;
    for (long i = lo; i < hi; i++)
        y[i] = a[i] + b[i];
}

void add_forward(float *y, const float *a, const float *b, size_t n)
{
    struct add_job j = {.y = y, .a = a, .b = b};
    cd_par_for((long)n, GRAIN, forward_range, &j);
}

static void backward_range(void *arg, long lo, long hi, int t)
{
    const struct add_job *j = arg; /* y = da, a = dy */
    if (j->y != NULL)
        memmove(j->y + lo, j->a + lo, sizeof(float) * (size_t)(hi - lo));
    if (j->db != NULL)
        memmove(j->db + lo, j->a + lo, sizeof(float) * (size_t)(hi - lo));
}

void add_backward(float *da, float *db, const float *dy, size_t n)
{
    struct add_job j = {.y = da, .db = db, .a = dy};
    cd_par_for((long)n, GRAIN, backward_range, &j);
}
