/*
 * test_ckpt.c: unit tests for checkpoints (trainer/ckpt.c) and CRC-32C (common/crc32c.c).
 *
 * Oracles: the standard CRC-32C check values; a checkpoint written then read back must give
 * the same bits (NaN payloads and -0 included) and rewriting it the same file; every
 * truncation and every single-bit flip of a real checkpoint file is refused with an error;
 * random damage with a recomputed CRC (so that the entry checks are reached) never crashes;
 * a write that fails (RLIMIT_FSIZE) leaves the old file intact; exported .npy files are read
 * back by cd_npy and by numpy (/usr/bin/python3; without numpy a skip, which fails CI).
 * Run from the repository root; works in a mkdtemp directory under /tmp.
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "crc32c.h"
#include "unit.h"

#define HASH 0x0123456789abcdefULL

static char tmpdir[64];

/* The sample model state: a conv weight, its bias, Adam state, batchnorm stats, a scalar
 * and an empty tensor. */
static float w[4 * 3 * 3 * 3], b[4], m[4 * 3 * 3 * 3], mean[4], scalar[1];
static const uint64_t wdims[4] = {4, 3, 3, 3}, bdims[1] = {4}, edims[2] = {0, 5};
static uint8_t rng[37];
#define FP "version=0.1.0 backend=cpu blas=OpenBLAS-0.3.21 core=Haswell threads=2"

static void fill_sample(void)
{
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        w[i] = (float)i * 0.25f - 3.0f;
        m[i] = 1.0f / (float)(i + 1);
    }
    for (int i = 0; i < 4; i++) {
        b[i] = -(float)i;
        mean[i] = 0.5f * (float)i;
    }
    uint32_t nan_bits = 0x7fc01234u, neg_zero = 0x80000000u;
    memcpy(&b[0], &neg_zero, 4);
    memcpy(&mean[3], &nan_bits, 4);
    scalar[0] = 42.0f;
    for (size_t i = 0; i < sizeof rng; i++)
        rng[i] = (uint8_t)(i * 7 + 1);
}

static void build_sample(cd_ckpt *ck)
{
    cd_err err = {0};
    cd_ckpt_init(ck);
    ck->config_hash = HASH;
    ck->epoch = 3;
    ck->step = 1234567890123ULL;
    CHECK_CODE(cd_ckpt_set_rng(ck, rng, sizeof rng, &err), CD_OK, &err);
    snprintf(ck->numerics, sizeof ck->numerics, "%s", FP);
    CHECK_CODE(cd_ckpt_add(ck, "conv1.w", 4, wdims, w, &err), CD_OK, &err);
    CHECK_CODE(cd_ckpt_add(ck, "conv1.b", 1, bdims, b, &err), CD_OK, &err);
    CHECK_CODE(cd_ckpt_add(ck, "conv1.w.exp_avg", 4, wdims, m, &err), CD_OK, &err);
    CHECK_CODE(cd_ckpt_add(ck, "bn1.running_mean", 1, bdims, mean, &err), CD_OK, &err);
    CHECK_CODE(cd_ckpt_add(ck, "lr_scale", 0, NULL, scalar, &err), CD_OK, &err);
    CHECK_CODE(cd_ckpt_add(ck, "empty", 2, edims, NULL, &err), CD_OK, &err);
}

