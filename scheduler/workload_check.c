/*
 * workload_check.c: the parts of a workload checked once the whole file is read (see
 * workload.h): keys of [procedure] the kind does not use, [search] values, required keys,
 * the shards of [data] train, and the workers.
 * Does not: read the file or convert single values (workload.c).
 */
#include "workload_int.h"
#include "atomicfile.h"
#include "fsutil.h"

#include "discover.h"
#include "data_pg.h"
#include "model.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- [procedure] and [search] ---- */

cd_code cd_wl_check_procedure(load_state *st)
{
    enum { G = 1 << CD_PROC_GRID, RA = 1 << CD_PROC_RANDOM, H = 1 << CD_PROC_HYPERBAND };
    static const struct {
        int k;
        const char *name;
        unsigned kinds;
        const char *used_by;
    } uses[] = {
        {K_procedure_epochs, "epochs", G | RA, "grid and random (hyperband: R)"},
        {K_procedure_n, "n", RA, "random"},
        {K_procedure_R, "R", H, "hyperband (grid and random: epochs)"},
        {K_procedure_eta, "eta", H, "hyperband"},
        {K_procedure_seed, "seed", RA | H, "random and hyperband"},
    };
    static const char *const kinds[] = {"grid", "random", "hyperband"};
    for (size_t i = 0; i < sizeof uses / sizeof uses[0]; i++) {
        if (st->lines[uses[i].k] == 0 || (uses[i].kinds & (1u << st->w->procedure)))
            continue;
        cd_wl_set_where(st, st->lines[uses[i].k]);
        cd_fail(st->err, CD_EINVAL, "%s: [procedure] %s is not used by kind = %s", st->where,
                uses[i].name, kinds[st->w->procedure]);
        return cd_hint(st->err, "%s is used by %s only; remove it", uses[i].name, uses[i].used_by);
    }
    return CD_OK;
}

static bool model_key_known(const char *name)
{
    for (int i = 0; cd_model_key_name(i) != NULL; i++)
        if (strcmp(cd_model_key_name(i), name) == 0)
            return true;
    return false;
}

static cd_code check_search_name(load_state *st, const char *name)
{
    if (strcmp(name, "model.file") == 0 || model_key_known(name))
        return CD_OK;
    char keys[512] = "model.file";
    for (int i = 0; cd_model_key_name(i) != NULL; i++)
        snprintf(keys + strlen(keys), sizeof keys - strlen(keys), ", %s", cd_model_key_name(i));
    cd_fail(st->err, CD_EINVAL, "%s: [search] %s is not a key of model files", st->where, name);
    return cd_hint(st->err, "search section.key of a model file: %s", keys);
}

static cd_code push_value(load_state *st, cd_search_key *k, const char *s, size_t n)
{
    char **grown = realloc(k->values, (size_t)(k->nvalues + 1) * sizeof *grown);
    if (grown == NULL)
        return cd_wl_oom(st);
    k->values = grown;
    if ((grown[k->nvalues] = strndup(s, n)) == NULL)
        return cd_wl_oom(st);
    k->nvalues++;
    return CD_OK;
}

static cd_code bad_search(load_state *st, const cd_search_key *k, const char *v,
                          const char *expected)
{
    char name[160];
    snprintf(name, sizeof name, "[search] %s", k->key);
    return cd_wl_bad(st, name, v, expected);
}

/* Comma-separated items of text into k->values; "double quoted" items may hold commas. */
static cd_code split_items(load_state *st, cd_search_key *k, const char *text)
{
    const char *p = text + strspn(text, " \t");
    while (*p != '\0') {
        const char *s = p, *e;
        if (*p == '"') {
            s = p + 1;
            if ((e = strchr(s, '"')) == NULL)
                return bad_search(st, k, text, "a closing \" after a quoted value");
            p = e + 1 + strspn(e + 1, " \t");
        } else {
            p = e = s + strcspn(s, ",");
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
        }
        if (e == s || (*p != ',' && *p != '\0'))
            return bad_search(st, k, text, "values separated by commas, none empty");
        cd_code rc = push_value(st, k, s, (size_t)(e - s));
        if (rc != CD_OK)
            return rc;
        if (*p == ',')
            p += 1 + strspn(p + 1, " \t");
    }
    return CD_OK;
}

