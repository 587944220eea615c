/*
 * cut.h: the id of a cluster cut (cerebro-ds refresh --cluster). It is written into meta
 * files and log lines and travels in a one-line control request, so it is 1-100 of
 * [A-Za-z0-9.:-]: no blank, no newline, nothing an INI or log reader would take apart.
 */
#ifndef CD_CUT_H
#define CD_CUT_H

#include <stdbool.h>
#include <string.h>

#define CD_CUT_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:-"
#define CD_CUT_MAX 100

static inline bool cd_cut_valid(const char *cut)
{
    size_t n = strlen(cut);
    return n > 0 && n <= CD_CUT_MAX && strspn(cut, CD_CUT_CHARS) == n;
}

#endif
