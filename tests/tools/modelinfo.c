/*
 * modelinfo.c: test tool: load a model file and print what the trainer infers: one line per
 * layer (kind, input and output shapes, parameters), then "params=N hash=H". Tests compare
 * it with the PyTorch model that tests/lib/torch_model.py builds from the same file.
 */
#include <inttypes.h>
#include <stdio.h>

#include "model.h"

static void shape(const cd_shape *s)
{
    for (int i = 0; i < s->ndim; i++)
        printf("%s%d", i ? "x" : "", s->d[i]);
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"dense",     "conv2d", "maxpool", "avgpool", "gavgpool",
                                        "batchnorm", "relu",   "dropout", "flatten", "residual"};
    if (argc != 2) {
        fprintf(stderr, "usage: modelinfo MODEL.ini\n");
        return 2;
    }
    cd_model_spec m;
    cd_err err = {0};
    if (cd_model_load(argv[1], &m, &err) != CD_OK) {
        cd_err_print(stderr, "modelinfo", &err);
        return 1;
    }
    for (int i = 0; i < m.nlayers; i++) {
        printf("%s ", names[m.layers[i].kind]);
        shape(&m.layers[i].in);
        printf(" -> ");
        shape(&m.layers[i].out);
        printf(" %" PRId64 "\n", m.layers[i].params);
    }
    printf("params=%" PRId64 " hash=%016" PRIx64 "\n", m.params, m.hash);
    return 0;
}
