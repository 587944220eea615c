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
    CHECK(m.scale == 0.5f && m.lr == 0.1f && !m.shuffle && m.batch_size == 7);
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
    expect_error("[model]\ninput = 4\nlayers = dense:2\nclasses = 2\n[train]\nlr = fast\n",
                 "m.ini:6: invalid value \"fast\" for lr");
    expect_error("[model]\ninput = 4\nlayers = dense:2\nclasses = 2\n[train]\noptimizer = lbfgs\n",
                 "invalid value \"lbfgs\" for optimizer");
    expect_error("[model]\ninput = 4\nlayers = dropout:1.5, dense:2\nclasses = 2\n",
                 "invalid value \"dropout:1.5\" for dropout");
    expect_error("[model]\nlayers = dense:2\nclasses = 2\n", "[model] input is missing");
    expect_error("[model]\ninput = 4\nclasses = 2\n", "layers is missing or empty");
    expect_error("[extra]\nx = 1\n", "m.ini:2: unknown section [extra]"); /* at its first key */
    expect_error("[model]\ninput = 4\nlayers = dense:1\nclasses = 1\n",
                 "softmax_xent needs [model] classes >= 2");
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    RUN(test_shipped);
    RUN(test_values);
    RUN(test_errors);
    char path[128];
    snprintf(path, sizeof path, "%s/m.ini", dir);
    unlink(path);
    rmdir(dir);
    return UNIT_DONE();
}
