/*
 * maxpool2d.h: 2-D max pooling with kernel k x k, stride and padding (PyTorch MaxPool2d:
 * padding never wins, pad <= k / 2), per channel of NCHW data.
 *
 * Shapes: x [n, c, h, w], y and argmax [n, c, oh, ow] with oh = (h + 2 pad - k) / stride + 1
 * (conv2d_out_size). argmax holds the winning index inside the input plane (iy * w + ix),
 * the first maximum in row-major window order; backward scatters dy there.
 * Backward WRITES dx (=). No parameters, no allocation.
 */
#ifndef CD_OPS_MAXPOOL2D_H
#define CD_OPS_MAXPOOL2D_H

#include <stdint.h>

void maxpool2d_forward(float *y, int32_t *argmax, const float *x, int n, int c, int h, int w, int k,
                       int stride, int pad);
void maxpool2d_backward(float *dx, const float *dy, const int32_t *argmax, int n, int c, int h,
                        int w, int k, int stride, int pad);

#endif
