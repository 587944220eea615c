/*
 * dropout.h: inverted dropout over n floats. Element i is dropped when a counter-based hash
 * of (seed, step, i) mapped to [0, 1) is below p; kept elements are scaled by 1 / (1 - p).
 * The mask is a pure function of (seed, step, i): nothing is stored between forward and
 * backward, and a resumed run reproduces it. Callers pass a distinct step per call (e.g.
 * global step * layer count + layer index).
 *
 * p <= 0 copies (also the eval path); p >= 1 drops everything. Backward WRITES dx (=) with
 * the same mask and scale. In-place safe.
 */
#ifndef CD_OPS_DROPOUT_H
#define CD_OPS_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

void dropout_forward(float *y, const float *x, size_t n, float p, uint64_t seed, uint64_t step);
void dropout_backward(float *dx, const float *dy, size_t n, float p, uint64_t seed, uint64_t step);
/* 1 when element i is kept for (seed, step), 0 when dropped (the mask both bodies apply). */
int dropout_keep(size_t i, float p, uint64_t seed, uint64_t step);

#endif
