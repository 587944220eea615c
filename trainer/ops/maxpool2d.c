/*
 * maxpool2d.c: CPU body of 2-D max pooling (see maxpool2d.h).
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "par.h"

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

/* One call's arguments; planes (sample, channel) are split across the threads. */
struct pool_job {
    float *y, *dx;
    int32_t *argmax;
    const float *x, *dy;
    const int32_t *arg_in;
    int h, w, k, stride, pad, oh, ow;
};

/* 2x2 windows, stride 2, no padding, every window inside the plane: no bounds checks. The
 * first maximum in row-major window order wins, as in window_max. */
static void plane_max_2x2(const struct pool_job *j, const float *plane, float *yp, int32_t *ap)
{
    for (int oy = 0; oy < j->oh; oy++)
        for (int ox = 0; ox < j->ow; ox++) {
            int at = 2 * oy * j->w + 2 * ox, cand[3] = {at + 1, at + j->w, at + j->w + 1};
            float best = plane[at];
            for (int q = 0; q < 3; q++)
                if (plane[cand[q]] > best) {
                    best = plane[cand[q]];
                    at = cand[q];
                }
            yp[oy * j->ow + ox] = best;
            ap[oy * j->ow + ox] = at;
        }
}

static void forward_planes(void *arg, long lo, long hi, int t)
{
    const struct pool_job *j = arg;
    bool fast = j->k == 2 && j->stride == 2 && j->pad == 0;
    for (long p = lo; p < hi; p++) {
        const float *plane = j->x + (size_t)p * j->h * j->w;
        float *yp = j->y + (size_t)p * j->oh * j->ow;
        int32_t *ap = j->argmax + (size_t)p * j->oh * j->ow;
        if (fast) {
            plane_max_2x2(j, plane, yp, ap);
            continue;
        }
        for (int oy = 0; oy < j->oh; oy++)
            for (int ox = 0; ox < j->ow; ox++)
                yp[oy * j->ow + ox] =
                    window_max(plane, j->h, j->w, oy * j->stride - j->pad, ox * j->stride - j->pad,
                               j->k, &ap[oy * j->ow + ox]);
    }
}

static struct pool_job job(int h, int w, int k, int stride, int pad)
{
    struct pool_job j = {.h = h, .w = w, .k = k, .stride = stride, .pad = pad};
    j.oh = pool_out(h, k, stride, pad);
    j.ow = pool_out(w, k, stride, pad);
    return j;
}

/* Planes per range: about 16k input elements. */
static long grain(int h, int w)
{
    long hw = (long)h * w;
    return hw >= 16384 ? 1 : 16384 / (hw ? hw : 1);
}

void maxpool2d_forward(float *y, int32_t *argmax, const float *x, int n, int c, int h, int w, int k,
                       int stride, int pad)
{
    struct pool_job j = job(h, w, k, stride, pad);
    j.y = y;
    j.argmax = argmax;
    j.x = x;
    cd_par_for((long)n * c, grain(h, w), forward_planes, &j);
}

static void backward_planes(void *arg, long lo, long hi, int t)
{
    const struct pool_job *j = arg;
    size_t hw = (size_t)j->h * j->w, ohw = (size_t)j->oh * j->ow;
    for (long p = lo; p < hi; p++) {
        float *dplane = j->dx + (size_t)p * hw;
        memset(dplane, 0, sizeof(float) * hw);
        for (size_t o = 0; o < ohw; o++) {
            int32_t at = j->arg_in[(size_t)p * ohw + o];
            if (at >= 0)
                dplane[at] += j->dy[(size_t)p * ohw + o];
        }
    }
}

void maxpool2d_backward(float *dx, const float *dy, const int32_t *argmax, int n, int c, int h,
                        int w, int k, int stride, int pad)
{
    struct pool_job j = job(h, w, k, stride, pad);
    j.dx = dx;
    j.dy = dy;
    j.arg_in = argmax;
    cd_par_for((long)n * c, grain(h, w), backward_planes, &j);
}
