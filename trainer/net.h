/*
 * net.h: a model of model.h instantiated on a backend (backend.h): parameters, buffers
 * (batchnorm running statistics), activations for a batch, the forward and backward passes
 * through the backend's ops, and the loss.
 *
 * Does: allocate everything for batches of up to max_batch rows once; seeded initialisation
 * (He-uniform weights, zero biases, batchnorm gamma 1, beta 0, running mean 0, var 1);
 * tensors listed in layer order with stable names ("3.conv.weight", "3.bn.running_mean"),
 * which checkpoints and export/import use. Every tensor has host data (what init, load and
 * save see) and a mirror in the backend's memory that the passes use; on the CPU backend the
 * two are the same memory, so moving between them costs nothing.
 * Does not: update parameters (optim.h) or read data (data.h). Deterministic for a fixed
 * number of BLAS threads.
 */
#ifndef CD_NET_H
#define CD_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "cd_err.h"
#include "model.h"

typedef struct cd_tensor {
    char name[64];
    float *data;  /* [n] host: init, checkpoints, export / import */
    float *grad;  /* [n] host, NULL for buffers; filled by cd_net_to_host */
    float *ddata; /* [n] in the backend's memory (data itself on the CPU backend) */
    float *dgrad; /* [n] in the backend's memory, NULL for buffers (grad on the CPU) */
    uint64_t n;
    int ndim;
    uint64_t dims[4];
} cd_tensor;

typedef struct cd_net cd_net;

/* A net on backend be, which must outlive it. */
cd_code cd_net_new(cd_net **out, const cd_model_spec *m, int max_batch, cd_backend *be,
                   cd_err *err);
void cd_net_free(cd_net **n);

/* Seeded initialisation of every parameter and buffer (host data). */
void cd_net_init(cd_net *n, uint64_t seed);
/* Host data of every tensor to the backend (after init or a load), and back (data and
 * gradients, before a checkpoint is written or tensors are read). No-ops on the CPU. */
cd_code cd_net_to_device(cd_net *n, cd_err *err);
cd_code cd_net_to_host(cd_net *n, cd_err *err);

/* Parameters and buffers, in layer order. */
int cd_net_ntensors(const cd_net *n);
cd_tensor *cd_net_tensor(cd_net *n, int i);

/*
 * Forward a batch of rows x [rows * input size] with labels (y for softmax_xent, yf
 * otherwise), all host arrays (copied to the backend first unless it is the CPU): returns
 * the mean loss; *correct counts right predictions (argmax, or p > 0.5 for sigmoid_bce; 0
 * for mse). train: batchnorm uses and updates batch statistics, dropout is on with mask
 * stream `step`. NaN when the backend failed (cd_net_status says why).
 */
float cd_net_forward(cd_net *n, const float *x, int rows, const int32_t *y, const float *yf,
                     bool train, uint64_t step, int *correct);
/* Gradients of the last (training) forward, written into every parameter's dgrad. */
cd_code cd_net_backward(cd_net *n, cd_err *err);
/* Outputs of the last forward, on the host: [rows * out] (probabilities for the
 * classification losses). */
const float *cd_net_output(const cd_net *n, int *per_row);
/* CD_OK, or the first failure of the net's backend. */
cd_code cd_net_status(const cd_net *n, cd_err *err);

#endif