/* uniform(a, b) / loguniform(a, b): bounds into k->lo, k->hi. */
static cd_code parse_bounds(load_state *st, cd_search_key *k, const char *text)
{
    if (k->nvalues != 2 || !cd_wl_parse_real(k->values[0], &k->lo) ||
        !cd_wl_parse_real(k->values[1], &k->hi))
        return bad_search(st, k, text, "two numbers: uniform(lo, hi) or loguniform(lo, hi)");
    if (k->lo >= k->hi) {
        cd_fail(st->err, CD_EINVAL, "%s: empty search space for [search] %s: %s", st->where, k->key,
                text);
        return cd_hint(st->err, "give lo < hi");
    }
    if (k->dist == CD_DIST_LOGUNIFORM && k->lo <= 0) {
        cd_fail(st->err, CD_EINVAL, "%s: [search] %s: loguniform needs lo > 0", st->where, k->key);
        return cd_hint(st->err, "give positive bounds, e.g. loguniform(1e-5, 1e-2)");
    }
    for (int i = 0; i < k->nvalues; i++)
        free(k->values[i]);
    free(k->values);
    k->values = NULL;
    k->nvalues = 0;
    return CD_OK;
}

/* The value of one [search] key: a list, choice(...), uniform(...) or loguniform(...). */
static cd_code parse_dist(load_state *st, cd_search_key *k, const char *text)
{
    static const char *const names[] = {"choice", "uniform", "loguniform"};
    static const cd_dist dists[] = {CD_DIST_LIST, CD_DIST_UNIFORM, CD_DIST_LOGUNIFORM};
    size_t n = strspn(text, "abcdefghijklmnopqrstuvwxyz"), len = strlen(text);
    bool call = n > 0 && text[n] == '(';
    k->dist = CD_DIST_LIST;
    if (call) {
        size_t i = 0;
        while (i < 3 && (strlen(names[i]) != n || strncmp(text, names[i], n) != 0))
            i++;
        if (i == 3 || text[len - 1] != ')')
            return bad_search(st, k, text,
                              "a list, choice(...), uniform(lo, hi) or loguniform(lo, hi)");
        k->dist = dists[i];
    }
    char *inner = call ? strndup(text + n + 1, len - n - 2) : strdup(text);
    cd_code rc = inner != NULL ? split_items(st, k, inner) : cd_wl_oom(st);
    free(inner);
    if (rc == CD_OK && k->nvalues == 0) {
        cd_fail(st->err, CD_EINVAL, "%s: empty search space: [search] %s has no values", st->where,
                k->key);
        return cd_hint(st->err, "give values (%s = v1, v2) or remove the key", k->key);
    }
    return rc != CD_OK || k->dist == CD_DIST_LIST ? rc : parse_bounds(st, k, text);
}

/* Values of model.file resolve like [model] file; others must fit one model-file line (inih
 * has already cut inline comments, so " ;" cannot be in a value). */
static cd_code check_values(load_state *st, cd_search_key *k)
{
    bool files = strcmp(k->key, "model.file") == 0;
    if (files && k->dist != CD_DIST_LIST)
        return bad_search(st, k, "a distribution", "a list of model files");
    const char *key = strchr(k->key, '.') + 1;
    for (int i = 0; i < k->nvalues; i++) {
        char *v = k->values[i];
        if (files) {
            cd_code rc = cd_wl_resolve(st, "[search] model.file", st->dir, v, false, &k->values[i]);
            if (rc != CD_OK)
                return rc;
        } else if (strlen(key) + 3 + strlen(v) > CD_WL_MAX_LINE) {
            return bad_search(st, k, v, "a value that fits one model-file line");
        }
    }
    return CD_OK;
}

