/*
 * conv2d.c: CPU body of the 2-D convolution (see conv2d.h). im2col lays one image out as
 * [c*kh*kw, oh*ow] so that the forward is W [oc, c*kh*kw] x col, the weight gradient
 * dy x col^T, and the input gradient col2im(W^T x dy), or, for a stride-1 square kernel,
 * flipped-W x im2col(dy) with the weight gradient x x im2col(dy)^T (the same sums in another
 * order: deep GEMMs, no col2im, no im2col(x) in backward). A batch of images lays out side
 * by side (rows of batch * oh*ow floats) for one GEMM; y and dx are scattered back to NCHW.
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

/* Zero columns [0, lo) and [hi, ow) of every row of one block [oh, ow]. Column by column
 * (at most pad columns each side), so that no row costs a memset call for one or two floats. */
static void zero_edge_cols(float *row, const struct conv_geom *g, int lo, int hi)
{
    for (int ox = 0; ox < lo; ox++)
        for (int oy = 0; oy < g->oh; oy++)
            row[(size_t)oy * g->ow + ox] = 0.0f;
    for (int ox = hi; ox < g->ow; ox++)
        for (int oy = 0; oy < g->oh; oy++)
            row[(size_t)oy * g->ow + ox] = 0.0f;
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
        if (g->stride == 1)
            memcpy(out + lo, in + ix, sizeof *out * (size_t)(hi - lo));
        else if (g->stride == 2) /* a constant stride: the gather vectorises */
            for (int ox = lo; ox < hi; ox++)
                out[ox] = in[ix + 2 * (ox - lo)];
        else
            for (int ox = lo; ox < hi; ox++, ix += g->stride)
                out[ox] = in[ix];
    }
    zero_edge_cols(row, g, lo, hi);
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
    zero_edge_cols(row, g, lo, hi); /* the columns that wrapped around an edge */
    for (float *z = row; z < row + (size_t)ylo * g->ow; z++)
        *z = 0.0f;
    for (float *z = row + (size_t)yhi * g->ow; z < row + (size_t)g->oh * g->ow; z++)
        *z = 0.0f;
}

/* col [c*kh*kw, oh*ow] (rows ld floats apart, ld >= oh*ow: several images side by side)
 * from one image x [c, h, w]: block (ci, ki, kj) holds tap (ki, kj) of input plane ci at
 * every output position; padding reads as zero. */
static void im2col(float *col, size_t ld, const float *x, const struct conv_geom *g)
{
    bool shifted = g->stride == 1 && g->ow == g->w;
    for (int ci = 0; ci < g->c; ci++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                float *row = col + (((size_t)ci * g->kh + ki) * g->kw + kj) * ld;
                const float *plane = x + (size_t)ci * g->h * g->w;
                if (shifted)
                    im2col_shifted(row, plane, g, ki, kj);
                else
                    im2col_rows(row, plane, g, ki, kj);
            }
}

/* dx [c, h, w] = sum of the col entries (rows ld floats apart) that read each input element
 * (dx written). */
static void col2im(float *dx, const float *col, size_t ld, const struct conv_geom *g)
{
    memset(dx, 0, sizeof(float) * (size_t)g->c * g->h * g->w);
    for (int ci = 0; ci < g->c; ci++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                const float *row = col + (((size_t)ci * g->kh + ki) * g->kw + kj) * ld;
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
                    if (g->stride == 2) { /* a constant stride: vectorises, as in im2col */
                        for (int ox = lo; ox < hi; ox++)
                            out[ix + 2 * (ox - lo)] += in[ox];
                        continue;
                    }
                    for (int ox = lo; ox < hi; ox++, ix += g->stride)
                        out[ix] += in[ox];
                }
            }
}

/* Images side by side: dst [rows, ld] columns [0, len) of each row = src [rows, len]
 * (gather), or the reverse (scatter). */
static void gather(float *dst, size_t ld, const float *src, int rows, size_t len)
{
    for (int r = 0; r < rows; r++)
        memcpy(dst + (size_t)r * ld, src + (size_t)r * len, len * sizeof *dst);
}

static void scatter(float *dst, const float *src, size_t ld, int rows, size_t len)
{
    for (int r = 0; r < rows; r++)
        memcpy(dst + (size_t)r * len, src + (size_t)r * ld, len * sizeof *dst);
}

