/*
 * flatten.h: flatten [n, c, h, w] to [n, c*h*w].
 *
 * A no-op view: NCHW data is already contiguous per sample, so the next layer reads the same
 * buffer as [n, features] and the gradient passes through unchanged (no forward or backward
 * body, on CPU or CUDA). Only the feature count is computed here.
 */
#ifndef CD_OPS_FLATTEN_H
#define CD_OPS_FLATTEN_H

#include <stddef.h>

size_t flatten_features(int c, int h, int w);

#endif
