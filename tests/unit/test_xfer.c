/*
 * test_xfer.c: the streams of model_store = copy. common/xfer.h: a stream round-trips; cut at
 * every length it is "truncated", with any one byte flipped it fails (a checksum mismatch,
 * or a foreign or damaged frame), bytes after its end or frames out of order are errors, and
 * a damaged length allocates no more than the bytes that arrived. trainer/: a checkpoint's
 * in-memory image is the file's bytes, a model file parsed from text is the model loaded
 * from the file. scheduler/store.h: a request holds the model file and checkpoint; an
 * answer is stored only whole, of its epoch, byte for byte.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"

#include "atomicfile.h"
#include "ckpt.h"
#include "model.h"
#include "store.h"
#include "xfer.h"

static char dir[] = "/tmp/cd-xfer-XXXXXX";

static void path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

/* A stream of two frames into *buf (malloc'd). */
static size_t make_stream(uint8_t **buf, const char *a, const char *b)
{
    size_t len = 0;
    FILE *f = open_memstream((char **)buf, &len);
    cd_xfer_part parts[2] = {{"MODL", (uint8_t *)a, strlen(a)}, {"CKPT", (uint8_t *)b, strlen(b)}};
    uint64_t bytes = 0;
    cd_err err = {0};
    CHECK_CODE(cd_xfer_write(f, CD_XFER_REQUEST, parts, 2, "test", &bytes, &err), CD_OK, &err);
    fclose(f);
    CHECK_EQ_INT(bytes, len);
    CHECK_EQ_INT(len, CD_XFER_OVERHEAD(2) + strlen(a) + strlen(b));
    return len;
}

/* Read buf[len] as a request of MODL and CKPT; the parts stay in p. */
static cd_code read_stream(const uint8_t *buf, size_t len, cd_xfer_part *p, uint64_t *got,
                           cd_err *err)
{
    static const uint8_t none[1];
    FILE *f = fmemopen((void *)(len ? buf : none), len ? len : 1, "rb");
    if (len == 0)
        fgetc(f); /* an empty stream */
    p[0] = (cd_xfer_part){.tag = "MODL"};
    p[1] = (cd_xfer_part){.tag = "CKPT"};
    cd_code rc = cd_xfer_read(f, CD_XFER_REQUEST, p, 2, "the test stream", got, err);
    fclose(f);
    return rc;
}

static void test_round_trip(void)
{
    uint8_t *buf;
    size_t len = make_stream(&buf, "[model]\ninput = 4\n", "");
    cd_xfer_part p[2];
    uint64_t got = 0;
    cd_err err = {0};
    CHECK_CODE(read_stream(buf, len, p, &got, &err), CD_OK, &err);
    CHECK_EQ_INT(got, len);
    CHECK(p[0].len == 18 && memcmp(p[0].data, "[model]\ninput = 4\n", 18) == 0);
    CHECK(p[0].data[18] == '\0' && p[1].len == 0 && p[1].data != NULL);
    cd_xfer_free(p, 2);
    cd_xfer_free(p, 2);
    free(buf);
}

static void test_truncations(void)
{
    uint8_t *buf;
    size_t len = make_stream(&buf, "model text", "checkpoint bytes");
    int truncated = 0, empty = 0;
    for (size_t cut = 0; cut < len; cut++) {
        cd_xfer_part p[2];
        uint64_t got = 0;
        cd_err err = {0};
        CHECK_CODE(read_stream(buf, cut, p, &got, &err), CD_ECORRUPT, &err);
        CHECK(p[0].data == NULL && p[1].data == NULL);
        CHECK_EQ_INT(got, cut);
        truncated += strstr(err.msg, "is truncated: it ends after") != NULL;
        empty += strstr(err.msg, "is empty") != NULL;
    }
    CHECK_EQ_INT(empty, 1);
    CHECK_EQ_INT(truncated, len - 1);
    free(buf);
}

static void test_bit_flips(void)
{
    uint8_t *buf;
    size_t len = make_stream(&buf, "model text", "checkpoint bytes");
    int checksum = 0;
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit += 3) {
            cd_xfer_part p[2];
            cd_err err = {0};
            buf[i] ^= (uint8_t)(1u << bit);
            CHECK(read_stream(buf, len, p, NULL, &err) != CD_OK);
            checksum += strstr(err.msg, "checksum mismatch in the test stream") != NULL;
            buf[i] ^= (uint8_t)(1u << bit);
        }
    CHECK(checksum > (int)len); /* payload and CRC bytes: most flips */
    free(buf);
}

