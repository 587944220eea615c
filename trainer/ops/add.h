/*
 * add.h: elementwise y = a + b over n floats, for residual connections.
 *
 * Backward WRITES (=) dy into both da and db (either may be NULL). A caller that joins a
 * residual branch onto a gradient it already holds adds the two itself.
 */
#ifndef CD_OPS_ADD_H
#define CD_OPS_ADD_H

#include <stddef.h>

void add_forward(float *y, const float *a, const float *b, size_t n);
void add_backward(float *da, float *db, const float *dy, size_t n);

#endif
