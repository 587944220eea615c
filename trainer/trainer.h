/*
 * trainer.h: the commands of cerebro-train (DESIGN.md section 4), as library calls:
 * init, train, eval, predict (cd_train_run), export, import. main() parses and prints.
 */
#ifndef CD_TRAINER_H
#define CD_TRAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cd_err.h"
#include "fingerprint.h"
#include "model.h"

typedef enum cd_train_mode { CD_MODE_TRAIN, CD_MODE_EVAL, CD_MODE_PREDICT } cd_train_mode;

typedef struct cd_train_args {
    cd_train_mode mode;
    const char *ckpt; /* input checkpoint */
    char **data;      /* [ndata] shard directories */
    int ndata;
    uint64_t epoch;       /* train: epoch number (shuffling) */
    const char *out;      /* train: output checkpoint; predict: predictions .npy */
    int threads;          /* compute threads, 0: one per online CPU */
    const char *device;   /* "cpu" (or NULL), "cuda", "cuda:N": see backend.h */
    const char *loss_log; /* train: append each step's loss to this file, or NULL */
    /* cerebro-train --stdio (model_store = copy): the input checkpoint's bytes instead of
     * the file ckpt, which then only names it in messages; and train's output checkpoint
     * into *out_image (malloc'd, *out_len bytes: what the file out would hold) */
    const uint8_t *ckpt_image;
    size_t ckpt_len;
    uint8_t **out_image;
    size_t *out_len;
} cd_train_args;

typedef struct cd_train_result {
    uint64_t rows;
    double loss;     /* mean over rows */
    double accuracy; /* fraction of rows predicted right (0 for mse) */
    double seconds;
    double data_wait_s; /* time compute waited for data */
    uint64_t epoch, step;
    bool diverged;                  /* train failed because the loss became NaN or infinite */
    char numerics[CD_FP_MAX];       /* this process's numeric fingerprint (fingerprint.h) */
    char input_numerics[CD_FP_MAX]; /* the input checkpoint's, "" when it has none */
    /* what the first --data read, from its shard meta file when it has one (a cerebro-ds
     * mount or export; "" when absent): the cluster cut, the snapshot and the content hash
     * of its rows (cerebro-sched's snapshot-change check) */
    char cut[128], content[128], snapshot[256];
} cd_train_result;

cd_code cd_train_init(const cd_model_spec *m, uint64_t seed, const char *out, cd_err *err);
cd_code cd_train_run(const cd_model_spec *m, const cd_train_args *a, cd_train_result *res,
                     cd_err *err);
cd_code cd_train_export(const char *ckpt, const char *dir, cd_err *err);
cd_code cd_train_import(const cd_model_spec *m, const char *dir, const char *out, cd_err *err);

#endif
