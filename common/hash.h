/*
 * hash.h: the small non-cryptographic hashes the trainer seeds and names with: splitmix64
 * (a counter-based generator: each call advances *state) and 64-bit FNV-1a over a string
 * (chainable: pass CD_FNV_OFFSET to start, or a previous result to continue).
 */
#ifndef CD_HASH_H
#define CD_HASH_H

#include <stdint.h>

#define CD_FNV_OFFSET 0xCBF29CE484222325ull

static inline uint64_t cd_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t cd_fnv1a(const char *s, uint64_t h)
{
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001B3ull;
    return h;
}

#endif
