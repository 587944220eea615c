/*
 * model.c: model configuration files (see model.h): inih parsing of the keys declared once
 * below, layer list parsing, shape inference, the configuration hash.
 */
#include "model.h"
#include "fsutil.h"

#include "hash.h"
#include "ini_lines.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* X(section, key, default): every key of a model file. */
#define MODEL_KEYS(X)                                                                              \
    X(model, input, "")                                                                            \
    X(model, layers, "")                                                                           \
    X(model, loss, "softmax_xent")                                                                 \
    X(model, classes, "0")                                                                         \
    X(model, feature, "x")                                                                         \
    X(model, label, "y")                                                                           \
    X(model, scale, "1")                                                                           \
    X(train, optimizer, "sgd")                                                                     \
    X(train, lr, "0.01")                                                                           \
    X(train, batch_size, "32")                                                                     \
    X(train, weight_decay, "0")                                                                    \
    X(train, momentum, "0.9")                                                                      \
    X(train, beta1, "0.9")                                                                         \
    X(train, beta2, "0.999")                                                                       \
    X(train, eps, "1e-8")                                                                          \
    X(train, seed, "1")                                                                            \
    X(train, shuffle, "true")                                                                      \
    X(train, dropout_seed, "0")

/* Keys added later: they enter the configuration hash only when not at their default, so
 * the checkpoints of files that do not use them stay valid. */
#define MODEL_KEYS_LATER(X)                                                                        \
    X(train, lr_schedule, "constant")                                                              \
    X(train, lr_warmup_steps, "0")                                                                 \
    X(train, lr_warmup_start_factor, "0.333333333333333333")                                       \
    X(train, lr_step_size, "0")                                                                    \
    X(train, lr_gamma, "0.1")                                                                      \
    X(train, lr_total_steps, "0")                                                                  \
    X(train, lr_min, "0")                                                                          \
    X(train, augment_crop_pad, "0")                                                                \
    X(train, augment_hflip, "false")

#define ALL_KEYS(X) MODEL_KEYS(X) MODEL_KEYS_LATER(X)

typedef struct raw {
#define RAW_FIELD(sec, key, def)                                                                   \
    char sec##_##key[512];                                                                         \
    int sec##_##key##_line;
    ALL_KEYS(RAW_FIELD)
#undef RAW_FIELD
    const char *path;
    cd_err *err;
    cd_code rc;
    /* the file's reader: inih (as Debian builds it) gives the handler no line number, the
     * reader counts lines (ini_lines.h) */
    cd_ini_lines lines;
} raw;

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    raw *r = user;
    int lineno = r->lines.line;
    if (r->rc != CD_OK)
        return 0;
    if (r->lines.continued) {
        /* inih passes the line as another value of the key above, which would replace it */
        r->rc = cd_fail(r->err, CD_EINVAL, "%s:%d: indented line continues [%s] %s", r->path,
                        lineno, section, name);
        cd_hint(r->err, "a value is one line in a model file: remove the indentation");
        return 0;
    }
