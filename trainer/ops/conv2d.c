/*
 * conv2d.c: CPU body of the 2-D convolution (see conv2d.h). im2col lays one image out as
 * [c*kh*kw, oh*ow] so that the forward is W [oc, c*kh*kw] x col, the weight gradient
 * dy x col^T, and the input gradient col2im(W^T x dy). Padding reads as zero.
 */
#include <cblas.h>
#include <stdbool.h>
#include <string.h>

#include "par.h"

#include "conv2d.h"

/* Geometry of one call, to keep the helpers' argument lists short. */
struct conv_geom {
    int c, h, w, kh, kw, stride, pad, oh, ow;
};

int conv2d_out_size(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

size_t conv2d_workspace_size(int c, int h, int w, int kh, int kw, int stride, int pad)
{
    size_t oh = (size_t)conv2d_out_size(h, kh, stride, pad);
    size_t ow = (size_t)conv2d_out_size(w, kw, stride, pad);
    return (size_t)c * kh * kw * oh * ow;
}

static struct conv_geom geom(int c, int h, int w, int kh, int kw, int stride, int pad)
{
    struct conv_geom g = {c, h, w, kh, kw, stride, pad, 0, 0};
    g.oh = conv2d_out_size(h, kh, stride, pad);
    g.ow = conv2d_out_size(w, kw, stride, pad);
    return g;
}

/* Output columns [*lo, *hi) whose input column ox * stride - pad + kj lies in [0, w). */
static void valid_cols(const struct conv_geom *g, int kj, int *lo, int *hi)
{
    int first = g->pad - kj; /* smallest ox * stride allowed */
    *lo = first <= 0 ? 0 : (first + g->stride - 1) / g->stride;
    int last = g->w - 1 + g->pad - kj; /* largest ox * stride allowed */
    *hi = last < 0 ? 0 : last / g->stride + 1;
    *hi = *hi > g->ow ? g->ow : *hi;
    *lo = *lo > *hi ? *hi : *lo;
}

/* col [c*kh*kw, oh*ow] from one image x [c, h, w]: each output row is a (strided) copy of
 * an input row between zeroed edges. */
static void im2col(float *col, const float *x, const struct conv_geom *g)
{
    size_t ohw = (size_t)g->oh * g->ow;
    for (int ci = 0; ci < g->c; ci++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                float *row = col + (((size_t)ci * g->kh + ki) * g->kw + kj) * ohw;
                const float *plane = x + (size_t)ci * g->h * g->w;
                int lo, hi;
                valid_cols(g, kj, &lo, &hi);
                for (int oy = 0; oy < g->oh; oy++) {
                    float *out = row + (size_t)oy * g->ow;
                    int iy = oy * g->stride - g->pad + ki;
                    if (iy < 0 || iy >= g->h) {
                        memset(out, 0, sizeof *out * (size_t)g->ow);
                        continue;
                    }
                    const float *in = plane + (size_t)iy * g->w;
                    int ix = lo * g->stride - g->pad + kj; /* input column of output lo */
                    for (int ox = 0; ox < lo; ox++)
                        out[ox] = 0.0f;
                    if (g->stride == 1)
                        memcpy(out + lo, in + ix, sizeof *out * (size_t)(hi - lo));
                    else
                        for (int ox = lo; ox < hi; ox++, ix += g->stride)
                            out[ox] = in[ix];
                    for (int ox = hi; ox < g->ow; ox++)
                        out[ox] = 0.0f;
                }
            }
}

/* dx [c, h, w] = sum of the col entries that read each input element (dx written). */
static void col2im(float *dx, const float *col, const struct conv_geom *g)
{
    size_t ohw = (size_t)g->oh * g->ow;
    memset(dx, 0, sizeof(float) * (size_t)g->c * g->h * g->w);
    for (int ci = 0; ci < g->c; ci++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                const float *row = col + (((size_t)ci * g->kh + ki) * g->kw + kj) * ohw;
                float *plane = dx + (size_t)ci * g->h * g->w;
                int lo, hi;
                valid_cols(g, kj, &lo, &hi);
                for (int oy = 0; oy < g->oh; oy++) {
                    int iy = oy * g->stride - g->pad + ki;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    float *out = plane + (size_t)iy * g->w;
                    const float *in = row + (size_t)oy * g->ow;
                    int ix = lo * g->stride - g->pad + kj;
                    for (int ox = lo; ox < hi; ox++, ix += g->stride)
                        out[ix] += in[ox];
                }
            }
}

/* One call's arguments, shared by the ranges of images. */
struct conv_job {
    struct conv_geom g;
    int n, oc;
    float *y, *dx, *dweight, *dbias, *ws;
    const float *x, *weight, *bias, *dy;
    size_t col; /* floats of one im2col matrix */
    bool parallel;
};

/* Range t's buffers: [col][dweight part oc*ckk][dbias part oc] from the pool, or the caller's
 * ws (serial path: the gradients go straight to dweight and dbias). */
static float *range_buf(const struct conv_job *j, int t, size_t floats)
{
    return j->parallel ? cd_par_scratch(t, floats * sizeof(float)) : j->ws;
}

static void forward_images(void *arg, long lo, long hi, int t)
{
    const struct conv_job *j = arg;
    int ohw = j->g.oh * j->g.ow, ckk = j->g.c * j->g.kh * j->g.kw, oc = j->oc;
    float *col = range_buf(j, t, j->col);
    for (long i = lo; i < hi; i++) {
        float *yi = j->y + (size_t)i * oc * ohw;
        im2col(col, j->x + (size_t)i * j->g.c * j->g.h * j->g.w, &j->g);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, oc, ohw, ckk, 1.0f, j->weight, ckk,
                    col, ohw, 0.0f, yi, ohw);
        if (j->bias != NULL)
            for (int o = 0; o < oc; o++)
                for (int p = 0; p < ohw; p++)
                    yi[(size_t)o * ohw + p] += j->bias[o];
    }
}

