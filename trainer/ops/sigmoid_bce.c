/*
 * sigmoid_bce.c: CPU body of sigmoid binary cross-entropy (see sigmoid_bce.h). No allocation.
 */
#include <math.h>

#include "sigmoid_bce.h"

float sigmoid_bce_forward(float *probs, const float *logits, const float *labels, size_t n)
{
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        double z = logits[i], y = labels[i];
        probs[i] = (float)(1.0 / (1.0 + exp(-z)));
        loss += (z > 0.0 ? z : 0.0) - z * y + log1p(exp(-fabs(z)));
    }
    return n > 0 ? (float)(loss / (double)n) : 0.0f;
}

void sigmoid_bce_backward(float *dlogits, const float *probs, const float *labels, size_t n)
{
    float scale = n > 0 ? 1.0f / (float)n : 0.0f;
    for (size_t i = 0; i < n; i++)
        dlogits[i] = scale * (probs[i] - labels[i]);
}
