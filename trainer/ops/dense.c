/*
 * dense.c: CPU body of the dense layer (see dense.h): cblas_sgemm calls and a bias loop,
 * split across the pool's threads by rows of the output (batch rows for y and dx, weight
 * rows for dw and db), each range one single-threaded sgemm. No allocation. Every output
 * element is computed by one range, in the same order whatever T.
 */
#include <cblas.h>
#include <stddef.h>

#include "par.h"

#include "dense.h"

/* Rows per range: ranges below ~64k multiply-adds are not worth a wake-up. */
static long grain(long row_cost)
{
    return row_cost >= 65536 ? 1 : 65536 / (row_cost ? row_cost : 1);
}

struct dense_job {
    float *y, *dx, *dw, *db;
    const float *x, *w, *b, *dy;
    int batch, in, out;
};

static void forward_rows(void *arg, long lo, long hi, int t)
{
    const struct dense_job *j = arg;
    float *y = j->y + (size_t)lo * j->out;
    /* the bias goes in first and the product is accumulated onto it (beta 1), as PyTorch's
     * addmm does: the same rounding as the reference */
    for (long i = lo; j->b != NULL && i < hi; i++)
        for (int o = 0; o < j->out; o++)
            j->y[(size_t)i * j->out + o] = j->b[o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(hi - lo), j->out, j->in, 1.0f,
                j->x + (size_t)lo * j->in, j->in, j->w, j->in, j->b != NULL ? 1.0f : 0.0f, y,
                j->out);
}

void dense_forward(float *y, const float *x, const float *w, const float *b, int batch, int in,
                   int out)
{
    struct dense_job j = {.y = y, .x = x, .w = w, .b = b, .batch = batch, .in = in, .out = out};
    cd_par_for(batch, grain((long)in * out), forward_rows, &j);
}

/* dw [lo..hi, in] += dy^T [lo..hi, batch] x [batch, in]; db [lo..hi] += column sums of dy. */
static void weight_rows(void *arg, long lo, long hi, int t)
{
    const struct dense_job *j = arg;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(hi - lo), j->in, j->batch, 1.0f,
                j->dy + lo, j->out, j->x, j->in, 1.0f, j->dw + (size_t)lo * j->in, j->in);
    if (j->db != NULL)
        for (int i = 0; i < j->batch; i++)
            for (long o = lo; o < hi; o++)
                j->db[o] += j->dy[(size_t)i * j->out + o];
}

/* dx [lo..hi, in] = dy [lo..hi, out] w [out, in] */
static void input_rows(void *arg, long lo, long hi, int t)
{
    const struct dense_job *j = arg;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(hi - lo), j->in, j->out, 1.0f,
                j->dy + (size_t)lo * j->out, j->out, j->w, j->in, 0.0f, j->dx + (size_t)lo * j->in,
                j->in);
}

void dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                    const float *w, int batch, int in, int out)
{
    struct dense_job j = {.dx = dx,
                          .dw = dw,
                          .db = db,
                          .dy = dy,
                          .x = x,
                          .w = w,
                          .batch = batch,
                          .in = in,
                          .out = out};
    cd_par_for(out, grain((long)batch * in), weight_rows, &j);
    if (dx != NULL)
        cd_par_for(batch, grain((long)in * out), input_rows, &j);
}
