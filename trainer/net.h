/*
 * net.h: a model of model.h instantiated: parameters, buffers (batchnorm running
 * statistics), activations for a batch, the forward and backward passes through the ops of
 * trainer/ops on the CPU, and the loss.
 *
 * Does: allocate everything for batches of up to max_batch rows once; seeded initialisation
 * (He-uniform weights, zero biases, batchnorm gamma 1, beta 0, running mean 0, var 1);
 * tensors listed in layer order with stable names ("3.conv.weight", "3.bn.running_mean"),
 * which checkpoints and export/import use.
 * Does not: update parameters (optim.h) or read data (data.h). Deterministic for a fixed
 * number of BLAS threads.
 */
#ifndef CD_NET_H
#define CD_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "cd_err.h"
#include "model.h"

typedef struct cd_tensor {
    char name[64];
    float *data;
    float *grad; /* NULL for buffers */
    uint64_t n;
    int ndim;
    uint64_t dims[4];
} cd_tensor;

typedef struct cd_net cd_net;

cd_code cd_net_new(cd_net **out, const cd_model_spec *m, int max_batch, cd_err *err);
void cd_net_free(cd_net **n);

/* Seeded initialisation of every parameter and buffer. */
void cd_net_init(cd_net *n, uint64_t seed);

/* Parameters and buffers, in layer order. */
int cd_net_ntensors(const cd_net *n);
cd_tensor *cd_net_tensor(cd_net *n, int i);

/*
 * Forward a batch of rows x [rows * input size] with labels (y for softmax_xent, yf
 * otherwise): returns the mean loss; *correct counts right predictions (argmax, or p > 0.5
 * for sigmoid_bce; 0 for mse). train: batchnorm uses and updates batch statistics, dropout
 * is on with mask stream `step`.
 */
float cd_net_forward(cd_net *n, const float *x, int rows, const int32_t *y, const float *yf,
                     bool train, uint64_t step, int *correct);
/* Gradients of the last (training) forward, written into every parameter's grad. */
void cd_net_backward(cd_net *n);
/* Outputs of the last forward: [rows * out] (probabilities for the classification losses). */
const float *cd_net_output(const cd_net *n, int *per_row);

#endif
