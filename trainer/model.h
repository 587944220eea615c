/*
 * model.h: a model configuration file (INI) parsed, checked and shape-inferred.
 *
 * [model]
 *   input   = 1,28,28          per-row input shape (C,H,W for images, D for vectors)
 *   layers  = conv2d:32:3:1:1, batchnorm, relu, maxpool:2, flatten, dense:10
 *   loss    = softmax_xent | sigmoid_bce | mse
 *   classes = 10               softmax_xent: number of classes; sigmoid_bce / mse: 1
 *   feature = x                feature column (shard file <feature>.npy)
 *   label   = y                label column
 *   scale   = 0.00392156862745098   features are multiplied by it (1/255 for raw pixels)
 * [train]
 *   optimizer = sgd | momentum | adam | adamw;  lr; batch_size; weight_decay; momentum;
 *   beta1; beta2; eps; seed; shuffle (true | false); dropout_seed
 *   lr_schedule = constant | step | cosine    lr over the optimizer steps (lr_schedule.h)
 *   lr_warmup_steps = W            linear warm-up over the first W steps (0: none)
 *   lr_warmup_start_factor = f     its first lr is f * lr, in (0, 1] (LinearLR's 1/3)
 *   lr_step_size = N; lr_gamma = g step: lr * g^floor(step / N) after the warm-up
 *   lr_total_steps = T; lr_min = m cosine: from lr down to m at step T (warm-up included)
 *   augment_crop_pad = P           images: random crop after zero padding by P (augment.h)
 *   augment_hflip = true | false   images: horizontal flip with probability 1/2
 * Steps count optimizer steps over the whole training (the checkpoint's step counter): a
 * schedule continues across units and epochs. Augmentation applies to training only.
 *
 * Layers: dense:UNITS, conv2d:OUT:K[:STRIDE[:PAD]], maxpool:K[:STRIDE[:PAD]],
 * avgpool:K[:STRIDE[:PAD]], gavgpool, batchnorm, relu, dropout:P, flatten,
 * residual:OUT[:STRIDE] (two 3x3 conv + batchnorm with a relu between and after the sum; a
 * 1x1 conv + batchnorm projection when OUT or STRIDE change the shape).
 * Keys are declared once (X-macro); unknown sections, keys, layers and bad values are
 * errors naming the file and line. The configuration hash covers every key, so a checkpoint
 * of one configuration is never read as another's (the schedule and augmentation keys enter
 * it only when set to something else than their defaults, so files without them keep the
 * hash they had before those keys existed).
 */
#ifndef CD_MODEL_H
#define CD_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "augment.h"
#include "cd_err.h"
#include "lr_schedule.h"

#define CD_MODEL_MAXDIM 3
#define CD_MODEL_MAXLAYERS 128

typedef enum cd_layer_kind {
    CD_L_DENSE,
    CD_L_CONV2D,
    CD_L_MAXPOOL,
    CD_L_AVGPOOL,
    CD_L_GAVGPOOL,
    CD_L_BATCHNORM,
    CD_L_RELU,
    CD_L_DROPOUT,
    CD_L_FLATTEN,
    CD_L_RESIDUAL,
} cd_layer_kind;

typedef enum cd_loss_kind { CD_LOSS_SOFTMAX_XENT, CD_LOSS_SIGMOID_BCE, CD_LOSS_MSE } cd_loss_kind;

/* In the order of cd_optim_kind (optim.h). */
typedef enum cd_optimizer_choice {
    CD_OPT_SGD,
    CD_OPT_MOMENTUM,
    CD_OPT_ADAM,
    CD_OPT_ADAMW
} cd_optimizer_choice;

/* A per-row shape: ndim 1 (D) or 3 (C, H, W). */
typedef struct cd_shape {
    int ndim;
    int d[CD_MODEL_MAXDIM];
} cd_shape;

typedef struct cd_layer {
    cd_layer_kind kind;
    int units;  /* dense: outputs; conv2d / residual: output channels */
    int kernel; /* conv2d, pools */
    int stride;
    int pad;
    float p;        /* dropout probability */
    cd_shape in;    /* inferred */
    cd_shape out;   /* inferred */
    int64_t params; /* learnable parameters */
} cd_layer;

typedef struct cd_model_spec {
    cd_shape input;
    cd_layer layers[CD_MODEL_MAXLAYERS];
    int nlayers;
    cd_loss_kind loss;
    int classes;
    char feature[64];
    char label[64];
    float scale;
    /* [train] */
    cd_optimizer_choice optimizer;
    double lr, weight_decay, momentum, beta1, beta2, eps; /* as written, not rounded to float */
    int batch_size;
    uint64_t seed;
    uint64_t dropout_seed;
    bool shuffle;
    cd_lr_schedule schedule; /* lr_schedule, lr_warmup_*, lr_step_size, lr_gamma, ... */
    cd_augment augment;      /* augment_crop_pad, augment_hflip */
    /* derived */
    int64_t params;
    uint64_t hash; /* of the canonical text of every key */
} cd_model_spec;

/* Parse, check and infer shapes. Errors name path and line. */
cd_code cd_model_load(const char *path, cd_model_spec *m, cd_err *err);
/* The same for a model file's text[len] (cerebro-train --stdio); name names it in messages. */
cd_code cd_model_parse(const char *name, const char *text, size_t len, cd_model_spec *m,
                       cd_err *err);
/* The i-th key model files accept, as "section.key" ("model.layers", "train.lr"), for
 * i = 0..; NULL past the last. */
const char *cd_model_key_name(int i);
int64_t cd_shape_size(const cd_shape *s);

#endif