static cd_code parse_search_key(load_state *st, const raw_item *r, cd_search_key *k)
{
    cd_wl_set_where(st, r->line);
    k->line = r->line;
    if ((k->key = strdup(r->name)) == NULL)
        return cd_wl_oom(st);
    cd_code rc = check_search_name(st, r->name);
    if (rc == CD_OK)
        rc = parse_dist(st, k, r->text);
    if (rc == CD_OK && st->w->procedure == CD_PROC_GRID && k->dist != CD_DIST_LIST) {
        cd_fail(st->err, CD_EINVAL,
                "%s: [search] %s: grid takes a list of values, not a "
                "distribution",
                st->where, k->key);
        return cd_hint(st->err, "list the values (%s = v1, v2) or use kind = random", k->key);
    }
    return rc == CD_OK ? check_values(st, k) : rc;
}

cd_code cd_wl_parse_search(load_state *st)
{
    cd_workload *w = st->w;
    if (st->nsearch > 0 && (w->keys = calloc((size_t)st->nsearch, sizeof *w->keys)) == NULL)
        return cd_wl_oom(st);
    for (int i = 0; i < st->nsearch; i++) {
        w->nkeys++;
        cd_code rc = parse_search_key(st, &st->search[i], &w->keys[i]);
        if (rc != CD_OK)
            return rc;
    }
    return CD_OK;
}

/* ---- data and workers ---- */

