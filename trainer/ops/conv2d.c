/*
 * conv2d.c: CPU body of the 2-D convolution (see conv2d.h). im2col lays one image out as
 * [c*kh*kw, oh*ow] so that the forward is W [oc, c*kh*kw] x col, the weight gradient
 * dy x col^T, and the input gradient col2im(W^T x dy). Padding reads as zero.
 */
#include <cblas.h>
#include <string.h>

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

/* col [c*kh*kw, oh*ow] from one image x [c, h, w]. */
static void im2col(float *col, const float *x, const struct conv_geom *g)
{
    size_t ohw = (size_t)g->oh * g->ow;
    for (int ci = 0; ci < g->c; ci++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                float *row = col + (((size_t)ci * g->kh + ki) * g->kw + kj) * ohw;
                const float *plane = x + (size_t)ci * g->h * g->w;
                for (int oy = 0; oy < g->oh; oy++) {
                    int iy = oy * g->stride - g->pad + ki;
                    for (int ox = 0; ox < g->ow; ox++) {
                        int ix = ox * g->stride - g->pad + kj;
                        int in = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                        row[(size_t)oy * g->ow + ox] = in ? plane[(size_t)iy * g->w + ix] : 0.0f;
                    }
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
                for (int oy = 0; oy < g->oh; oy++) {
                    int iy = oy * g->stride - g->pad + ki;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    for (int ox = 0; ox < g->ow; ox++) {
                        int ix = ox * g->stride - g->pad + kj;
                        if (ix >= 0 && ix < g->w)
                            plane[(size_t)iy * g->w + ix] += row[(size_t)oy * g->ow + ox];
                    }
                }
            }
}

void conv2d_forward(float *y, const float *x, const float *weight, const float *bias, float *ws,
                    int n, int c, int h, int w, int oc, int kh, int kw, int stride, int pad)
{
    struct conv_geom g = geom(c, h, w, kh, kw, stride, pad);
    int ohw = g.oh * g.ow, ckk = c * kh * kw;
    for (int i = 0; i < n; i++) {
        float *yi = y + (size_t)i * oc * ohw;
        im2col(ws, x + (size_t)i * c * h * w, &g);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, oc, ohw, ckk, 1.0f, weight, ckk, ws,
                    ohw, 0.0f, yi, ohw);
        if (bias != NULL)
            for (int o = 0; o < oc; o++)
                for (int p = 0; p < ohw; p++)
                    yi[(size_t)o * ohw + p] += bias[o];
    }
}

void conv2d_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x,
                     const float *weight, float *ws, int n, int c, int h, int w, int oc, int kh,
                     int kw, int stride, int pad)
{
    struct conv_geom g = geom(c, h, w, kh, kw, stride, pad);
    int ohw = g.oh * g.ow, ckk = c * kh * kw;
    for (int i = 0; i < n; i++) {
        const float *dyi = dy + (size_t)i * oc * ohw;
        im2col(ws, x + (size_t)i * c * h * w, &g);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, oc, ckk, ohw, 1.0f, dyi, ohw, ws, ohw,
                    1.0f, dweight, ckk);
        if (dbias != NULL)
            for (int o = 0; o < oc; o++)
                for (int p = 0; p < ohw; p++)
                    dbias[o] += dyi[(size_t)o * ohw + p];
        if (dx == NULL)
            continue;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, ohw, oc, 1.0f, weight, ckk, dyi,
                    ohw, 0.0f, ws, ohw);
        col2im(dx + (size_t)i * c * h * w, ws, &g);
    }
}
