/*
 * unit.c: one training unit and its siblings (init, train, eval, export, import, predict)
 * over a model (net.h), an optimizer (optim.h), checkpoints (ckpt.h) and shard data
 * (data.h). cerebro-train's main only parses arguments and prints. train, eval and predict
 * run on the backend of --device (backend.h): the net and the optimizer state live there
 * between loading the checkpoint (host) and saving the next one (host again); init, import
 * and export are host work on the CPU backend.
 *
 * Checkpoint contents: every parameter and buffer of the net by name, the optimizer's state
 * tensors ("<param>.exp_avg", ...), the optimizer step as the checkpoint step, the epoch,
 * the model file's hash and the RNG state. Every random stream is a counter-based function
 * of a seed and counters (initial weights: init --seed; shuffling: (train.seed, epoch, shard
 * name); augmentation: the same and the row; dropout masks: (dropout_seed, step); the lr
 * schedule is a function of the step), so the RNG state is those seeds and counters
 * (rng_pack): a unit started from the checkpoint of the previous one continues exactly as
 * one process would. A trained checkpoint also records the numeric fingerprint of the
 * process that trained it (fingerprint.h): "exactly" holds while it stays the same. init
 * and import record none: their tensors come from seeded integer streams or files, the same
 * bits on every host.
 */
#include "trainer.h"

#include <cblas.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ckpt.h"
#include "data.h"
#include "net.h"
#include "npy.h"
#include "optim.h"
#include "par.h"

/* ---- net <-> checkpoint ---- */

static cd_code add_net(cd_ckpt *ck, cd_net *net, cd_err *err)
{
    cd_code rc = CD_OK;
    for (int i = 0; i < cd_net_ntensors(net) && rc == CD_OK; i++) {
        cd_tensor *t = cd_net_tensor(net, i);
        rc = cd_ckpt_add(ck, t->name, t->ndim, t->dims, t->data, err);
    }
    return rc;
}

static cd_code load_net(const cd_ckpt *ck, const char *path, cd_net *net, cd_err *err)
{
    for (int i = 0; i < cd_net_ntensors(net); i++) {
        cd_tensor *t = cd_net_tensor(net, i);
        const cd_ckpt_tensor *c = cd_ckpt_find(ck, t->name);
        if (c == NULL || c->n != t->n) {
            cd_fail(err, CD_ECORRUPT, "checkpoint \"%s\" has no tensor \"%s\" of %llu values", path,
                    t->name, (unsigned long long)t->n);
            return cd_hint(err, "the checkpoint belongs to another model configuration");
        }
        memcpy(t->data, c->data, t->n * sizeof *t->data);
    }
    return CD_OK;
}

/* The input checkpoint: a->ckpt, or the bytes given in a->ckpt_image (checked alike). */
static cd_code open_ckpt(const cd_train_args *a, const cd_model_spec *m, cd_ckpt *ck, cd_err *err)
{
    cd_ckpt_init(ck);
    cd_code rc = a->ckpt_image ? cd_ckpt_parse(a->ckpt_image, a->ckpt_len, a->ckpt, ck, err)
                               : cd_ckpt_read(a->ckpt, ck, err);
    if (rc == CD_OK)
        rc = cd_ckpt_check_config(ck, a->ckpt, m->hash, err);
    return rc;
}

/* ---- RNG state ---- */

#define RNG_MAGIC "CDRNG001"
#define RNG_LEN 48 /* magic, then u64 LE: init seed, shuffle seed, dropout seed, epoch, step */

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static cd_code rng_pack(cd_ckpt *ck, const cd_model_spec *m, uint64_t init_seed, cd_err *err)
{
    uint8_t b[RNG_LEN];
    memcpy(b, RNG_MAGIC, 8);
    uint64_t v[5] = {init_seed, m->seed, m->dropout_seed, ck->epoch, ck->step};
    for (int i = 0; i < 5; i++)
        put64(b + 8 + 8 * i, v[i]);
    return cd_ckpt_set_rng(ck, b, sizeof b, err);
}