#define RAW_SET(sec, key, def)                                                                     \
    if (strcmp(section, #sec) == 0 && strcmp(name, #key) == 0) {                                   \
        snprintf(r->sec##_##key, sizeof r->sec##_##key, "%s", value);                              \
        r->sec##_##key##_line = lineno;                                                            \
        return 1;                                                                                  \
    }
    ALL_KEYS(RAW_SET)
#undef RAW_SET
    if (strcmp(section, "model") != 0 && strcmp(section, "train") != 0)
        r->rc = cd_fail(r->err, CD_EINVAL, "%s:%d: unknown section [%s]", r->path, lineno, section);
    else
        r->rc = cd_fail(r->err, CD_EINVAL, "%s:%d: unknown key \"%s\" in section [%s]", r->path,
                        lineno, name, section);
    return 0;
}

/* The model file at path, or read from given (path then names it in messages). */
static cd_code read_raw(const char *path, FILE *given, raw *r, cd_err *err)
{
    memset(r, 0, sizeof *r);
#define RAW_DEFAULT(sec, key, def) snprintf(r->sec##_##key, sizeof r->sec##_##key, "%s", def);
    ALL_KEYS(RAW_DEFAULT)
#undef RAW_DEFAULT
    r->path = path;
    r->err = err;
    const char *why = NULL;
    FILE *f = given ? given : cd_fopen_regular(path, &why);
    if (f == NULL)
        return cd_fail(err, CD_EINVAL, "could not open model file \"%s\": %s", path, why);
    r->lines = (cd_ini_lines){.f = f};
    int bad = ini_parse_stream(cd_ini_lines_read, &r->lines, on_key, r);
    r->lines.f = NULL; /* given's or closed below */
    if (given == NULL)
        fclose(f);
    if (r->rc != CD_OK)
        return r->rc;
    if (bad != 0)
        return cd_fail(err, CD_EINVAL, "%s:%d: syntax error", path, bad);
    if (r->lines.bad[0] != '\0')
        return cd_fail(err, CD_EINVAL, "%s:%d: %s", path, r->lines.line, r->lines.bad);
    return CD_OK;
}

/* ---- values ---- */

static cd_code bad_value(const raw *r, int line, const char *key, const char *value,
                         const char *want, cd_err *err)
{
    cd_fail(err, CD_EINVAL, "%s:%d: invalid value \"%s\" for %s", r->path, line, value, key);
    return cd_hint(err, "expected %s", want);
}

static bool to_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    *out = (float)v;
    return *s && *end == '\0' && errno == 0 && isfinite(v);
}

static bool to_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return *s && *end == '\0' && errno == 0 && isfinite(*out);
}

static bool to_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    *out = v;
    return *s && *end == '\0' && errno == 0 && v >= lo && v <= hi;
}

static cd_code parse_shape(const raw *r, cd_shape *s, cd_err *err)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", r->model_input);
    s->ndim = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        long v;
        if (s->ndim == CD_MODEL_MAXDIM || !to_int(t, 1, 1 << 24, &v))
            return bad_value(r, r->model_input_line, "input", r->model_input,
                             "D or C,H,W (positive integers)", err);
        s->d[s->ndim++] = (int)v;
    }
    if (s->ndim != 1 && s->ndim != 3)
        return bad_value(r, r->model_input_line, "input", r->model_input,
                         "D or C,H,W (positive integers)", err);
    return CD_OK;
}

/* ---- layers ---- */

static const struct {
    const char *name;
    cd_layer_kind kind;
    int min_args, max_args;
} layer_names[] = {
    {"dense", CD_L_DENSE, 1, 1},       {"conv2d", CD_L_CONV2D, 2, 4},
    {"maxpool", CD_L_MAXPOOL, 1, 3},   {"avgpool", CD_L_AVGPOOL, 1, 3},
    {"gavgpool", CD_L_GAVGPOOL, 0, 0}, {"batchnorm", CD_L_BATCHNORM, 0, 0},
    {"relu", CD_L_RELU, 0, 0},         {"dropout", CD_L_DROPOUT, 1, 1},
    {"flatten", CD_L_FLATTEN, 0, 0},   {"residual", CD_L_RESIDUAL, 1, 2},
};

