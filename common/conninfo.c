/*
 * conninfo.c: connection strings with their passwords masked (see conninfo.h).
 */
#include "conninfo.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

static void put(char *out, size_t cap, size_t *n, const char *s, size_t len)
{
    for (size_t i = 0; i < len && *n + 1 < cap; i++)
        out[(*n)++] = s[i];
    if (cap > 0)
        out[*n < cap ? *n : cap - 1] = '\0';
}

/* A postgresql:// URI: the password of user:password@ and of a password= parameter. */
static void mask_uri(const char *ci, size_t len, char *out, size_t cap, size_t *n)
{
    const char *p = ci, *end = ci + len, *auth = strstr(ci, "://") + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *c = auth; c < auth + alen && c < end; c++)
        at = *c == '@' ? c : at;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon != NULL) {
        put(out, cap, n, p, (size_t)(colon + 1 - p));
        put(out, cap, n, "***", 3);
        p = at;
    }
    while (p < end) {
        const char *amp = p;
        while (amp < end && *amp != '&' && *amp != '?')
            amp++;
        bool pw = (p > ci && (p[-1] == '?' || p[-1] == '&')) && strncmp(p, "password=", 9) == 0;
        if (pw) {
            put(out, cap, n, "password=***", 12);
        } else {
            put(out, cap, n, p, (size_t)(amp - p));
        }
        if (amp < end)
            put(out, cap, n, amp, 1);
        p = amp < end ? amp + 1 : end;
    }
}

/* key = value words; a value is 'quoted' (backslash escapes) or runs to the next blank. */
static void mask_words(const char *ci, size_t len, char *out, size_t cap, size_t *n)
{
    size_t i = 0;
    while (i < len) {
        if (isspace((unsigned char)ci[i])) {
            put(out, cap, n, ci + i++, 1);
            continue;
        }
        size_t k = i;
        while (i < len && !isspace((unsigned char)ci[i]) && ci[i] != '=')
            i++;
        bool pw = i - k == 8 && strncmp(ci + k, "password", 8) == 0;
        put(out, cap, n, ci + k, i - k);
        while (i < len && isspace((unsigned char)ci[i]))
            put(out, cap, n, ci + i++, 1);
        if (i < len && ci[i] == '=')
            put(out, cap, n, ci + i++, 1);
        while (i < len && isspace((unsigned char)ci[i]))
            put(out, cap, n, ci + i++, 1);
        size_t v = i;
        bool quoted = i < len && ci[i] == '\'';
        for (i += quoted; i < len && (quoted ? ci[i] != '\'' : !isspace((unsigned char)ci[i]));)
            i += ci[i] == '\\' && i + 1 < len ? 2 : 1;
        i += quoted && i < len;
        put(out, cap, n, pw ? "***" : ci + v, pw ? 3 : i - v);
    }
}

void cd_conninfo_mask_append(const char *ci, size_t len, char *out, size_t cap, size_t *n)
{
    if (strncmp(ci, "postgresql://", 13) == 0 || strncmp(ci, "postgres://", 11) == 0)
        mask_uri(ci, len, out, cap, n);
    else
        mask_words(ci, len, out, cap, n);
}

void cd_conninfo_mask(const char *ci, char *out, size_t cap)
{
    size_t n = 0;
    if (cap > 0)
        out[0] = '\0';
    cd_conninfo_mask_append(ci, strlen(ci), out, cap, &n);
}
