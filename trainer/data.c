/*
 * data.c: shard columns to mini-batches, with a prefetch thread (see data.h).
 *
 * Lock order: d->lock only (a leaf). The producer fills slot (head + count) % 2 outside the
 * lock; the consumer owns the slot it was handed until its next call.
 */
#include "data.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "data_pg.h"
#include "fsname.h"
#include "hash.h"
#include "npy.h"

#define NSLOTS 2

typedef struct shard {
    char name[256]; /* the directory's last component: the shard's identity */
    char dir[4096];
    cd_npy x, y;
    uint64_t rows;
    uint64_t ywidth; /* label values per row: 1, or classes for one-hot labels (N, classes) */
    bool in_memory;  /* x, y read over pg: into memory (data_pg.h), not mapped */
} shard;

struct cd_data {
    cd_data_config cfg;
    shard *shards;
    int nshards;
    uint64_t row_size, rows;
    cd_batch slots[NSLOTS];
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int head, count; /* filled slots waiting for the consumer */
    int held;        /* slot the consumer holds, -1 none */
    bool done, stop;
    cd_err err; /* the producer's error, reported by cd_data_next */
    double wait_s;
    float *scratch; /* [row_size]: a row before augmentation (the producer's) */
};

/* ---- opening ---- */

static cd_code open_column(shard *s, const char *stem, cd_npy *n, cd_err *err)
{
    char fname[256], path[4400];
    if (cd_fsname(stem, fname, sizeof fname) == 0)
        return cd_fail(err, CD_EINVAL, "column name \"%s\" is too long", stem);
    snprintf(path, sizeof path, "%s/%s.valid.npy", s->dir, fname);
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        fclose(f);
        cd_fail(err, CD_EINVAL, "column \"%s\" of shard \"%s\" has NULLs", stem, s->dir);
        return cd_hint(err, "filter or fill the NULL rows in the database first");
    }
    snprintf(path, sizeof path, "%s/%s.npy", s->dir, fname);
    cd_code rc = cd_npy_open(path, n, err);
    if (rc == CD_ENOTFOUND) {
        cd_fail(err, CD_ENOTFOUND, "shard \"%s\" has no column \"%s\"", s->dir, stem);
        return cd_hint(err, "check the feature and label keys of the model file");
    }
    return rc;
}

/* Labels of integer classes may be stored as floats: each value is checked when converted. */
static bool dtype_ok(const char *descr)
{
    static const char *const ok[] = {"|u1", "<i2", "<i4", "<i8", "<f4", "<f8"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(descr, ok[i]) == 0)
            return true;
    return false;
}

/* An image model's rows must have its input shape, size-1 dimensions aside ((N, 28, 28) or
 * (N, 784) for 1,28,28): channels-last rows (N, 32, 32, 3) for 3,32,32 have the right number
 * of values in the wrong order. A vector model flattens any row. */
static bool row_shape_ok(const cd_data *d, const cd_npy *x)
{
    if (d->cfg.in_ndim < 2 || x->ndim <= 2)
        return true;
    int i = 1, k = 0;
    for (;;) {
        while (i < x->ndim && x->shape[i] == 1)
            i++;
        while (k < d->cfg.in_ndim && d->cfg.in_shape[k] == 1)
            k++;
        if (i == x->ndim || k == d->cfg.in_ndim)
            return i == x->ndim && k == d->cfg.in_ndim;
        if (x->shape[i++] != (uint64_t)d->cfg.in_shape[k++])
            return false;
    }
}

static void shape_text(char *buf, size_t size, const uint64_t *u, const int64_t *s, int from, int n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = from; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%llu", i > from ? "," : "",
                                u ? (unsigned long long)u[i] : (unsigned long long)s[i]);
}

