/*
 * conv2d.c: CPU body of the 2-D convolution (see conv2d.h). im2col lays one image out as
 * [c*kh*kw, oh*ow] so that the forward is W [oc, c*kh*kw] x col, the weight gradient
 * dy x col^T, and the input gradient col2im(W^T x dy), or, for a stride-1 square kernel,
 * flipped-W x im2col(dy) (the same sums in another order: one deep GEMM, no col2im).
 * Padding reads as zero.
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

/* dst[0..len) += src[0..len) (vectorised: the stride-1 runs of col2im). */
static void add_run(float *restrict dst, const float *restrict src, int len)
{
    for (int k = 0; k < len; k++)
        dst[k] += src[k];
}

/* db[o] += sum of dy[o * ohw .. + ohw) for o < oc, each in LANES float partial sums (so the
 * loop vectorises) added in order. */
#define LANES 8
static void bias_sums(float *db, const float *dy, int oc, int ohw)
{
    for (int o = 0; o < oc; o++) {
        const float *run = dy + (size_t)o * ohw;
        float s[LANES] = {0};
        int p = 0;
        for (; p + LANES <= ohw; p += LANES)
            for (int l = 0; l < LANES; l++)
                s[l] += run[p + l];
        for (; p < ohw; p++)
            s[0] += run[p];
        float total = 0.0f;
        for (int l = 0; l < LANES; l++)
            total += s[l];
        db[o] += total;
    }
}

/* One block [oh, ow] of col, tap (ki, kj) of one input plane [h, w]: each output row is a
 * (strided) copy of an input row between zeroed edges. */
static void im2col_rows(float *row, const float *plane, const struct conv_geom *g, int ki, int kj)
{
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
        else if (g->stride == 2) /* a constant stride: the gather vectorises */
            for (int ox = lo; ox < hi; ox++)
                out[ox] = in[ix + 2 * (ox - lo)];
        else
            for (int ox = lo; ox < hi; ox++, ix += g->stride)
                out[ox] = in[ix];
        for (int ox = hi; ox < g->ow; ox++)
            out[ox] = 0.0f;
    }
}

/* The same block when stride is 1 and ow == w ("same" width): the rows oy whose input row
 * exists are, flattened, one run of the plane shifted by (ki - pad) rows and (kj - pad)
 * columns: one copy (clipped to the plane), then the columns that wrapped around an edge
 * and the rows outside the plane are zeroed. */
static void im2col_shifted(float *row, const float *plane, const struct conv_geom *g, int ki,
                           int kj)
{
    int lo, hi, ylo = g->pad - ki, yhi = g->h + g->pad - ki;
    valid_cols(g, kj, &lo, &hi);
    ylo = ylo < 0 ? 0 : ylo;
    yhi = yhi > g->oh ? g->oh : yhi;
    if (ylo >= yhi) {
        memset(row, 0, sizeof *row * (size_t)g->oh * g->ow);
        return;
    }
    long s0 = (long)(ylo + ki - g->pad) * g->w + (kj - g->pad), len = (long)(yhi - ylo) * g->ow;
    long first = s0 < 0 ? -s0 : 0, plane_len = (long)g->h * g->w;
    long last = s0 + len > plane_len ? plane_len - s0 : len;
    float *out = row + (size_t)ylo * g->ow;
    if (last > first) /* empty when no column is valid (pad >= w) */
        memcpy(out + first, plane + s0 + first, sizeof *out * (size_t)(last - first));
    for (int oy = ylo; oy < yhi; oy++, out += g->ow) {
        for (int ox = 0; ox < lo; ox++)
            out[ox] = 0.0f;
        for (int ox = hi; ox < g->ow; ox++)
            out[ox] = 0.0f;
    }
    for (float *z = row; z < row + (size_t)ylo * g->ow; z++)
        *z = 0.0f;
    for (float *z = row + (size_t)yhi * g->ow; z < row + (size_t)g->oh * g->ow; z++)
        *z = 0.0f;
}

/* col [c*kh*kw, oh*ow] from one image x [c, h, w]: block (ci, ki, kj) holds tap (ki, kj) of
 * input plane ci at every output position; padding reads as zero. */
