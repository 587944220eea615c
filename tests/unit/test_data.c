/*
 * test_data.c: mini-batches from shard directories: order, shuffling, batches that never
 * span shards (several shards in one run == one run per shard), dtype conversion and
 * scaling, one-hot labels (N, classes), and the errors for bad input (missing column, NULLs,
 * wrong shape, labels out of range or not one-hot, NaN, empty shard).
 */
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data.h"
#include "npy.h"
#include "unit.h"

static char root[] = "/tmp/cd-test-data-XXXXXX";

/* A shard dir with x (n, 2, 3) of dtype descr holding row*10 + k, and int32 labels row % 3. */
static void make_shard(const char *name, uint64_t n, const char *descr)
{
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    mkdir(dir, 0755);
    size_t isz = cd_npy_itemsize(descr);
    uint8_t *x = calloc(n * 6 + 1, isz);
    int32_t *y = calloc(n + 1, sizeof *y);
    for (uint64_t r = 0; r < n; r++) {
        y[r] = (int32_t)(r % 3);
        for (int k = 0; k < 6; k++) {
            double v = (double)(r * 10 + (uint64_t)k);
            uint8_t *p = x + (r * 6 + (uint64_t)k) * isz;
            if (descr[1] == 'f' && isz == 4)
                *(float *)p = (float)v;
            else if (descr[1] == 'f')
                *(double *)p = v;
            else if (isz == 1)
                *p = (uint8_t)v;
            else if (isz == 2)
                *(int16_t *)p = (int16_t)v;
            else if (isz == 4)
                *(int32_t *)p = (int32_t)v;
            else
                *(int64_t *)p = (int64_t)v;
        }
    }
    cd_err err = {0};
    uint64_t xs[3] = {n, 2, 3};
    snprintf(path, sizeof path, "%s/x.npy", dir);
    CHECK_CODE(cd_npy_write(path, descr, xs, 3, x, n * 6 * isz, &err), CD_OK, &err);
    snprintf(path, sizeof path, "%s/y.npy", dir);
    CHECK_CODE(cd_npy_write(path, "<i4", &n, 1, y, n * 4, &err), CD_OK, &err);
    free(y);
    free(x);
}

static cd_data_config config(int batch, bool shuffle)
{
    cd_data_config c = {.feature = "x",
                        .label = "y",
                        .scale = 0.5f,
                        .in_ndim = 1,
                        .in_shape = {6},
                        .classes = 3,
                        .batch = batch,
                        .shuffle = shuffle,
                        .seed = 7,
                        .epoch = 1};
    return c;
}

/* Label sequence and first features of every batch of a run, as a string. */
static void run(const cd_data_config *c, const char *const *dirs, int n, char *out, size_t cap)
{
    cd_data *d;
    cd_err err = {0};
    size_t len = 0;
    out[0] = '\0';
    CHECK_CODE(cd_data_open(&d, c, dirs, n, &err), CD_OK, &err);
    if (d == NULL)
        return;
    const cd_batch *b;
    while (cd_data_next(d, &b, &err) == CD_OK && b != NULL)
        for (int i = 0; i < b->n && len < cap; i++)
            len += (size_t)snprintf(out + len, cap - len, "%d:%g,", b->shard, b->x[i * 6] / 0.5);
    cd_data_close(&d);
}

static void test_order_and_batches(void)
{
    const char *dirs[2] = {"", ""};
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/part0", root);
    snprintf(b, sizeof b, "%s/part1", root);
    dirs[0] = a;
    dirs[1] = b;
    cd_data_config c = config(4, false);
    cd_data *d;
    cd_err err = {0};
    CHECK_CODE(cd_data_open(&d, &c, dirs, 2, &err), CD_OK, &err);
    CHECK_EQ_INT(cd_data_rows(d), 10 + 7);
    const cd_batch *bt;
    int sizes[16], nb = 0;
    while (cd_data_next(d, &bt, &err) == CD_OK && bt != NULL && nb < 16) {
        sizes[nb++] = bt->n;
        CHECK(bt->x[1] == (float)(bt->x[0] + 0.5f)); /* k = 1, scaled by 0.5 */
    }
    CHECK_EQ_INT(nb, 5); /* 4 4 2 | 4 3: no batch spans two shards */
    CHECK(nb == 5 && sizes[2] == 2 && sizes[3] == 4 && sizes[4] == 3);
    CHECK(cd_data_wait_seconds(d) >= 0);
    cd_data_close(&d);
}

