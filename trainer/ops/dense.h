/*
 * dense.h: fully connected layer, y = x W^T + b (CPU body in dense.c, CUDA body later in
 * dense.cu with the same arguments plus a stream).
 *
 * Shapes: x [batch, in], w [out, in], b [out] (may be NULL: no bias), y [batch, out].
 * Backward WRITES dx (=) and ACCUMULATES (+=) into dw and db. dx may be NULL (first layer),
 * db may be NULL (no bias). Deterministic for a fixed OpenBLAS thread count. Shapes are
 * checked by the caller when the model is built; these functions do not validate them.
 */
#ifndef CD_OPS_DENSE_H
#define CD_OPS_DENSE_H

void dense_forward(float *y, const float *x, const float *w, const float *b, int batch, int in,
                   int out);
void dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                    const float *w, int batch, int in, int out);

#endif
