/*
 * test_estimate.c: the cost estimate of a unit from a model file (scheduler/estimate.h): the
 * count for a dense and a convolutional model worked out by hand from the documented rule,
 * the optimizer's and batch size's share, the order of the example models of conf/models
 * (what packs the scheduler's rows), a shard's rows from its column file, and the estimates
 * file of a job (exact round trip, missing, malformed).
 */
#include <math.h>
#include <unistd.h>

#include "estimate.h"
#include "npy.h"
#include "unit.h"

static bool parse(const char *text, cd_model_spec *m)
{
    cd_err err = {0};
    cd_code rc = cd_model_parse("test.ini", text, strlen(text), m, &err);
    CHECK_CODE(rc, CD_OK, &err);
    return rc == CD_OK;
}

static bool near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fabs(b);
}

/* 784-32-10 with adam, batch 64: products (2 x 784 + 1) x 32 + (2 x 32 + 1) x 10; values
 * in + out of dense, relu, dense: 816 + 64 + 42; a row: 3 x products + 16 x 3 x values. */
static void test_dense(void)
{
    cd_model_spec m;
    if (!parse("[model]\ninput = 784\nlayers = dense:32, relu, dense:10\nclasses = 10\n"
               "[train]\noptimizer = adam\nbatch_size = 64\n",
               &m))
        return;
    double products = (2.0 * 784 + 1) * 32 + (2.0 * 32 + 1) * 10, values = 816 + 64 + 42;
    double row = 3 * products + 16 * 3 * values;
    CHECK(near(cd_estimate_row_flops(&m), row));
    double params = 784 * 32 + 32 + 32 * 10 + 10;
    CHECK_EQ_INT(m.params, (int64_t)params);
    /* 1000 rows: 16 batches of 64, each an adam update reading or writing 7 values a
     * parameter at 16 each */
    CHECK(near(cd_estimate_unit_flops(&m, 1000), 1000 * row + 16 * 16 * 7 * params));
    /* sgd touches 3 values a parameter; a larger batch, fewer updates */
    m.optimizer = CD_OPT_SGD;
    CHECK(near(cd_estimate_unit_flops(&m, 1000), 1000 * row + 16 * 16 * 3 * params));
    m.batch_size = 1000;
    CHECK(near(cd_estimate_unit_flops(&m, 1000), 1000 * row + 1 * 16 * 3 * params));
}

/* conv2d:4:3:1:1 on 1x8x8, relu, maxpool:2, flatten, dense:10: products (2 x 1 x 9 + 1) x
 * 4 x 64 + (2 x 64 + 1) x 10; values 64 + 256, 256 + 256, 256 + 64, (flatten: none),
 * 64 + 10; im2col 1 x 9 x 64. */
static void test_conv(void)
{
    cd_model_spec m;
    if (!parse("[model]\ninput = 1,8,8\nlayers = conv2d:4:3:1:1, relu, maxpool:2, flatten, "
               "dense:10\nclasses = 10\n[train]\noptimizer = sgd\nbatch_size = 10\n",
               &m))
        return;
    double products = (2.0 * 9 + 1) * 4 * 64 + (2.0 * 64 + 1) * 10;
    double values = 320 + 512 + 320 + 74, cols = 9 * 64;
    CHECK(near(cd_estimate_row_flops(&m), 3 * products + 16 * (3 * values + 6 * cols)));
}

static double unit_of(const char *path)
{
    cd_model_spec m;
    cd_err err = {0};
    CHECK_CODE(cd_model_load(path, &m, &err), CD_OK, &err);
    return err.code == CD_OK ? cd_estimate_unit_flops(&m, 1024) : 0;
}

/* The example models rank as they train (bench/RESULTS.md): the paper's MLP below the CNNs,
 * the residual network above the CNN. */
static void test_examples_order(void)
{
    double mlp = unit_of("conf/models/fashion-mlp.ini"),
           cnn = unit_of("conf/models/fashion-cnn.ini"),
           resnet = unit_of("conf/models/fashion-resnet.ini");
    fprintf(stderr, "  per 1024 rows: mlp %.3g, cnn %.3g, resnet %.3g\n", mlp, cnn, resnet);
    CHECK(mlp > 0 && mlp < cnn && cnn < resnet);
}

static void test_row_cost(void)
{
    /* per row: the products and values of a row, plus the optimizer step over the batch */
    cd_model_spec m;
    cd_err err = {0};
    CHECK_CODE(cd_model_load("conf/models/fashion-mlp.ini", &m, &err), CD_OK, &err);
    if (err.code != CD_OK)
        return;
    double batch = m.batch_size > 0 ? m.batch_size : 1;
    CHECK(near(cd_estimate_row_cost(&m) * batch,
               cd_estimate_unit_flops(&m, (uint64_t)batch))); /* one batch: one step */
    CHECK(cd_estimate_row_cost(&m) > cd_estimate_row_flops(&m));
}

static void test_estimates_file(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_estimate_%d", (int)getpid());
    double est[] = {1.0 / 3, 123456789012.75, 0, 7e-300};
    cd_err err = {0};
    CHECK_CODE(cd_estimate_write(path, est, 4, &err), CD_OK, &err);
    double *back = NULL;
    int n = 0;
    CHECK_CODE(cd_estimate_read(path, &back, &n, &err), CD_OK, &err);
    CHECK_EQ_INT(n, 4);
    CHECK(back != NULL && memcmp(back, est, sizeof est) == 0); /* exactly */
    free(back);
    FILE *f = fopen(path, "w");
    fputs("# x\nt000 5\nt002 6\n", f); /* t001 missing */
    fclose(f);
    CHECK_CODE(cd_estimate_read(path, &back, &n, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, path) != NULL && strstr(err.detail, "line 3") != NULL);
    CHECK(back == NULL && n == 0);
    f = fopen(path, "w");
    fputs("t000 -1\n", f);
    fclose(f);
    CHECK_CODE(cd_estimate_read(path, &back, &n, &err), CD_ECORRUPT, &err);
    /* a NUL byte hid the trials after it: read as 2 trials, t002 got another order on resume */
    f = fopen(path, "w");
    fwrite("t000 5\nt001 6\0\nt002 7\n", 1, 22, f);
    fclose(f);
    CHECK_CODE(cd_estimate_read(path, &back, &n, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, path) != NULL && strcmp(err.detail, "line 2 holds a NUL byte") == 0);
    CHECK(strstr(err.hint, "restore") != NULL && back == NULL && n == 0);
    unlink(path);
    CHECK_CODE(cd_estimate_read(path, &back, &n, &err), CD_ENOTFOUND, &err);
}

int main(void)
{
    RUN(test_dense);
    RUN(test_conv);
    RUN(test_examples_order);
    RUN(test_row_cost);
    RUN(test_estimates_file);
    return UNIT_DONE();
}
