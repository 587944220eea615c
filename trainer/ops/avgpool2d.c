/*
 * avgpool2d.c: CPU bodies of windowed and global average pooling (see avgpool2d.h).
 */
#include <stddef.h>
#include <string.h>

#include "avgpool2d.h"

static int pool_out(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

static float window_sum(const float *plane, int h, int w, int y0, int x0, int k)
{
    float sum = 0.0f;
    for (int ky = y0 < 0 ? 0 : y0; ky < y0 + k && ky < h; ky++)
        for (int kx = x0 < 0 ? 0 : x0; kx < x0 + k && kx < w; kx++)
            sum += plane[ky * w + kx];
    return sum;
}

static void window_spread(float *dplane, int h, int w, int y0, int x0, int k, float g)
{
    for (int ky = y0 < 0 ? 0 : y0; ky < y0 + k && ky < h; ky++)
        for (int kx = x0 < 0 ? 0 : x0; kx < x0 + k && kx < w; kx++)
            dplane[ky * w + kx] += g;
}

void avgpool2d_forward(float *y, const float *x, int n, int c, int h, int w, int k, int stride,
                       int pad)
{
    int oh = pool_out(h, k, stride, pad), ow = pool_out(w, k, stride, pad);
    float inv = 1.0f / ((float)k * (float)k);
    for (long p = 0; p < (long)n * c; p++) {
        const float *plane = x + (size_t)p * h * w;
        float *yp = y + (size_t)p * oh * ow;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                yp[oy * ow + ox] =
                    inv * window_sum(plane, h, w, oy * stride - pad, ox * stride - pad, k);
    }
}

void avgpool2d_backward(float *dx, const float *dy, int n, int c, int h, int w, int k, int stride,
                        int pad)
{
    int oh = pool_out(h, k, stride, pad), ow = pool_out(w, k, stride, pad);
    float inv = 1.0f / ((float)k * (float)k);
    memset(dx, 0, sizeof(float) * (size_t)n * c * h * w);
    for (long p = 0; p < (long)n * c; p++) {
        const float *dyp = dy + (size_t)p * oh * ow;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                window_spread(dx + (size_t)p * h * w, h, w, oy * stride - pad, ox * stride - pad, k,
                              inv * dyp[oy * ow + ox]);
    }
}

void global_avgpool_forward(float *y, const float *x, int n, int c, int h, int w)
{
    size_t hw = (size_t)h * w;
    for (long p = 0; p < (long)n * c; p++) {
        double sum = 0.0;
        for (size_t i = 0; i < hw; i++)
            sum += x[(size_t)p * hw + i];
        y[p] = (float)(sum / (double)hw);
    }
}

void global_avgpool_backward(float *dx, const float *dy, int n, int c, int h, int w)
{
    size_t hw = (size_t)h * w;
    for (long p = 0; p < (long)n * c; p++) {
        float g = dy[p] / (float)hw;
        for (size_t i = 0; i < hw; i++)
            dx[(size_t)p * hw + i] = g;
    }
}