/* Sizes of range t's parts: the im2col matrix, then (parallel only) dweight and dbias. */
static size_t backward_floats(const struct conv_job *j)
{
    size_t ckk = (size_t)j->g.c * j->g.kh * j->g.kw;
    return j->col + (size_t)j->oc * ckk + (size_t)j->oc;
}

static void backward_images(void *arg, long lo, long hi, int t)
{
    const struct conv_job *j = arg;
    int ohw = j->g.oh * j->g.ow, ckk = j->g.c * j->g.kh * j->g.kw, oc = j->oc;
    size_t chw = (size_t)j->g.c * j->g.h * j->g.w;
    float *col = range_buf(j, t, backward_floats(j));
    float *dw = j->parallel ? col + j->col : j->dweight;
    float *db = j->parallel ? dw + (size_t)oc * ckk : j->dbias;
    for (long i = lo; i < hi; i++) {
        const float *dyi = j->dy + (size_t)i * oc * ohw;
        im2col(col, j->x + (size_t)i * chw, &j->g);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, oc, ckk, ohw, 1.0f, dyi, ohw, col, ohw,
                    1.0f, dw, ckk);
        if (j->dbias != NULL)
            for (int o = 0; o < oc; o++)
                for (int p = 0; p < ohw; p++)
                    db[o] += dyi[(size_t)o * ohw + p];
        if (j->dx == NULL)
            continue;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, ohw, oc, 1.0f, j->weight, ckk,
                    dyi, ohw, 0.0f, col, ohw);
        col2im(j->dx + (size_t)i * chw, col, &j->g);
    }
}

/* Take the parallel path when there are threads and every range has its buffer. */
static bool reserve_ranges(struct conv_job *j, size_t floats)
{
    int threads = cd_par_threads();
    if (threads < 2 || j->n < 2)
        return false;
    for (int t = 0; t < threads; t++)
        if (cd_par_scratch(t, floats * sizeof(float)) == NULL)
            return false;
    return true;
}

static struct conv_job job(int n, int c, int h, int w, int oc, int kh, int kw, int stride, int pad,
                           float *ws)
{
    struct conv_job j = {.g = geom(c, h, w, kh, kw, stride, pad), .n = n, .oc = oc, .ws = ws};
    j.col = conv2d_workspace_size(c, h, w, kh, kw, stride, pad);
    return j;
}

void conv2d_forward(float *y, const float *x, const float *weight, const float *bias, float *ws,
                    int n, int c, int h, int w, int oc, int kh, int kw, int stride, int pad)
{
    struct conv_job j = job(n, c, h, w, oc, kh, kw, stride, pad, ws);
    j.y = y;
    j.x = x;
    j.weight = weight;
    j.bias = bias;
    j.parallel = reserve_ranges(&j, j.col);
    cd_par_for(n, 1, forward_images, &j);
}

/* dweight and dbias += the ranges' parts, in range order (deterministic for a fixed T). */
static void add_parts(const struct conv_job *j)
{
    size_t ckk = (size_t)j->g.c * j->g.kh * j->g.kw, nw = (size_t)j->oc * ckk;
    for (int t = 0; t < cd_par_threads(); t++) {
        const float *dw = (const float *)cd_par_scratch(t, 0) + j->col;
        for (size_t k = 0; k < nw; k++)
            j->dweight[k] += dw[k];
        for (int o = 0; j->dbias != NULL && o < j->oc; o++)
            j->dbias[o] += dw[nw + o];
    }
}

void conv2d_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x,
                     const float *weight, float *ws, int n, int c, int h, int w, int oc, int kh,
                     int kw, int stride, int pad)
{
    struct conv_job j = job(n, c, h, w, oc, kh, kw, stride, pad, ws);
    j.dx = dx;
    j.dweight = dweight;
    j.dbias = dbias;
    j.dy = dy;
    j.x = x;
    j.weight = weight;
    size_t floats = backward_floats(&j);
    j.parallel = reserve_ranges(&j, floats);
    for (int t = 0; j.parallel && t < cd_par_threads(); t++)
        memset((float *)cd_par_scratch(t, 0) + j.col, 0, (floats - j.col) * sizeof(float));
    cd_par_for(n, 1, backward_images, &j);
    if (j.parallel)
        add_parts(&j);
}
