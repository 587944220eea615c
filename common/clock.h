/*
 * clock.h: seconds on the monotonic clock, for durations (never for wall-clock times).
 */
#ifndef CD_CLOCK_H
#define CD_CLOCK_H

#include <time.h>

static inline double cd_monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