static cd_code set_args(cd_layer *l, const char *text, char **args, int nargs, const raw *r,
                        cd_err *err)
{
    long v[4] = {0};
    for (int i = 0; i < nargs; i++)
        if (l->kind != CD_L_DROPOUT && !to_int(args[i], 0, 1 << 20, &v[i]))
            return bad_value(r, r->model_layers_line, "layer", text, "integer arguments", err);
    switch (l->kind) {
    case CD_L_DENSE:
        l->units = (int)v[0];
        break;
    case CD_L_CONV2D:
        l->units = (int)v[0], l->kernel = (int)v[1];
        l->stride = nargs > 2 ? (int)v[2] : 1, l->pad = nargs > 3 ? (int)v[3] : 0;
        break;
    case CD_L_MAXPOOL:
    case CD_L_AVGPOOL:
        l->kernel = (int)v[0];
        l->stride = nargs > 1 ? (int)v[1] : l->kernel, l->pad = nargs > 2 ? (int)v[2] : 0;
        if (2 * l->pad > l->kernel) /* a window all padding: -inf (max) or nothing (average) */
            return bad_value(r, r->model_layers_line, "layer", text,
                             "a pool whose padding is at most half its kernel", err);
        break;
    case CD_L_RESIDUAL:
        l->units = (int)v[0], l->stride = nargs > 1 ? (int)v[1] : 1;
        break;
    case CD_L_DROPOUT:
        if (!to_float(args[0], &l->p) || l->p < 0 || l->p >= 1)
            return bad_value(r, r->model_layers_line, "dropout", text, "a probability in [0, 1)",
                             err);
        break;
    default:
        break;
    }
    bool zero = (l->kind == CD_L_DENSE || l->kind == CD_L_CONV2D || l->kind == CD_L_RESIDUAL)
                    ? l->units < 1
                    : false;
    bool strided = l->kind == CD_L_CONV2D || l->kind == CD_L_MAXPOOL || l->kind == CD_L_AVGPOOL;
    if (zero || (strided && l->kernel < 1) ||
        ((strided || l->kind == CD_L_RESIDUAL) && l->stride < 1))
        return bad_value(r, r->model_layers_line, "layer", text, "positive sizes", err);
    return CD_OK;
}

static cd_code parse_layer(char *text, cd_layer *l, const raw *r, cd_err *err)
{
    char copy[128];
    snprintf(copy, sizeof copy, "%s", text);
    char *args[8], *save = NULL, *name = strtok_r(text, ":", &save);
    int nargs = 0;
    for (char *a; nargs < 8 && (a = strtok_r(NULL, ":", &save)) != NULL;)
        args[nargs++] = a;
    for (size_t i = 0; name && i < sizeof layer_names / sizeof layer_names[0]; i++) {
        if (strcmp(name, layer_names[i].name) != 0)
            continue;
        memset(l, 0, sizeof *l);
        l->kind = layer_names[i].kind;
        if (nargs < layer_names[i].min_args || nargs > layer_names[i].max_args)
            return bad_value(r, r->model_layers_line, "layer", copy, "see the layer list", err);
        return set_args(l, copy, args, nargs, r, err);
    }
    cd_fail(err, CD_EINVAL, "%s:%d: unknown layer \"%s\"", r->path, r->model_layers_line, copy);
    return cd_hint(err, "layers: dense, conv2d, maxpool, avgpool, gavgpool, batchnorm, relu, "
                        "dropout, flatten, residual");
}

static cd_code parse_layers(const raw *r, cd_model_spec *m, cd_err *err)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", r->model_layers);
    char *save = NULL;
    m->nlayers = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        for (char *e = t + strlen(t); e > t && e[-1] == ' ';)
            *--e = '\0';
        if (m->nlayers == CD_MODEL_MAXLAYERS)
            return cd_fail(err, CD_EINVAL, "%s: more than %d layers", r->path, CD_MODEL_MAXLAYERS);
        cd_code rc = parse_layer(t, &m->layers[m->nlayers++], r, err);
        if (rc != CD_OK)
            return rc;
    }
    if (m->nlayers == 0)
        return cd_fail(err, CD_EINVAL, "%s: [model] layers is missing or empty", r->path);
    return CD_OK;
}

/* ---- shapes ---- */

int64_t cd_shape_size(const cd_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= s->d[i];
    return n;
}

