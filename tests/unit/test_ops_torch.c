/*
 * test_ops_torch.c: conv2d, maxpool2d, batchnorm (2d/1d, train and eval) and softmax
 * cross-entropy checked against PyTorch 1.13, forward and backward.
 *
 * The fixtures tests/unit/data/ops/<case>.bin are committed; tests/unit/ops_oracle.py
 * regenerates them (/usr/bin/python3 with Debian's torch). Each file is a sequence of
 * [int32 count][count float32] tensors. Agreement: |got - want| <= 1e-4 * max(|want|, m)
 * with m the largest |want| of that tensor (relative to the tensor's scale, so that entries
 * near zero after cancellation do not demand more than float gives).
 */
#include <math.h>

#include "unit.h"

#include "par.h"

#include "batchnorm.h"
#include "conv2d.h"
#include "maxpool2d.h"
#include "softmax_xent.h"

#define TMAX 16

struct fixture {
    float *t[TMAX];
    size_t n[TMAX];
    int count;
};

/* Load every tensor of tests/unit/data/ops/<name>.bin; 0 on success. */
static int fixture_load(struct fixture *f, const char *name)
{
    char path[256];
    size_t len, off = 0;
    snprintf(path, sizeof path, "tests/unit/data/ops/%s.bin", name);
    uint8_t *buf = unit_read_file(path, &len);
    memset(f, 0, sizeof *f);
    if (buf == NULL)
        return -1;
    while (off + 4 <= len && f->count < TMAX) {
        int32_t n;
        memcpy(&n, buf + off, 4);
        off += 4;
        if (n < 0 || off + (size_t)n * 4 > len)
            break;
        f->t[f->count] = malloc((size_t)n * 4 + 4);
        memcpy(f->t[f->count], buf + off, (size_t)n * 4);
        f->n[f->count++] = (size_t)n;
        off += (size_t)n * 4;
    }
    free(buf);
    CHECK(off == len);
    return off == len ? 0 : -1;
}

static void fixture_free(struct fixture *f)
{
    for (int i = 0; i < f->count; i++) {
        free(f->t[i]);
        f->t[i] = NULL;
    }
}

/* got [n] against tensor i of the fixture. */
static void check_close(const char *what, const float *got, const struct fixture *f, int i,
                        size_t n)
{
    const float *want = f->t[i];
    float m = 0.0f;
    int bad = 0;
    CHECK_EQ_INT(f->n[i], n);
    if (f->n[i] != n)
        return;
    for (size_t k = 0; k < n; k++)
        m = fmaxf(m, fabsf(want[k]));
    for (size_t k = 0; k < n; k++)
        if (!(fabsf(got[k] - want[k]) <= 1e-4f * fmaxf(fabsf(want[k]), m))) {
            if (bad++ < 3)
                fprintf(stderr, "%s[%zu]: got %.7g, torch %.7g\n", what, k, got[k], want[k]);
        }
    CHECK(bad == 0);
}

static void conv_case(const char *name, int kh, int kw, int stride, int pad)
{
    struct fixture f; /* x w b dy | y dx dw db */
    if (fixture_load(&f, name) != 0 || f.count != 8) {
        CHECK(0);
        fixture_free(&f);
        return;
    }
    float *ws = malloc(sizeof(float) * conv2d_workspace_size(3, 5, 5, kh, kw, stride, pad));
    float *y = malloc(sizeof(float) * f.n[3]), *dx = malloc(sizeof(float) * f.n[0]);
    float *dw = calloc(f.n[1], sizeof(float)), *db = calloc(4, sizeof(float));
    conv2d_forward(y, f.t[0], f.t[1], f.t[2], ws, 2, 3, 5, 5, 4, kh, kw, stride, pad);
    conv2d_backward(dx, dw, db, f.t[3], f.t[0], f.t[1], ws, 2, 3, 5, 5, 4, kh, kw, stride, pad);
    check_close("conv2d y", y, &f, 4, f.n[3]);
    check_close("conv2d dx", dx, &f, 5, f.n[0]);
    check_close("conv2d dw", dw, &f, 6, f.n[1]);
    check_close("conv2d db", db, &f, 7, 4);
    free(db);
    free(dw);
    free(dx);
    free(y);
    free(ws);
    fixture_free(&f);
}

static void test_conv2d_torch(void)
{
    conv_case("conv_k3s1p0", 3, 3, 1, 0);
    conv_case("conv_k3x2s2p1", 3, 2, 2, 1);
    conv_case("conv_k3s1p1", 3, 3, 1, 1); /* the input gradient as a flipped convolution */
}