/* The input checkpoint's RNG state: the streams of this model file at the checkpoint's
 * counters. *init_seed gets the seed of the initial weights, carried to the next one. */
static cd_code rng_check(const cd_ckpt *ck, const char *path, const cd_model_spec *m,
                         uint64_t *init_seed, cd_err *err)
{
    const uint8_t *b = ck->rng;
    if (ck->rng_len != RNG_LEN || memcmp(b, RNG_MAGIC, 8) != 0)
        return cd_fail(err, CD_ECORRUPT, "checkpoint \"%s\" has no RNG state of this format", path);
    *init_seed = get64(b + 8);
    if (get64(b + 16) != m->seed || get64(b + 24) != m->dropout_seed) {
        cd_fail(err, CD_ECORRUPT, "checkpoint \"%s\" was trained with other random seeds", path);
        return cd_detail(err, "checkpoint: seed %llu, dropout_seed %llu; model file: %llu, %llu",
                         (unsigned long long)get64(b + 16), (unsigned long long)get64(b + 24),
                         (unsigned long long)m->seed, (unsigned long long)m->dropout_seed);
    }
    if (get64(b + 32) != ck->epoch || get64(b + 40) != ck->step)
        return cd_fail(err, CD_ECORRUPT,
                       "checkpoint \"%s\": RNG counters differ from its "
                       "epoch and step",
                       path);
    return CD_OK;
}

/* ---- optimizer ---- */

static cd_optim_config optim_config(const cd_model_spec *m)
{
    cd_optim_config c = cd_optim_defaults((cd_optim_kind)m->optimizer);
    c.lr = m->lr;
    c.weight_decay = m->weight_decay;
    c.momentum = m->momentum;
    c.beta1 = m->beta1;
    c.beta2 = m->beta2;
    c.eps = m->eps;
    c.schedule = m->schedule;
    return c;
}

