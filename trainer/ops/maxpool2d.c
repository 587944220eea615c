/*
 * maxpool2d.c: CPU body of 2-D max pooling (see maxpool2d.h).
 */
#include <math.h>
#include <string.h>

#include "maxpool2d.h"

static int pool_out(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

/* Max of the window at (oy, ox) of one plane; *at gets its index (-1: all padding). */
static float window_max(const float *plane, int h, int w, int y0, int x0, int k, int32_t *at)
{
    float best = -INFINITY;
    *at = -1;
    for (int ky = y0; ky < y0 + k; ky++)
        for (int kx = x0; kx < x0 + k; kx++) {
            if (ky < 0 || ky >= h || kx < 0 || kx >= w)
                continue;
            float v = plane[ky * w + kx];
            if (*at < 0 || v > best) {
                best = v;
                *at = ky * w + kx;
            }
        }
    return best;
}

void maxpool2d_forward(float *y, int32_t *argmax, const float *x, int n, int c, int h, int w, int k,
                       int stride, int pad)
{
    int oh = pool_out(h, k, stride, pad), ow = pool_out(w, k, stride, pad);
    for (long p = 0; p < (long)n * c; p++) {
        const float *plane = x + (size_t)p * h * w;
        float *yp = y + (size_t)p * oh * ow;
        int32_t *ap = argmax + (size_t)p * oh * ow;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                yp[oy * ow + ox] = window_max(plane, h, w, oy * stride - pad, ox * stride - pad, k,
                                              &ap[oy * ow + ox]);
    }
}

void maxpool2d_backward(float *dx, const float *dy, const int32_t *argmax, int n, int c, int h,
                        int w, int k, int stride, int pad)
{
    int ohw = pool_out(h, k, stride, pad) * pool_out(w, k, stride, pad);
    memset(dx, 0, sizeof(float) * (size_t)n * c * h * w);
    for (long p = 0; p < (long)n * c; p++) {
        float *dplane = dx + (size_t)p * h * w;
        for (int o = 0; o < ohw; o++) {
            int32_t at = argmax[(size_t)p * ohw + o];
            if (at >= 0)
                dplane[at] += dy[(size_t)p * ohw + o];
        }
    }
}
