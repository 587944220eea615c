/*
 * net_compare.h: whole training steps on a backend under test against the same steps on the
 * CPU backend, the specification, shared by tests/cuda/test_net_cuda.c (a CUDA device,
 * tolerance 1e-4) and tests/unit/test_net_device.c (the CPU ops behind backend memory of
 * their own, bit for bit). For a small CNN (conv, batchnorm, relu, avgpool, maxpool, a
 * residual block with projection and one without, global average pooling, dropout, dense,
 * softmax_xent) and MLPs (batchnorm, dropout, sigmoid_bce or mse), with sgd, momentum
 * (nesterov), adam and adamw: identical initial weights, STEPS train steps on the same
 * batches, then per-step losses (relative tol), outputs, final parameters, buffers and
 * gradients (tol on |a - b| / (1 + |a|), as test_ops_cuda), an eval forward, the optimizer
 * state through cd_optim_state_get, and round trips (net host <-> device, optimizer state
 * into a fresh optimizer) bit for bit. Adam runs with eps 1e-3: a bias followed by
 * batchnorm has a gradient that is zero up to rounding, which Adam with eps 1e-8 would turn
 * into +-lr steps of a rounding-dependent sign on each device. Include once, after unit.h.
 */
#ifndef CD_TESTS_NET_COMPARE_H
#define CD_TESTS_NET_COMPARE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "model.h"
#include "net.h"
#include "optim.h"
#include "unit.h"

#define STEPS 5
#define BATCH 8

static const char cnn_ini[] =
    "[model]\ninput = 2,8,8\nlayers = conv2d:4:3:1:1, batchnorm, relu, avgpool:2:1, maxpool:2, "
    "residual:6:2, residual:6, gavgpool, dropout:0.25, dense:5\nloss = softmax_xent\n"
    "classes = 5\n[train]\nbatch_size = 8\ndropout_seed = 11\n";
static const char bce_ini[] =
    "[model]\ninput = 12\nlayers = dense:16, batchnorm, relu, dropout:0.2, dense:8, relu, "
    "dense:1\nloss = sigmoid_bce\nclasses = 1\n[train]\nbatch_size = 8\ndropout_seed = 3\n";
static const char mse_ini[] =
    "[model]\ninput = 12\nlayers = dense:16, relu, dense:16, batchnorm, relu, dense:1\n"
    "loss = mse\nclasses = 1\n[train]\nbatch_size = 8\n";

typedef struct net_case {
    const char *name;
    const char *ini;
    cd_optim_config optim;
} net_case;

static const net_case cases[] = {
    {"cnn adam",
     cnn_ini,
     {.kind = CD_OPTIM_ADAM, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-3}},
    {"cnn nesterov",
     cnn_ini,
     {.kind = CD_OPTIM_MOMENTUM, .lr = 0.05, .momentum = 0.9, .nesterov = 1, .weight_decay = 1e-4}},
    {"bce adamw",
     bce_ini,
     {.kind = CD_OPTIM_ADAMW,
      .lr = 0.01,
      .beta1 = 0.9,
      .beta2 = 0.999,
      .eps = 1e-3,
      .weight_decay = 0.01}},
    {"bce momentum", bce_ini, {.kind = CD_OPTIM_MOMENTUM, .lr = 0.1, .momentum = 0.9}},
    {"mse adam",
     mse_ini,
     {.kind = CD_OPTIM_ADAM,
      .lr = 0.01,
      .beta1 = 0.8,
      .beta2 = 0.99,
      .eps = 1e-3,
      .weight_decay = 1e-3}},
    {"mse sgd", mse_ini, {.kind = CD_OPTIM_SGD, .lr = 0.05, .weight_decay = 1e-3}},
};
#define NCASES (sizeof cases / sizeof cases[0])

static cd_backend *dev; /* the backend under test, shared by the cases */
static double tol;      /* of near() and near_loss(); 0: bit for bit */
static uint64_t rng = 0x5eedULL;

static float frand(void) /* uniform in [-1, 1) */
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)(rng >> 40) / 8388608.0f - 1.0f;
}

/* max over i of |a - b| / (1 + |a|) <= tol, reported with the first index over it. */
static void near(const char *what, const char *name, const float *a, const float *b, size_t n)
{
    unit_checks++;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)a[i]));
        if (!(err <= tol)) {
            unit_failures++;
            fprintf(stderr, "%s %s[%zu]: cpu %.9g dev %.9g\n", what, name, i, a[i], b[i]);
            return;
        }
    }
}

static void near_loss(const char *what, int step, float cpu, float got)
{
    unit_checks++;
    if (!(fabs((double)cpu - got) <= tol * fabs((double)cpu))) {
        unit_failures++;
        fprintf(stderr, "%s step %d: loss cpu %.9g dev %.9g\n", what, step, cpu, got);
    }
}

