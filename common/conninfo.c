/*
 * conninfo.c: connection strings with their passwords masked or scrubbed (see conninfo.h).
 * One walk of each syntax cuts a string into pieces, each a password or not; masking copies
 * the pieces with *** for the passwords, scrubbing overwrites the passwords in place.
 */
#include "conninfo.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

/* One piece of a connection string (secret: a password's value). */
typedef void piece_fn(void *ctx, const char *p, size_t len, bool secret);

/* A postgresql:// URI: the password of user:password@ and of a password= parameter. */
static void walk_uri(const char *ci, size_t len, piece_fn *fn, void *ctx)
{
    const char *p = ci, *end = ci + len, *auth = strstr(ci, "://") + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *c = auth; c < auth + alen && c < end; c++)
        at = *c == '@' ? c : at;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon != NULL) {
        fn(ctx, p, (size_t)(colon + 1 - p), false);
        fn(ctx, colon + 1, (size_t)(at - colon - 1), true);
        p = at;
    }
    while (p < end) {
        const char *amp = p;
        while (amp < end && *amp != '&' && *amp != '?')
            amp++;
        bool pw = (p > ci && (p[-1] == '?' || p[-1] == '&')) && strncmp(p, "password=", 9) == 0;
        fn(ctx, p, pw ? 9 : (size_t)(amp - p), false);
        if (pw)
            fn(ctx, p + 9, (size_t)(amp - p - 9), true);
        if (amp < end)
            fn(ctx, amp, 1, false);
        p = amp < end ? amp + 1 : end;
    }
}

/* The end of a quoted segment of a value starting at ci[i] (its opening quote): past its
 * closing quote (backslash escapes), or at the end. */
static size_t quoted_end(const char *ci, size_t len, size_t i)
{
    for (i++; i < len && ci[i] != '\'';)
        i += ci[i] == '\\' && i + 1 < len ? 2 : 1;
    return i < len ? i + 1 : i;
}

/* The end of the value starting at ci[i]: unquoted, it runs to the next blank (backslash
 * escapes); quoted, to its closing quote, and on through anything glued to that quote up to
 * the next blank (more quoted segments included). libpq refuses such glued text ("missing
 * =") but it is part of what was meant as the value: a password's must be masked too. */
static size_t value_end(const char *ci, size_t len, size_t i)
{
    if (i >= len || ci[i] != '\'') {
        while (i < len && !isspace((unsigned char)ci[i]))
            i += ci[i] == '\\' && i + 1 < len ? 2 : 1;
        return i;
    }
    while (i < len && !isspace((unsigned char)ci[i]))
        i = ci[i] == '\'' ? quoted_end(ci, len, i) : i + (ci[i] == '\\' && i + 1 < len ? 2 : 1);
    return i;
}

/* key = value words; a value as value_end finds it. */
static void walk_words(const char *ci, size_t len, piece_fn *fn, void *ctx)
{
    size_t i = 0;
    while (i < len) {
        if (isspace((unsigned char)ci[i])) {
            fn(ctx, ci + i++, 1, false);
            continue;
        }
        size_t k = i;
        while (i < len && !isspace((unsigned char)ci[i]) && ci[i] != '=')
            i++;
        bool pw = i - k == 8 && strncmp(ci + k, "password", 8) == 0;
        fn(ctx, ci + k, i - k, false);
        while (i < len && isspace((unsigned char)ci[i]))
            fn(ctx, ci + i++, 1, false);
        if (i < len && ci[i] == '=')
            fn(ctx, ci + i++, 1, false);
        while (i < len && isspace((unsigned char)ci[i]))
            fn(ctx, ci + i++, 1, false);
        size_t v = i;
        i = value_end(ci, len, i);
        fn(ctx, ci + v, i - v, pw);
    }
}

static void walk(const char *ci, size_t len, piece_fn *fn, void *ctx)
{
    if (strncmp(ci, "postgresql://", 13) == 0 || strncmp(ci, "postgres://", 11) == 0)
        walk_uri(ci, len, fn, ctx);
    else
        walk_words(ci, len, fn, ctx);
}

/* ---- masking ---- */

typedef struct mask_out {
    char *out;
    size_t cap, *n;
} mask_out;

static void put(const mask_out *m, const char *s, size_t len)
{
    for (size_t i = 0; i < len && *m->n + 1 < m->cap; i++)
        m->out[(*m->n)++] = s[i];
    if (m->cap > 0)
        m->out[*m->n < m->cap ? *m->n : m->cap - 1] = '\0';
}

static void mask_piece(void *ctx, const char *p, size_t len, bool secret)
{
    put(ctx, secret ? "***" : p, secret ? 3 : len);
}

void cd_conninfo_mask_append(const char *ci, size_t len, char *out, size_t cap, size_t *n)
{
    mask_out m = {out, cap, n};
    walk(ci, len, mask_piece, &m);
}

void cd_conninfo_mask(const char *ci, char *out, size_t cap)
{
    size_t n = 0;
    if (cap > 0)
        out[0] = '\0';
    cd_conninfo_mask_append(ci, strlen(ci), out, cap, &n);
}

/* ---- scrubbing ---- */

/* p points into the string cd_conninfo_scrub was given, which is not const. */
static void scrub_piece(void *ctx, const char *p, size_t len, bool secret)
{
    (void)ctx;
    if (secret)
        memset((char *)p, 'x', len);
}

void cd_conninfo_scrub(char *ci)
{
    walk(ci, strlen(ci), scrub_piece, NULL);
}
