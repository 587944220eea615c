/*
 * softmax_xent.h: softmax cross-entropy with integer class labels (PyTorch CrossEntropyLoss,
 * reduction 'mean').
 *
 * Shapes: logits [batch, classes], labels [batch] (each in 0 .. classes-1, checked by the
 * caller when the labels are read), probs [batch, classes] (softmax, kept for backward).
 * The forward returns the mean loss over the batch (summed in double, in row order).
 * Backward WRITES dlogits = (probs - onehot(labels)) / batch, the gradient of the mean loss.
 */
#ifndef CD_OPS_SOFTMAX_XENT_H
#define CD_OPS_SOFTMAX_XENT_H

#include <stdint.h>

float softmax_xent_forward(float *probs, const float *logits, const int32_t *labels, int batch,
                           int classes);
void softmax_xent_backward(float *dlogits, const float *probs, const int32_t *labels, int batch,
                           int classes);

#endif