static void tmp_file(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static int same_tensor(const cd_ckpt_tensor *a, const cd_ckpt_tensor *c)
{
    return strcmp(a->name, c->name) == 0 && a->ndim == c->ndim && a->n == c->n &&
           memcmp(a->dims, c->dims, (size_t)a->ndim * 8) == 0 &&
           (a->n == 0 || memcmp(a->data, c->data, 4 * (size_t)a->n) == 0);
}

static int same_ckpt(const cd_ckpt *a, const cd_ckpt *c)
{
    if (a->config_hash != c->config_hash || a->epoch != c->epoch || a->step != c->step ||
        a->rng_len != c->rng_len || memcmp(a->rng, c->rng, a->rng_len) != 0 ||
        strcmp(a->numerics, c->numerics) != 0 || a->ntensors != c->ntensors)
        return 0;
    for (size_t i = 0; i < a->ntensors; i++) {
        if (!same_tensor(&a->tensors[i], &c->tensors[i]))
            return 0;
    }
    return 1;
}

static void test_crc32c(void)
{
    uint8_t zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    CHECK_EQ_INT(cd_crc32c("123456789", 9), 0xe3069283u);
    CHECK_EQ_INT(cd_crc32c(zeros, 32), 0x8a9136aau);
    CHECK_EQ_INT(cd_crc32c(ones, 32), 0x62a8ab43u);
    CHECK_EQ_INT(cd_crc32c_update(cd_crc32c("1234", 4), "56789", 5), 0xe3069283u);
    CHECK_EQ_INT(cd_crc32c("", 0), 0);
}

static void test_round_trip(void)
{
    char p1[128], p2[128];
    cd_ckpt ck, rd, rd2;
    cd_err err = {0};
    size_t l1 = 0, l2 = 0;
    tmp_file(p1, sizeof p1, "a.ckpt");
    tmp_file(p2, sizeof p2, "b.ckpt");
    build_sample(&ck);
    CHECK_CODE(cd_ckpt_write(&ck, p1, &err), CD_OK, &err);
    CHECK_CODE(cd_ckpt_read(p1, &rd, &err), CD_OK, &err);
    CHECK(same_ckpt(&ck, &rd));
    CHECK_CODE(cd_ckpt_check_config(&rd, p1, HASH, &err), CD_OK, &err);
    CHECK_CODE(cd_ckpt_write(&rd, p2, &err), CD_OK, &err);
    uint8_t *f1 = unit_read_file(p1, &l1), *f2 = unit_read_file(p2, &l2);
    CHECK(f1 != NULL && f2 != NULL && l1 == l2 && memcmp(f1, f2, l1) == 0);
    CHECK_EQ_INT(l1, 64 + 37 + strlen(FP) + (8 + 7 + 32 + 432) + (8 + 7 + 8 + 16) +
                         (8 + 15 + 32 + 432) + (8 + 16 + 8 + 16) + (8 + 8 + 4) + (8 + 5 + 16) + 4);
    CHECK(f1 != NULL && memcmp(f1, "CDCKPT01", 8) == 0);
    CHECK_CODE(cd_ckpt_read(p2, &rd2, &err), CD_OK, &err);
    CHECK(same_ckpt(&ck, &rd2));
    const cd_ckpt_tensor *t = cd_ckpt_find(&rd2, "bn1.running_mean");
    CHECK(t != NULL && t->ndim == 1 && t->dims[0] == 4 && cd_ckpt_find(&rd2, "nope") == NULL);
    free(f1);
    free(f2);
    cd_ckpt_free(&ck);
    cd_ckpt_free(&rd);
    cd_ckpt_free(&rd2);
    cd_ckpt_free(&rd2); /* twice is safe */
}

/* The bytes of the sample checkpoint file. */
static uint8_t *sample_file(size_t *len)
{
    char p[128];
    cd_ckpt ck;
    cd_err err = {0};
    tmp_file(p, sizeof p, "sample.ckpt");
    build_sample(&ck);
    CHECK_CODE(cd_ckpt_write(&ck, p, &err), CD_OK, &err);
    cd_ckpt_free(&ck);
    return unit_read_file(p, len);
}

static void test_truncations(void)
{
    size_t len;
    cd_ckpt rd;
    cd_err err = {0};
    char p[128];
    uint8_t *f = sample_file(&len);
    if (f == NULL)
        return;
    int bad = 0;
    for (size_t cut = 0; cut < len; cut++) {
        if (cd_ckpt_parse(f, cut, "mem.ckpt", &rd, &err) != CD_ECORRUPT)
            bad++;
        if (rd.ntensors != 0 || rd.rng != NULL)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* Through the file system too, and the message names the file. */
    size_t cuts[] = {0, 5, 8, 67, 68, 100, len / 2, len - 1};
    tmp_file(p, sizeof p, "cut.ckpt");
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *o = fopen(p, "wb");
        CHECK(o != NULL && fwrite(f, 1, cuts[i], o) == cuts[i]);
        if (o != NULL)
            fclose(o);
        CHECK_CODE(cd_ckpt_read(p, &rd, &err), CD_ECORRUPT, &err);
        CHECK(strstr(err.msg, p) != NULL);
        CHECK(cuts[i] < 8 || strstr(err.msg, "truncated") != NULL);
    }
    free(f);
}

static void test_bit_flips(void)
{
    size_t len;
    cd_ckpt rd;
    cd_err err = {0};
    uint8_t *f = sample_file(&len);
    if (f == NULL)
        return;
    int bad = 0;
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            f[i] ^= (uint8_t)(1u << bit);
            cd_code rc = cd_ckpt_parse(f, len, "mem.ckpt", &rd, &err);
            bad += rc != CD_ECORRUPT && rc != CD_EUNSUPPORTED;
            cd_ckpt_free(&rd);
            f[i] ^= (uint8_t)(1u << bit);
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_CODE(cd_ckpt_parse(f, len, "mem.ckpt", &rd, &err), CD_OK, &err);
    cd_ckpt_free(&rd);
    free(f);
}

/* Damage then recompute the CRC so that the entry checks run; nothing may crash. */
static void test_damage_with_valid_crc(void)
{
    size_t len;
    cd_ckpt rd;
    cd_err err = {0};
    uint8_t *f = sample_file(&len);
    if (f == NULL)
        return;
    uint8_t *g = malloc(len);
    srand(12345);
    int ok = 0, refused = 0;
    for (int iter = 0; iter < 20000 && g != NULL; iter++) {
        memcpy(g, f, len);
        int k = 1 + rand() % 4;
        for (int j = 0; j < k; j++) {
            size_t pos = 24 + (size_t)rand() % (len - 28); /* keep magic, version, length */
            g[pos] = (uint8_t)(rand() % 3 == 0 ? 0xff : rand());
        }
        uint32_t crc = cd_crc32c(g, len - 4);
        memcpy(g + len - 4, &crc, 4);
        cd_code rc = cd_ckpt_parse(g, len, "mem.ckpt", &rd, &err);
        ok += rc == CD_OK;
        refused += rc == CD_ECORRUPT;
        cd_ckpt_free(&rd);
    }
    CHECK_EQ_INT(ok + refused, 20000);
    CHECK(refused > 1000);
    fprintf(stderr, "     damaged with valid crc: %d accepted (data bytes), %d refused\n", ok,
            refused);
    free(g);
    free(f);
}

static void test_magic_version_hash(void)
{
    size_t len;
    cd_ckpt rd;
    cd_err err = {0};
    char p[128];
    uint8_t *f = sample_file(&len);
    if (f == NULL)
        return;
    f[0] = 'X';
    CHECK_CODE(cd_ckpt_parse(f, len, "x.ckpt", &rd, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "not a cerebro-ds checkpoint") != NULL);
    f[0] = 'C';
    f[8] = 3;
    uint32_t crc = cd_crc32c(f, len - 4);
    memcpy(f + len - 4, &crc, 4);
    CHECK_CODE(cd_ckpt_parse(f, len, "x.ckpt", &rd, &err), CD_EUNSUPPORTED, &err);
    free(f);
    tmp_file(p, sizeof p, "sample.ckpt");
    CHECK_CODE(cd_ckpt_read(p, &rd, &err), CD_OK, &err);
    CHECK_CODE(cd_ckpt_check_config(&rd, p, HASH + 1, &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "another model configuration") != NULL && strstr(err.msg, p) != NULL);
    cd_ckpt_free(&rd);
    tmp_file(p, sizeof p, "missing.ckpt");
    CHECK_CODE(cd_ckpt_read(p, &rd, &err), CD_EIO, &err);
}

/* Rewrite the header's version and numerics length, recompute the CRC, parse. */
static cd_code parse_patched(uint8_t *f, size_t len, uint32_t version, uint32_t fp_len, cd_ckpt *rd,
                             cd_err *err)
{
    memcpy(f + 8, &version, 4);
    memcpy(f + 12, &fp_len, 4);
    uint32_t crc = cd_crc32c(f, len - 4);
    memcpy(f + len - 4, &crc, 4);
    return cd_ckpt_parse(f, len, "x.ckpt", rd, err);
}

/* Version 2 carries the numeric fingerprint after the RNG state; version 1 files (none)
 * are still read; a fingerprint that is too long or not one safe line is refused. */
static void test_numerics(void)
{
    size_t len;
    cd_ckpt ck, rd;
    cd_err err = {0};
    char p[128];
    tmp_file(p, sizeof p, "v1.ckpt");
    build_sample(&ck);
    ck.numerics[0] = '\0';
    CHECK_CODE(cd_ckpt_write(&ck, p, &err), CD_OK, &err);
    uint8_t *f = unit_read_file(p, &len);
    if (f == NULL)
        return;
    CHECK_CODE(parse_patched(f, len, 1, 0, &rd, &err), CD_OK, &err);
    CHECK(same_ckpt(&ck, &rd) && rd.numerics[0] == '\0');
    cd_ckpt_free(&rd);
    free(f);
    cd_ckpt_free(&ck);

    f = sample_file(&len);
    if (f == NULL)
        return;
    CHECK_CODE(parse_patched(f, len, 2, (uint32_t)strlen(FP), &rd, &err), CD_OK, &err);
    CHECK(strcmp(rd.numerics, FP) == 0);
    cd_ckpt_free(&rd);
    CHECK_CODE(parse_patched(f, len, 2, 100000, &rd, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "numerics") != NULL);
    size_t at = 64 + sizeof rng + 7; /* a byte inside the fingerprint */
    f[at] = '\t';
    CHECK_CODE(parse_patched(f, len, 2, (uint32_t)strlen(FP), &rd, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "numerics fingerprint") != NULL);
    free(f);
}

static void test_bad_adds(void)
{
    cd_ckpt ck;
    cd_err err = {0};
    uint64_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, huge[2] = {1ULL << 40, 1ULL << 40};
    cd_ckpt_init(&ck);
    const char *bad_names[] = {"", "../x", "a/b", ".hidden", "sp ace"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        CHECK_CODE(cd_ckpt_add(&ck, bad_names[i], 1, bdims, b, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_ckpt_add(&ck, "ok", 9, d9, b, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_ckpt_add(&ck, "ok", 2, huge, b, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_ckpt_add(&ck, "ok", 1, bdims, NULL, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_ckpt_add(&ck, "ok", 1, bdims, b, &err), CD_OK, &err);
    CHECK_CODE(cd_ckpt_add(&ck, "ok", 1, bdims, b, &err), CD_EINVAL, &err);
    CHECK_EQ_INT(ck.ntensors, 1);
    cd_ckpt_free(&ck);
}

/* A write that fails part way (file size limit) leaves the old checkpoint as it was. */
static void test_atomic_write(void)
{
    char p[128], tmp[160];
    cd_ckpt ck, big;
    cd_err err = {0};
    size_t l0 = 0, l1 = 0;
    struct rlimit old, lim;
    static float large[1 << 18];
    uint64_t ldims[1] = {1 << 18};
    tmp_file(p, sizeof p, "atomic.ckpt");
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    build_sample(&ck);
    CHECK_CODE(cd_ckpt_write(&ck, p, &err), CD_OK, &err);
    uint8_t *before = unit_read_file(p, &l0);
    cd_ckpt_init(&big);
    CHECK_CODE(cd_ckpt_add(&big, "large", 1, ldims, large, &err), CD_OK, &err);
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 100000;
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK_CODE(cd_ckpt_write(&big, p, &err), CD_EIO, &err);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    CHECK(strstr(err.msg, tmp) != NULL);
    uint8_t *after = unit_read_file(p, &l1);
    CHECK(before != NULL && after != NULL && l0 == l1 && memcmp(before, after, l0) == 0);
    CHECK(access(tmp, F_OK) != 0);
    CHECK_CODE(cd_ckpt_write(&ck, "/nonexistent-dir/x.ckpt", &err), CD_EIO, &err);
    free(before);
    free(after);
    cd_ckpt_free(&big);
    cd_ckpt_free(&ck);
}

static void check_numpy(const char *dir)
{
    char cmd[1024];
    if (system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
        UNIT_SKIP("the numpy check of the exported files: numpy not available");
        return;
    }
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np, sys; a = np.load('%s/conv1.w.npy'); "
             "e = (np.arange(108, dtype=np.float32) * np.float32(0.25) - np.float32(3))"
             ".reshape(4, 3, 3, 3); sys.exit(0 if a.dtype == np.float32 and a.shape == e.shape "
             "and np.array_equal(a, e) and np.load('%s/empty.npy').shape == (0, 5) and "
             "np.load('%s/lr_scale.npy').shape == () else 1)\"",
             dir, dir, dir);
    CHECK(system(cmd) == 0);
}

static void test_export_import(void)
{
    char dir[128];
    cd_ckpt ck;
    cd_err err = {0};
    float got[108];
    uint64_t wrong[4] = {4, 3, 3, 2};
    tmp_file(dir, sizeof dir, "export");
    build_sample(&ck);
    CHECK_CODE(cd_ckpt_export(&ck, dir, &err), CD_OK, &err);
    for (size_t i = 0; i < ck.ntensors; i++) {
        const cd_ckpt_tensor *t = &ck.tensors[i];
        memset(got, 0x55, sizeof got);
        if (strcmp(t->name, "bn1.running_mean") == 0) { /* holds a NaN: refused, named */
            CHECK_CODE(cd_ckpt_import_tensor(dir, t->name, t->ndim, t->dims, got, &err), CD_EINVAL,
                       &err);
            CHECK(strstr(err.msg, "bn1.running_mean.npy\" holds nan at element 3") != NULL);
            continue;
        }
        CHECK_CODE(cd_ckpt_import_tensor(dir, t->name, t->ndim, t->dims, got, &err), CD_OK, &err);
        CHECK(t->n == 0 || memcmp(got, t->data, 4 * t->n) == 0);
    }
    CHECK_CODE(cd_ckpt_import_tensor(dir, "conv1.w", 4, wrong, got, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_ckpt_import_tensor(dir, "conv1.w", 3, wdims, got, &err), CD_EINVAL, &err);
    CHECK_CODE(cd_ckpt_import_tensor(dir, "conv9.w", 4, wdims, got, &err), CD_ENOTFOUND, &err);
    check_numpy(dir);
    cd_ckpt_free(&ck);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cd-test-ckpt-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    fill_sample();
    RUN(test_crc32c);
    RUN(test_round_trip);
    RUN(test_truncations);
    RUN(test_bit_flips);
    RUN(test_damage_with_valid_crc);
    RUN(test_magic_version_hash);
    RUN(test_numerics);
    RUN(test_bad_adds);
    RUN(test_atomic_write);
    RUN(test_export_import);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return UNIT_DONE();
}