static int out_dim(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

static cd_code spatial(cd_layer *l, int channels, int k, int stride, int pad, const char *path,
                       int i, cd_err *err)
{
    if (l->in.ndim != 3)
        return cd_fail(err, CD_EINVAL, "%s: layer %d needs an image input (C,H,W)", path, i + 1);
    int h = out_dim(l->in.d[1], k, stride, pad), w = out_dim(l->in.d[2], k, stride, pad);
    if (h < 1 || w < 1 || l->in.d[1] + 2 * pad < k || l->in.d[2] + 2 * pad < k)
        return cd_fail(err, CD_EINVAL, "%s: layer %d shrinks the image below 1x1", path, i + 1);
    l->out = (cd_shape){3, {channels, h, w}};
    return CD_OK;
}

static cd_code infer_layer(cd_layer *l, const char *path, int i, cd_err *err)
{
    int c = l->in.d[0];
    l->out = l->in;
    switch (l->kind) {
    case CD_L_DENSE:
        if (l->in.ndim != 1)
            return cd_fail(err, CD_EINVAL, "%s: dense layer %d needs a flat input; add flatten",
                           path, i + 1);
        l->out = (cd_shape){1, {l->units}};
        l->params = (int64_t)c * l->units + l->units;
        return CD_OK;
    case CD_L_CONV2D:
        l->params = (int64_t)l->units * c * l->kernel * l->kernel + l->units;
        return spatial(l, l->units, l->kernel, l->stride, l->pad, path, i, err);
    case CD_L_MAXPOOL:
    case CD_L_AVGPOOL:
        return spatial(l, c, l->kernel, l->stride, l->pad, path, i, err);
    case CD_L_GAVGPOOL:
        if (l->in.ndim != 3)
            return cd_fail(err, CD_EINVAL, "%s: layer %d needs an image input", path, i + 1);
        l->out = (cd_shape){1, {c}};
        return CD_OK;
    case CD_L_BATCHNORM:
        l->params = 2 * (int64_t)c;
        return CD_OK;
    case CD_L_FLATTEN:
        l->out = (cd_shape){1, {(int)cd_shape_size(&l->in)}};
        return CD_OK;
    case CD_L_RESIDUAL: {
        int64_t u = l->units;
        bool proj = u != c || l->stride != 1;
        l->params = u * c * 9 + u + 2 * u + u * u * 9 + u + 2 * u + (proj ? u * c + u + 2 * u : 0);
        return spatial(l, l->units, 3, l->stride, 1, path, i, err);
    }
    default:
        return CD_OK;
    }
}

/* Whether a row of shape s has at most INT_MAX values (what a layer's flat size holds). */
static bool shape_fits(const cd_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (n > INT_MAX / s->d[i])
            return false;
        n *= s->d[i];
    }
    return true;
}

/* A shape over shape_fits: of the input (layer -1) or of layer i's output. */
static cd_code too_large(const char *path, int i, cd_err *err)
{
    if (i < 0)
        cd_fail(err, CD_EINVAL, "%s: the input has more than %d values per row", path, INT_MAX);
    else
        cd_fail(err, CD_EINVAL, "%s: layer %d gives more than %d values per row", path, i + 1,
                INT_MAX);
    return cd_hint(err, "use smaller sizes, or strided layers or pools before flatten");
}

static cd_code too_many_params(const char *path, int i, int64_t params, cd_err *err)
{
    cd_fail(err, CD_EINVAL, "%s: layer %d has %lld parameters, more than %d", path, i + 1,
            (long long)params, INT_MAX);
    return cd_hint(err, "use fewer units or channels, or a smaller kernel");
}

static cd_code infer(cd_model_spec *m, const char *path, cd_err *err)
{
    cd_shape s = m->input;
    m->params = 0;
    if (!shape_fits(&s))
        return too_large(path, -1, err);
    for (int i = 0; i < m->nlayers; i++) {
        m->layers[i].in = s;
        cd_code rc = infer_layer(&m->layers[i], path, i, err);
        if (rc != CD_OK)
            return rc;
        if (m->layers[i].params > INT_MAX) /* the ops index a layer's weights with int */
            return too_many_params(path, i, m->layers[i].params, err);
        s = m->layers[i].out;
        if (!shape_fits(&s))
            return too_large(path, i, err);
        m->params += m->layers[i].params;
    }
    int64_t want = m->loss == CD_LOSS_SOFTMAX_XENT ? m->classes : 1;
    if (s.ndim != 1 || s.d[0] != want) {
        cd_fail(err, CD_EINVAL, "%s: the last layer gives %lld values per row, the loss needs %lld",
                path, (long long)cd_shape_size(&s), (long long)want);
        return cd_hint(err, "end with flatten and dense:%lld", (long long)want);
    }
    return CD_OK;
}

