/*
 * conv2d.h: 2-D convolution (cross-correlation, as PyTorch Conv2d) with stride and zero
 * padding, CPU body by im2col + cblas_sgemm per image.
 *
 * Shapes (NCHW): x [n, c, h, w], weight [oc, c, kh, kw], bias [oc] (may be NULL),
 * y [n, oc, oh, ow] with oh = conv2d_out_size(h, kh, stride, pad), likewise ow.
 * ws is a caller workspace of conv2d_workspace_size(...) floats (one image's im2col
 * matrix, [c*kh*kw, oh*ow]). The threaded paths, and the backward of a stride-1 square
 * kernel (whose input gradient is a convolution of dy with the flipped weight, one GEMM of
 * depth oc*k*k instead of a GEMM of depth oc and a col2im), use the per-thread scratch of
 * par.h instead; when that cannot grow, the serial col2im path on ws is taken.
 * Backward WRITES dx (=, may be NULL for a first layer) and ACCUMULATES (+=) into dweight
 * and dbias (dbias may be NULL). Images are processed in order, so results are
 * deterministic for a fixed OpenBLAS thread count.
 */
#ifndef CD_OPS_CONV2D_H
#define CD_OPS_CONV2D_H

#include <stddef.h>

int conv2d_out_size(int in, int k, int stride, int pad);
size_t conv2d_workspace_size(int c, int h, int w, int kh, int kw, int stride, int pad);
void conv2d_forward(float *y, const float *x, const float *weight, const float *bias, float *ws,
                    int n, int c, int h, int w, int oc, int kh, int kw, int stride, int pad);
void conv2d_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x,
                     const float *weight, float *ws, int n, int c, int h, int w, int oc, int kh,
                     int kw, int stride, int pad);

#endif
