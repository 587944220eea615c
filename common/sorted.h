/*
 * sorted.h: lookups in ascending arrays of uint64_t (row, tuple and node indexes of the
 * first element of each run, shard or buffer).
 */
#ifndef CD_SORTED_H
#define CD_SORTED_H

#include <stdint.h>

/* The last i < n with a[i] <= x, for a ascending from a[0] <= x (a binary search); 0 when
 * n <= 1. */
static inline uint64_t cd_last_at_most(const uint64_t *a, uint64_t n, uint64_t x)
{
    uint64_t lo = 0, hi = n;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (a[mid] <= x)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

#endif
