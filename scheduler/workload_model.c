/*
 * workload_model.c: the model file of one configuration (cd_workload_write_model, see
 * workload.h): the base model file as lines, searched keys set by text edits that keep its
 * comments and order, written atomically.
 * Does not: check values (trainer/model.c parses the result when the trainer loads it).
 */
#include "workload.h"

#include "atomicfile.h"
#include "workload_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- model files of configurations ---- */

typedef struct text_lines {
    char **v; /* [n] without their newlines */
    int n, cap;
} text_lines;

static void lines_free(text_lines *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    memset(t, 0, sizeof *t);
}

static cd_code lines_insert(text_lines *t, int at, const char *s, cd_err *err)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 32;
        char **grown = realloc(t->v, (size_t)cap * sizeof *grown);
        if (grown == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory");
        t->v = grown;
        t->cap = cap;
    }
    char *copy = strdup(s);
    if (copy == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    memmove(&t->v[at + 1], &t->v[at], (size_t)(t->n - at) * sizeof *t->v);
    t->v[at] = copy;
    t->n++;
    return CD_OK;
}

static void lines_remove(text_lines *t, int at)
{
    free(t->v[at]);
    memmove(&t->v[at], &t->v[at + 1], (size_t)(t->n - at - 1) * sizeof *t->v);
    t->n--;
}

static cd_code lines_read(text_lines *t, const char *path, cd_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return cd_fail(err, CD_ENOTFOUND, "could not open model file \"%s\": %s", path,
                       strerror(errno));
    char *line = NULL;
    size_t size = 0;
    ssize_t n;
    cd_code rc = CD_OK;
    while (rc == CD_OK && (n = getline(&line, &size, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        rc = lines_insert(t, t->n, line, err);
    }
    if (rc == CD_OK && ferror(f))
        rc = cd_fail(err, CD_EIO, "could not read model file \"%s\"", path);
    free(line);
    fclose(f);
    return rc;
}

/* A `[name]` line: true and name set. */
static bool section_line(const char *s, char *name, size_t size)
{
    s += strspn(s, " \t");
    const char *end = strchr(s, ']');
    if (*s != '[' || end == NULL)
        return false;
    snprintf(name, size, "%.*s", (int)(end - s - 1), s + 1);
    return true;
}

/* `key = value` or `key: value` (inih's separators) at the start of s. */
static bool key_line(const char *s, const char *key)
{
    if (strchr(" \t;#[", s[0]) != NULL)
        return false;
    size_t n = strcspn(s, "=:");
    if (s[n] == '\0')
        return false;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n == strlen(key) && strncmp(s, key, n) == 0;
}

/* inih reads an indented line after a key as more of its value. */
static bool continuation_line(const char *s)
{
    const char *t = s + strspn(s, " \t");
    return t != s && *t != '\0' && *t != ';' && *t != '#';
}

static bool content_line(const char *s)
{
    const char *t = s + strspn(s, " \t");
    return *t != '\0' && *t != ';' && *t != '#';
}

/* line (`key = value`) for a key [sec] lacks: after the section's last key (end: its index,
 * -1 when there is no [sec]), else in a new section at the end. */
static cd_code add_model_key(text_lines *t, const char *sec, const char *line, int end, cd_err *err)
{
    char header[128];
    if (end >= 0)
        return lines_insert(t, end + 1, line, err);
    snprintf(header, sizeof header, "[%s]", sec);
    cd_code rc = t->n > 0 && t->v[t->n - 1][0] != '\0' ? lines_insert(t, t->n, "", err) : CD_OK;
    if (rc == CD_OK)
        rc = lines_insert(t, t->n, header, err);
    return rc == CD_OK ? lines_insert(t, t->n, line, err) : rc;
}

/* Set [sec] key = value: replace its line (dropping repeats and continuation lines), else
 * add it. */
static cd_code set_model_key(text_lines *t, const char *sec, const char *key, const char *value,
                             cd_err *err)
{
    char line[CD_WL_MAX_LINE + 2], name[128];
    if (snprintf(line, sizeof line, "%s = %s", key, value) > CD_WL_MAX_LINE)
        return cd_fail(err, CD_EINVAL, "model file line \"%s = ...\" longer than %d characters",
                       key, CD_WL_MAX_LINE);
    bool in = false, found = false;
    int end = -1;
    for (int i = 0; i < t->n; i++) {
        if (section_line(t->v[i], name, sizeof name)) {
            if ((in = strcmp(name, sec) == 0))
                end = i;
            continue;
        }
        if (!in || !content_line(t->v[i]))
            continue;
        if (key_line(t->v[i], key)) {
            while (i + 1 < t->n && continuation_line(t->v[i + 1]))
                lines_remove(t, i + 1);
            if (found) {
                lines_remove(t, i--);
                continue;
            }
            char *copy = strdup(line);
            if (copy == NULL)
                return cd_fail(err, CD_ENOMEM, "out of memory");
            free(t->v[i]);
            t->v[i] = copy;
            found = true;
        }
        end = i;
    }
    return found ? CD_OK : add_model_key(t, sec, line, end, err);
}

/* t to path through a temporary file in the same directory (atomicfile.h). */
static cd_code write_lines(const text_lines *t, const char *path, cd_err *err)
{
    cd_atomic a;
    cd_code rc = cd_atomic_fopen(&a, path, 0644, err);
    for (int i = 0; rc == CD_OK && i < t->n; i++)
        fprintf(a.f, "%s\n", t->v[i]);
    if (rc == CD_OK)
        rc = cd_atomic_commit(&a, err);
    if (rc != CD_OK)
        cd_hint(err, "could not write model file \"%s\"", path);
    return rc;
}

cd_code cd_workload_write_model(const cd_workload *w, const cd_config_values *c, const char *path,
                                cd_err *err)
{
    const char *base = w->model_file;
    for (int i = 0; i < w->nkeys; i++)
        if (strcmp(w->keys[i].key, "model.file") == 0)
            base = c->values[i];
    if (base == NULL)
        return cd_fail(err, CD_EINVAL, "no model file to write %s from", path);
    text_lines t = {0};
    cd_code rc = lines_read(&t, base, err);
    for (int i = 0; rc == CD_OK && i < w->nkeys; i++) {
        char sec[64];
        const char *dot = strchr(w->keys[i].key, '.');
        if (strcmp(w->keys[i].key, "model.file") == 0 || dot == NULL)
            continue;
        snprintf(sec, sizeof sec, "%.*s", (int)(dot - w->keys[i].key), w->keys[i].key);
        rc = set_model_key(&t, sec, dot + 1, c->values[i], err);
    }
    if (rc == CD_OK && w->feature != NULL)
        rc = set_model_key(&t, "model", "feature", w->feature, err);
    if (rc == CD_OK && w->label != NULL)
        rc = set_model_key(&t, "model", "label", w->label, err);
    if (rc == CD_OK)
        rc = write_lines(&t, path, err);
    lines_free(&t);
    return rc;
}