static cd_code make_optim(cd_net *net, const cd_model_spec *m, cd_backend *be, cd_optim **o,
                          cd_err *err)
{
    cd_param *ps = calloc((size_t)cd_net_ntensors(net) + 1, sizeof *ps);
    size_t np = 0;
    if (ps == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    for (int i = 0; i < cd_net_ntensors(net); i++) {
        cd_tensor *t = cd_net_tensor(net, i);
        if (t->grad != NULL)
            ps[np++] = (cd_param){t->name, t->ddata, t->dgrad, t->n};
    }
    cd_optim_config cfg = optim_config(m);
    cd_code rc = cd_optim_create_on(o, &cfg, ps, np, be, err);
    free(ps);
    return rc;
}

static cd_code restore_optim(cd_optim *o, const cd_ckpt *ck, cd_err *err)
{
    cd_optim_set_step(o, ck->step);
    for (size_t i = 0; i < ck->ntensors; i++) {
        const cd_ckpt_tensor *t = &ck->tensors[i];
        const char *leaf = strrchr(t->name, '.');
        if (leaf != NULL && (strcmp(leaf, ".exp_avg") == 0 || strcmp(leaf, ".exp_avg_sq") == 0 ||
                             strcmp(leaf, ".momentum_buffer") == 0)) {
            cd_code rc = cd_optim_state_restore(o, t->name, t->data, t->n, err);
            if (rc != CD_OK)
                return rc;
        }
    }
    return CD_OK;
}

static cd_code add_optim(cd_ckpt *ck, cd_optim *o, cd_err *err)
{
    cd_code rc = CD_OK;
    for (size_t i = 0; i < cd_optim_state_count(o) && rc == CD_OK; i++) {
        cd_optim_state st;
        rc = cd_optim_state_get(o, i, &st, err);
        uint64_t n = st.n;
        if (rc == CD_OK)
            rc = cd_ckpt_add(ck, st.name, 1, &n, st.data, err);
    }
    return rc;
}

/* ---- init / import / export ---- */

static cd_code write_fresh(cd_net *net, const cd_model_spec *m, uint64_t init_seed, const char *out,
                           cd_err *err)
{
    cd_ckpt ck;
    cd_ckpt_init(&ck);
    ck.config_hash = m->hash;
    cd_code rc = rng_pack(&ck, m, init_seed, err);
    if (rc == CD_OK)
        rc = add_net(&ck, net, err);
    if (rc == CD_OK)
        rc = cd_ckpt_write(&ck, out, err);
    cd_ckpt_free(&ck);
    return rc;
}

/* A net for batches of one row on a CPU backend: host work only. */
static cd_code host_net(const cd_model_spec *m, cd_backend **be, cd_net **net, cd_err *err)
{
    *net = NULL;
    cd_code rc = cd_backend_open(be, "cpu", err);
    if (rc == CD_OK)
        rc = cd_net_new(net, m, 1, *be, err);
    return rc;
}

cd_code cd_train_init(const cd_model_spec *m, uint64_t seed, const char *out, cd_err *err)
{
    cd_backend *be = NULL;
    cd_net *net = NULL;
    cd_code rc = host_net(m, &be, &net, err);
    if (rc == CD_OK) {
        cd_net_init(net, seed);
        rc = write_fresh(net, m, seed, out, err);
    }
    cd_net_free(&net);
    cd_backend_close(&be);
    return rc;
}

cd_code cd_train_import(const cd_model_spec *m, const char *dir, const char *out, cd_err *err)
{
    cd_backend *be = NULL;
    cd_net *net = NULL;
    cd_code rc = host_net(m, &be, &net, err);
    for (int i = 0; rc == CD_OK && i < cd_net_ntensors(net); i++) {
        cd_tensor *t = cd_net_tensor(net, i);
        rc = cd_ckpt_import_tensor(dir, t->name, t->ndim, t->dims, t->data, err);
    }
    if (rc == CD_OK)
        rc = write_fresh(net, m, 0, out, err); /* imported weights: no init seed */
    cd_net_free(&net);
    cd_backend_close(&be);
    return rc;
}

cd_code cd_train_export(const char *ckpt, const char *dir, cd_err *err)
{
    cd_ckpt ck;
    cd_ckpt_init(&ck);
    cd_code rc = cd_ckpt_read(ckpt, &ck, err);
    if (rc == CD_OK)
        rc = cd_ckpt_export(&ck, dir, err);
    cd_ckpt_free(&ck);
    return rc;
}

/* ---- passes over data ---- */

static cd_data_config data_config(const cd_model_spec *m, uint64_t epoch, bool shuffle, int batch)
{
    cd_data_config c = {.feature = m->feature,
                        .label = m->label,
                        .scale = m->scale,
                        .in_ndim = m->input.ndim,
                        .classes = m->loss == CD_LOSS_SOFTMAX_XENT ? m->classes : 0,
                        .batch = batch,
                        .shuffle = shuffle,
                        .seed = m->seed,
                        .epoch = epoch};
    for (int i = 0; i < m->input.ndim; i++)
        c.in_shape[i] = m->input.d[i];
    return c;
}

typedef struct pass {
    cd_net *net;
    cd_optim *optim; /* NULL: evaluate */
    cd_train_result *res;
    float *preds; /* predict: [rows * out] */
    int per_row;
    FILE *loss_log; /* train: one loss per step, or NULL */
} pass;

static cd_code run_pass(pass *p, cd_data *d, cd_err *err)
{
    const cd_batch *b;
    double loss_sum = 0;
    uint64_t correct = 0, rows = 0;
    cd_code rc;
    while ((rc = cd_data_next(d, &b, err)) == CD_OK && b != NULL) {
        int ok = 0;
        uint64_t step = p->optim ? cd_optim_get_step(p->optim) : 0;
        float loss = cd_net_forward(p->net, b->x, b->n, b->y, b->yf, p->optim != NULL, step, &ok);
        if (!isfinite(loss) && (rc = cd_net_status(p->net, err)) != CD_OK)
            return rc;
        if (!isfinite(loss)) {
            p->res->diverged = p->optim != NULL;
            cd_fail(err, CD_EINVAL, "the loss became %g at step %llu", loss,
                    (unsigned long long)step);
            return cd_hint(err, "the model diverged: lower the learning rate");
        }
        if (p->optim != NULL && ((rc = cd_net_backward(p->net, err)) != CD_OK ||
                                 (rc = cd_optim_step(p->optim, err)) != CD_OK))
            return rc;
        if (p->loss_log != NULL)
            fprintf(p->loss_log, "%.9g\n", loss);
        if (p->preds != NULL) {
            int per_row;
            const float *out = cd_net_output(p->net, &per_row);
            memcpy(p->preds + rows * (uint64_t)per_row, out, (size_t)b->n * per_row * sizeof *out);
        }
        loss_sum += (double)loss * b->n;
        correct += (uint64_t)ok;
        rows += (uint64_t)b->n;
    }
    p->res->rows = rows;
    p->res->loss = rows ? loss_sum / (double)rows : 0;
    p->res->accuracy = rows ? (double)correct / (double)rows : 0;
    p->res->data_wait_s = cd_data_wait_seconds(d);
    return rc;
}

static cd_code open_data(const cd_model_spec *m, const cd_train_args *a, bool train, cd_data **d,
                         cd_err *err)
{
    cd_data_config dc = data_config(m, a->epoch, train && m->shuffle, m->batch_size);
    if (train) /* never for eval or predict */
        dc.augment = m->augment;
    return cd_data_open(d, &dc, (const char *const *)a->data, a->ndata, err);
}

static cd_code save_trained(cd_net *net, cd_optim *o, const cd_model_spec *m,
                            const cd_train_args *a, uint64_t init_seed, const char *numerics,
                            cd_err *err)
{
    cd_ckpt ck;
    cd_ckpt_init(&ck);
    snprintf(ck.numerics, sizeof ck.numerics, "%s", numerics);
    ck.config_hash = m->hash;
    ck.epoch = a->epoch;
    ck.step = cd_optim_get_step(o);
    cd_code rc = rng_pack(&ck, m, init_seed, err);
    if (rc == CD_OK)
        rc = cd_net_to_host(net, err);
    if (rc == CD_OK)
        rc = add_net(&ck, net, err);
    if (rc == CD_OK)
        rc = add_optim(&ck, o, err);
    if (rc == CD_OK && a->out_image != NULL)
        rc = cd_ckpt_image(&ck, a->out_image, a->out_len, err);
    else if (rc == CD_OK)
        rc = cd_ckpt_write(&ck, a->out, err);
    cd_ckpt_free(&ck);
    return rc;
}

/* The [shard] value of key in a shard meta file's text into buf ("" when absent); only
 * characters that need no escaping in the JSON result line are kept. */
static void meta_value(const char *text, const char *key, char *buf, size_t size)
{
    size_t klen = strlen(key), n = 0;
    bool in_shard = false;
    buf[0] = '\0';
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (line[0] == '[')
            in_shard = len >= 7 && strncmp(line, "[shard]", 7) == 0;
        else if (in_shard && len > klen + 3 && strncmp(line, key, klen) == 0 &&
                 strncmp(line + klen, " = ", 3) == 0) {
            for (size_t i = klen + 3; i < len && n + 1 < size; i++)
                if (line[i] > ' ' && line[i] != '"' && line[i] != '\\' && line[i] < 127)
                    buf[n++] = line[i];
            buf[n] = '\0';
            return;
        }
        line = end ? end + 1 : NULL;
    }
}

