/*
 * test_model.c: model files: the shipped ones parse with the parameter counts of their
 * architectures; bad files give errors that name the file and line.
 */
#include <stdlib.h>
#include <unistd.h>

#include "model.h"
#include "unit.h"

static char dir[] = "/tmp/cd-test-model-XXXXXX";

static cd_code load_text(const char *text, cd_model_spec *m, cd_err *err)
{
    char path[128];
    snprintf(path, sizeof path, "%s/m.ini", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return cd_model_load(path, m, err);
}

static void test_shipped(void)
{
    static const struct {
        const char *file;
        long long params;
    } models[] = {
        /* 784*1000+1000 + 1000*500+500 + 500*10+10 */
        {"conf/models/fashion-mlp.ini", 1290510LL},
        /* 7306*1000+1000 + 1000*500+500 + 500+1 */
        {"conf/models/criteo-mlp.ini", 7808001LL},
        /* conv 32*9+32, bn 64, conv 64*32*9+64, bn 128, dense 3136*128+128, dense 1290 */
        {"conf/models/fashion-cnn.ini", 320LL + 64 + 18496 + 128 + 401536 + 1290},
        /* conv 288+32 ... see test_residual_params */
        {"conf/models/fashion-vgg.ini", 320LL + 9248 + 18496 + 36928 + (3136LL * 256 + 256) + 2570},
        /* conv 64*9+64, bn 128, conv 128*64*9+128, bn 256, dense 6272*256+256, dense 2570 */
        {"conf/models/fashion-cnn-aug.ini", 640LL + 128 + 73856 + 256 + 1605888 + 2570},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        cd_model_spec m;
        cd_err err = {0};
        CHECK_CODE(cd_model_load(models[i].file, &m, &err), CD_OK, &err);
        if (m.params != models[i].params)
            fprintf(stderr, "%s: %lld parameters, expected %lld\n", models[i].file,
                    (long long)m.params, models[i].params);
        CHECK(m.params == models[i].params);
    }
    cd_model_spec m;
    cd_err err = {0};
    CHECK_CODE(cd_model_load("conf/models/fashion-resnet.ini", &m, &err), CD_OK, &err);
    CHECK_EQ_INT(m.layers[m.nlayers - 2].out.d[0], 64); /* gavgpool over 64 channels */
    CHECK_EQ_INT(m.layers[5].out.d[1], 7);              /* 28 -> 14 -> 7 */
    CHECK_EQ_INT(m.optimizer, CD_OPT_MOMENTUM);
    CHECK(m.shuffle);
    CHECK_CODE(cd_model_load("conf/models/fashion-cnn-aug.ini", &m, &err), CD_OK, &err);
    CHECK(m.schedule.kind == CD_LR_COSINE && m.schedule.total_steps > m.schedule.warmup_steps);
    CHECK(m.augment.crop_pad == 2 && m.augment.hflip);
}

static void test_values(void)
{
    cd_model_spec m;
    cd_err err = {0};
    CHECK_CODE(load_text("[model]\ninput = 2\nlayers = dense:3, relu, dropout:0.5, dense:2\n"
                         "classes = 2\nscale = 0.5\n[train]\noptimizer = adamw\nlr = 0.1\n"
                         "shuffle = false\nbatch_size = 7\n",
                         &m, &err),
               CD_OK, &err);
    CHECK_EQ_INT(m.params, 2 * 3 + 3 + 3 * 2 + 2);
    CHECK(m.scale == 0.5f && m.lr == 0.1 && !m.shuffle && m.batch_size == 7);
    CHECK_EQ_INT(m.optimizer, CD_OPT_ADAMW);
    CHECK(m.layers[2].p == 0.5f);
    uint64_t h1 = m.hash;
    CHECK_CODE(load_text("[model]\ninput = 2\nlayers = dense:3, relu, dropout:0.5, dense:2\n"
                         "classes = 2\nscale = 0.5\n[train]\noptimizer = adamw\nlr = 0.2\n"
                         "shuffle = false\nbatch_size = 7\n",
                         &m, &err),
               CD_OK, &err);
    CHECK(m.hash != h1); /* another learning rate is another configuration */
}

#define IMAGE_MODEL "[model]\ninput = 1,4,4\nlayers = flatten, dense:2\nclasses = 2\n[train]\n"

static void test_schedule_and_augment(void)
{
    cd_model_spec m;
    cd_err err = {0};
    CHECK_CODE(load_text(IMAGE_MODEL, &m, &err), CD_OK, &err);
    uint64_t plain = m.hash;
    CHECK(m.schedule.kind == CD_LR_CONSTANT && m.schedule.warmup_steps == 0);
    CHECK(m.schedule.warmup_start_factor == 1.0 / 3 && m.schedule.gamma == 0.1);
    CHECK(m.augment.crop_pad == 0 && !m.augment.hflip);
    /* the new keys at their defaults: the hash of a file without them */
    CHECK_CODE(load_text(IMAGE_MODEL "lr_schedule = constant\nlr_warmup_steps = 0\n"
                                     "augment_hflip = false\naugment_crop_pad = 0\n",
                         &m, &err),
               CD_OK, &err);
    CHECK(m.hash == plain);
    CHECK_CODE(load_text(IMAGE_MODEL "lr_schedule = cosine\nlr_warmup_steps = 100\n"
                                     "lr_warmup_start_factor = 0.01\nlr_total_steps = 4700\n"
                                     "lr_min = 1e-5\naugment_crop_pad = 2\naugment_hflip = true\n",
                         &m, &err),
               CD_OK, &err);
    CHECK(m.schedule.kind == CD_LR_COSINE && m.schedule.warmup_steps == 100);
    CHECK(m.schedule.warmup_start_factor == 0.01 && m.schedule.total_steps == 4700);
    CHECK(m.schedule.lr_min == 1e-5 && m.augment.crop_pad == 2 && m.augment.hflip);
    CHECK(m.hash != plain);
    uint64_t cosine = m.hash;
    CHECK_CODE(load_text(IMAGE_MODEL "lr_schedule = cosine\nlr_warmup_steps = 100\n"
                                     "lr_warmup_start_factor = 0.01\nlr_total_steps = 4700\n"
                                     "lr_min = 1e-5\naugment_crop_pad = 2\naugment_hflip = false\n",
                         &m, &err),
               CD_OK, &err);
    CHECK(m.hash != cosine && m.hash != plain); /* every key counts once set */
    CHECK_CODE(
        load_text(IMAGE_MODEL "lr_schedule = step\nlr_step_size = 30\nlr_gamma = 0.5\n", &m, &err),
        CD_OK, &err);
    CHECK(m.schedule.kind == CD_LR_STEP && m.schedule.step_size == 30 && m.schedule.gamma == 0.5);
    /* every key is listed */
    int n = 0;
    bool found = false;
    for (const char *k; (k = cd_model_key_name(n)) != NULL; n++)
        found |= strcmp(k, "train.augment_hflip") == 0;
    CHECK(found && n == 27);
}

static void expect_error(const char *text, const char *what)
{
    cd_model_spec m;
    cd_err err = {0};
    CHECK_CODE(load_text(text, &m, &err), CD_EINVAL, &err);
    if (strstr(err.msg, what) == NULL)
        fprintf(stderr, "error \"%s\" does not say \"%s\"\n", err.msg, what);
    CHECK(strstr(err.msg, what) != NULL);
}

static void test_errors(void)
{
    expect_error("[model]\ninput = 4\nlayers = dense:2\nclasses = 2\nbogus = 1\n",
                 "m.ini:5: unknown key \"bogus\" in section [model]");
    expect_error("[model]\ninput = 4\nlayers = dense:2, swish\nclasses = 2\n",
                 "m.ini:3: unknown layer \"swish\"");
    expect_error("[model]\ninput = 4\nlayers = dense:2\nclasses = 3\n",
                 "the last layer gives 2 values per row, the loss needs 3");
    expect_error("[model]\ninput = 1,8,8\nlayers = conv2d:2:3, dense:2\nclasses = 2\n",
                 "needs a flat input; add flatten");
    expect_error("[model]\ninput = 1,4,4\nlayers = maxpool:8, flatten, dense:2\nclasses = 2\n",
                 "below 1x1");
    /* a layer's weights are indexed with int: a padded kernel wider than the image (its
     * c * k * k overflowed), a wide residual, a dense layer; INT_MAX itself passes */
    expect_error("[model]\ninput = 1,1,1\nlayers = conv2d:1:65537:1:32768, flatten, dense:2\n"
                 "classes = 2\n",
                 "m.ini: layer 1 has 4295098370 parameters, more than 2147483647");
    expect_error("[model]\ninput = 1,2,2\nlayers = residual:16384, flatten, dense:2\nclasses = 2\n",
                 "layer 1 has ");
    expect_error("[model]\ninput = 65536\nlayers = dense:32768, dense:2\nclasses = 2\n",
                 "layer 1 has 2147516416 parameters");
    {
        cd_model_spec m;
        cd_err err = {0};
        /* 1 x 46340 x 46340 weights + 1 bias = 2147395601 <= INT_MAX */
        CHECK_CODE(load_text("[model]\ninput = 1,1,1\nlayers = conv2d:1:46340:1:23170, flatten, "
                             "dense:2\nclasses = 2\n",
                             &m, &err),
                   CD_OK, &err);
    }
    expect_error("[model]\ninput = 4\nlayers = dense:2\nclasses = 2\n[train]\nlr = fast\n",
                 "m.ini:6: invalid value \"fast\" for lr");
    expect_error("[model]\ninput = 4\nlayers = dense:2\nclasses = 2\n[train]\noptimizer = lbfgs\n",
                 "invalid value \"lbfgs\" for optimizer");
    expect_error("[model]\ninput = 4\nlayers = dropout:1.5, dense:2\nclasses = 2\n",
                 "invalid value \"dropout:1.5\" for dropout");
    /* values the optimizer refuses at the first unit, now at load with their line */
    expect_error("[model]\ninput = 4\nlayers = dense:2\nclasses = 2\n[train]\nlr = 0\n",
                 "m.ini:6: invalid value \"0\" for lr");
    expect_error("[model]\ninput = 4\nlayers = dense:2\nclasses = 2\n[train]\nmomentum = 1\n",
                 "m.ini:6: invalid value \"1\" for momentum");
    expect_error("[model]\ninput = 4\nlayers = dense:2\nclasses = 2\n[train]\nbeta2 = 1\n",
                 "m.ini:6: invalid value \"1\" for beta2");
    expect_error("[model]\ninput = 4\nlayers = dense:2\nclasses = 2\n[train]\neps = 0\n",
                 "m.ini:6: invalid value \"0\" for eps");
    /* a pool window all padding: -inf into the loss, reported as a divergence */
    expect_error("[model]\ninput = 1,6,6\nlayers = maxpool:2:1:3, flatten, dense:3\nclasses = 3\n",
                 "m.ini:3: invalid value \"maxpool:2:1:3\" for layer");
    expect_error("[model]\nlayers = dense:2\nclasses = 2\n", "[model] input is missing");
    expect_error("[model]\ninput = 4\nclasses = 2\n", "layers is missing or empty");
    expect_error("[extra]\nx = 1\n", "m.ini:2: unknown section [extra]"); /* at its first key */
    expect_error("[model]\ninput = 4\nlayers = dense:1\nclasses = 1\n",
                 "softmax_xent needs [model] classes >= 2");
    /* lines inih would misread: the rest of a line after a NUL byte was dropped (lr 0.5 read,
     * not 0.55); of a line of 199 characters, inih read the rest as a line (lr set by a
     * comment) */
    static const char nul[] = "[model]\ninput = 4\nlayers = dense:2\nclasses = 2\n[train]\n"
                              "lr = 0.5\0"
                              "5\n";
    cd_model_spec m;
    cd_err err = {0};
    CHECK_CODE(cd_model_parse("n.ini", nul, sizeof nul - 1, &m, &err), CD_EINVAL, &err);
    CHECK(strcmp(err.msg, "n.ini:6: line holds a NUL byte") == 0);
    char text[400];
    snprintf(text, sizeof text,
             "[model]\ninput = 4\nlayers = dense:2\nclasses = 2\n[train]\n#%0198dlr = 0.5\n", 0);
    expect_error(text, "m.ini:6: line longer than 198 characters");
    /* an indented line after a key: inih passes it as the key's next value, which replaced
     * the line above (a 4-2-2 network read as 4-2) */
    expect_error("[model]\ninput = 4\nlayers = dense:2, relu,\n  dense:2\nclasses = 2\n",
                 "m.ini:4: indented line continues [model] layers");
    expect_error("[model]\ninput = 4\nlayers = dense:2\nclasses = 2\n[train]\nlr = 0.5\n\t5\n",
                 "m.ini:7: indented line continues [train] lr");
}

static void test_schedule_errors(void)
{
    expect_error(IMAGE_MODEL "lr_schedule = linear\n", "m.ini:6: invalid value \"linear\" for "
                                                       "lr_schedule");
    expect_error(IMAGE_MODEL "lr_schedule = step\n",
                 "m.ini:6: lr_schedule = step needs lr_step_size");
    expect_error(IMAGE_MODEL "lr_schedule = cosine\nlr_warmup_steps = 10\nlr_total_steps = 10\n",
                 "m.ini:6: lr_schedule = cosine needs lr_total_steps > 10");
    expect_error(IMAGE_MODEL "lr_schedule = cosine\n", "needs lr_total_steps > 0");
    expect_error(IMAGE_MODEL "lr_warmup_steps = -1\n",
                 "m.ini:6: invalid value \"-1\" for lr_warmup_steps");
    expect_error(IMAGE_MODEL "lr_warmup_steps = 5\nlr_warmup_start_factor = 0\n",
                 "m.ini:7: invalid value \"0\" for lr_warmup_start_factor");
    expect_error(IMAGE_MODEL "lr_warmup_start_factor = 1.5\n", "for lr_warmup_start_factor");
    expect_error(IMAGE_MODEL "lr_gamma = 0\n", "m.ini:6: invalid value \"0\" for lr_gamma");
    expect_error(IMAGE_MODEL "lr_gamma = 2\n", "invalid value \"2\" for lr_gamma");
    expect_error(IMAGE_MODEL "lr_min = -0.1\n", "invalid value \"-0.1\" for lr_min");
    expect_error(IMAGE_MODEL "lr_total_steps = 1e3\n", "invalid value \"1e3\" for lr_total_steps");
    expect_error(IMAGE_MODEL "lr_step_size = 99999999999999999999\n", "for lr_step_size");
    expect_error(IMAGE_MODEL "augment_crop_pad = -2\n",
                 "m.ini:6: invalid value \"-2\" for augment_crop_pad");
    expect_error(IMAGE_MODEL "augment_hflip = yes\n",
                 "m.ini:6: invalid value \"yes\" for augment_hflip");
    expect_error("[model]\ninput = 16\nlayers = dense:2\nclasses = 2\n[train]\naugment_hflip = "
                 "true\n",
                 "m.ini:6: augment_hflip needs an image input (C,H,W), not 16 values per row");
    expect_error("[model]\ninput = 16\nlayers = dense:2\nclasses = 2\n[train]\n\naugment_crop_pad "
                 "= 2\n",
                 "m.ini:7: augment_crop_pad needs an image input");
    expect_error("[model]\ninput = 16\nlayers = dense:2\nclasses = 2\n[model]\nlr_min = 0\n",
                 "unknown key \"lr_min\" in section [model]");
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    RUN(test_shipped);
    RUN(test_values);
    RUN(test_errors);
    RUN(test_schedule_and_augment);
    RUN(test_schedule_errors);
    char path[128];
    snprintf(path, sizeof path, "%s/m.ini", dir);
    unlink(path);
    rmdir(dir);
    return UNIT_DONE();
}