static void test_shuffle_and_mop(void)
{
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/part0", root);
    snprintf(b, sizeof b, "%s/part1", root);
    const char *both[2] = {a, b}, *only_a[1] = {a}, *only_b[1] = {b};
    char s_both[4096], s_a[4096], s_b[4096], s_plain[4096], s_e2[4096];
    cd_data_config c = config(3, true);
    run(&c, both, 2, s_both, sizeof s_both);
    run(&c, only_a, 1, s_a, sizeof s_a);
    run(&c, only_b, 1, s_b, sizeof s_b);
    /* part1 alone is shard 0, in the pair shard 1: compare without the shard numbers */
    char joined[8192], *w = joined;
    for (const char *p = s_a; *p; p++)
        *w++ = *p;
    for (const char *p = s_b; *p; p++)
        *w++ = *p == '0' && (p == s_b || p[-1] == ',') && p[1] == ':' ? '1' : *p;
    *w = '\0';
    CHECK(strcmp(joined, s_both) == 0);
    c.shuffle = false;
    run(&c, only_a, 1, s_plain, sizeof s_plain);
    CHECK(strcmp(s_plain, s_a) != 0); /* shuffled differs from plain order */
    c.shuffle = true;
    c.epoch = 2;
    run(&c, only_a, 1, s_e2, sizeof s_e2);
    CHECK(strcmp(s_e2, s_a) != 0); /* another epoch, another order */
    uint64_t p1[10], p2[10];
    cd_data_permutation(7, 1, "part0", 10, p1);
    cd_data_permutation(7, 1, "part0", 10, p2);
    CHECK(memcmp(p1, p2, sizeof p1) == 0);
    uint64_t seen = 0;
    for (int i = 0; i < 10; i++)
        seen |= 1ull << p1[i];
    CHECK_EQ_INT(seen, 0x3FF);
}

static void test_dtypes(void)
{
    static const char *const descrs[] = {"|u1", "<i2", "<i4", "<i8", "<f4", "<f8"};
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++) {
        char name[32], dir[300];
        snprintf(name, sizeof name, "dt%zu", i);
        make_shard(name, 5, descrs[i]);
        snprintf(dir, sizeof dir, "%s/%s", root, name);
        const char *dirs[1] = {dir};
        char s[1024];
        cd_data_config c = config(2, false);
        run(&c, dirs, 1, s, sizeof s);
        CHECK(strcmp(s, "0:0,0:10,0:20,0:30,0:40,") == 0);
    }
}

static cd_code open_err(const char *name, cd_data_config *c, cd_err *err)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    const char *dirs[1] = {dir};
    cd_data *d = NULL;
    cd_code rc = cd_data_open(&d, c, dirs, 1, err);
    const cd_batch *b;
    while (rc == CD_OK && (rc = cd_data_next(d, &b, err)) == CD_OK && b != NULL)
        ;
    cd_data_close(&d);
    return rc;
}

static void test_errors(void)
{
    cd_err err = {0};
    cd_data_config c = config(4, false);
    c.feature = "nosuch";
    CHECK_CODE(open_err("part0", &c, &err), CD_ENOTFOUND, &err);
    CHECK(strstr(err.msg, "no column \"nosuch\"") != NULL);
    c = config(4, false);
    c.in_shape[0] = 7;
    CHECK_CODE(open_err("part0", &c, &err), CD_EINVAL, &err);
    c = config(4, false);
    c.classes = 2; /* labels 0..2 */
    CHECK_CODE(open_err("part0", &c, &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "out of range") != NULL);
    make_shard("empty", 0, "<f4");
    c = config(4, false);
    CHECK_CODE(open_err("empty", &c, &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "is empty") != NULL);
    make_shard("nan", 3, "<f4");
    char path[400];
    snprintf(path, sizeof path, "%s/nan/x.npy", root);
    cd_npy n;
    CHECK_CODE(cd_npy_open(path, &n, &err), CD_OK, &err);
    FILE *f = fopen(path, "r+b");
    float nan = NAN;
    fseek(f, (long)(n.header_len + 4 * 8), SEEK_SET);
    fwrite(&nan, 4, 1, f);
    fclose(f);
    cd_npy_close(&n);
    CHECK_CODE(open_err("nan", &c, &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "row 1 is NaN") != NULL);
    snprintf(path, sizeof path, "%s/part0/x.valid.npy", root);
    uint64_t ten = 10;
    bool valid[10] = {0};
    CHECK_CODE(cd_npy_write(path, "|b1", &ten, 1, valid, 10, &err), CD_OK, &err);
    CHECK_CODE(open_err("part0", &c, &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "has NULLs") != NULL);
    unlink(path);
}