static void test_foreign_and_damaged(void)
{
    uint8_t *buf;
    size_t len = make_stream(&buf, "m", "c");
    cd_xfer_part p[2];
    cd_err err = {0};
    uint8_t *more = malloc(len + 1);
    memcpy(more, buf, len);
    more[len] = '\n';
    CHECK_CODE(read_stream(more, len + 1, p, NULL, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "bytes follow its end frame") != NULL);
    const char banner[] = "Welcome to host 2\n";
    CHECK_CODE(read_stream((const uint8_t *)banner, sizeof banner - 1, p, NULL, &err), CD_ECORRUPT,
               &err);
    CHECK(strstr(err.msg, "it starts with \"Welcome \"") != NULL);
    /* frames out of order: an answer read as a request, CKPT where MODL belongs */
    memcpy(more, buf, len);
    memcpy(more + 8, "CKPT", 4);
    CHECK_CODE(read_stream(more, len, p, NULL, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "frame \"CKPT\" where MODL was expected") != NULL);
    /* a length of 2^40: the reader stops at the end of the stream, not in malloc */
    memcpy(more, buf, len);
    more[8 + 4 + 5] = 1;
    CHECK_CODE(read_stream(more, len, p, NULL, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "truncated") != NULL);
    free(more);
    free(buf);
}

/* A small checkpoint in ck, its tensor's values in data[6]. */
static void make_ckpt(cd_ckpt *ck, float *data, uint64_t epoch)
{
    cd_err err = {0};
    uint64_t dims[2] = {2, 3};
    cd_ckpt_init(ck);
    ck->epoch = epoch;
    ck->step = 7;
    snprintf(ck->numerics, sizeof ck->numerics, "version=test");
    for (int i = 0; i < 6; i++)
        data[i] = (float)i / 3;
    CHECK_CODE(cd_ckpt_set_rng(ck, "rng", 3, &err), CD_OK, &err);
    CHECK_CODE(cd_ckpt_add(ck, "w", 2, dims, data, &err), CD_OK, &err);
}

static void test_ckpt_image(void)
{
    cd_ckpt ck;
    float data[6];
    char path[256];
    cd_err err = {0};
    make_ckpt(&ck, data, 2);
    path_of(path, sizeof path, "image.ckpt");
    CHECK_CODE(cd_ckpt_write(&ck, path, &err), CD_OK, &err);
    uint8_t *image = NULL;
    size_t len = 0, flen = 0;
    CHECK_CODE(cd_ckpt_image(&ck, &image, &len, &err), CD_OK, &err);
    uint8_t *file = unit_read_file(path, &flen);
    CHECK(file != NULL && flen == len && memcmp(file, image, len) == 0);
    cd_ckpt back;
    CHECK_CODE(cd_ckpt_parse(image, len, "image", &back, &err), CD_OK, &err);
    CHECK(back.epoch == 2 && back.ntensors == 1 && back.tensors[0].data[5] == data[5]);
    cd_ckpt_free(&back);
    free(file);
    free(image);
    cd_ckpt_free(&ck);
}

static void test_model_parse(void)
{
    static const char text[] = "[model]\ninput = 4\nlayers = dense:3\nclasses = 3\n"
                               "[train]\nlr = 0.5\n";
    char path[256];
    cd_err err = {0};
    cd_model_spec a, b;
    path_of(path, sizeof path, "m.ini");
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    CHECK_CODE(cd_model_load(path, &a, &err), CD_OK, &err);
    CHECK_CODE(cd_model_parse("stdin", text, strlen(text), &b, &err), CD_OK, &err);
    CHECK(a.hash == b.hash && a.lr == b.lr && a.params == b.params);
    CHECK_CODE(cd_model_parse("stdin", "[model]\nfrobnicate = 1\n", 23, &b, &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "stdin:2: unknown key \"frobnicate\"") != NULL);
    CHECK_CODE(cd_model_parse("stdin", "", 0, &b, &err), CD_EINVAL, &err);
}

