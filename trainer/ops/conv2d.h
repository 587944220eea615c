/*
 * conv2d.h: 2-D convolution (cross-correlation, as PyTorch Conv2d) with stride and zero
 * padding, CPU body by im2col + cblas_sgemm.
 *
 * Shapes (NCHW): x [n, c, h, w], weight [oc, c, kh, kw], bias [oc] (may be NULL),
 * y [n, oc, oh, ow] with oh = conv2d_out_size(h, kh, stride, pad), likewise ow.
 * ws is a caller workspace of conv2d_workspace_size(...) floats (one image's im2col
 * matrix, [c*kh*kw, oh*ow]). The CPU body works per batch of images: images [k B, (k + 1) B)
 * side by side in one GEMM, B chosen from oh*ow alone (several for small planes, one for
 * 28x28), batches split over the threads. Batching, the threads, and the backward of a
 * stride-1 square kernel (whose input gradient is a convolution of dy with the flipped
 * weight, one GEMM of depth oc*k*k instead of a GEMM of depth oc and a col2im, and whose
 * weight gradient comes from the same im2col(dy)) use the per-thread scratch of par.h
 * (a few MiB at most); when that cannot grow, one image at a time on ws.
 * Backward WRITES dx (=, may be NULL for a first layer) and ACCUMULATES (+=) into dweight
 * and dbias (dbias may be NULL). y and dx do not depend on the threads; dweight and dbias
 * are summed per thread range in range order: deterministic for a fixed thread count.
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
