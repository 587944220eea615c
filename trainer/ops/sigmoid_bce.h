/*
 * sigmoid_bce.h: sigmoid binary cross-entropy on logits with float labels in [0, 1]
 * (PyTorch BCEWithLogitsLoss, reduction 'mean'), over n elements (batch * outputs).
 *
 * The forward stores probs = sigmoid(logits) for backward and returns the mean loss,
 * computed stably as max(z, 0) - z y + log1p(exp(-|z|)) and summed in double in index order.
 * Backward WRITES dlogits = (probs - labels) / n, the gradient of the mean loss.
 */
#ifndef CD_OPS_SIGMOID_BCE_H
#define CD_OPS_SIGMOID_BCE_H

#include <stddef.h>

float sigmoid_bce_forward(float *probs, const float *logits, const float *labels, size_t n);
void sigmoid_bce_backward(float *dlogits, const float *probs, const float *labels, size_t n);

#endif
