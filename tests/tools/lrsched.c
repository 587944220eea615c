/*
 * lrsched.c: test tool: the learning rate of the first STEPS optimizer steps of a model file
 * (its [train] lr under lr_schedule and the lr_* keys: trainer/lr_schedule.h), one per line
 * with 17 significant digits. Tests compare it with PyTorch's schedulers.
 *
 *   lrsched MODEL.ini STEPS
 */
#include <stdio.h>
#include <stdlib.h>

#include "lr_schedule.h"
#include "model.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: lrsched MODEL.ini STEPS\n");
        return 2;
    }
    cd_model_spec m;
    cd_err err = {0};
    if (cd_model_load(argv[1], &m, &err) != CD_OK) {
        cd_err_print(stderr, "lrsched", &err);
        return 1;
    }
    unsigned long long steps = strtoull(argv[2], NULL, 10);
    for (unsigned long long k = 0; k < steps; k++)
        printf("%.17g\n", cd_lr_at(&m.schedule, m.lr, k));
    return 0;
}
