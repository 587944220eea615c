/*
 * ini_lines.c: the INI line reader (see ini_lines.h).
 */
#include "ini_lines.h"

#include <ctype.h>
#include <string.h>

/* The section as inih sees it after buf: a line "[NAME]" after blanks (a byte order mark
 * before it on line 1, as inih skips it) names the section, unless it is indented after a key:
 * then it continues that key's value (inih's multi-line rule). NAME fits: the line does. */
static void track_section(cd_ini_lines *r, const char *buf)
{
    const char *p = buf;
    if (r->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (isspace((unsigned char)*p))
        p++;
    r->heading = r->continued = false;
    if (*p == '\0' || *p == ';' || *p == '#')
        return; /* blank or a comment */
    if (r->after_key && p > buf) {
        r->continued = true; /* even a "[name]" */
        return;
    }
    const char *end = *p == '[' ? strchr(p, ']') : NULL;
    if (*p != '[') {
        r->after_key = true;  /* a key (or inih's syntax error) */
    } else if (end != NULL) { /* else inih's syntax error */
        snprintf(r->section, sizeof r->section, "%.*s", (int)(end - p - 1), p + 1);
        r->after_key = false;
        r->heading = true;
    }
}

char *cd_ini_lines_read(char *buf, int size, void *stream)
{
    cd_ini_lines *r = stream;
    if (r->bad[0] != '\0' || size < 3)
        return NULL;
    int n = 0, c = EOF;
    while (n < size - 1 && (c = getc(r->f)) != EOF) {
        if (c == '\0') {
            r->line++;
            snprintf(r->bad, sizeof r->bad, "line holds a NUL byte");
            return NULL;
        }
        buf[n++] = (char)c;
        if (c == '\n')
            break;
    }
    if (n == 0)
        return NULL;
    r->line++;
    buf[n] = '\0';
    if (n == size - 1 && buf[n - 1] != '\n') {
        snprintf(r->bad, sizeof r->bad, "line longer than %d characters", size - 2);
        r->too_long = true;
        return NULL;
    }
    track_section(r, buf);
    return buf;
}