/* One call's arguments, shared by the ranges of images. */
struct conv_job {
    struct conv_geom g;
    int n, oc;
    float *y, *dx, *dweight, *dbias, *ws;
    const float *x, *weight, *bias, *dy;
    size_t col; /* floats of one image's im2col matrix */
    /* batch: images per GEMM (small planes: one GEMM of batch * oh*ow columns instead of
     * batch narrow ones); their matrices side by side, rows batch * oh*ow floats apart */
    int batch;
    bool parallel;
    /* flip: the input gradient as a convolution of dy (stride 1, square kernel): with tg the
     * geometry of dy [oc, oh, ow] padded by k - 1 - pad, dx_i = wt x im2col(dy_i), where
     * wt [c, oc*k*k] is the weight flipped in space with oc and c swapped; and the weight
     * gradient from the same matrix, dwt += x_i [c, h*w] x im2col(dy_i)^T (dwt [c, oc*k*k]
     * is dweight flipped the same way), so x is never laid out by im2col in backward */
    bool flip;
    struct conv_geom tg;
    size_t dcol; /* floats of dy's im2col matrix, [oc*k*k, h*w] */
};

/* Whether the ranges work in buffers of the pool (and, in backward, keep their weight and
 * bias gradients in parts of them, added to dweight and dbias after the loop). Otherwise
 * the one range works in the caller's ws, one image's im2col matrix. */
static bool pooled(const struct conv_job *j)
{
    return j->parallel || j->flip || j->batch > 1;
}

/* Floats of the batch's matrix: im2col(x), or with flip im2col(dy). */
static size_t matrix_floats(const struct conv_job *j)
{
    return (j->flip ? j->dcol : j->col) * (size_t)j->batch;
}

/* Columns of one image's matrix: its outputs, or with flip those of tg (h*w). */
static size_t image_cols(const struct conv_job *j)
{
    return j->flip ? (size_t)j->g.h * j->g.w : (size_t)j->g.oh * j->g.ow;
}

static size_t batch_cols(const struct conv_job *j)
{
    return image_cols(j) * (size_t)j->batch;
}

/* The loops run over batches: batch k is images [k * batch, (k + 1) * batch), the last one
 * shorter, whatever the threads (so y and dx do not depend on T). */
static long batches(const struct conv_job *j)
{
    return (j->n + j->batch - 1) / j->batch;
}

static int batch_size(const struct conv_job *j, long k)
{
    long left = j->n - k * j->batch;
    return (int)(left < j->batch ? left : j->batch);
}

/* Range t's buffer: from the pool when pooled, else ws. Forward: [matrix][y of the batch
 * oc * cols]. Backward: [matrix][dweight part oc*ckk][dbias part oc][flip: wt oc*ckk][buf
 * of the batch: flip c * cols (x, then dx), else oc * cols (dy)]; the dweight part is dwt
 * with flip. */
static float *range_buf(const struct conv_job *j, int t, size_t floats)
{
    return pooled(j) ? cd_par_scratch(t, floats * sizeof(float)) : j->ws;
}

static size_t forward_floats(const struct conv_job *j)
{
    return matrix_floats(j) + (j->batch > 1 ? (size_t)j->oc * batch_cols(j) : 0);
}

/* y_i..y_i+nb = bias + W x im2col(x_i..): into y_i itself for one image (bias first, then
 * beta = 1: one pass over y_i fewer than OpenBLAS zeroing it and a bias pass after), else
 * into yb [oc, nb * ohw] and scattered. */
static void forward_batch(const struct conv_job *j, long i, int nb, float *col, float *yb)
{
    int ohw = j->g.oh * j->g.ow, ckk = j->g.c * j->g.kh * j->g.kw, oc = j->oc;
    size_t ld = (size_t)nb * ohw, chw = (size_t)j->g.c * j->g.h * j->g.w;
    float *out = nb == 1 ? j->y + (size_t)i * oc * ohw : yb;
    for (int b = 0; b < nb; b++)
        im2col(col + (size_t)b * ohw, ld, j->x + (size_t)(i + b) * chw, &j->g);
    for (int o = 0; j->bias != NULL && o < oc; o++)
        for (size_t p = 0; p < ld; p++)
            out[(size_t)o * ld + p] = j->bias[o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, oc, (int)ld, ckk, 1.0f, j->weight, ckk,
                col, (int)ld, j->bias != NULL ? 1.0f : 0.0f, out, (int)ld);
    for (int b = 0; nb > 1 && b < nb; b++)
        scatter(j->y + (size_t)(i + b) * oc * ohw, yb + (size_t)b * ohw, ld, oc, (size_t)ohw);
}

static void forward_images(void *arg, long lo, long hi, int t)
{
    const struct conv_job *j = arg;
    float *col = range_buf(j, t, forward_floats(j));
    for (long k = lo; k < hi; k++)
        forward_batch(j, k * j->batch, batch_size(j, k), col, col + matrix_floats(j));
}

