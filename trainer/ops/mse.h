/*
 * mse.h: mean squared error, loss = mean over all n elements of (pred - target)^2 (PyTorch
 * MSELoss with reduction 'mean').
 *
 * The forward returns the loss (summed in double, in index order). Backward WRITES
 * dpred = 2 (pred - target) / n, the gradient of the mean loss.
 */
#ifndef CD_OPS_MSE_H
#define CD_OPS_MSE_H

#include <stddef.h>

float mse_forward(const float *pred, const float *target, size_t n);
void mse_backward(float *dpred, const float *pred, const float *target, size_t n);

#endif