/* ---- [model] and [train] ---- */

static cd_code pick(const raw *r, int line, const char *key, const char *value,
                    const char *const *names, int n, int *out, cd_err *err)
{
    for (int i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0) {
            *out = i;
            return CD_OK;
        }
    char want[256] = "one of:";
    for (int i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), " %s", names[i]);
    return bad_value(r, line, key, value, want, err);
}

/* ---- [train] lr schedule and augmentation ---- */

#define MAX_STEPS (1L << 48)

/* value, line and name of a key, for the readers below */
#define KEY_ARGS(sec, key) r->sec##_##key, r->sec##_##key##_line, #key

static cd_code int_key(const raw *r, const char *value, int line, const char *key, long lo, long hi,
                       const char *want, long *out, cd_err *err)
{
    return to_int(value, lo, hi, out) ? CD_OK : bad_value(r, line, key, value, want, err);
}

/* A real number in (lo, hi] when lo_open, else in [lo, hi]. */
static cd_code real_key(const raw *r, const char *value, int line, const char *key, double lo,
                        bool lo_open, double hi, const char *want, double *out, cd_err *err)
{
    bool ok = to_double(value, out) && *out >= lo && !(lo_open && *out == lo) && *out <= hi;
    return ok ? CD_OK : bad_value(r, line, key, value, want, err);
}

static cd_code schedule_needs(const raw *r, const cd_lr_schedule *s, cd_err *err)
{
    if (s->kind == CD_LR_STEP && s->step_size < 1) {
        cd_fail(err, CD_EINVAL, "%s:%d: lr_schedule = step needs lr_step_size", r->path,
                r->train_lr_schedule_line);
        return cd_hint(err, "lr_step_size = N multiplies the lr by lr_gamma every N steps");
    }
    if (s->kind == CD_LR_COSINE && s->total_steps <= s->warmup_steps) {
        cd_fail(err, CD_EINVAL, "%s:%d: lr_schedule = cosine needs lr_total_steps > %llu", r->path,
                r->train_lr_schedule_line, (unsigned long long)s->warmup_steps);
        return cd_hint(err, "lr_total_steps counts optimizer steps from the first, warm-up "
                            "included: epochs x batches per epoch");
    }
    return CD_OK;
}

static cd_code convert_schedule(const raw *r, cd_lr_schedule *s, cd_err *err)
{
    static const char *const kinds[] = {"constant", "step", "cosine"};
    int kind = 0;
    long warmup = 0, step_size = 0, total = 0;
    cd_code rc = pick(r, r->train_lr_schedule_line, "lr_schedule", r->train_lr_schedule, kinds, 3,
                      &kind, err);
    if (rc == CD_OK)
        rc = int_key(r, KEY_ARGS(train, lr_warmup_steps), 0, MAX_STEPS, "an integer >= 0", &warmup,
                     err);
    if (rc == CD_OK)
        rc = real_key(r, KEY_ARGS(train, lr_warmup_start_factor), 0, true, 1, "a number in (0, 1]",
                      &s->warmup_start_factor, err);
    if (rc == CD_OK)
        rc = int_key(r, KEY_ARGS(train, lr_step_size), 0, MAX_STEPS, "an integer >= 1", &step_size,
                     err);
    if (rc == CD_OK)
        rc = real_key(r, KEY_ARGS(train, lr_gamma), 0, true, 1, "a number in (0, 1]", &s->gamma,
                      err);
    if (rc == CD_OK)
        rc = int_key(r, KEY_ARGS(train, lr_total_steps), 0, MAX_STEPS, "an integer >= 1", &total,
                     err);
    if (rc == CD_OK)
        rc = real_key(r, KEY_ARGS(train, lr_min), 0, false, 1e3, "a number in [0, 1000]",
                      &s->lr_min, err);
    s->kind = (cd_lr_kind)kind;
    s->warmup_steps = (uint64_t)warmup;
    s->step_size = (uint64_t)step_size;
    s->total_steps = (uint64_t)total;
    return rc == CD_OK ? schedule_needs(r, s, err) : rc;
}