/* Labels of shard dir name replaced by one-hot rows (n, 3) of dtype descr (<i2 or <f4) for
 * the classes row % 3; bad_row >= 0 gets a second 1. */
static void write_onehot(const char *name, uint64_t n, const char *descr, int64_t bad_row)
{
    size_t isz = cd_npy_itemsize(descr);
    uint8_t *y = calloc(n * 3 + 1, isz);
    for (uint64_t r = 0; r < n; r++) {
        for (uint64_t k = 0; k < 3; k++) {
            int one = k == r % 3 || ((int64_t)r == bad_row && k == (r + 1) % 3);
            uint8_t *p = y + (r * 3 + k) * isz;
            if (isz == 2)
                *(int16_t *)p = (int16_t)one;
            else
                *(float *)p = (float)one;
        }
    }
    char path[400];
    cd_err err = {0};
    uint64_t shape[2] = {n, 3};
    snprintf(path, sizeof path, "%s/%s/y.npy", root, name);
    CHECK_CODE(cd_npy_write(path, descr, shape, 2, y, n * 3 * isz, &err), CD_OK, &err);
    free(y);
}

/* Labels and first features of every row of a run over shard dir name, as a string. */
static void labels(const cd_data_config *c, const char *name, char *out, size_t cap)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    const char *dirs[1] = {dir};
    cd_data *d;
    cd_err err = {0};
    size_t len = 0;
    out[0] = '\0';
    CHECK_CODE(cd_data_open(&d, c, dirs, 1, &err), CD_OK, &err);
    const cd_batch *b;
    while (d != NULL && cd_data_next(d, &b, &err) == CD_OK && b != NULL)
        for (int i = 0; i < b->n && len < cap; i++)
            len += (size_t)snprintf(out + len, cap - len, "%d:%g,", b->y[i], b->x[i * 6]);
    cd_data_close(&d);
}

/* A label column (N, classes) is one-hot (MADlib's int16 layout, or floats): the same batches
 * as class indices; a row that is not one-hot, or (N, k) with k != classes, is an error. */
static void test_onehot_labels(void)
{
    static const char *const descrs[] = {"<i2", "<f4"};
    char want[1024], got[1024];
    cd_data_config c = config(4, false); /* a shuffle would depend on the shard's name */
    cd_err err = {0};
    make_shard("index", 10, "<f4");
    labels(&c, "index", want, sizeof want);
    CHECK(strncmp(want, "0:0,1:5,2:10,0:15,", 18) == 0);
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++) {
        make_shard("onehot", 10, "<f4");
        write_onehot("onehot", 10, descrs[i], -1);
        labels(&c, "onehot", got, sizeof got);
        CHECK(strcmp(got, want) == 0);
        write_onehot("onehot", 10, descrs[i], 6);
        CHECK_CODE(open_err("onehot", &c, &err), CD_EINVAL, &err);
        CHECK(strstr(err.msg, "label of row 6 is not one-hot") != NULL);
    }
    c.classes = 4; /* (N, 3) labels for 4 classes */
    CHECK_CODE(open_err("onehot", &c, &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "label \"y\" has 3 values per row") != NULL);
}

int main(void)
{
    if (mkdtemp(root) == NULL)
        return 1;
    make_shard("part0", 10, "|u1");
    make_shard("part1", 7, "<f4");
    RUN(test_order_and_batches);
    RUN(test_shuffle_and_mop);
    RUN(test_dtypes);
    RUN(test_errors);
    RUN(test_onehot_labels);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return UNIT_DONE();
}
