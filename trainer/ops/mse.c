/*
 * mse.c: CPU body of the mean squared error (see mse.h). No allocation.
 */
#include "mse.h"

float mse_forward(const float *pred, const float *target, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)target[i];
        sum += d * d;
    }
    return n > 0 ? (float)(sum / (double)n) : 0.0f;
}

void mse_backward(float *dpred, const float *pred, const float *target, size_t n)
{
    float scale = n > 0 ? 2.0f / (float)n : 0.0f;
    for (size_t i = 0; i < n; i++)
        dpred[i] = scale * (pred[i] - target[i]);
}
