/*
 * batchdump.c: test tool: the first training batch of a model file over shard directories,
 * as the trainer's data layer assembles it (shuffled by (seed, epoch, shard name) unless the
 * file says shuffle = false, augmented by its augment_* keys), written as a float32 .npy of
 * shape (rows, C, H, W) or (rows, D). With --eval: as eval and predict read it (in order, never
 * augmented). Tests compare it with NumPy's crop and flip of the stored rows.
 *
 *   batchdump [--eval] MODEL.ini EPOCH OUT.npy SHARD_DIR...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "model.h"
#include "npy.h"

static cd_data_config config(const cd_model_spec *m, uint64_t epoch, bool train)
{
    cd_data_config c = {.feature = m->feature,
                        .label = m->label,
                        .scale = m->scale,
                        .in_ndim = m->input.ndim,
                        .classes = m->loss == CD_LOSS_SOFTMAX_XENT ? m->classes : 0,
                        .batch = m->batch_size,
                        .shuffle = train && m->shuffle,
                        .seed = m->seed,
                        .epoch = epoch};
    for (int i = 0; i < m->input.ndim; i++)
        c.in_shape[i] = m->input.d[i];
    if (train)
        c.augment = m->augment;
    return c;
}

static cd_code dump(const cd_model_spec *m, uint64_t epoch, bool train, const char *out,
                    const char *const *dirs, int ndirs, cd_err *err)
{
    cd_data_config c = config(m, epoch, train);
    cd_data *d = NULL;
    const cd_batch *b = NULL;
    cd_code rc = cd_data_open(&d, &c, dirs, ndirs, err);
    if (rc == CD_OK)
        rc = cd_data_next(d, &b, err);
    if (rc == CD_OK && b != NULL) {
        uint64_t shape[1 + CD_MODEL_MAXDIM] = {(uint64_t)b->n};
        for (int i = 0; i < m->input.ndim; i++)
            shape[1 + i] = (uint64_t)m->input.d[i];
        uint64_t bytes = (uint64_t)b->n * cd_data_row_size(d) * sizeof(float);
        rc = cd_npy_write(out, "<f4", shape, 1 + m->input.ndim, b->x, bytes, err);
    }
    cd_data_close(&d);
    return rc;
}

int main(int argc, char **argv)
{
    bool train = argc > 1 && strcmp(argv[1], "--eval") != 0;
    int a = train ? 1 : 2;
    if (argc - a < 4) {
        fprintf(stderr, "usage: batchdump [--eval] MODEL.ini EPOCH OUT.npy SHARD_DIR...\n");
        return 2;
    }
    cd_model_spec m;
    cd_err err = {0};
    cd_code rc = cd_model_load(argv[a], &m, &err);
    if (rc == CD_OK)
        rc = dump(&m, strtoull(argv[a + 1], NULL, 10), train, argv[a + 2],
                  (const char *const *)argv + a + 3, argc - a - 3, &err);
    if (rc != CD_OK) {
        cd_err_print(stderr, "batchdump", &err);
        return 1;
    }
    return 0;
}
