/*
 * avgpool2d.h: 2-D average pooling with kernel k x k, stride and zero padding, and global
 * average pooling, per channel of NCHW data.
 *
 * avgpool2d follows PyTorch AvgPool2d defaults (count_include_pad=True, ceil_mode=False):
 * every window divides by k * k, padding counting as zeros. x [n, c, h, w],
 * y [n, c, oh, ow], oh = (h + 2 pad - k) / stride + 1.
 * global_avgpool: x [n, c, h, w] -> y [n, c] (mean over h * w, summed in order).
 * Backward functions WRITE dx (=). No parameters, no allocation.
 */
#ifndef CD_OPS_AVGPOOL2D_H
#define CD_OPS_AVGPOOL2D_H

void avgpool2d_forward(float *y, const float *x, int n, int c, int h, int w, int k, int stride,
                       int pad);
void avgpool2d_backward(float *dx, const float *dy, int n, int c, int h, int w, int k, int stride,
                        int pad);
void global_avgpool_forward(float *y, const float *x, int n, int c, int h, int w);
void global_avgpool_backward(float *dx, const float *dy, int n, int c, int h, int w);

#endif