/* An answer file at path: RSLT json, CKPT the image of ck, one byte flipped at flip (< 0:
 * none). */
static void write_answer(const char *path, const cd_ckpt *ck, long flip)
{
    uint8_t *image = NULL, *all = NULL;
    size_t len = 0, alen = 0;
    cd_err err = {0};
    CHECK_CODE(cd_ckpt_image(ck, &image, &len, &err), CD_OK, &err);
    FILE *m = open_memstream((char **)&all, &alen);
    cd_xfer_part parts[2] = {{"RSLT", (uint8_t *)"{\"rows\":1}\n", 11}, {"CKPT", image, len}};
    CHECK_CODE(cd_xfer_write(m, CD_XFER_ANSWER, parts, 2, "answer", NULL, &err), CD_OK, &err);
    fclose(m);
    if (flip >= 0 && (size_t)flip < alen)
        all[flip] ^= 0x10;
    FILE *f = fopen(path, "wb");
    fwrite(all, 1, alen, f);
    fclose(f);
    free(all);
    free(image);
}

static void test_store(void)
{
    char model[256], ckpt[256], req[256], ans[256], out[256], json[256];
    cd_ckpt ck;
    float data[6];
    cd_err err = {0};
    make_ckpt(&ck, data, 3);
    path_of(model, sizeof model, "m.ini");
    path_of(ckpt, sizeof ckpt, "in.ckpt");
    path_of(req, sizeof req, "xfer/1.req");
    path_of(ans, sizeof ans, "xfer/1.ans");
    path_of(out, sizeof out, "out.ckpt");
    path_of(json, sizeof json, "out.json");
    CHECK_CODE(cd_ckpt_write(&ck, ckpt, &err), CD_OK, &err);
    CHECK_CODE(cd_atomic_write(model, "[model]\ninput = 4\n", 18, 0644, &err), CD_OK, &err);
    CHECK_CODE(cd_store_prepare(dir, &err), CD_OK, &err);
    uint64_t bytes = 0;
    CHECK_CODE(cd_store_request(req, model, ckpt, &bytes, &err), CD_OK, &err);
    size_t mlen, clen, rlen;
    free(unit_read_file(model, &mlen));
    free(unit_read_file(ckpt, &clen));
    uint8_t *r = unit_read_file(req, &rlen);
    CHECK(bytes == rlen && rlen == CD_XFER_OVERHEAD(2) + mlen + clen);
    cd_xfer_part p[2];
    CHECK_CODE(read_stream(r, rlen, p, NULL, &err), CD_OK, &err);
    CHECK(p[1].len == clen);
    cd_xfer_free(p, 2);
    free(r);

    write_answer(ans, &ck, 100); /* damaged in the checkpoint: nothing stored */
    CHECK_CODE(cd_store_answer(ans, "the answer", 3, out, json, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "checksum mismatch in the answer") != NULL);
    CHECK(access(out, F_OK) != 0 && access(json, F_OK) != 0);
    write_answer(ans, &ck, -1); /* whole, but of another epoch */
    CHECK_CODE(cd_store_answer(ans, "the answer", 4, out, json, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "a checkpoint of epoch 3, not 4") != NULL);
    CHECK_CODE(cd_store_answer(ans, "the answer", 3, out, json, &err), CD_OK, &err);
    size_t olen, jlen;
    uint8_t *a = unit_read_file(ckpt, &clen), *b = unit_read_file(out, &olen);
    char *j = (char *)unit_read_file(json, &jlen);
    CHECK(a && b && clen == olen && memcmp(a, b, clen) == 0);
    CHECK(j && strcmp(j, "{\"rows\":1}\n") == 0);
    free(a);
    free(b);
    free(j);
    CHECK_CODE(cd_store_prepare(dir, &err), CD_OK, &err); /* empties xfer/ */
    CHECK(access(req, F_OK) != 0 && access(ans, F_OK) != 0);
    cd_ckpt_free(&ck);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    RUN(test_round_trip);
    RUN(test_truncations);
    RUN(test_bit_flips);
    RUN(test_foreign_and_damaged);
    RUN(test_ckpt_image);
    RUN(test_model_parse);
    RUN(test_store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return UNIT_DONE();
}
