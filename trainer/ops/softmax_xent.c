/*
 * softmax_xent.c: CPU body of softmax cross-entropy (see softmax_xent.h). The softmax is
 * shifted by the row maximum; the loss uses log-sum-exp so that a probability that rounds
 * to 0 in float still gives a finite loss. No allocation.
 */
#include <math.h>
#include <stddef.h>

#include "softmax_xent.h"

/* Softmax of one row into p; returns log(sum(exp(z - max))) + max, the log partition. */
static double softmax_row(float *p, const float *z, int classes)
{
    float max = z[0];
    for (int k = 1; k < classes; k++)
        if (z[k] > max)
            max = z[k];
    double sum = 0.0;
    for (int k = 0; k < classes; k++)
        sum += exp((double)z[k] - (double)max);
    for (int k = 0; k < classes; k++)
        p[k] = (float)(exp((double)z[k] - (double)max) / sum);
    return log(sum) + (double)max;
}

float softmax_xent_forward(float *probs, const float *logits, const int32_t *labels, int batch,
                           int classes)
{
    double loss = 0.0;
    for (int i = 0; i < batch; i++) {
        const float *z = logits + (size_t)i * classes;
        double logz = softmax_row(probs + (size_t)i * classes, z, classes);
        loss += logz - (double)z[labels[i]];
    }
    return batch > 0 ? (float)(loss / batch) : 0.0f;
}

void softmax_xent_backward(float *dlogits, const float *probs, const int32_t *labels, int batch,
                           int classes)
{
    float scale = 1.0f / (float)batch;
    for (int i = 0; i < batch; i++) {
        const float *p = probs + (size_t)i * classes;
        float *d = dlogits + (size_t)i * classes;
        for (int k = 0; k < classes; k++)
            d[k] = scale * (p[k] - (k == labels[i] ? 1.0f : 0.0f));
    }
}
