/*
 * relu.h: elementwise y = max(x, 0) over n floats (any layout); a NaN stays NaN (PyTorch's
 * relu), so that a NaN made in training reaches the loss instead of vanishing.
 *
 * Backward WRITES dx (=) from dy and the forward OUTPUT y (dx = dy where y > 0, else 0), so
 * the op can run in place (y == x, dx == dy). No parameters.
 */
#ifndef CD_OPS_RELU_H
#define CD_OPS_RELU_H

#include <stddef.h>

void relu_forward(float *y, const float *x, size_t n);
void relu_backward(float *dx, const float *dy, const float *y, size_t n);

#endif