/* What the first shard directory's meta file says it holds (cd_train_result: cut, ...). */
static void shard_state(const cd_train_args *a, cd_train_result *res)
{
    char path[4200], text[16384];
    if (a->ndata < 1 || strncmp(a->data[0], "pg:", 3) == 0)
        return;
    snprintf(path, sizeof path, "%s/meta", a->data[0]);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    meta_value(text, "cut", res->cut, sizeof res->cut);
    meta_value(text, "content", res->content, sizeof res->content);
    meta_value(text, "snapshot", res->snapshot, sizeof res->snapshot);
}

cd_code cd_train_run(const cd_model_spec *m, const cd_train_args *a, cd_train_result *res,
                     cd_err *err)
{
    double t0 = cd_monotonic_s();
    memset(res, 0, sizeof *res);
    /* one set of threads for every op: OpenBLAS runs single-threaded inside each range */
    openblas_set_num_threads(1);
    cd_par_set_threads(a->threads);
    cd_ckpt ck;
    cd_backend *be = NULL;
    cd_net *net = NULL;
    cd_optim *o = NULL;
    cd_data *d = NULL;
    uint64_t init_seed = 0;
    cd_ckpt_init(&ck);
    cd_code rc = cd_backend_open(&be, a->device, err);
    if (rc == CD_OK)
        cd_fp_make(res->numerics, sizeof res->numerics, be->numerics,
                   strcmp(be->device, "cpu") == 0, cd_par_threads());
    if (rc == CD_OK)
        rc = open_ckpt(a, m, &ck, err);
    if (rc == CD_OK) {
        snprintf(res->input_numerics, sizeof res->input_numerics, "%s", ck.numerics);
        rc = rng_check(&ck, a->ckpt, m, &init_seed, err);
    }
    if (rc == CD_OK)
        rc = cd_net_new(&net, m, m->batch_size, be, err);
    if (rc == CD_OK)
        rc = load_net(&ck, a->ckpt, net, err);
    if (rc == CD_OK)
        rc = cd_net_to_device(net, err);
    if (rc == CD_OK && a->mode == CD_MODE_TRAIN)
        rc = make_optim(net, m, be, &o, err);
    if (rc == CD_OK && o != NULL)
        rc = restore_optim(o, &ck, err);
    if (rc == CD_OK)
        shard_state(a, res); /* before the column files: what they are read in */
    if (rc == CD_OK)
        rc = open_data(m, a, a->mode == CD_MODE_TRAIN, &d, err);
    pass p = {.net = net, .optim = o, .res = res};
    if (rc == CD_OK && o != NULL && a->loss_log != NULL &&
        (p.loss_log = fopen(a->loss_log, "a")) == NULL)
        rc = cd_fail(err, CD_EIO, "could not open loss log \"%s\"", a->loss_log);
    if (rc == CD_OK && a->mode == CD_MODE_PREDICT) {
        cd_net_output(net, &p.per_row);
        p.preds = malloc(cd_data_rows(d) * (uint64_t)p.per_row * sizeof *p.preds + 1);
        if (p.preds == NULL)
            rc = cd_fail(err, CD_ENOMEM, "out of memory for predictions");
    }
    if (rc == CD_OK)
        rc = run_pass(&p, d, err);
    if (rc == CD_OK && o != NULL)
        rc = save_trained(net, o, m, a, init_seed, res->numerics, err);
    if (rc == CD_OK && p.preds != NULL) {
        uint64_t shape[2] = {res->rows, (uint64_t)p.per_row};
        rc = cd_npy_write(a->out, "<f4", shape, 2, p.preds, res->rows * shape[1] * 4, err);
    }
    res->epoch = a->epoch;
    res->step = o ? cd_optim_get_step(o) : ck.step;
    res->seconds = cd_monotonic_s() - t0;
    if (p.loss_log != NULL && fclose(p.loss_log) != 0 && rc == CD_OK)
        rc = cd_fail(err, CD_EIO, "could not write loss log \"%s\"", a->loss_log);
    free(p.preds);
    cd_data_close(&d);
    cd_optim_destroy(&o);
    cd_net_free(&net);
    cd_ckpt_free(&ck);
    cd_backend_close(&be);
    cd_par_shutdown();
    return rc;
}
