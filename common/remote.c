/*
 * remote.c: command templates (see remote.h).
 */
#include "remote.h"

#include <string.h>

bool cd_remote_quote(char *const *argv, char *buf, size_t size)
{
    size_t n = 0;
    for (int i = 0; argv[i] != NULL; i++) {
        if (i > 0 && n + 1 < size)
            buf[n++] = ' ';
        if (n + 1 < size)
            buf[n++] = '\'';
        for (const char *c = argv[i]; *c != '\0'; c++) {
            const char *piece = *c == '\'' ? "'\\''" : NULL;
            size_t len = piece ? strlen(piece) : 1;
            if (n + len + 2 >= size)
                return false;
            memcpy(buf + n, piece ? piece : c, len);
            n += len;
        }
        if (n + 1 < size)
            buf[n++] = '\'';
    }
    if (n >= size)
        return false;
    buf[n] = '\0';
    return true;
}

bool cd_remote_template_ok(const char *tmpl)
{
    bool host = false, cmd = false;
    for (const char *p = tmpl; *p != '\0';) {
        size_t n = strcspn(p, " ");
        bool is_host = n == 6 && strncmp(p, "{host}", n) == 0;
        bool is_cmd = n == 9 && strncmp(p, "{command}", n) == 0;
        if (!is_host && !is_cmd && n > 0 &&
            (memmem(p, n, "{host}", 6) != NULL || memmem(p, n, "{command}", 9) != NULL))
            return false;
        host |= is_host;
        cmd |= is_cmd;
        p += n + (p[n] == ' ');
    }
    return host && cmd;
}

int cd_remote_words(char *tmpl, const char *host, char *cmd, char **words, int max)
{
    int n = 0;
    for (char *save = NULL, *w = strtok_r(tmpl, " ", &save); w != NULL && n < max - 1;
         w = strtok_r(NULL, " ", &save)) {
        if (strcmp(w, "{command}") == 0)
            words[n++] = cmd;
        else if (strcmp(w, "{host}") == 0)
            words[n++] = (char *)host;
        else
            words[n++] = w;
    }
    words[n] = NULL;
    return n;
}