static cd_code convert_augment(const raw *r, const cd_model_spec *m, cd_augment *a, cd_err *err)
{
    long pad = 0;
    cd_code rc =
        int_key(r, KEY_ARGS(train, augment_crop_pad), 0, 1 << 16, "an integer >= 0", &pad, err);
    if (rc == CD_OK && strcmp(r->train_augment_hflip, "true") != 0 &&
        strcmp(r->train_augment_hflip, "false") != 0)
        rc = bad_value(r, r->train_augment_hflip_line, "augment_hflip", r->train_augment_hflip,
                       "true or false", err);
    a->crop_pad = (int)pad;
    a->hflip = strcmp(r->train_augment_hflip, "true") == 0;
    if (rc == CD_OK && cd_augment_active(a) && m->input.ndim != 3) {
        int line = pad > 0 ? r->train_augment_crop_pad_line : r->train_augment_hflip_line;
        cd_fail(err, CD_EINVAL, "%s:%d: %s needs an image input (C,H,W), not %d values per row",
                r->path, line, pad > 0 ? "augment_crop_pad" : "augment_hflip", m->input.d[0]);
        return cd_hint(err, "crop and flip apply to images; remove the augment keys");
    }
    return rc;
}

/* A number v_ for which ok holds into m->field (float or double: each rounds the decimal
 * once); range is how the error names what ok allows. */