static cd_code check_shard(const cd_data *d, shard *s, cd_err *err)
{
    const cd_npy *x = &s->x, *y = &s->y;
    uint64_t per_row = 1;
    for (int i = 1; i < x->ndim; i++)
        per_row *= x->shape[i];
    if (x->ndim >= 1 && x->shape[0] == 0)
        return cd_fail(err, CD_EINVAL, "shard \"%s\" is empty", s->dir);
    if (!dtype_ok(x->descr) || !dtype_ok(y->descr))
        return cd_fail(err, CD_EUNSUPPORTED, "shard \"%s\": unsupported dtype %s / %s", s->dir,
                       x->descr, y->descr);
    if (x->ndim < 1 || per_row != d->row_size) {
        cd_fail(err, CD_EINVAL, "shard \"%s\": feature \"%s\" has %llu values per row", s->dir,
                d->cfg.feature, (unsigned long long)per_row);
        return cd_hint(err, "the model's input shape needs %llu", (unsigned long long)d->row_size);
    }
    if (!row_shape_ok(d, x)) {
        char have[128], want[128];
        shape_text(have, sizeof have, x->shape, NULL, 1, x->ndim);
        shape_text(want, sizeof want, NULL, d->cfg.in_shape, 0, d->cfg.in_ndim);
        cd_fail(err, CD_EINVAL, "shard \"%s\": feature \"%s\" has rows of shape (%s), not (%s)",
                s->dir, d->cfg.feature, have, want);
        return cd_hint(err,
                       "the model's input = %s is channels first (C,H,W): store the rows "
                       "so, or flat",
                       want);
    }
    bool onehot = y->ndim == 2 && d->cfg.classes > 1 && y->shape[1] == (uint64_t)d->cfg.classes;
    if (y->ndim == 2 && !onehot && y->shape[1] != 1) {
        cd_fail(err, CD_EINVAL, "shard \"%s\": label \"%s\" has %llu values per row", s->dir,
                d->cfg.label, (unsigned long long)y->shape[1]);
        return cd_hint(err, "labels are (N,) or one-hot (N, classes) with classes = %d",
                       d->cfg.classes);
    }
    if (y->ndim < 1 || y->ndim > 2) {
        cd_fail(err, CD_EINVAL, "shard \"%s\": label \"%s\" has %d dimensions", s->dir,
                d->cfg.label, y->ndim);
        return cd_hint(err, "labels are (N,) or one-hot (N, classes) with classes = %d",
                       d->cfg.classes);
    }
    if (y->shape[0] != x->shape[0])
        return cd_fail(err, CD_EINVAL, "shard \"%s\": %llu labels for %llu rows", s->dir,
                       (unsigned long long)y->shape[0], (unsigned long long)x->shape[0]);
    s->rows = x->shape[0];
    s->ywidth = onehot ? (uint64_t)d->cfg.classes : 1;
    return CD_OK;
}

/* A pg: spec (data_pg.h): both columns read into memory; the session opened on first use. */
static cd_code open_pg_shard(cd_data *d, shard *s, const char *spec, cd_pg_session **pg,
                             cd_err *err)
{
    cd_pg_dest dest = {s->name, sizeof s->name, s->dir, sizeof s->dir, &s->x, &s->y};
    s->in_memory = true;
    cd_code rc = *pg ? CD_OK : cd_pg_session_new(pg, err);
    if (rc == CD_OK)
        rc = cd_pg_read_shard(*pg, spec, d->cfg.feature, d->cfg.label, &dest, err);
    return rc == CD_OK ? check_shard(d, s, err) : rc;
}

static cd_code open_shard(cd_data *d, shard *s, const char *dir, cd_pg_session **pg, cd_err *err)
{
    if (cd_pg_is_spec(dir))
        return open_pg_shard(d, s, dir, pg, err);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    size_t len = strlen(s->dir);
    while (len > 1 && s->dir[len - 1] == '/')
        s->dir[--len] = '\0';
    const char *slash = strrchr(s->dir, '/');
    snprintf(s->name, sizeof s->name, "%s", slash ? slash + 1 : s->dir);
    s->x.fd = s->y.fd = -1;
    cd_code rc = open_column(s, d->cfg.feature, &s->x, err);
    if (rc == CD_OK)
        rc = open_column(s, d->cfg.label, &s->y, err);
    if (rc == CD_OK)
        rc = check_shard(d, s, err);
    return rc;
}

/* ---- order ---- */

