/*
 * estimate.c: operations of a training unit from a model file (estimate.h), the rows of a
 * shard directory from its column file's header, *
 * and the estimates file of a job. It does not time anything, run the trainer or read rows.
 */
#include "estimate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "fsutil.h"

/* A read or write of one value by a memory-bound pass (elementwise layers, im2col, the
 * optimizer's update) costs about as much as this many FLOPs of a matrix product on one CPU
 * core (calibration: bench/RESULTS.md, issue 13). */
#define ELEM_ACCESS 16.0

typedef struct cost {
    double flops; /* of matrix products, forward */
    double elems; /* values in + out of each pass, forward */
    double cols;  /* im2col values of the convolutions, forward */
} cost;

static double elems(const cd_shape *s)
{
    return (double)cd_shape_size(s);
}

/* A convolution c -> u channels, kernel k, over hw output positions. */
static void conv(cost *x, double c, double u, double k, double hw, double in)
{
    x->flops += (2 * c * k * k + 1) * u * hw;
    x->elems += in + u * hw;
    x->cols += c * k * k * hw;
}

/* A residual block (model.h): conv 3x3 c -> u, batchnorm, relu, conv 3x3 u -> u, batchnorm,
 * the projection (conv 1x1 + batchnorm) when the shape changes, the sum, relu. */
static void residual(cost *x, const cd_layer *l)
{
    double c = l->in.d[0], u = l->units, out = elems(&l->out), hw = out / u;
    bool proj = l->units != l->in.d[0] || l->stride != 1;
    conv(x, c, u, 3, hw, elems(&l->in));
    conv(x, u, u, 3, hw, out);
    if (proj)
        conv(x, c, u, 1, hw, elems(&l->in));
    x->elems += 2 * out * (proj ? 3 : 2) + 3 * out + 2 * out; /* batchnorms, sum, relus */
}

static void layer_cost(cost *x, const cd_layer *l)
{
    switch (l->kind) {
    case CD_L_DENSE:
        x->flops += (2.0 * l->in.d[0] + 1) * l->units;
        x->elems += elems(&l->in) + elems(&l->out);
        return;
    case CD_L_CONV2D:
        conv(x, l->in.d[0], l->units, l->kernel, elems(&l->out) / l->units, elems(&l->in));
        return;
    case CD_L_RESIDUAL:
        residual(x, l);
        return;
    case CD_L_FLATTEN:
        return; /* a view */
    default:
        x->elems += elems(&l->in) + elems(&l->out);
        return;
    }
}

/* Forward and backward: the products three times (the output, the gradients of the input
 * and of the weights), each activation three times (forward in + out, backward twice), the
 * im2col values six times (written and read forward, read for the weights' gradient,
 * written and scattered back for the input's). */
double cd_estimate_row_flops(const cd_model_spec *m)
{
    cost x = {0};
    for (int i = 0; i < m->nlayers; i++)
        layer_cost(&x, &m->layers[i]);
    return 3 * x.flops + ELEM_ACCESS * (3 * x.elems + 6 * x.cols);
}

/* Values read or written per parameter by one optimizer step: the weight and its gradient,
 * plus each state tensor read and written. */
static double update_accesses(const cd_model_spec *m)
{
    switch (m->optimizer) {
    case CD_OPT_MOMENTUM:
        return 5;
    case CD_OPT_ADAM:
    case CD_OPT_ADAMW:
        return 7;
    default:
        return 3;
    }
}

double cd_estimate_unit_flops(const cd_model_spec *m, uint64_t rows)
{
    uint64_t batch = m->batch_size > 0 ? (uint64_t)m->batch_size : 1;
    double steps = (double)((rows + batch - 1) / batch);
    return (double)rows * cd_estimate_row_flops(m) +
           steps * ELEM_ACCESS * update_accesses(m) * (double)m->params;
}

double cd_estimate_row_cost(const cd_model_spec *m)
{
    double batch = m->batch_size > 0 ? (double)m->batch_size : 1;
    return cd_estimate_row_flops(m) + ELEM_ACCESS * update_accesses(m) * (double)m->params / batch;
}

cd_code cd_estimate_write(const char *path, const double *est, int n, cd_err *err)
{
    static const char head[] = "# cost estimate of a unit of each trial (operations, from its "
                               "model file and the shards' rows): the shard orders\n";
    size_t cap = sizeof head + (size_t)n * 40, len = 0;
    char *text = malloc(cap);
    if (text == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory writing \"%s\"", path);
    len += (size_t)snprintf(text, cap, "%s", head);
    for (int t = 0; t < n; t++)
        len += (size_t)snprintf(text + len, cap - len, "t%03d %.17g\n", t, est[t]);
    cd_code rc = cd_atomic_write(path, text, len, 0644, err);
    free(text);
    return rc;
}

#define RESTORE_HINT "it is written when the job starts; restore it from a backup"

static cd_code bad_line(const char *path, int line, cd_err *err)
{
    cd_fail(err, CD_ECORRUPT, "malformed estimates file \"%s\"", path);
    cd_detail(err, "line %d: expected tNNN and a number >= 0, trials in order", line);
    return cd_hint(err, RESTORE_HINT);
}

/* One `tNNN value` line for trial t into *v. */
static bool parse_line(const char *s, int t, double *v)
{
    char *end;
    errno = 0;
    long id = s[0] == 't' ? strtol(s + 1, &end, 10) : -1;
    if (id != t || *end != ' ')
        return false;
    *v = strtod(end + 1, &end);
    return errno == 0 && *v >= 0 && isfinite(*v) && *end == '\0';
}

cd_code cd_estimate_read(const char *path, double **est, int *n, cd_err *err)
{
    *est = NULL;
    *n = 0;
    char *text = NULL;
    cd_code rc = cd_read_text(path, &text, err);
    if (rc == CD_ECORRUPT)
        return cd_hint(err, RESTORE_HINT);
    if (rc != CD_OK)
        return rc;
    int lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    double *v = malloc((size_t)lines * sizeof *v);
    if (v == NULL)
        rc = cd_fail(err, CD_ENOMEM, "out of memory reading \"%s\"", path);
    int line = 0, count = 0;
    for (char *p = text, *nl; rc == CD_OK && *p != '\0'; p = nl != NULL ? nl + 1 : p + strlen(p)) {
        if ((nl = strchr(p, '\n')) != NULL)
            *nl = '\0';
        line++;
        if (*p == '#' || *p == '\0')
            continue;
        if (!parse_line(p, count, &v[count]))
            rc = bad_line(path, line, err);
        else
            count++;
    }
    free(text);
    if (rc != CD_OK) {
        free(v);
        return rc;
    }
    *est = v;
    *n = count;
    return CD_OK;
}