static cd_code load_model(const char *ini, cd_model_spec *m, cd_err *err)
{
    char path[] = "/tmp/net_compare.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return cd_fail(err, CD_EIO, "mkstemp failed");
    FILE *f = fdopen(fd, "w");
    if (f == NULL || fputs(ini, f) < 0 || fclose(f) != 0) {
        unlink(path);
        return cd_fail(err, CD_EIO, "cannot write %s", path);
    }
    cd_code rc = cd_model_load(path, m, err);
    unlink(path);
    return rc;
}

/* The optimizer over every parameter of net, on the net's backend be. */
static cd_code make_optim(cd_net *net, cd_backend *be, const cd_optim_config *cfg, cd_optim **o,
                          cd_err *err)
{
    cd_param ps[64];
    size_t np = 0;
    for (int i = 0; i < cd_net_ntensors(net) && np < 64; i++) {
        cd_tensor *t = cd_net_tensor(net, i);
        if (t->dgrad != NULL)
            ps[np++] = (cd_param){t->name, t->ddata, t->dgrad, t->n};
    }
    return cd_optim_create_on(o, cfg, ps, np, be, err);
}

/* The batches of a case: x [(STEPS + 1) * BATCH * in], labels for the loss. */
typedef struct batches {
    float *x;
    int32_t *y;
    float *yf;
    size_t in;
} batches;

static void make_batches(batches *b, const cd_model_spec *m)
{
    size_t rows = (size_t)(STEPS + 1) * BATCH;
    b->in = (size_t)cd_shape_size(&m->input);
    b->x = malloc(rows * b->in * sizeof *b->x + 1);
    b->y = malloc(rows * sizeof *b->y + 1);
    b->yf = malloc(rows * sizeof *b->yf + 1);
    for (size_t i = 0; b->x && i < rows * b->in; i++)
        b->x[i] = frand();
    for (size_t r = 0; b->y && b->yf && r < rows; r++) {
        b->y[r] = (int32_t)((r * 7 + 3) % (size_t)(m->classes > 1 ? m->classes : 2));
        b->yf[r] = m->loss == CD_LOSS_SIGMOID_BCE ? (float)(r % 3 == 0) : frand();
    }
}

/* Forward batch s on net (train or eval) with the label array its loss uses. */
static float forward(cd_net *net, const cd_model_spec *m, const batches *b, int s, bool train,
                     uint64_t step)
{
    int ok;
    bool xent = m->loss == CD_LOSS_SOFTMAX_XENT;
    return cd_net_forward(net, b->x + (size_t)s * BATCH * b->in, BATCH,
                          xent ? b->y + (size_t)s * BATCH : NULL,
                          xent ? NULL : b->yf + (size_t)s * BATCH, train, step, &ok);
}

static void compare_outputs(const char *what, cd_net *a, cd_net *b)
{
    int per_row = 0;
    const float *oa = cd_net_output(a, &per_row), *ob = cd_net_output(b, &per_row);
    near(what, "output", oa, ob, (size_t)BATCH * per_row);
}

/* STEPS training steps on both nets, losses and outputs compared at every step. */
static void train_both(const net_case *c, const cd_model_spec *m, const batches *bt, cd_net *a,
                       cd_net *b, cd_optim *oa, cd_optim *ob)
{
    cd_err err = {0};
    for (int s = 0; s < STEPS; s++) {
        float la = forward(a, m, bt, s, true, cd_optim_get_step(oa));
        float lb = forward(b, m, bt, s, true, cd_optim_get_step(ob));
        if (!isfinite(lb))
            CHECK_CODE(cd_net_status(b, &err), CD_OK, &err);
        near_loss(c->name, s, la, lb);
        compare_outputs(c->name, a, b);
        CHECK_CODE(cd_net_backward(a, &err), CD_OK, &err);
        CHECK_CODE(cd_net_backward(b, &err), CD_OK, &err);
        CHECK_CODE(cd_optim_step(oa, &err), CD_OK, &err);
        CHECK_CODE(cd_optim_step(ob, &err), CD_OK, &err);
    }
}

/* Parameters, buffers and the last gradients, after copying the dev net to the host. */
static void compare_tensors(const net_case *c, cd_net *a, cd_net *b)
{
    cd_err err = {0};
    CHECK_CODE(cd_net_to_host(b, &err), CD_OK, &err);
    CHECK_EQ_INT(cd_net_ntensors(a), cd_net_ntensors(b));
    for (int i = 0; i < cd_net_ntensors(a) && i < cd_net_ntensors(b); i++) {
        cd_tensor *ta = cd_net_tensor(a, i), *tb = cd_net_tensor(b, i);
        CHECK(strcmp(ta->name, tb->name) == 0 && ta->n == tb->n);
        near(c->name, ta->name, ta->data, tb->data, ta->n);
        if (ta->grad != NULL)
            near(c->name, "grad", ta->grad, tb->grad, ta->n);
    }
}

