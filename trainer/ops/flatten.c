/*
 * flatten.c: feature count of a flattened NCHW sample (see flatten.h; no data moves).
 */
#include "flatten.h"

size_t flatten_features(int c, int h, int w)
{
    return (size_t)c * (size_t)h * (size_t)w;
}