static int cmp_names(const void *a, const void *b)
{
    return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* e (from data_pg.c) as the workload's error at the line of key k. */
static cd_code pg_error(load_state *st, int k, const char *name, const cd_err *e)
{
    cd_wl_set_where(st, st->lines[k]);
    cd_fail(st->err, e->code, "%s: %s: %s", st->where, name, e->msg);
    if (e->detail[0] != '\0')
        cd_detail(st->err, "%s", e->detail);
    return e->hint[0] != '\0' ? cd_hint(st->err, "%s", e->hint) : e->code;
}

/* A pg: [data] valid must name one shard. */
static cd_code check_pg_valid(load_state *st)
{
    cd_workload *w = st->w;
    cd_err e = {0};
    char **names = NULL;
    int n = 0;
    if (cd_pg_list_shards(w->valid_dir, &names, &n, &e) == CD_OK && n != 1) {
        char shown[1024];
        cd_pg_mask(w->valid_dir, shown, sizeof shown);
        cd_fail(&e, CD_EINVAL, "\"%s\" has %d shards: name one", shown, n);
        cd_hint(&e, "add #SHARD, e.g. #%s", names[0]);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return e.code == CD_OK ? CD_OK : pg_error(st, K_data_valid, "[data] valid", &e);
}

/* [data] train = pg:CONNINFO#SCHEMA.TABLE: the shards are the table's (data_pg.h). */
static cd_code scan_pg_shards(load_state *st)
{
    cd_workload *w = st->w;
    cd_err e = {0};
    if (cd_pg_spec_has_shard(w->train_dir)) {
        char shown[1024];
        cd_pg_mask(w->train_dir, shown, sizeof shown);
        cd_fail(&e, CD_EINVAL, "\"%s\" names one shard", shown);
        cd_hint(&e, "give the table, pg:CONNINFO#SCHEMA.TABLE: every shard gets a worker");
        return pg_error(st, K_data_train, "[data] train", &e);
    }
    if (cd_pg_list_shards(w->train_dir, &w->shards, &w->nshards, &e) != CD_OK)
        return pg_error(st, K_data_train, "[data] train", &e);
    qsort(w->shards, (size_t)w->nshards, sizeof *w->shards, cmp_names);
    return CD_OK;
}

/* A citus: table of [data] key k into *out (malloc'd), read from its coordinator. */
static cd_code discover(load_state *st, int k, const char *name, const char *spec,
                        cd_dist_table **out)
{
    cd_err e = {0};
    if ((*out = calloc(1, sizeof **out)) == NULL)
        return cd_wl_oom(st);
    if (cd_dist_discover(spec, *out, &e) == CD_OK)
        return CD_OK;
    free(*out);
    *out = NULL;
    char shown[1024];
    cd_dist_mask(spec, shown, sizeof shown);
    cd_context(&e, "%s", shown);
    return pg_error(st, k, name, &e);
}

/* [data] train = citus:...: the shards are the table's, s<shardid> by shard id. */
static cd_code scan_citus_shards(load_state *st)
{
    cd_workload *w = st->w;
    cd_code rc = discover(st, K_data_train, "[data] train", w->train_dir, &w->citus);
    if (rc == CD_OK && (w->shards = calloc((size_t)w->citus->nshards, sizeof *w->shards)) == NULL)
        rc = cd_wl_oom(st);
    for (int i = 0; rc == CD_OK && i < w->citus->nshards; i++, w->nshards++)
        if ((w->shards[i] = strdup(w->citus->shards[i])) == NULL)
            rc = cd_wl_oom(st);
    return rc;
}

#define SHARDS_HEADER "cerebro-sched shards 1"

cd_code cd_shards_write(const char *path, const cd_workload *w, cd_err *err)
{
    size_t len = sizeof SHARDS_HEADER + 1;
    for (int i = 0; i < w->nshards; i++) {
        if (strchr(w->shards[i], '\n') != NULL)
            return CD_OK; /* cannot be a line: status then reads the shards from the data */
        len += strlen(w->shards[i]) + 1;
    }
    char *text = malloc(len), *p = text;
    if (text == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    p += sprintf(p, "%s\n", SHARDS_HEADER);
    for (int i = 0; i < w->nshards; i++)
        p += sprintf(p, "%s\n", w->shards[i]);
    cd_code rc = cd_atomic_write(path, text, (size_t)(p - text), 0644, err);
    free(text);
    return rc;
}

cd_code cd_shards_same(char *const *old, int nold, const cd_workload *w, const char *dir,
                       const char *path, cd_err *err)
{
    int i = 0;
    while (i < nold && i < w->nshards && strcmp(old[i], w->shards[i]) == 0)
        i++;
    if (i == nold && i == w->nshards)
        return CD_OK;
    cd_fail(err, CD_EINVAL, "the shards of [data] train changed since job \"%s\" started", dir);
    if (i < nold)
        cd_detail(err, "shard %d was \"%s\", now %s%s%s", i, old[i], i < w->nshards ? "\"" : "",
                  i < w->nshards ? w->shards[i] : "none", i < w->nshards ? "\"" : "");
    else
        cd_detail(err, "shard %d \"%s\" is new", i, w->shards[i]);
    return cd_hint(err,
                   "the job numbers its shards as \"%s\" lists them: restore the table as it "
                   "was, or start a new job",
                   path);
}

void cd_shards_free(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

cd_code cd_shards_read(const char *path, char ***names, int *n, cd_err *err)
{
    *names = NULL;
    *n = 0;
    char *text = NULL; /* a missing file: CD_ENOTFOUND (cd_read_file) */
    cd_code rc = cd_read_text(path, &text, err);
    char *save = NULL, *line = rc == CD_OK ? strtok_r(text, "\n", &save) : NULL;
    if (rc == CD_OK && (line == NULL || strcmp(line, SHARDS_HEADER) != 0))
        rc = cd_fail(err, CD_ECORRUPT, "\"%s\" is not a cerebro-sched shard list", path);
    while (rc == CD_OK && (line = strtok_r(NULL, "\n", &save)) != NULL) {
        char **grown = realloc(*names, (size_t)(*n + 1) * sizeof *grown);
        if (grown == NULL || (grown[*n] = strdup(line)) == NULL)
            rc = cd_fail(err, CD_ENOMEM, "out of memory");
        if (grown != NULL)
            *names = grown;
        if (rc == CD_OK)
            (*n)++;
    }
    if (rc == CD_OK && *n == 0)
        rc = cd_fail(err, CD_ECORRUPT, "\"%s\" lists no shard", path);
    free(text);
    if (rc != CD_OK) {
        cd_shards_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return rc;
}

/* Looking at a job: the shards it numbered, from its list (CD_ENOTFOUND: none kept). */
static cd_code saved_shards(load_state *st)
{
    cd_workload *w = st->w;
    if (st->shards == NULL || cd_dist_is_spec(w->train_dir))
        return CD_ENOTFOUND;
    cd_err e = {0};
    cd_code rc = cd_shards_read(st->shards, &w->shards, &w->nshards, &e);
    if (rc != CD_OK && rc != CD_ENOTFOUND && st->err != NULL)
        *st->err = e;
    return rc;
}

cd_code cd_wl_scan_shards(load_state *st)
{
    cd_workload *w = st->w;
    cd_code saved = saved_shards(st);
    if (saved != CD_ENOTFOUND)
        return saved;
    if (st->citus_saved && cd_dist_is_spec(w->train_dir)) {
        w->citus_saved = true; /* the caller takes the shards and workers from the job */
        return CD_OK;
    }
    cd_code rc = w->valid_dir && cd_pg_is_spec(w->valid_dir) ? check_pg_valid(st) : CD_OK;
    if (rc == CD_OK && w->valid_dir && cd_dist_is_spec(w->valid_dir))
        rc = discover(st, K_data_valid, "[data] valid", w->valid_dir, &w->citus_valid);
    if (rc != CD_OK || cd_dist_is_spec(w->train_dir))
        return rc == CD_OK ? scan_citus_shards(st) : rc;
    if (cd_pg_is_spec(w->train_dir))
        return scan_pg_shards(st);
    DIR *d = opendir(w->train_dir);
    rc = d != NULL
             ? CD_OK
             : cd_fail(st->err, CD_EIO, "could not read \"%s\": %s", w->train_dir, strerror(errno));
    for (struct dirent *e; rc == CD_OK && (e = readdir(d)) != NULL;) {
        char *p = cd_wl_join(w->train_dir, e->d_name);
        struct stat sb;
        bool dir = p != NULL && e->d_name[0] != '.' && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
        free(p);
        char **grown = dir ? realloc(w->shards, (size_t)(w->nshards + 1) * sizeof *grown) : NULL;
        if (dir && (grown == NULL || (grown[w->nshards] = strdup(e->d_name)) == NULL))
            rc = cd_wl_oom(st);
        if (grown != NULL)
            w->shards = grown;
        if (dir && rc == CD_OK)
            w->nshards++;
    }
    if (d != NULL)
        closedir(d);
    if (rc == CD_OK && w->nshards == 0) {
        cd_wl_set_where(st, st->lines[K_data_train]);
        cd_fail(st->err, CD_EINVAL,
                "%s: [data] train directory \"%s\" has no shard "
                "sub-directories",
                st->where, w->train_dir);
        return cd_hint(st->err, "give a table directory of the mount: one sub-directory per shard");
    }
    qsort(w->shards, (size_t)w->nshards, sizeof *w->shards, cmp_names);
    return rc;
}

static bool is_local(const char *host)
{
    char name[256] = "";
    if (strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0)
        return true;
    return gethostname(name, sizeof name - 1) == 0 && strcmp(host, name) == 0;
}

/* "HOST:SHARD_DIR[:DEVICE]" into its parts (malloc'd); false when it does not parse. */
static bool split_worker(const char *text, cd_worker_spec *ws)
{
    const char *colon = strchr(text, ':');
    if (colon == NULL || colon == text || strpbrk(text, " \t") != NULL)
        return false;
    const char *shard = colon + 1, *end = shard + strlen(shard), *last = strrchr(shard, ':');
    const char *device = "cpu";
    if (last != NULL && (strcmp(last + 1, "cpu") == 0 || strcmp(last + 1, "cuda") == 0))
        device = last + 1, end = last;
    else if (last != NULL && last[1] != '\0' &&
             strspn(last + 1, "0123456789") == strlen(last + 1) && last - shard >= 5 &&
             strncmp(last - 5, ":cuda", 5) == 0)
        device = last - 4, end = last - 5;
    if (end == shard)
        return false;
    ws->host = strndup(text, (size_t)(colon - text));
    ws->shard = strndup(shard, (size_t)(end - shard));
    ws->device = strdup(device);
    return true;
}

/* The --data of shard name: DIR/SHARD of a table directory, pg:CONNINFO#SCHEMA.TABLE#SHARD
 * of a pg: [data] train; malloc'd. */
static char *shard_data(const cd_workload *w, const char *name)
{
    if (!cd_pg_is_spec(w->train_dir))
        return cd_wl_join(w->train_dir, name);
    size_t n = strlen(w->train_dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s#%s", w->train_dir, name);
    return s;
}

/* A worker of a pg: [data] train names its shard: HOST:SHARD[:DEVICE]. */
static cd_code pg_worker(load_state *st, cd_worker_spec *ws)
{
    cd_workload *w = st->w;
    for (int i = 0; i < w->nshards; i++)
        if (strcmp(ws->shard, w->shards[i]) == 0) {
            ws->shard_id = i;
            return cd_wl_set_str(st, &ws->shard, shard_data(w, w->shards[i]));
        }
    char names[600] = "";
    for (int i = 0; i < w->nshards; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                 w->shards[i]);
    cd_fail(st->err, CD_EINVAL, "%s: worker shard \"%s\" is not a shard of [data] train", st->where,
            ws->shard);
    cd_detail(st->err, "the table's shards: %s", names);
    return cd_hint(st->err, "with train = pg:..., a worker names its shard: worker = %s:%s",
                   ws->host, w->shards[0]);
}

/* The shard of [data] train a worker's directory is: by real path on this host, else by
 * name (the host mounts the same table). -1: none. */
static int shard_of(const cd_workload *w, const char *dir, bool local)
{
    const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    for (int i = 0; i < w->nshards; i++) {
        if (!local) {
            if (strcmp(base, w->shards[i]) == 0)
                return i;
            continue;
        }
        char *p = cd_wl_join(w->train_dir, w->shards[i]);
        char *real = p ? realpath(p, NULL) : NULL;
        bool same = real != NULL && strcmp(real, dir) == 0;
        free(p);
        free(real);
        if (same)
            return i;
    }
    return -1;
}

static cd_code parse_worker(load_state *st, const raw_item *r, cd_worker_spec *ws)
{
    cd_wl_set_where(st, r->line);
    if (!split_worker(r->text, ws))
        return cd_wl_bad(
            st, "[workers] worker", r->text,
            "HOST:SHARD_DIR[:DEVICE], e.g. localhost:/mnt/cerebro-ds/db/public.t/part0:cuda:0");
    if (ws->host == NULL || ws->shard == NULL || ws->device == NULL)
        return cd_wl_oom(st);
    bool local = is_local(ws->host);
    if (!local && st->w->launcher == CD_LAUNCH_LOCAL) {
        cd_fail(st->err, CD_EINVAL, "%s: worker host \"%s\" is not this host", st->where, ws->host);
        return cd_hint(st->err, "set launcher = ssh in [workers] to run on other hosts");
    }
    if (cd_pg_is_spec(st->w->train_dir))
        return pg_worker(st, ws);
    if (local) {
        cd_code rc = cd_wl_resolve(st, "[workers] worker", st->dir, ws->shard, true, &ws->shard);
        if (rc != CD_OK)
            return rc;
    } else if (ws->shard[0] != '/') {
        return cd_wl_bad(st, "[workers] worker", r->text,
                         "an absolute shard directory on another host");
    }
    if ((ws->shard_id = shard_of(st->w, ws->shard, local)) >= 0)
        return CD_OK;
    cd_fail(st->err, CD_EINVAL, "%s: worker directory \"%s\" is not a shard of [data] train",
            st->where, ws->shard);
    cd_detail(st->err, "shards are the sub-directories of %s", st->w->train_dir);
    return cd_hint(st->err, "name one of them, e.g. %s:%s/%s", ws->host, st->w->train_dir,
                   st->w->shards[0]);
}

static cd_code default_workers(load_state *st)
{
    cd_workload *w = st->w;
    if ((w->workers = calloc((size_t)w->nshards, sizeof *w->workers)) == NULL)
        return cd_wl_oom(st);
    for (int i = 0; i < w->nshards; i++) {
        cd_worker_spec *ws = &w->workers[w->nworkers++];
        ws->host = strdup("localhost");
        ws->shard = shard_data(w, w->shards[i]);
        ws->device = strdup("cpu");
        ws->shard_id = i;
        if (ws->host == NULL || ws->shard == NULL || ws->device == NULL)
            return cd_wl_oom(st);
    }
    return CD_OK;
}

/* The directory of shard name of citus table t in the hosts' mounts, malloc'd. */
static char *mount_path(const cd_workload *w, const cd_dist_table *t, const char *name)
{
    size_t n = strlen(w->mountpoint) + strlen(t->db) + strlen(t->dir) + strlen(name) + 4;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s/%s/%s/%s", w->mountpoint, t->db, t->dir, name);
    return s;
}

/* A citus: host the local launcher cannot reach is an error at the [workers] launcher line. */
static cd_code citus_host(load_state *st, const cd_dist_table *t, const char *host)
{
    if (st->w->launcher != CD_LAUNCH_LOCAL || is_local(host))
        return CD_OK;
    cd_wl_set_where(st, st->lines[K_workers_launcher]);
    cd_fail(st->err, CD_EINVAL, "%s: the shards of %s are on host \"%s\", not this host",
            st->lines[K_workers_launcher] ? st->where : st->path, t->dir, host);
    return cd_hint(st->err, "set launcher = ssh in [workers] (and ssh_command if needed)");
}

/* citus: one worker per shard placement, on the placement's host, reading the shard where
 * that host mounts it. */
static cd_code citus_workers(load_state *st)
{
    cd_workload *w = st->w;
    const cd_dist_table *t = w->citus;
    if (st->nworkers > 0) {
        cd_wl_set_where(st, st->workers[0].line);
        cd_fail(st->err, CD_EINVAL, "%s: worker lines with a citus: [data] train", st->where);
        cd_detail(st->err, "the workers are the shard placements the coordinator lists: one per "
                           "(host, shard), found again at every run and resume");
        return cd_hint(st->err, "remove the worker lines");
    }
    if (t == NULL) /* w->citus_saved */
        return CD_OK;
    if ((w->workers = calloc((size_t)t->nplacements, sizeof *w->workers)) == NULL)
        return cd_wl_oom(st);
    for (int i = 0; i < t->nplacements; i++) {
        cd_worker_spec *ws = &w->workers[w->nworkers++];
        ws->host = strdup(t->placements[i].host);
        ws->shard = mount_path(w, t, t->shards[t->placements[i].shard]);
        ws->device = strdup("cpu");
        ws->shard_id = t->placements[i].shard;
        if (ws->host == NULL || ws->shard == NULL || ws->device == NULL)
            return cd_wl_oom(st);
        cd_code rc = citus_host(st, t, ws->host);
        if (rc != CD_OK)
            return rc;
    }
    return CD_OK;
}

cd_code cd_wl_parse_workers(load_state *st)
{
    cd_workload *w = st->w;
    if (w->citus != NULL || w->citus_saved)
        return citus_workers(st);
    if (st->nworkers == 0)
        return default_workers(st);
    if ((w->workers = calloc((size_t)st->nworkers, sizeof *w->workers)) == NULL)
        return cd_wl_oom(st);
    for (int i = 0; i < st->nworkers; i++) {
        w->nworkers++;
        cd_code rc = parse_worker(st, &st->workers[i], &w->workers[i]);
        if (rc != CD_OK)
            return rc;
    }
    for (int s = 0; s < w->nshards; s++) {
        int i = 0;
        while (i < w->nworkers && w->workers[i].shard_id != s)
            i++;
        if (i < w->nworkers)
            continue;
        cd_wl_set_where(st, st->workers[0].line);
        cd_fail(st->err, CD_EINVAL, "%s: shard \"%s\" of [data] train has no worker", st->where,
                w->shards[s]);
        if (cd_pg_is_spec(w->train_dir))
            return cd_hint(st->err, "add worker = HOST:%s", w->shards[s]);
        return cd_hint(st->err, "add worker = HOST:%s/%s", w->train_dir, w->shards[s]);
    }
    return CD_OK;
}

cd_code cd_wl_check_required(load_state *st)
{
    cd_workload *w = st->w;
    if (w->train_dir == NULL) {
        cd_fail(st->err, CD_EINVAL, "%s: [data] train is missing", st->path);
        return cd_hint(st->err, "add train = DIR: the table directory whose sub-directories "
                                "are the shards");
    }
    for (int i = 0; i < w->nkeys && w->model_file == NULL; i++)
        if (strcmp(w->keys[i].key, "model.file") == 0)
            return cd_wl_set_str(st, &w->model_file, strdup(w->keys[i].values[0]));
    if (w->model_file == NULL) {
        cd_fail(st->err, CD_EINVAL, "%s: [model] file is missing", st->path);
        return cd_hint(st->err, "add file = MODEL.ini to [model] (see conf/models/)");
    }
    return CD_OK;
}

/* ---- validation ---- */

static cd_code add_part(load_state *st, const char *host, char *data)
{
    cd_workload *w = st->w;
    cd_valid_part *p = NULL;
    for (int i = 0; i < w->nvalid_parts && p == NULL; i++)
        if (host != NULL && strcmp(w->valid_parts[i].host, host) == 0)
            p = &w->valid_parts[i];
    if (p == NULL) {
        cd_valid_part *grown = realloc(w->valid_parts, (size_t)(w->nvalid_parts + 1) * sizeof *p);
        if (grown == NULL)
            return free(data), cd_wl_oom(st);
        w->valid_parts = grown;
        p = &grown[w->nvalid_parts++];
        memset(p, 0, sizeof *p);
        if (host != NULL && (p->host = strdup(host)) == NULL)
            return free(data), cd_wl_oom(st);
    }
    char **more = realloc(p->data, (size_t)(p->ndata + 1) * sizeof *more);
    if (more == NULL || data == NULL)
        return free(data), cd_wl_oom(st);
    p->data = more;
    p->data[p->ndata++] = data;
    return CD_OK;
}

cd_code cd_wl_valid_parts(load_state *st)
{
    cd_workload *w = st->w;
    const cd_dist_table *t = w->citus_valid;
    if (w->valid_dir == NULL)
        return CD_OK;
    if (t == NULL && cd_dist_is_spec(w->valid_dir))
        return CD_OK; /* not discovered: a look at a job asks no coordinator */
    if (t == NULL)
        return add_part(st, NULL, strdup(w->valid_dir));
    for (int s = 0; s < t->nshards; s++) { /* each shard once, at its first placement */
        int k = 0;
        while (t->placements[k].shard != s)
            k++;
        cd_code rc = citus_host(st, t, t->placements[k].host);
        if (rc == CD_OK)
            rc = add_part(st, t->placements[k].host, mount_path(w, t, t->shards[s]));
        if (rc != CD_OK)
            return rc;
    }
    return CD_OK;
}