/* Floats of a range's buffer in backward (see range_buf). */
static size_t backward_floats(const struct conv_job *j)
{
    size_t nw = (size_t)j->g.c * j->g.kh * j->g.kw * j->oc;
    size_t buf = j->batch > 1 ? (size_t)(j->flip ? j->g.c : j->oc) * batch_cols(j) : 0;
    return matrix_floats(j) + nw + (size_t)j->oc + (j->flip ? nw : 0) + buf;
}

/* dst [nx, ny, kk] (=, or += with add) src [ny, nx, kk] with the two outer axes swapped and
 * the kk taps reversed: with ny = oc, nx = c, wt from the weight, wt[ci][(o * kh + ki) * kw
 * + kj] = weight[o][ci][kh-1-ki][kw-1-kj]; with ny = c, nx = oc, dwt back into dweight. */
static void swap_flip(float *dst, const float *src, int ny, int nx, int kk, bool add)
{
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            const float *sp = src + ((size_t)y * nx + x) * kk;
            float *dp = dst + ((size_t)x * ny + y) * kk;
            for (int k = 0; k < kk; k++)
                dp[k] = (add ? dp[k] : 0.0f) + sp[kk - 1 - k];
        }
}

/* A batch's buffers in backward (see range_buf). */
struct bwd_bufs {
    float *mat, *dw, *db, *wt, *buf;
};

/* Images i..i+nb with flip: dcol = im2col(dy_i..) side by side; dwt += x x dcol^T (x_i
 * itself, or the batch's x gathered into buf: depth nb*h*w); dx = wt x dcol (depth
 * oc*k*k, no col2im; written into dx_i, or into buf and scattered). */
static void batch_flip(const struct conv_job *j, long i, int nb, const struct bwd_bufs *u)
{
    int hw = j->g.h * j->g.w, okk = j->oc * j->g.kh * j->g.kw, c = j->g.c;
    size_t ld = (size_t)nb * hw, chw = (size_t)c * hw;
    for (int b = 0; b < nb; b++)
        im2col(u->mat + (size_t)b * hw, ld, j->dy + (size_t)(i + b) * j->oc * j->g.oh * j->g.ow,
               &j->tg);
    const float *xb = j->x + (size_t)i * chw;
    for (int b = 0; nb > 1 && b < nb; b++)
        gather(u->buf + (size_t)b * hw, ld, j->x + (size_t)(i + b) * chw, c, (size_t)hw);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c, okk, (int)ld, 1.0f,
                nb > 1 ? u->buf : xb, (int)ld, u->mat, (int)ld, 1.0f, u->dw, okk);
    float *out = nb > 1 ? u->buf : j->dx + (size_t)i * chw;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, (int)ld, okk, 1.0f, u->wt, okk,
                u->mat, (int)ld, 0.0f, out, (int)ld);
    for (int b = 0; nb > 1 && b < nb; b++)
        scatter(j->dx + (size_t)(i + b) * chw, u->buf + (size_t)b * hw, ld, c, (size_t)hw);
}

/* Images i..i+nb without flip: col = im2col(x_i..); dw += dy x col^T (dy_i itself, or the
 * batch's dy gathered into buf); dx_i.. = col2im(W^T x dy) through col. */
static void batch_col(const struct conv_job *j, long i, int nb, const struct bwd_bufs *u)
{
    int ohw = j->g.oh * j->g.ow, ckk = j->g.c * j->g.kh * j->g.kw, oc = j->oc;
    size_t ld = (size_t)nb * ohw, chw = (size_t)j->g.c * j->g.h * j->g.w;
    for (int b = 0; b < nb; b++)
        im2col(u->mat + (size_t)b * ohw, ld, j->x + (size_t)(i + b) * chw, &j->g);
    const float *dyb = j->dy + (size_t)i * oc * ohw;
    for (int b = 0; nb > 1 && b < nb; b++)
        gather(u->buf + (size_t)b * ohw, ld, j->dy + (size_t)(i + b) * oc * ohw, oc, (size_t)ohw);
    if (nb > 1)
        dyb = u->buf;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, oc, ckk, (int)ld, 1.0f, dyb, (int)ld,
                u->mat, (int)ld, 1.0f, u->dw, ckk);
    if (j->dx == NULL)
        return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, (int)ld, oc, 1.0f, j->weight, ckk,
                dyb, (int)ld, 0.0f, u->mat, (int)ld);
    for (int b = 0; b < nb; b++)
        col2im(j->dx + (size_t)(i + b) * chw, u->mat + (size_t)b * ohw, ld, &j->g);
}

