/*
 * clones.h: CD_CLONES, the attribute that builds an element loop twice on x86-64 with GCC:
 * for CPUs with AVX2 and FMA (x86-64-v3), where the loops vectorise 8 wide, and for the
 * baseline. Both round every operation the same way (IEEE; -std=c11 keeps GCC from
 * contracting a * b + c into an FMA), so the results of the two builds are identical.
 * Put it on the function a loop runs in (a cd_par_for body): its static helpers are inlined
 * into each clone.
 */
#ifndef CD_OPS_CLONES_H
#define CD_OPS_CLONES_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CD_CLONES
#endif

#endif