static void im2col(float *col, const float *x, const struct conv_geom *g)
{
    size_t ohw = (size_t)g->oh * g->ow;
    bool shifted = g->stride == 1 && g->ow == g->w;
    for (int ci = 0; ci < g->c; ci++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                float *row = col + (((size_t)ci * g->kh + ki) * g->kw + kj) * ohw;
                const float *plane = x + (size_t)ci * g->h * g->w;
                if (shifted)
                    im2col_shifted(row, plane, g, ki, kj);
                else
                    im2col_rows(row, plane, g, ki, kj);
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
                    if (g->stride == 1) {
                        add_run(out + ix, in + lo, hi - lo);
                        continue;
                    }
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
    /* flip: the input gradient as a convolution of dy (stride 1, square kernel): with tg the
     * geometry of dy [oc, oh, ow] padded by k - 1 - pad, dx_i = wt x im2col(dy_i), where
     * wt [c, oc*k*k] is the weight flipped in space with oc and c swapped */
    bool flip;
    struct conv_geom tg;
    size_t dcol; /* floats of dy's im2col matrix, [oc*k*k, h*w] */
};

/* Range t's buffers: [col][dweight part oc*ckk][dbias part oc][flip: dy's col][flip: wt]
 * from the pool, or the caller's ws (serial path without flip: the gradients go straight to
 * dweight and dbias, as they also do serially with flip). */
static float *range_buf(const struct conv_job *j, int t, size_t floats)
{
    return j->parallel || j->flip ? cd_par_scratch(t, floats * sizeof(float)) : j->ws;
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

/* Sizes of range t's parts: the im2col matrix, (parallel only) dweight and dbias, then
 * (flip only) dy's im2col matrix and wt. */
static size_t backward_floats(const struct conv_job *j)
{
    size_t ckk = (size_t)j->g.c * j->g.kh * j->g.kw;
    size_t flip = j->flip ? j->dcol + (size_t)j->oc * ckk : 0;
    return j->col + (size_t)j->oc * ckk + (size_t)j->oc + flip;
}

/* wt [c, oc*kh*kw]: wt[ci][(o * kh + ki) * kw + kj] = weight[o][ci][kh-1-ki][kw-1-kj]. */
static void flip_weight(float *wt, const float *weight, int c, int oc, int kh, int kw)
{
    for (int o = 0; o < oc; o++)
        for (int ci = 0; ci < c; ci++) {
            const float *src = weight + ((size_t)o * c + ci) * kh * kw;
            float *dst = wt + ((size_t)ci * oc + o) * kh * kw;
            for (int k = 0; k < kh * kw; k++)
                dst[k] = src[kh * kw - 1 - k];
        }
}

/* dx_i [c, h*w] = wt x im2col(dy_i): one GEMM with K = oc*k*k, written, no col2im. */
static void input_grad_flip(float *dxi, const float *dyi, float *dcol, const float *wt,
                            const struct conv_job *j)
{
    int hw = j->g.h * j->g.w, okk = j->oc * j->g.kh * j->g.kw;
    im2col(dcol, dyi, &j->tg);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->g.c, hw, okk, 1.0f, wt, okk, dcol, hw,
                0.0f, dxi, hw);
}

/* dx_i = col2im(weight^T x dy_i), col the range's im2col matrix. */
static void input_grad_col(float *dxi, const float *dyi, float *col, const struct conv_job *j)
{
    int ohw = j->g.oh * j->g.ow, ckk = j->g.c * j->g.kh * j->g.kw;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, ohw, j->oc, 1.0f, j->weight, ckk, dyi,
                ohw, 0.0f, col, ohw);
    col2im(dxi, col, &j->g);
}

static void backward_images(void *arg, long lo, long hi, int t)
{
    const struct conv_job *j = arg;
    int ohw = j->g.oh * j->g.ow, ckk = j->g.c * j->g.kh * j->g.kw, oc = j->oc;
    size_t chw = (size_t)j->g.c * j->g.h * j->g.w;
    float *col = range_buf(j, t, backward_floats(j));
    float *dw = j->parallel ? col + j->col : j->dweight;
    float *db = j->parallel ? dw + (size_t)oc * ckk : j->dbias;
    float *dcol = col + j->col + (size_t)oc * ckk + oc, *wt = dcol + j->dcol;
    if (j->flip)
        flip_weight(wt, j->weight, j->g.c, oc, j->g.kh, j->g.kw);
    for (long i = lo; i < hi; i++) {
        const float *dyi = j->dy + (size_t)i * oc * ohw;
        im2col(col, j->x + (size_t)i * chw, &j->g);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, oc, ckk, ohw, 1.0f, dyi, ohw, col, ohw,
                    1.0f, dw, ckk);
        if (j->dbias != NULL)
            bias_sums(db, dyi, oc, ohw);
        if (j->dx == NULL)
            continue;
        if (j->flip)
            input_grad_flip(j->dx + (size_t)i * chw, dyi, dcol, wt, j);
        else
            input_grad_col(j->dx + (size_t)i * chw, dyi, col, j);
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

/* Use the flip path when there is an input gradient, the stride is 1 and the kernel square,
 * larger than 1x1 (a 1x1 gains nothing) with pad <= k - 1. */
static void plan_flip(struct conv_job *j)
{
    const struct conv_geom *g = &j->g;
    j->flip = j->dx != NULL && g->stride == 1 && g->kh == g->kw && g->kh > 1 && g->pad < g->kh;
    if (!j->flip)
        return;
    j->tg = geom(j->oc, g->oh, g->ow, g->kh, g->kw, 1, g->kh - 1 - g->pad);
    j->dcol = conv2d_workspace_size(j->oc, g->oh, g->ow, g->kh, g->kw, 1, g->kh - 1 - g->pad);
    j->flip = j->tg.oh == g->h && j->tg.ow == g->w;
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
    plan_flip(&j);
    size_t floats = backward_floats(&j);
    j.parallel = reserve_ranges(&j, floats);
    if (j.flip && !j.parallel && cd_par_scratch(0, floats * sizeof(float)) == NULL) {
        j.flip = false; /* memory is short: the col2im path needs only ws */
        floats = backward_floats(&j);
        j.parallel = reserve_ranges(&j, floats);
    }
    size_t parts = (size_t)oc * c * kh * kw + (size_t)oc; /* dweight and dbias parts */
    for (int t = 0; j.parallel && t < cd_par_threads(); t++)
        memset((float *)cd_par_scratch(t, 0) + j.col, 0, parts * sizeof(float));
    cd_par_for(n, 1, backward_images, &j);
    if (j.parallel)
        add_parts(&j);
}