void cd_data_permutation(uint64_t seed, uint64_t epoch, const char *shard_name, uint64_t n,
                         uint64_t *perm)
{
    uint64_t state = seed ^ cd_splitmix64(&(uint64_t){epoch}) ^ cd_fnv1a(shard_name, CD_FNV_OFFSET);
    for (uint64_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint64_t i = n; i > 1; i--) { /* Fisher-Yates */
        uint64_t j = cd_splitmix64(&state) % i;
        uint64_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

/* ---- conversion ---- */

static double value_at(const cd_npy *n, uint64_t i)
{
    const uint8_t *p = (const uint8_t *)n->data + i * n->itemsize;
    switch (n->descr[1]) {
    case 'u':
        return p[0];
    case 'i': {
        int64_t v = 0;
        if (n->itemsize == 2)
            v = (int16_t)(p[0] | p[1] << 8);
        else if (n->itemsize == 4)
            memcpy(&v, p, 4), v = (int32_t)v;
        else
            memcpy(&v, p, 8);
        return (double)v;
    }
    default:
        if (n->itemsize == 4) {
            float f;
            memcpy(&f, p, 4);
            return f;
        } else {
            double v;
            memcpy(&v, p, 8);
            return v;
        }
    }
}

static cd_code convert_row(const cd_data *d, const shard *s, uint64_t row, float *x, cd_err *err)
{
    uint64_t base = row * d->row_size;
    if (strcmp(s->x.descr, "<f4") == 0) {
        memcpy(x, (const float *)s->x.data + base, d->row_size * sizeof *x);
        for (uint64_t k = 0; k < d->row_size; k++)
            x[k] *= d->cfg.scale;
    } else {
        for (uint64_t k = 0; k < d->row_size; k++)
            x[k] = (float)(value_at(&s->x, base + k) * d->cfg.scale);
    }
    for (uint64_t k = 0; k < d->row_size; k++)
        if (!isfinite(x[k]))
            return cd_fail(err, CD_EINVAL, "shard \"%s\": feature \"%s\" of row %llu is %s", s->dir,
                           d->cfg.feature, (unsigned long long)row,
                           isnan(x[k]) ? "NaN" : "infinite");
    return CD_OK;
}

/* The class of a one-hot label row (MADlib's preprocessor writes them): exactly one 1. */
static cd_code onehot_label(const shard *s, uint64_t row, int32_t *out, cd_err *err)
{
    int64_t hot = -1;
    for (uint64_t k = 0; k < s->ywidth; k++) {
        double v = value_at(&s->y, row * s->ywidth + k);
        if (v == 1 && hot < 0) {
            hot = (int64_t)k;
        } else if (v != 0) {
            hot = -1;
            break;
        }
    }
    if (hot < 0) {
        cd_fail(err, CD_EINVAL, "shard \"%s\": label of row %llu is not one-hot", s->dir,
                (unsigned long long)row);
        return cd_detail(err, "a one-hot label row holds one 1 and %llu zeros",
                         (unsigned long long)s->ywidth - 1);
    }
    *out = (int32_t)hot;
    return CD_OK;
}

static cd_code convert_label(const cd_data *d, const shard *s, uint64_t row, cd_batch *b, int i,
                             cd_err *err)
{
    if (s->ywidth > 1)
        return onehot_label(s, row, &b->y[i], err);
    double v = value_at(&s->y, row);
    if (d->cfg.classes == 0) {
        b->yf[i] = (float)v;
        return isfinite(v)
                   ? CD_OK
                   : cd_fail(err, CD_EINVAL, "shard \"%s\": label of row %llu is not finite",
                             s->dir, (unsigned long long)row);
    }
    if (v != floor(v) || v < 0 || v >= d->cfg.classes) {
        cd_fail(err, CD_EINVAL, "shard \"%s\": label %g of row %llu is out of range", s->dir, v,
                (unsigned long long)row);
        return cd_hint(err, "the model has %d classes (labels 0..%d)", d->cfg.classes,
                       d->cfg.classes - 1);
    }
    b->y[i] = (int32_t)v;
    return CD_OK;
}

/* Row `row` of shard s, converted into x[row_size] and augmented when the config says so. */
static cd_code assemble_row(const cd_data *d, const shard *s, uint64_t key, uint64_t row, float *x,
                            cd_err *err)
{
    const cd_augment *a = &d->cfg.augment;
    if (!cd_augment_active(a))
        return convert_row(d, s, row, x, err);
    cd_code rc = convert_row(d, s, row, d->scratch, err);
    if (rc == CD_OK) {
        cd_augment_draw draw = cd_augment_decide(a, d->cfg.seed, d->cfg.epoch, key, row);
        const int64_t *shape = d->cfg.in_shape;
        cd_augment_apply(a, &draw, (int)shape[0], (int)shape[1], (int)shape[2], d->scratch, x);
    }
    return rc;
}

static cd_code fill_batch(const cd_data *d, const shard *s, int si, const uint64_t *rows, int n,
                          cd_batch *b, cd_err *err)
{
    b->n = n;
    b->shard = si;
    uint64_t key = cd_augment_shard_key(s->name);
    cd_code rc = CD_OK;
    for (int i = 0; i < n && rc == CD_OK; i++) {
        rc = assemble_row(d, s, key, rows[i], b->x + (size_t)i * d->row_size, err);
        if (rc == CD_OK)
            rc = convert_label(d, s, rows[i], b, i, err);
    }
    return rc;
}

/* ---- the prefetch thread ---- */

/* Wait for a free slot; false when stopping. */
static bool wait_slot(cd_data *d, int *slot)
{
    pthread_mutex_lock(&d->lock);
    while (!d->stop && d->count == NSLOTS) /* count includes the slot the consumer holds */
        pthread_cond_wait(&d->changed, &d->lock);
    bool ok = !d->stop;
    *slot = (d->head + d->count) % NSLOTS;
    pthread_mutex_unlock(&d->lock);
    return ok;
}

static void publish(cd_data *d, bool done, const cd_err *err)
{
    pthread_mutex_lock(&d->lock);
    if (err != NULL)
        d->err = *err;
    if (done)
        d->done = true;
    else
        d->count++;
    pthread_cond_broadcast(&d->changed);
    pthread_mutex_unlock(&d->lock);
}

static cd_code produce_shard(cd_data *d, int si, uint64_t *perm, cd_err *err)
{
    const shard *s = &d->shards[si];
    if (d->cfg.shuffle)
        cd_data_permutation(d->cfg.seed, d->cfg.epoch, s->name, s->rows, perm);
    else
        for (uint64_t i = 0; i < s->rows; i++)
            perm[i] = i;
    for (uint64_t at = 0; at < s->rows; at += (uint64_t)d->cfg.batch) {
        int slot;
        if (!wait_slot(d, &slot))
            return CD_EINTERRUPTED;
        uint64_t left = s->rows - at;
        int n = left < (uint64_t)d->cfg.batch ? (int)left : d->cfg.batch;
        cd_code rc = fill_batch(d, s, si, perm + at, n, &d->slots[slot], err);
        if (rc != CD_OK)
            return rc;
        publish(d, false, NULL);
    }
    return CD_OK;
}

static void *producer(void *arg)
{
    cd_data *d = arg;
    cd_err err = {0};
    uint64_t most = 0;
    for (int i = 0; i < d->nshards; i++)
        most = d->shards[i].rows > most ? d->shards[i].rows : most;
    uint64_t *perm = malloc(most * sizeof *perm + 1);
    cd_code rc = perm ? CD_OK : cd_fail(&err, CD_ENOMEM, "out of memory");
    for (int i = 0; i < d->nshards && rc == CD_OK; i++)
        rc = produce_shard(d, i, perm, &err);
    free(perm);
    publish(d, true, rc == CD_OK || rc == CD_EINTERRUPTED ? NULL : &err);
    return NULL;
}

/* ---- the consumer side ---- */

static cd_code alloc_slots(cd_data *d, cd_err *err)
{
    const cd_augment *a = &d->cfg.augment;
    if (cd_augment_active(a) && (d->cfg.in_ndim != 3 || a->crop_pad < 0))
        return cd_fail(err, CD_EINVAL, "augmentation needs image rows (C,H,W) and a padding >= 0");
    if (cd_augment_active(a) && (d->scratch = malloc(d->row_size * sizeof *d->scratch)) == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    for (int i = 0; i < NSLOTS; i++) {
        cd_batch *b = &d->slots[i];
        b->x = malloc((size_t)d->cfg.batch * d->row_size * sizeof *b->x + 1);
        b->y = malloc((size_t)d->cfg.batch * sizeof *b->y + 1);
        b->yf = malloc((size_t)d->cfg.batch * sizeof *b->yf + 1);
        if (b->x == NULL || b->y == NULL || b->yf == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory for batches of %d rows", d->cfg.batch);
    }
    return CD_OK;
}

cd_code cd_data_open(cd_data **out, const cd_data_config *cfg, const char *const *dirs, int ndirs,
                     cd_err *err)
{
    *out = NULL;
    if (ndirs < 1 || cfg->batch < 1 || cfg->in_ndim < 1 || cfg->in_ndim > CD_DATA_MAXDIM)
        return cd_fail(err, CD_EINVAL, "no shard, batch size or input shape given");
    cd_data *d = calloc(1, sizeof *d);
    if (d == NULL || (d->shards = calloc((size_t)ndirs, sizeof *d->shards)) == NULL) {
        free(d);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    d->cfg = *cfg;
    d->held = -1;
    d->row_size = 1;
    for (int i = 0; i < cfg->in_ndim; i++)
        d->row_size *= (uint64_t)cfg->in_shape[i];
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->changed, NULL);
    cd_code rc = CD_OK;
    cd_pg_session *pg = NULL; /* pg: shards: the database time counts as waiting for data */
    for (; d->nshards < ndirs && rc == CD_OK; d->nshards++) {
        rc = open_shard(d, &d->shards[d->nshards], dirs[d->nshards], &pg, err);
        d->rows += d->shards[d->nshards].rows;
    }
    d->wait_s += cd_pg_session_seconds(pg);
    cd_pg_session_close(&pg);
    if (rc == CD_OK)
        rc = alloc_slots(d, err);
    if (rc == CD_OK && pthread_create(&d->thread, NULL, producer, d) != 0)
        rc = cd_fail(err, CD_ENOMEM, "could not start the prefetch thread");
    d->started = rc == CD_OK;
    if (rc != CD_OK) {
        cd_data_close(&d);
        return rc;
    }
    *out = d;
    return CD_OK;
}

cd_code cd_data_next(cd_data *d, const cd_batch **b, cd_err *err)
{
    *b = NULL;
    double t0 = cd_monotonic_s();
    pthread_mutex_lock(&d->lock);
    if (d->held >= 0) { /* give back the previous batch */
        d->held = -1;
        d->head = (d->head + 1) % NSLOTS;
        d->count--;
        pthread_cond_broadcast(&d->changed);
    }
    while (d->count == 0 && !d->done)
        pthread_cond_wait(&d->changed, &d->lock);
    cd_code rc = d->err.code;
    if (rc != CD_OK && err != NULL)
        *err = d->err;
    if (rc == CD_OK && d->count > 0) {
        d->held = d->head;
        *b = &d->slots[d->head];
    }
    pthread_mutex_unlock(&d->lock);
    d->wait_s += cd_monotonic_s() - t0;
    return rc;
}

uint64_t cd_data_rows(const cd_data *d)
{
    return d->rows;
}

uint64_t cd_data_row_size(const cd_data *d)
{
    return d->row_size;
}

double cd_data_wait_seconds(const cd_data *d)
{
    return d->wait_s;
}

void cd_data_close(cd_data **dp)
{
    cd_data *d = *dp;
    if (d == NULL)
        return;
    if (d->started) {
        pthread_mutex_lock(&d->lock);
        d->stop = true;
        pthread_cond_broadcast(&d->changed);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->thread, NULL);
    }
    free(d->scratch);
    for (int i = NSLOTS - 1; i >= 0; i--) {
        free(d->slots[i].yf);
        free(d->slots[i].y);
        free(d->slots[i].x);
    }
    for (int i = d->nshards - 1; i >= 0; i--) {
        void (*close_column)(cd_npy *) = d->shards[i].in_memory ? cd_pg_column_free : cd_npy_close;
        close_column(&d->shards[i].y);
        close_column(&d->shards[i].x);
    }
    free(d->shards);
    pthread_cond_destroy(&d->changed);
    pthread_mutex_destroy(&d->lock);
    free(d);
    *dp = NULL;
}
