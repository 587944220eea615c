/*
 * test_augment.c: training-time augmentation (trainer/augment.c) and its use by the batch
 * assembly (trainer/data.c): crop and flip geometry on tiny images against a plain
 * pad-then-cut-then-mirror reference, the draws (a pure function of seed, epoch, shard and
 * row; uniform offsets; flips about half the time), and batches: every row augmented by its
 * own draw whatever the batch size, nothing augmented without the config (eval, predict).
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "augment.h"
#include "data.h"
#include "npy.h"
#include "unit.h"

static char root[] = "/tmp/cd-test-augment-XXXXXX";

/* src[c][y][x] = 100c + 10y + x + 1: never 0, so padding shows. */
static void fill_image(float *src, int c, int h, int w)
{
    for (int i = 0; i < c; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                src[(i * h + y) * w + x] = (float)(100 * i + 10 * y + x + 1);
}

/* The reference: build the zero-padded image, cut the window, mirror it. */
static void reference(const float *src, int c, int h, int w, int pad, int dy, int dx, bool flip,
                      float *dst)
{
    int ph = h + 2 * pad, pw = w + 2 * pad;
    float *padded = calloc((size_t)(c * ph * pw), sizeof *padded);
    for (int i = 0; i < c; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                padded[(i * ph + y + pad) * pw + x + pad] = src[(i * h + y) * w + x];
    for (int i = 0; i < c; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int cx = flip ? w - 1 - x : x; /* column of the cut window */
                dst[(i * h + y) * w + x] = padded[(i * ph + y + dy) * pw + cx + dx];
            }
    free(padded);
}

static void test_geometry_by_hand(void)
{
    float src[2 * 3 * 4], out[2 * 3 * 4];
    fill_image(src, 2, 3, 4);
    cd_augment a = {.crop_pad = 1, .hflip = true};
    /* one row down (top row from the padding), two columns right */
    cd_augment_draw d = {.dy = 0, .dx = 2, .flip = false};
    cd_augment_apply(&a, &d, 2, 3, 4, src, out);
    const float want0[] = {0, 0, 0, 0, 2, 3, 4, 0, 12, 13, 14, 0};
    const float want1[] = {0, 0, 0, 0, 102, 103, 104, 0, 112, 113, 114, 0};
    CHECK(memcmp(out, want0, sizeof want0) == 0);
    CHECK(memcmp(out + 12, want1, sizeof want1) == 0);
    /* no shift, mirrored */
    d = (cd_augment_draw){.dy = 1, .dx = 1, .flip = true};
    cd_augment_apply(&a, &d, 2, 3, 4, src, out);
    const float want2[] = {4, 3, 2, 1, 14, 13, 12, 11, 24, 23, 22, 21};
    CHECK(memcmp(out, want2, sizeof want2) == 0);
    /* up one, left one, then mirrored: the right column comes from the left padding */
    d = (cd_augment_draw){.dy = 2, .dx = 0, .flip = true};
    cd_augment_apply(&a, &d, 2, 3, 4, src, out);
    const float want3[] = {13, 12, 11, 0, 23, 22, 21, 0, 0, 0, 0, 0};
    CHECK(memcmp(out, want3, sizeof want3) == 0);
}

static void test_geometry_reference(void)
{
    enum { C = 3, H = 5, W = 4, P = 2 };
    float src[C * H * W], out[C * H * W], want[C * H * W];
    fill_image(src, C, H, W);
    cd_augment a = {.crop_pad = P, .hflip = true};
    for (int dy = 0; dy <= 2 * P; dy++)
        for (int dx = 0; dx <= 2 * P; dx++)
            for (int flip = 0; flip < 2; flip++) {
                cd_augment_draw d = {dy, dx, flip};
                cd_augment_apply(&a, &d, C, H, W, src, out);
                reference(src, C, H, W, P, dy, dx, flip, want);
                CHECK(memcmp(out, want, sizeof want) == 0);
            }
}

static void test_draws(void)
{
    cd_augment a = {.crop_pad = 2, .hflip = true};
    uint64_t key = cd_augment_shard_key("part0");
    CHECK(key == cd_augment_shard_key("part0") && key != cd_augment_shard_key("part1"));
    int dys[5] = {0}, dxs[5] = {0}, flips = 0, same_epoch = 0, same_shard = 0;
    enum { N = 5000 };
    for (uint64_t row = 0; row < N; row++) {
        cd_augment_draw d = cd_augment_decide(&a, 7, 3, key, row);
        cd_augment_draw again = cd_augment_decide(&a, 7, 3, key, row);
        CHECK(d.dy == again.dy && d.dx == again.dx && d.flip == again.flip);
        CHECK(d.dy >= 0 && d.dy <= 4 && d.dx >= 0 && d.dx <= 4);
        dys[d.dy]++, dxs[d.dx]++, flips += d.flip;
        cd_augment_draw e = cd_augment_decide(&a, 7, 4, key, row);
        cd_augment_draw s = cd_augment_decide(&a, 7, 3, cd_augment_shard_key("part1"), row);
        same_epoch += e.dy == d.dy && e.dx == d.dx && e.flip == d.flip;
        same_shard += s.dy == d.dy && s.dx == d.dx && s.flip == d.flip;
    }
    for (int i = 0; i < 5; i++) /* 1000 each expected; 4 sigma is ~115 */
        CHECK(dys[i] > 850 && dys[i] < 1150 && dxs[i] > 850 && dxs[i] < 1150);
    CHECK(flips > 2300 && flips < 2700);
    /* another epoch or shard: another draw (1 in 50 agree by chance) */
    CHECK(same_epoch < 200 && same_shard < 200);
    /* the flip alone does not move the crop; neither on nor off draws anything else */
    cd_augment crop_only = {.crop_pad = 2};
    cd_augment flip_only = {.hflip = true};
    for (uint64_t row = 0; row < 100; row++) {
        cd_augment_draw d = cd_augment_decide(&a, 7, 3, key, row);
        cd_augment_draw c = cd_augment_decide(&crop_only, 7, 3, key, row);
        cd_augment_draw f = cd_augment_decide(&flip_only, 7, 3, key, row);
        CHECK(c.dy == d.dy && c.dx == d.dx && !c.flip);
        CHECK(f.dy == 0 && f.dx == 0 && f.flip == d.flip);
    }
    CHECK(!cd_augment_active(&(cd_augment){0}) && cd_augment_active(&flip_only));
}

/* A shard of n images (1, 3, 4) as uint8, row r holding fill_image + r (mod 256). */
static void make_shard(const char *name, uint64_t n)
{
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    mkdir(dir, 0755);
    uint8_t *x = calloc(n * 12, 1);
    int32_t *y = calloc(n, sizeof *y);
    float img[12];
    fill_image(img, 1, 3, 4);
    for (uint64_t r = 0; r < n; r++) {
        y[r] = (int32_t)(r % 2);
        for (int k = 0; k < 12; k++)
            x[r * 12 + (uint64_t)k] = (uint8_t)(((uint64_t)img[k] + r) % 256);
    }
    cd_err err = {0};
    uint64_t xs[4] = {n, 1, 3, 4};
    snprintf(path, sizeof path, "%s/x.npy", dir);
    CHECK_CODE(cd_npy_write(path, "|u1", xs, 4, x, n * 12, &err), CD_OK, &err);
    snprintf(path, sizeof path, "%s/y.npy", dir);
    CHECK_CODE(cd_npy_write(path, "<i4", &n, 1, y, n * 4, &err), CD_OK, &err);
    free(y);
    free(x);
}

static cd_data_config image_config(int batch, cd_augment a)
{
    cd_data_config c = {.feature = "x",
                        .label = "y",
                        .scale = 0.5f,
                        .in_ndim = 3,
                        .in_shape = {1, 3, 4},
                        .classes = 2,
                        .batch = batch,
                        .shuffle = true,
                        .seed = 11,
                        .epoch = 2,
                        .augment = a};
    return c;
}

/* Every batch of a run over part0: each row must be source row `label-checked` augmented by
 * its own draw (or left alone when a is off). Returns the rows seen. */
static int check_run(int batch, cd_augment a)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/part0", root);
    const char *dirs[] = {dir};
    cd_data_config c = image_config(batch, a);
    cd_data *d;
    cd_err err = {0};
    CHECK_CODE(cd_data_open(&d, &c, dirs, 1, &err), CD_OK, &err);
    if (d == NULL)
        return 0;
    uint64_t perm[23];
    cd_data_permutation(c.seed, c.epoch, "part0", 23, perm);
    const cd_batch *b;
    int seen = 0;
    float img[12], src[12], want[12];
    fill_image(img, 1, 3, 4);
    while (cd_data_next(d, &b, &err) == CD_OK && b != NULL) {
        for (int i = 0; i < b->n; i++, seen++) {
            uint64_t row = perm[seen];
            for (int k = 0; k < 12; k++)
                src[k] = (float)(((uint64_t)img[k] + row) % 256) * 0.5f;
            cd_augment_draw dr = cd_augment_decide(&a, 11, 2, cd_augment_shard_key("part0"), row);
            if (cd_augment_active(&a))
                reference(src, 1, 3, 4, a.crop_pad, dr.dy, dr.dx, dr.flip, want);
            else
                memcpy(want, src, sizeof want);
            CHECK(memcmp(b->x + i * 12, want, sizeof want) == 0);
            CHECK_EQ_INT(b->y[i], (int)(row % 2));
        }
    }
    CHECK_CODE(err.code, CD_OK, &err);
    cd_data_close(&d);
    return seen;
}

static void test_batches(void)
{
    make_shard("part0", 23);
    /* the same rows come out augmented the same way in batches of 4, 5 and 23 */
    CHECK_EQ_INT(check_run(4, (cd_augment){.crop_pad = 1, .hflip = true}), 23);
    CHECK_EQ_INT(check_run(5, (cd_augment){.crop_pad = 1, .hflip = true}), 23);
    CHECK_EQ_INT(check_run(23, (cd_augment){.crop_pad = 2}), 23);
    /* without the config (eval, predict): the rows as stored */
    CHECK_EQ_INT(check_run(4, (cd_augment){0}), 23);
    /* augmentation of rows that are not images is refused */
    char dir[256];
    snprintf(dir, sizeof dir, "%s/part0", root);
    const char *dirs[] = {dir};
    cd_data_config c = image_config(4, (cd_augment){.hflip = true});
    c.in_ndim = 1, c.in_shape[0] = 12;
    cd_data *d;
    cd_err err = {0};
    CHECK_CODE(cd_data_open(&d, &c, dirs, 1, &err), CD_EINVAL, &err);
    CHECK(d == NULL && strstr(err.msg, "image") != NULL);
}

int main(void)
{
    if (mkdtemp(root) == NULL)
        return 1;
    RUN(test_geometry_by_hand);
    RUN(test_geometry_reference);
    RUN(test_draws);
    RUN(test_batches);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return UNIT_DONE();
}
