/*
 * fuzz_ckpt.c: libFuzzer target for the checkpoint reader (trainer/ckpt.c), which treats a
 * file as hostile: cerebro-train and cerebro-sched read checkpoints that other hosts wrote.
 *
 * Input: a checkpoint image. Inputs of at least a header and a CRC get the length field and
 * the trailing CRC-32C of what they are, so that mutations reach the entries behind them
 * (the frame checks are a few comparisons; inputs shorter than that test them unchanged).
 * The image is parsed from a heap buffer of exactly its size, so ASan flags any overread.
 * Checks: cd_ckpt_parse returns CD_OK, CD_ECORRUPT or CD_EUNSUPPORTED only and leaves the
 * checkpoint empty when it fails; an accepted image of format version 2 is what cd_ckpt_image
 * writes for what was read, byte for byte; one of version 1 is written as version 2 and reads
 * back to the same tensors, RNG state and counters.
 * Seeds: tests/fuzz/seeds/fuzz_ckpt/, written by cerebro-train init and train (an MLP with
 * Adam state, a CNN with batchnorm; one after a training step, with its numerics).
 * Does not: test cd_ckpt_write's atomic rename or export/import of tensors as .npy files.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "crc32c.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Length field and CRC of buf[len] made to match it. */
static void fix_frame(uint8_t *buf, size_t len)
{
    if (len < CD_CKPT_HEADER_LEN + 4)
        return;
    uint64_t flen = len;
    memcpy(buf + 16, &flen, 8);
    uint32_t crc = cd_crc32c(buf, len - 4);
    memcpy(buf + len - 4, &crc, 4);
}

static int same_tensors(const cd_ckpt *a, const cd_ckpt *b)
{
    if (a->ntensors != b->ntensors)
        return 0;
    for (size_t i = 0; i < a->ntensors; i++) {
        const cd_ckpt_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        if (strcmp(x->name, y->name) != 0 || x->ndim != y->ndim || x->n != y->n ||
            memcmp(x->dims, y->dims, (size_t)x->ndim * sizeof *x->dims) != 0 ||
            memcmp(x->data, y->data, (size_t)x->n * sizeof *x->data) != 0)
            return 0;
    }
    return 1;
}

/* What was read from image[len] must be written back as the same image (version 2), or as
 * one that reads back to the same checkpoint (version 1). */
static void check_rewrite(const cd_ckpt *ck, const uint8_t *image, size_t len)
{
    uint8_t *out = NULL;
    size_t olen = 0;
    cd_err err;
    uint32_t version;
    memcpy(&version, image + 8, 4);
    if (cd_ckpt_image(ck, &out, &olen, &err) != CD_OK)
        abort();
    if (version == CD_CKPT_VERSION) {
        if (olen != len || memcmp(out, image, len) != 0)
            abort();
    } else {
        cd_ckpt again;
        if (cd_ckpt_parse(out, olen, "rewritten", &again, &err) != CD_OK ||
            again.config_hash != ck->config_hash || again.epoch != ck->epoch ||
            again.step != ck->step || again.rng_len != ck->rng_len ||
            (ck->rng_len > 0 && memcmp(again.rng, ck->rng, ck->rng_len) != 0) ||
            strcmp(again.numerics, ck->numerics) != 0 || !same_tensors(&again, ck))
            abort();
        cd_ckpt_free(&again);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = fuzz_copy(data, size);
    if (buf == NULL)
        return 0;
    fix_frame(buf, size);
    cd_ckpt ck;
    cd_err err;
    cd_code rc = cd_ckpt_parse(buf, size, "fuzz", &ck, &err);
    if (rc == CD_OK)
        check_rewrite(&ck, buf, size);
    else if ((rc != CD_ECORRUPT && rc != CD_EUNSUPPORTED) || ck.ntensors != 0 || ck.rng != NULL)
        abort();
    cd_ckpt_free(&ck);
    free(buf);
    return 0;
}