static void maxpool_case(const char *name, int k, int stride, int pad)
{
    struct fixture f; /* x dy | y dx */
    if (fixture_load(&f, name) != 0 || f.count != 4) {
        CHECK(0);
        fixture_free(&f);
        return;
    }
    float *y = malloc(sizeof(float) * f.n[1]), *dx = malloc(sizeof(float) * f.n[0]);
    int32_t *arg = malloc(sizeof(int32_t) * f.n[1]);
    maxpool2d_forward(y, arg, f.t[0], 2, 3, 5, 5, k, stride, pad);
    maxpool2d_backward(dx, f.t[1], arg, 2, 3, 5, 5, k, stride, pad);
    check_close("maxpool y", y, &f, 2, f.n[1]);
    check_close("maxpool dx", dx, &f, 3, f.n[0]);
    free(arg);
    free(dx);
    free(y);
    fixture_free(&f);
}

static void test_maxpool_torch(void)
{
    maxpool_case("maxpool_k2s2p0", 2, 2, 0);
    maxpool_case("maxpool_k3s2p1", 3, 2, 1);
}

/* x g b rm rv dy | y dx dg db rm' rv'; h = w = 1 for the 1d cases (same bodies). */
static void bn_case(const char *name, int n, int c, int hw, int train)
{
    struct fixture f;
    if (fixture_load(&f, name) != 0 || f.count != 12) {
        CHECK(0);
        fixture_free(&f);
        return;
    }
    size_t nx = f.n[0];
    float *y = malloc(sizeof(float) * nx), *dx = malloc(sizeof(float) * nx);
    float dg[8] = {0}, db[8] = {0}, mean[8], invstd[8], *rm = f.t[3], *rv = f.t[4];
    if (train && hw == 1) {
        batchnorm1d_forward_train(y, mean, invstd, rm, rv, f.t[0], f.t[1], f.t[2], n, c, 0.1f,
                                  1e-5f);
        batchnorm1d_backward_train(dx, dg, db, f.t[5], f.t[0], mean, invstd, f.t[1], n, c);
    } else if (train) {
        batchnorm2d_forward_train(y, mean, invstd, rm, rv, f.t[0], f.t[1], f.t[2], n, c, hw, hw,
                                  0.1f, 1e-5f);
        batchnorm2d_backward_train(dx, dg, db, f.t[5], f.t[0], mean, invstd, f.t[1], n, c, hw, hw);
    } else if (hw == 1) {
        batchnorm1d_forward_eval(y, f.t[0], f.t[1], f.t[2], rm, rv, n, c, 1e-5f);
        batchnorm1d_backward_eval(dx, dg, db, f.t[5], f.t[0], f.t[1], rm, rv, n, c, 1e-5f);
    } else {
        batchnorm2d_forward_eval(y, f.t[0], f.t[1], f.t[2], rm, rv, n, c, hw, hw, 1e-5f);
        batchnorm2d_backward_eval(dx, dg, db, f.t[5], f.t[0], f.t[1], rm, rv, n, c, hw, hw, 1e-5f);
    }
    check_close("batchnorm y", y, &f, 6, nx);
    check_close("batchnorm dx", dx, &f, 7, nx);
    check_close("batchnorm dgamma", dg, &f, 8, (size_t)c);
    check_close("batchnorm dbeta", db, &f, 9, (size_t)c);
    check_close("batchnorm running_mean", rm, &f, 10, (size_t)c);
    check_close("batchnorm running_var", rv, &f, 11, (size_t)c);
    free(dx);
    free(y);
    fixture_free(&f);
}

static void test_batchnorm_torch(void)
{
    bn_case("bn2d_train", 3, 2, 5, 1);
    bn_case("bn2d_eval", 3, 2, 5, 0);
    bn_case("bn1d_train", 4, 3, 1, 1);
    bn_case("bn1d_eval", 4, 3, 1, 0);
}

static void test_softmax_xent_torch(void)
{
    struct fixture f; /* z labels | loss dz */
    if (fixture_load(&f, "xent_4x5") != 0 || f.count != 4) {
        CHECK(0);
        fixture_free(&f);
        return;
    }
    int32_t labels[4];
    float probs[20], dz[20], loss;
    for (int i = 0; i < 4; i++)
        labels[i] = (int32_t)f.t[1][i];
    loss = softmax_xent_forward(probs, f.t[0], labels, 4, 5);
    softmax_xent_backward(dz, probs, labels, 4, 5);
    check_close("softmax_xent loss", &loss, &f, 2, 1);
    check_close("softmax_xent dlogits", dz, &f, 3, 20);
    fixture_free(&f);
}

int main(void)
{
    for (int threads = 1; threads <= 2; threads++) { /* the serial and the threaded paths */
        cd_par_set_threads(threads);
        RUN(test_conv2d_torch);
        RUN(test_maxpool_torch);
        RUN(test_batchnorm_torch);
        RUN(test_softmax_xent_torch);
    }
    cd_par_shutdown();
    return UNIT_DONE();
}
