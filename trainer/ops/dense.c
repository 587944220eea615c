/*
 * dense.c: CPU body of the dense layer (see dense.h): two or three cblas_sgemm calls and a
 * bias loop. No allocation; bias gradients are summed over the batch in row order.
 */
#include <cblas.h>
#include <stddef.h>

#include "dense.h"

void dense_forward(float *y, const float *x, const float *w, const float *b, int batch, int in,
                   int out)
{
    /* the bias goes in first and the product is accumulated onto it (beta 1), as PyTorch's
     * addmm does: the same rounding as the reference */
    for (int i = 0; b != NULL && i < batch; i++)
        for (int o = 0; o < out; o++)
            y[(size_t)i * out + o] = b[o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, out, in, 1.0f, x, in, w, in,
                b != NULL ? 1.0f : 0.0f, y, out);
}

void dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                    const float *w, int batch, int in, int out)
{
    /* dw [out, in] += dy^T [out, batch] x [batch, in] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, batch, 1.0f, dy, out, x, in, 1.0f,
                dw, in);
    if (db != NULL)
        for (int i = 0; i < batch; i++)
            for (int o = 0; o < out; o++)
                db[o] += dy[(size_t)i * out + o];
    /* dx [batch, in] = dy [batch, out] w [out, in] */
    if (dx != NULL)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, in, out, 1.0f, dy, out, w, in,
                    0.0f, dx, in);
}
