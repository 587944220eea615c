/*
 * workload.c: loading workload files (see workload.h): the conversions and checks of the
 * keys declared once in workload_int.h, inih parsing with line numbers (a line reader),
 * overrides, and the order of the checks that need the whole file (workload_check.c).
 * Does not: check [search] values, shards or workers (workload_check.c), write model files
 * (workload_model.c), sample configurations (search.c) or run anything.
 */
#include "workload.h"

#include "workload_int.h"

#include "discover.h"
#include "data_pg.h"
#include "fsutil.h"
#include "remote.h"

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const sections[] = {"data",      "model",     "search",
                                       "procedure", "scheduler", "workers"};

/* ---- small helpers ---- */

static bool parse_long(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    *out = n;
    return v[0] != '\0' && *end == '\0' && errno == 0 && n >= lo && n <= hi;
}

static bool has_npy(const char *dir)
{
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d != NULL && !found && (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        found = n > 4 && strcmp(e->d_name + n - 4, ".npy") == 0;
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* ---- value conversions: conv_<name>(st, "[section] key", base, value, &field) ---- */

/* A directory, or a pg: or citus: spec (data_pg.h, discover.h), kept as given: its shards are
 * found later. */
static cd_code conv_dir(load_state *st, const char *name, const char *base, const char *v,
                        char **out)
{
    if (cd_pg_is_spec(v) || cd_dist_is_spec(v))
        return cd_wl_set_str(st, out, strdup(v));
    return cd_wl_resolve(st, name, base, v, true, out);
}

static cd_code conv_file(load_state *st, const char *name, const char *base, const char *v,
                         char **out)
{
    return cd_wl_resolve(st, name, base, v, false, out);
}

/* A directory holding column files (not a table directory of shards). */
static cd_code conv_shard(load_state *st, const char *name, const char *base, const char *v,
                          char **out)
{
    if (cd_pg_is_spec(v) || cd_dist_is_spec(v)) /* checked with the shards of [data] train */
        return cd_wl_set_str(st, out, strdup(v));
    cd_code rc = cd_wl_resolve(st, name, base, v, true, out);
    if (rc != CD_OK || has_npy(*out) || (st->lenient && access(*out, F_OK) != 0))
        return rc;
    cd_fail(st->err, CD_EINVAL, "%s: %s \"%s\" is not a shard directory", st->where, name, v);
    cd_detail(st->err, "no column file (.npy) in %s", *out);
    return cd_hint(st->err, "give one shard directory of the validation table (with its "
                            "column files), e.g. TABLE/part0");
}

static cd_code conv_path(load_state *st, const char *name, const char *base, const char *v,
                         char **out)
{
    return v[0] == '\0' ? cd_wl_bad(st, name, v, "a path")
                        : cd_wl_set_str(st, out, cd_wl_join(base, v));
}

/* A path on the worker hosts: absolute, not resolved here. */
static cd_code conv_absolute(load_state *st, const char *name, const char *base, const char *v,
                             char **out)
{
    return v[0] != '/' ? cd_wl_bad(st, name, v, "an absolute path on the worker hosts")
                       : cd_wl_set_str(st, out, strdup(v));
}

static cd_code conv_column(load_state *st, const char *name, const char *base, const char *v,
                           char **out)
{
    if (v[0] == '\0' || strlen(v) >= 64 || strpbrk(v, "/, \t;") != NULL)
        return cd_wl_bad(st, name, v, "a column name (shard file <name>.npy)");
    return cd_wl_set_str(st, out, strdup(v));
}

static cd_code conv_command(load_state *st, const char *name, const char *base, const char *v,
                            char **out)
{
    if (!cd_remote_template_ok(v))
        return cd_wl_bad(st, name, v,
                         "a command template with {host} and {command} as words of their own");
    return cd_wl_set_str(st, out, strdup(v));
}

static cd_code conv_procedure(load_state *st, const char *name, const char *base, const char *v,
                              cd_procedure *out)
{
    static const char *const kinds[] = {"grid", "random", "hyperband"};
    for (int i = 0; i < 3; i++)
        if (strcmp(v, kinds[i]) == 0) {
            *out = (cd_procedure)i;
            return CD_OK;
        }
    return cd_wl_bad(st, name, v, "grid, random or hyperband");
}

static cd_code conv_launcher(load_state *st, const char *name, const char *base, const char *v,
                             cd_launcher *out)
{
    if (strcmp(v, "local") != 0 && strcmp(v, "ssh") != 0)
        return cd_wl_bad(st, name, v, "local or ssh");
    *out = strcmp(v, "local") == 0 ? CD_LAUNCH_LOCAL : CD_LAUNCH_SSH;
    return CD_OK;
}

static cd_code conv_numerics(load_state *st, const char *name, const char *base, const char *v,
                             bool *out)
{
    if (strcmp(v, "report") != 0 && strcmp(v, "strict") != 0)
        return cd_wl_bad(st, name, v, "report or strict");
    *out = strcmp(v, "strict") == 0;
    return CD_OK;
}

static cd_code conv_model_store(load_state *st, const char *name, const char *base, const char *v,
                                cd_model_store *out)
{
    if (strcmp(v, "shared") != 0 && strcmp(v, "copy") != 0)
        return cd_wl_bad(st, name, v, "shared or copy");
    *out = strcmp(v, "copy") == 0 ? CD_STORE_COPY : CD_STORE_SHARED;
    return CD_OK;
}

static cd_code conv_snapshot(load_state *st, const char *name, const char *base, const char *v,
                             bool *out)
{
    if (strcmp(v, "stop") != 0 && strcmp(v, "continue") != 0)
        return cd_wl_bad(st, name, v, "stop or continue");
    *out = strcmp(v, "continue") == 0;
    return CD_OK;
}

static cd_code conv_policy(load_state *st, const char *name, const char *base, const char *v,
                           cd_policy *out)
{
    cd_err local = {0};
    if (cd_policy_parse(v, out, &local) == CD_OK)
        return CD_OK;
    cd_fail(st->err, CD_EINVAL, "%s: invalid value \"%s\" for %s", st->where, v, name);
    return cd_hint(st->err, "%s", local.msg);
}

static cd_code conv_int(load_state *st, const char *name, const char *v, long lo, long hi,
                        const char *expected, int *out)
{
    long n;
    if (!parse_long(v, lo, hi, &n))
        return cd_wl_bad(st, name, v, expected);
    *out = (int)n;
    return CD_OK;
}

static cd_code conv_positive(load_state *st, const char *name, const char *base, const char *v,
                             int *out)
{
    return conv_int(st, name, v, 1, 1000000, "an integer >= 1", out);
}

static cd_code conv_count(load_state *st, const char *name, const char *base, const char *v,
                          int *out)
{
    return conv_int(st, name, v, 0, 1000000, "an integer >= 0", out);
}

static cd_code conv_eta(load_state *st, const char *name, const char *base, const char *v, int *out)
{
    return conv_int(st, name, v, 2, 1000, "an integer >= 2", out);
}

static cd_code conv_threads(load_state *st, const char *name, const char *base, const char *v,
                            int *out)
{
    return conv_int(st, name, v, 1, 1024, "a number of threads from 1 to 1024", out);
}

static cd_code conv_seconds(load_state *st, const char *name, const char *base, const char *v,
                            double *out)
{
    if (!cd_wl_parse_real(v, out) || *out < 0)
        return cd_wl_bad(st, name, v, "a number of seconds >= 0 (0: no timeout)");
    return CD_OK;
}

static cd_code conv_seed(load_state *st, const char *name, const char *base, const char *v,
                         uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0)
        return cd_wl_bad(st, name, v, "an unsigned integer");
    *out = (uint64_t)n;
    return CD_OK;
}

/* ---- keys ---- */

static cd_code set_defaults(load_state *st)
{
    cd_code rc = CD_OK;
    const char *def;
#define SET_DEFAULT(s, k, field, conv, d)                                                          \
    def = d;                                                                                       \
    if (rc == CD_OK && def[0] != '\0')                                                             \
        rc = conv_##conv(st, "[" #s "] " #k, st->dir, def, &st->w->field);
    WORKLOAD_KEYS(SET_DEFAULT)
#undef SET_DEFAULT
    return rc;
}

/* Key k seen at line (-1: override): *skip when an override already set it. */
static cd_code claim(load_state *st, int k, const char *name, int line, bool *skip)
{
    *skip = line > 0 && st->lines[k] < 0;
    cd_wl_set_where(st, line);
    if (line > 0 && st->lines[k] > 0) {
        cd_fail(st->err, CD_EINVAL, "%s: %s given twice", st->where, name);
        return cd_hint(st->err, "it is first set on line %d; keep one", st->lines[k]);
    }
    if (!*skip)
        st->lines[k] = line;
    return CD_OK;
}

static cd_code unknown_key(load_state *st, const char *sec, const char *key)
{
    if (sec[0] == '\0')
        return cd_fail(st->err, CD_EINVAL, "%s: key \"%s\" outside a section", st->where, key);
    char keys[512] = "";
#define LIST_KEY(s, k, field, conv, def)                                                           \
    if (strcmp(sec, #s) == 0)                                                                      \
        snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s" #k, keys[0] ? ", " : "");
    WORKLOAD_KEYS(LIST_KEY)
#undef LIST_KEY
    if (strcmp(sec, "workers") == 0)
        snprintf(keys + strlen(keys), sizeof keys - strlen(keys), ", worker");
    cd_fail(st->err, CD_EINVAL, "%s: unknown key \"%s\" in section [%s]", st->where, key, sec);
    return keys[0] ? cd_hint(st->err, "keys of [%s]: %s", sec, keys) : st->err->code;
}

/* A key of WORKLOAD_KEYS at line (-1: an override, relative to the current directory). */
static cd_code set_key(load_state *st, const char *sec, const char *key, const char *value,
                       int line)
{
    const char *base = line < 0 ? st->cwd : st->dir;
    bool skip;
    cd_code rc;
#define SET_KEY(s, k, field, conv, def)                                                            \
    if (strcmp(sec, #s) == 0 && strcmp(key, #k) == 0) {                                            \
        rc = claim(st, K_##s##_##k, "[" #s "] " #k, line, &skip);                                  \
        if (rc != CD_OK || skip)                                                                   \
            return rc;                                                                             \
        return conv_##conv(st, "[" #s "] " #k, base, value, &st->w->field);                        \
    }
    WORKLOAD_KEYS(SET_KEY)
#undef SET_KEY
    cd_wl_set_where(st, line);
    return unknown_key(st, sec, key);
}

static cd_code apply_overrides(load_state *st, const cd_workload_override *ov, int nov)
{
    for (int i = 0; i < nov; i++) {
        cd_wl_set_where(st, -1);
        if (strcmp(ov[i].section, "search") == 0 || strcmp(ov[i].key, "worker") == 0)
            return cd_fail(st->err, CD_EINVAL, "override: [%s] %s cannot be overridden",
                           ov[i].section, ov[i].key);
        cd_code rc = set_key(st, ov[i].section, ov[i].key, ov[i].value, -1);
        if (rc != CD_OK)
            return rc;
    }
    return CD_OK;
}

/* ---- reading the file ---- */

static cd_code add_raw(load_state *st, raw_item **items, int *n, const char *name, const char *text)
{
    raw_item *grown = realloc(*items, (size_t)(*n + 1) * sizeof *grown);
    if (grown == NULL)
        return cd_wl_oom(st);
    *items = grown;
    raw_item *r = &grown[*n];
    r->name = strdup(name);
    r->text = strdup(text);
    r->line = st->in.line;
    (*n)++;
    return r->name && r->text ? CD_OK : cd_wl_oom(st);
}

static cd_code add_search(load_state *st, const char *name, const char *value)
{
    for (int i = 0; i < st->nsearch; i++)
        if (strcmp(st->search[i].name, name) == 0) {
            cd_fail(st->err, CD_EINVAL, "%s: [search] %s given twice", st->where, name);
            return cd_hint(st->err, "it is first set on line %d; keep one", st->search[i].line);
        }
    return add_raw(st, &st->search, &st->nsearch, name, value);
}

/* An indented line: more values of the [search] key above, an error elsewhere. */
static cd_code continue_value(load_state *st, const char *section, const char *name,
                              const char *value)
{
    raw_item *r = st->nsearch > 0 ? &st->search[st->nsearch - 1] : NULL;
    if (strcmp(section, "search") != 0 || r == NULL || strcmp(r->name, name) != 0) {
        cd_fail(st->err, CD_EINVAL, "%s: indented line continues [%s] %s", st->where, section,
                name);
        return cd_hint(st->err, "remove the indentation (only [search] values continue)");
    }
    /* inih cuts inline comments on first lines only: cut this one's too */
    size_t len = strlen(value);
    for (const char *c = value + 1; *c != '\0'; c++)
        if (*c == ';' && (c[-1] == ' ' || c[-1] == '\t')) {
            len = (size_t)(c - value);
            break;
        }
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    size_t n = strlen(r->text) + len + 2;
    char *s = malloc(n);
    if (s == NULL)
        return cd_wl_oom(st);
    snprintf(s, n, "%s %.*s", r->text, (int)len, value);
    free(r->text);
    r->text = s;
    return CD_OK;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    load_state *st = user;
    if (st->rc != CD_OK)
        return 0;
    cd_wl_set_where(st, st->in.line);
    if (st->in.continued)
        st->rc = continue_value(st, section, name, value);
    else if (strcmp(section, "search") == 0)
        st->rc = add_search(st, name, value);
    else if (strcmp(section, "workers") == 0 && strcmp(name, "worker") == 0)
        st->rc = add_raw(st, &st->workers, &st->nworkers, name, value);
    else
        st->rc = set_key(st, section, name, value, st->in.line);
    return st->rc == CD_OK;
}

/* A `[name]` line (as inih reads it: not one that continues a value): a known section. */
static cd_code check_section(load_state *st)
{
    const char *name = st->in.section;
    if (!st->in.heading)
        return CD_OK;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (strcmp(name, sections[i]) == 0)
            return CD_OK;
    cd_wl_set_where(st, st->in.line);
    cd_fail(st->err, CD_EINVAL, "%s: unknown section [%s]", st->where, name);
    return cd_hint(st->err, "sections: [data] [model] [search] [procedure] [scheduler] [workers]");
}

/* inih's reader: counts lines (ini_lines.h: Debian's inih gives handlers no line number),
 * refuses lines inih would misread, checks section names. */
static char *read_line(char *buf, int size, void *stream)
{
    load_state *st = stream;
    char *s = st->rc == CD_OK ? cd_ini_lines_read(buf, size, &st->in) : NULL;
    if (s == NULL && st->rc == CD_OK && st->in.bad[0] != '\0') {
        cd_wl_set_where(st, st->in.line);
        st->rc = cd_fail(st->err, CD_EINVAL, "%s: %s", st->where, st->in.bad);
        if (st->in.too_long)
            cd_hint(st->err, "continue a [search] value on indented lines");
    }
    if (s == NULL)
        return NULL;
    st->rc = check_section(st);
    return st->rc == CD_OK ? buf : NULL;
}

static cd_code parse_file(load_state *st)
{
    st->in = (cd_ini_lines){.f = fopen(st->path, "r")};
    if (st->in.f == NULL) {
        cd_fail(st->err, CD_ENOTFOUND, "could not open workload file \"%s\": %s", st->path,
                strerror(errno));
        return cd_hint(st->err, "give an existing workload file (see conf/workloads/)");
    }
    int bad_line = ini_parse_stream(read_line, st, on_key, st);
    fclose(st->in.f);
    st->in.f = NULL;
    if (st->rc != CD_OK)
        return st->rc;
    if (bad_line < 0)
        return cd_wl_oom(st);
    if (bad_line > 0) {
        cd_fail(st->err, CD_EINVAL, "%s:%d: syntax error", st->path, bad_line);
        return cd_hint(st->err, "expected [section], key = value or a # comment");
    }
    return CD_OK;
}

/* ---- loading ---- */

static cd_code state_init(load_state *st, const char *path)
{
    char dir[PATH_MAX];
    cd_dir_of(path, dir, sizeof dir);
    st->dir = realpath(dir, NULL);
    if (st->dir == NULL)
        st->dir = strdup(dir);
    st->cwd = getcwd(NULL, 0);
    char *real = realpath(path, NULL);
    st->w->path = real != NULL ? real : strdup(path);
    return st->dir && st->cwd && st->w->path ? CD_OK : cd_wl_oom(st);
}

static void state_free(load_state *st)
{
    for (int i = 0; i < st->nsearch; i++)
        free(st->search[i].name), free(st->search[i].text);
    for (int i = 0; i < st->nworkers; i++)
        free(st->workers[i].name), free(st->workers[i].text);
    free(st->search);
    free(st->workers);
    free(st->dir);
    free(st->cwd);
}

cd_code cd_workload_load_from(cd_workload *w, const cd_workload_source *src,
                              const cd_workload_override *ov, int nov, cd_err *err)
{
    memset(w, 0, sizeof *w);
    load_state st = {.w = w,
                     .path = src->copy ? src->copy : src->path,
                     .shards = src->shards,
                     .lenient = src->lenient,
                     .citus_saved = src->citus_saved,
                     .err = err};
    cd_code rc = state_init(&st, src->path);
    if (rc == CD_OK)
        rc = set_defaults(&st);
    if (rc == CD_OK)
        rc = apply_overrides(&st, ov, nov);
    if (rc == CD_OK)
        rc = parse_file(&st);
    if (rc == CD_OK)
        rc = cd_wl_check_procedure(&st);
    if (rc == CD_OK)
        rc = cd_wl_parse_search(&st);
    if (rc == CD_OK)
        rc = cd_wl_check_required(&st);
    if (rc == CD_OK)
        rc = cd_wl_scan_shards(&st);
    if (rc == CD_OK)
        rc = cd_wl_parse_workers(&st);
    if (rc == CD_OK)
        rc = cd_wl_valid_parts(&st);
    state_free(&st);
    if (rc != CD_OK)
        cd_workload_free(w);
    return rc;
}

cd_code cd_workload_load_with(cd_workload *w, const char *path, const cd_workload_override *ov,
                              int nov, cd_err *err)
{
    cd_workload_source src = {.path = path};
    return cd_workload_load_from(w, &src, ov, nov, err);
}

cd_code cd_workload_load(cd_workload *w, const char *path, cd_err *err)
{
    return cd_workload_load_with(w, path, NULL, 0, err);
}

void cd_workers_free(cd_worker_spec *ws, int n)
{
    for (int i = 0; i < n; i++) {
        free(ws[i].host);
        free(ws[i].shard);
        free(ws[i].device);
    }
    free(ws);
}

void cd_workload_free(cd_workload *w)
{
    for (int i = 0; i < w->nkeys; i++) {
        for (int j = 0; j < w->keys[i].nvalues; j++)
            free(w->keys[i].values[j]);
        free(w->keys[i].values);
        free(w->keys[i].key);
    }
    for (int i = 0; i < w->nshards; i++)
        free(w->shards[i]);
    cd_workers_free(w->workers, w->nworkers);
    for (int i = 0; i < w->nvalid_parts; i++) {
        for (int k = 0; k < w->valid_parts[i].ndata; k++)
            free(w->valid_parts[i].data[k]);
        free(w->valid_parts[i].data);
        free(w->valid_parts[i].host);
    }
    free(w->valid_parts);
    for (int i = 0; i < 2; i++) {
        cd_dist_table *t = i ? w->citus_valid : w->citus;
        if (t != NULL)
            cd_dist_table_free(t);
        free(t);
    }
    free(w->mountpoint);
    free(w->keys);
    free(w->shards);
    free(w->path);
    free(w->train_dir);
    free(w->valid_dir);
    free(w->feature);
    free(w->label);
    free(w->model_file);
    free(w->ssh_command);
    free(w->model_dir);
    memset(w, 0, sizeof *w);
}