/* The eval forward on both, and the dev net's host -> device round trip bit for bit. */
static void compare_eval(const net_case *c, const cd_model_spec *m, const batches *bt, cd_net *a,
                         cd_net *b)
{
    cd_err err = {0};
    float la = forward(a, m, bt, STEPS, false, 0), lb = forward(b, m, bt, STEPS, false, 0);
    near_loss(c->name, STEPS, la, lb);
    compare_outputs(c->name, a, b);
    CHECK_CODE(cd_net_to_device(b, &err), CD_OK, &err);
    float again = forward(b, m, bt, STEPS, false, 0);
    CHECK(memcmp(&again, &lb, sizeof lb) == 0);
}

/* The state through cd_optim_state_get (dev vs CPU), and into a fresh dev optimizer. */
static void compare_state(const net_case *c, cd_net *b, cd_optim *oa, cd_optim *ob)
{
    cd_err err = {0};
    cd_optim *oc = NULL;
    CHECK_EQ_INT(cd_optim_state_count(oa), cd_optim_state_count(ob));
    CHECK_CODE(make_optim(b, dev, &c->optim, &oc, &err), CD_OK, &err);
    if (oc == NULL)
        return;
    cd_optim_set_step(oc, cd_optim_get_step(ob));
    for (size_t i = 0; i < cd_optim_state_count(oa); i++) {
        cd_optim_state sa, sb, sc;
        CHECK_CODE(cd_optim_state_get(oa, i, &sa, &err), CD_OK, &err);
        CHECK_CODE(cd_optim_state_get(ob, i, &sb, &err), CD_OK, &err);
        CHECK(strcmp(sa.name, sb.name) == 0 && sa.n == sb.n);
        near(c->name, sa.name, sa.data, sb.data, sa.n);
        CHECK_CODE(cd_optim_state_restore(oc, sb.name, sb.data, sb.n, &err), CD_OK, &err);
        CHECK_CODE(cd_optim_state_get(oc, i, &sc, &err), CD_OK, &err);
        CHECK(sc.n == sb.n && memcmp(sc.data, sb.data, sb.n * sizeof(float)) == 0);
    }
    CHECK_EQ_INT(cd_optim_get_step(oc), STEPS);
    cd_optim_destroy(&oc);
}

static void run_case(const net_case *c)
{
    cd_err err = {0};
    cd_model_spec m;
    cd_backend *cpu = NULL;
    cd_net *a = NULL, *b = NULL;
    cd_optim *oa = NULL, *ob = NULL;
    batches bt = {0};
    CHECK_CODE(load_model(c->ini, &m, &err), CD_OK, &err);
    if (err.code != CD_OK)
        return;
    CHECK_CODE(cd_backend_open(&cpu, "cpu", &err), CD_OK, &err);
    CHECK_CODE(cd_net_new(&a, &m, BATCH, cpu, &err), CD_OK, &err);
    CHECK_CODE(cd_net_new(&b, &m, BATCH, dev, &err), CD_OK, &err);
    if (a == NULL || b == NULL)
        goto out;
    cd_net_init(a, 5);
    cd_net_init(b, 5);
    CHECK_CODE(cd_net_to_device(b, &err), CD_OK, &err);
    CHECK_CODE(make_optim(a, cpu, &c->optim, &oa, &err), CD_OK, &err);
    CHECK_CODE(make_optim(b, dev, &c->optim, &ob, &err), CD_OK, &err);
    make_batches(&bt, &m);
    if (oa == NULL || ob == NULL || bt.x == NULL || bt.y == NULL || bt.yf == NULL)
        goto out;
    train_both(c, &m, &bt, a, b, oa, ob);
    compare_tensors(c, a, b);
    compare_eval(c, &m, &bt, a, b);
    compare_state(c, b, oa, ob);
out:
    free(bt.yf);
    free(bt.y);
    free(bt.x);
    cd_optim_destroy(&ob);
    cd_optim_destroy(&oa);
    cd_net_free(&b);
    cd_net_free(&a);
    cd_backend_close(&cpu);
}

/* Every case on backend d against the CPU backend, within tolerance t (0: bit for bit). */
static void net_compare_all(cd_backend *d, double t)
{
    dev = d;
    tol = t;
    for (size_t i = 0; i < NCASES; i++) {
        int before = unit_failures;
        run_case(&cases[i]);
        fprintf(stderr, "     %-14s %s\n", cases[i].name, unit_failures == before ? "ok" : "FAIL");
    }
}

#endif