#define NUM(field, sec, key, ok, range)                                                            \
    do {                                                                                           \
        double v_ = 0;                                                                             \
        if (rc == CD_OK && (!to_double(r->sec##_##key, &v_) || !(ok)))                             \
            rc = bad_value(r, r->sec##_##key##_line, #key, r->sec##_##key, "a number in " range,   \
                           err);                                                                   \
        m->field = v_;                                                                             \
    } while (0)

static cd_code convert(const raw *r, cd_model_spec *m, cd_err *err)
{
    static const char *const losses[] = {"softmax_xent", "sigmoid_bce", "mse"};
    static const char *const optims[] = {"sgd", "momentum", "adam", "adamw"};
    int loss = 0, opt = 0;
    long classes = 0, batch = 0, seed = 0, dseed = 0;
    cd_code rc = parse_shape(r, &m->input, err);
    if (rc == CD_OK)
        rc = pick(r, r->model_loss_line, "loss", r->model_loss, losses, 3, &loss, err);
    if (rc == CD_OK)
        rc =
            pick(r, r->train_optimizer_line, "optimizer", r->train_optimizer, optims, 4, &opt, err);
    if (rc == CD_OK && !to_int(r->model_classes, 0, 1 << 20, &classes))
        rc = bad_value(r, r->model_classes_line, "classes", r->model_classes, "an integer", err);
    if (rc == CD_OK && !to_int(r->train_batch_size, 1, 1 << 20, &batch))
        rc = bad_value(r, r->train_batch_size_line, "batch_size", r->train_batch_size,
                       "a positive integer", err);
    if (rc == CD_OK && !to_int(r->train_seed, 0, 0x7FFFFFFFL, &seed))
        rc = bad_value(r, r->train_seed_line, "seed", r->train_seed, "an integer", err);
    if (rc == CD_OK && !to_int(r->train_dropout_seed, 0, 0x7FFFFFFFL, &dseed))
        rc = bad_value(r, r->train_dropout_seed_line, "dropout_seed", r->train_dropout_seed,
                       "an integer", err);
    if (rc == CD_OK && strcmp(r->train_shuffle, "true") != 0 &&
        strcmp(r->train_shuffle, "false") != 0)
        rc = bad_value(r, r->train_shuffle_line, "shuffle", r->train_shuffle, "true or false", err);
    /* the optimizer's own ranges (optim.c), so that a file it would refuse is refused here,
     * naming its line, and not at the first unit */
    NUM(scale, model, scale, v_ >= 0 && v_ <= 1e9, "[0, 1e9]");
    NUM(lr, train, lr, v_ > 0 && v_ <= 1e3, "(0, 1e3]");
    NUM(weight_decay, train, weight_decay, v_ >= 0 && v_ <= 1, "[0, 1]");
    NUM(momentum, train, momentum, v_ >= 0 && v_ < 1, "[0, 1)");
    NUM(beta1, train, beta1, v_ >= 0 && v_ < 1, "[0, 1)");
    NUM(beta2, train, beta2, v_ >= 0 && v_ < 1, "[0, 1)");
    NUM(eps, train, eps, v_ > 0 && v_ <= 1, "(0, 1]");
    m->loss = (cd_loss_kind)loss;
    m->optimizer = (cd_optimizer_choice)opt;
    m->classes = (int)classes;
    m->batch_size = (int)batch;
    m->seed = (uint64_t)seed;
    m->dropout_seed = (uint64_t)dseed;
    m->shuffle = strcmp(r->train_shuffle, "true") == 0;
    snprintf(m->feature, sizeof m->feature, "%s", r->model_feature);
    snprintf(m->label, sizeof m->label, "%s", r->model_label);
    if (rc == CD_OK && m->loss == CD_LOSS_SOFTMAX_XENT && m->classes < 2)
        rc = cd_fail(err, CD_EINVAL, "%s: softmax_xent needs [model] classes >= 2", r->path);
    if (rc == CD_OK)
        rc = convert_schedule(r, &m->schedule, err);
    if (rc == CD_OK)
        rc = convert_augment(r, m, &m->augment, err);
    return rc;
}

static uint64_t raw_hash(const raw *r)
{
    uint64_t h = CD_FNV_OFFSET;
#define RAW_HASH(sec, key, def) h = cd_fnv1a(#sec "." #key "=", h), h = cd_fnv1a(r->sec##_##key, h);
    MODEL_KEYS(RAW_HASH)
#undef RAW_HASH
#define RAW_HASH_SET(sec, key, def)                                                                \
    if (strcmp(r->sec##_##key, def) != 0)                                                          \
        h = cd_fnv1a(#sec "." #key "=", h), h = cd_fnv1a(r->sec##_##key, h);
    MODEL_KEYS_LATER(RAW_HASH_SET)
#undef RAW_HASH_SET
    return h;
}

const char *cd_model_key_name(int i)
{
#define KEY_NAME(sec, key, def) #sec "." #key,
    static const char *const names[] = {ALL_KEYS(KEY_NAME)};
#undef KEY_NAME
    return i >= 0 && i < (int)(sizeof names / sizeof names[0]) ? names[i] : NULL;
}

static cd_code load(const char *path, FILE *given, cd_model_spec *m, cd_err *err)
{
    memset(m, 0, sizeof *m);
    raw *r = calloc(1, sizeof *r);
    if (r == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    cd_code rc = read_raw(path, given, r, err);
    if (rc == CD_OK && r->model_input[0] == '\0')
        rc = cd_fail(err, CD_EINVAL, "%s: [model] input is missing", path);
    if (rc == CD_OK)
        rc = convert(r, m, err);
    if (rc == CD_OK)
        rc = parse_layers(r, m, err);
    if (rc == CD_OK)
        rc = infer(m, path, err);
    m->hash = raw_hash(r);
    free(r);
    return rc;
}

cd_code cd_model_load(const char *path, cd_model_spec *m, cd_err *err)
{
    return load(path, NULL, m, err);
}

cd_code cd_model_parse(const char *name, const char *text, size_t len, cd_model_spec *m,
                       cd_err *err)
{
    memset(m, 0, sizeof *m);
    if (len == 0)
        return cd_fail(err, CD_EINVAL, "model file \"%s\" is empty", name);
    FILE *f = fmemopen((void *)text, len, "r");
    if (f == NULL)
        return cd_fail(err, CD_ENOMEM, "could not read model file \"%s\": %s", name,
                       strerror(errno));
    cd_code rc = load(name, f, m, err);
    fclose(f);
    return rc;
}