static void backward_images(void *arg, long lo, long hi, int t)
{
    const struct conv_job *j = arg;
    int ohw = j->g.oh * j->g.ow, oc = j->oc;
    size_t nw = (size_t)oc * j->g.c * j->g.kh * j->g.kw;
    struct bwd_bufs u = {.mat = range_buf(j, t, backward_floats(j))};
    u.dw = pooled(j) ? u.mat + matrix_floats(j) : j->dweight;
    u.db = pooled(j) ? u.dw + nw : j->dbias;
    u.wt = u.dw + nw + oc;
    u.buf = u.wt + (j->flip ? nw : 0);
    if (j->flip)
        swap_flip(u.wt, j->weight, oc, j->g.c, j->g.kh * j->g.kw, false);
    for (long k = lo; k < hi; k++) {
        long i = k * j->batch;
        int nb = batch_size(j, k);
        if (j->flip)
            batch_flip(j, i, nb, &u);
        else
            batch_col(j, i, nb, &u);
        for (int b = 0; j->dbias != NULL && b < nb; b++)
            bias_sums(u.db, j->dy + (size_t)(i + b) * oc * ohw, oc, ohw);
    }
}

/* Every range's buffer of floats from the pool; false when memory is short. */
static bool reserve(int ranges, size_t floats)
{
    for (int t = 0; t < ranges; t++)
        if (cd_par_scratch(t, floats * sizeof(float)) == NULL)
            return false;
    return true;
}

/* Images per GEMM: enough for about BATCH_COLS columns (one 28x28 image; four 14x14; eight
 * 7x7), with the batch's matrix at most BATCH_FLOATS (4 MiB), so that a range's buffer
 * stays a few MiB. */
#define BATCH_COLS 784
#define BATCH_MAX 8
#define BATCH_FLOATS ((size_t)1 << 20)
static int plan_batch(const struct conv_job *j)
{
    size_t cols = image_cols(j), matrix = j->flip ? j->dcol : j->col;
    int b = cols > 0 ? (int)(BATCH_COLS / cols) : 1;
    b = b > BATCH_MAX ? BATCH_MAX : b < 1 ? 1 : b;
    while (b > 1 && matrix * (size_t)b > BATCH_FLOATS)
        b--;
    return b;
}

/* Parallel when there are threads (and images for them); pooled buffers when parallel,
 * batched or flipped; back to one image per GEMM on ws when the pool cannot grow. */
static void plan_buffers(struct conv_job *j, bool backward)
{
    int threads = cd_par_threads();
    j->parallel = threads >= 2 && batches(j) >= 2;
    for (;;) {
        size_t floats = backward ? backward_floats(j) : forward_floats(j);
        if (!pooled(j) || reserve(j->parallel ? threads : 1, floats))
            return;
        if (j->batch > 1)
            j->batch = 1;
        else if (j->flip)
            j->flip = false; /* the col2im path */
        else
            j->parallel = false;
    }
}

static struct conv_job job(int n, int c, int h, int w, int oc, int kh, int kw, int stride, int pad,
                           float *ws)
{
    struct conv_job j = {.g = geom(c, h, w, kh, kw, stride, pad), .n = n, .oc = oc, .ws = ws};
    j.col = conv2d_workspace_size(c, h, w, kh, kw, stride, pad);
    j.batch = 1;
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
    j.batch = plan_batch(&j);
    plan_buffers(&j, false);
    cd_par_for(batches(&j), 1, forward_images, &j);
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

/* The ranges' parts (see pooled): zero them before the loop. */
static void zero_parts(const struct conv_job *j)
{
    size_t parts = (size_t)j->oc * j->g.c * j->g.kh * j->g.kw + (size_t)j->oc;
    for (int t = 0; t < (j->parallel ? cd_par_threads() : 1); t++)
        memset((float *)cd_par_scratch(t, 0) + matrix_floats(j), 0, parts * sizeof(float));
}

/* dweight and dbias += the ranges' parts, in range order (deterministic for a fixed T). */
static void add_parts(const struct conv_job *j)
{
    const struct conv_geom *g = &j->g;
    size_t nw = (size_t)j->oc * g->c * g->kh * g->kw;
    for (int t = 0; t < (j->parallel ? cd_par_threads() : 1); t++) {
        const float *dw = (const float *)cd_par_scratch(t, 0) + matrix_floats(j);
        if (j->flip)
            swap_flip(j->dweight, dw, g->c, j->oc, g->kh * g->kw, true);
        else
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
    j.batch = plan_batch(&j);
    plan_buffers(&j, true);
    if (pooled(&j))
        zero_parts(&j);
    cd_par_for(batches(&j), 1, backward_images, &j);
    if (pooled(&j))
        add_parts(&j);
}
