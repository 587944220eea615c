/*
 * cluster.c: the workers, the cut and the snapshots of a job over a Citus table (see
 * cluster.h). Does not: talk to the coordinator (discover.h) or run units (run.c).
 */
#include "cluster.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "fsutil.h"
#include "launch.h"

#define WORKERS_MAGIC "cerebro-sched workers 1"
#define MAX_HOSTS 256

/* ---- DIR/workers ---- */

static cd_code write_workers(const char *path, const cd_workload *w, cd_err *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    fprintf(f, "%s\nshards", WORKERS_MAGIC);
    for (int i = 0; i < w->nshards; i++)
        fprintf(f, "\t%s", w->shards[i]);
    fputc('\n', f);
    for (int i = 0; i < w->nworkers; i++)
        fprintf(f, "worker\t%s\t%d\t%s\n", w->workers[i].host, w->workers[i].shard_id,
                w->workers[i].shard);
    cd_code rc = fclose(f) == 0 ? cd_atomic_write(path, text, len, 0644, err)
                                : cd_fail(err, CD_ENOMEM, "out of memory");
    free(text);
    return rc;
}

#define WORKERS_HINT "the file lists the job's workers; restore it or start a new job"

static cd_code bad_workers(const char *path, int line, cd_err *err)
{
    cd_fail(err, CD_ECORRUPT, "malformed line %d in \"%s\"", line, path);
    return cd_hint(err, WORKERS_HINT);
}

/* The shards line of DIR/workers (its first field "shards") against w's shards. */
static cd_code same_shards(const char *dir, const char *path, char *line, const cd_workload *w,
                           cd_err *err)
{
    int n = 0;
    for (const char *p = line; *p; p++)
        n += *p == '\t';
    char **old = calloc((size_t)n + 1, sizeof *old), *save = NULL;
    if (old == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    char *head = strtok_r(line, "\t", &save);
    int k = 0;
    for (char *s; head != NULL && (s = strtok_r(NULL, "\t", &save)) != NULL;)
        old[k++] = s;
    cd_code rc = head == NULL || strcmp(head, "shards") != 0
                     ? bad_workers(path, 2, err)
                     : cd_shards_same(old, k, w, dir, path, err);
    free(old);
    return rc;
}

/* A worker line, "worker HOST SHARD_INDEX SHARD_DIR" (tab-separated, no field empty, the
 * index a shard of w and the directory's last component that shard's name), into *ws (host
 * and shard: pointers into line). */
static bool parse_worker(char *line, const cd_workload *w, cd_worker_spec *ws)
{
    char *f[5];
    int k = 0;
    for (char *p = line; p != NULL && k < 5; k++)
        f[k] = strsep(&p, "\t");
    size_t digits = k == 4 ? strlen(f[2]) : 0;
    if (k != 4 || strcmp(f[0], "worker") != 0 || f[1][0] == '\0' || f[3][0] == '\0' ||
        digits == 0 || digits > 9 || strspn(f[2], "0123456789") != digits)
        return false;
    int shard = atoi(f[2]);
    const char *base = strrchr(f[3], '/');
    if (shard >= w->nshards || strcmp(base != NULL ? base + 1 : f[3], w->shards[shard]) != 0)
        return false;
    *ws = (cd_worker_spec){.host = f[1], .shard = f[3], .shard_id = shard};
    return true;
}

/* Parse DIR/workers (text: its lines, changed in place) into old[*n]; blank lines are
 * skipped but counted. */
static cd_code parse_workers(const char *dir, const char *path, char *text, const cd_workload *w,
                             cd_worker_spec *old, int *n, int cap, cd_err *err)
{
    int lineno = 0;
    for (char *next = text, *line; (line = strsep(&next, "\n")) != NULL;) {
        cd_code rc = CD_OK;
        if (++lineno == 1)
            rc = strcmp(line, WORKERS_MAGIC) == 0 ? CD_OK : bad_workers(path, lineno, err);
        else if (lineno == 2)
            rc = same_shards(dir, path, line, w, err);
        else if (line[0] == '\0')
            continue;
        else if (*n < cap && parse_worker(line, w, &old[*n]))
            (*n)++;
        else
            rc = bad_workers(path, lineno, err);
        if (rc != CD_OK)
            return rc;
    }
    return lineno >= 2 ? CD_OK : bad_workers(path, lineno + 1, err);
}

static int find_worker(const cd_workload *w, const char *host, const char *dir, const bool *used)
{
    for (int i = 0; i < w->nworkers; i++)
        if (!used[i] && strcmp(w->workers[i].host, host) == 0 &&
            strcmp(w->workers[i].shard, dir) == 0)
            return i;
    return -1;
}

/* A copy of ws for w->workers (device cpu); worker_copied tells whether it was made. */
static cd_worker_spec worker_copy(const cd_worker_spec *ws, bool gone)
{
    return (cd_worker_spec){strdup(ws->host), strdup(ws->shard), strdup("cpu"), ws->shard_id, gone};
}

static bool worker_copied(const cd_worker_spec *ws)
{
    return ws->host != NULL && ws->shard != NULL && ws->device != NULL;
}

/* The merged list: old workers at their numbers (gone or not), then the new placements. */
static cd_code merge(cd_workload *w, const cd_worker_spec *old, int nold, FILE *log, cd_err *err)
{
    cd_worker_spec *all = calloc((size_t)(nold + w->nworkers) + 1, sizeof *all);
    bool *used = calloc((size_t)w->nworkers + 1, sizeof *used);
    int n = 0;
    cd_code rc = all && used ? CD_OK : cd_fail(err, CD_ENOMEM, "out of memory");
    for (int i = 0; rc == CD_OK && i < nold; i++, n++) {
        int k = find_worker(w, old[i].host, old[i].shard, used);
        all[n] = worker_copy(&old[i], k < 0);
        if (k >= 0)
            used[k] = true;
        else
            fprintf(log,
                    "cerebro-sched: worker %d (%s:%s) is gone: the coordinator no longer "
                    "places shard %s on %s\n",
                    n, old[i].host, old[i].shard, w->shards[old[i].shard_id], old[i].host);
    }
    for (int k = 0; rc == CD_OK && k < w->nworkers; k++) {
        if (used[k])
            continue;
        const cd_worker_spec *ws = &w->workers[k];
        all[n] = worker_copy(ws, false);
        fprintf(log, "cerebro-sched: worker %d (%s:%s) is new: shard %s is on %s now\n", n,
                ws->host, ws->shard, w->shards[ws->shard_id], ws->host);
        n++;
    }
    for (int i = 0; rc == CD_OK && i < n; i++)
        if (!worker_copied(&all[i]))
            rc = cd_fail(err, CD_ENOMEM, "out of memory");
    cd_worker_spec *drop = rc == CD_OK ? w->workers : all;
    int ndrop = rc == CD_OK ? w->nworkers : n;
    cd_workers_free(drop, ndrop);
    if (rc == CD_OK) {
        w->workers = all;
        w->nworkers = n;
    }
    free(used);
    return rc;
}

/* The text of DIR/workers (path), malloc'd into *text. */
static cd_code read_workers(const char *path, char **text, cd_err *err)
{
    cd_err why = {0};
    cd_code rc = cd_read_text(path, text, &why);
    if (rc == CD_ECORRUPT) {
        if (err != NULL)
            *err = why;
        return cd_hint(err, WORKERS_HINT);
    }
    if (rc != CD_OK) {
        cd_fail(err, rc, "could not read \"%s\"", path);
        return cd_detail(err, "%s", why.msg);
    }
    return CD_OK;
}

cd_code cd_cluster_workers(const char *dir, cd_workload *w, bool readonly, FILE *log, cd_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/workers", dir);
    char *text = NULL;
    if (access(path, F_OK) != 0)
        return readonly ? CD_OK : write_workers(path, w, err);
    cd_code rc = read_workers(path, &text, err);
    if (rc != CD_OK)
        return rc;
    int cap = 4096, nold = 0;
    cd_worker_spec *old = calloc((size_t)cap, sizeof *old);
    rc = old ? parse_workers(dir, path, text, w, old, &nold, cap, err)
             : cd_fail(err, CD_ENOMEM, "out of memory");
    if (rc == CD_OK)
        rc = merge(w, old, nold, log, err);
    if (rc == CD_OK && !readonly)
        rc = write_workers(path, w, err);
    free(old);
    free(text);
    return rc;
}

/* w's shards from the shards line of DIR/workers (path; text: the file). */
static cd_code take_shards(const char *path, const char *text, cd_workload *w, cd_err *err)
{
    size_t magic = strlen(WORKERS_MAGIC);
    if (strncmp(text, WORKERS_MAGIC "\n", magic + 1) != 0)
        return bad_workers(path, 1, err);
    const char *line = text + magic + 1, *end = line + strcspn(line, "\n");
    if (strncmp(line, "shards\t", 7) != 0)
        return bad_workers(path, 2, err);
    for (const char *p = line + 6; p < end;) {
        size_t n = strcspn(++p, "\t\n");
        if (n == 0)
            return bad_workers(path, 2, err);
        char **grown = realloc(w->shards, (size_t)(w->nshards + 1) * sizeof *grown);
        if (grown == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory");
        w->shards = grown;
        if ((w->shards[w->nshards] = strndup(p, n)) == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory");
        w->nshards++;
        p += n;
    }
    return CD_OK;
}

cd_code cd_cluster_saved(const char *dir, cd_workload *w, cd_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/workers", dir);
    char *text = NULL;
    int cap = 4096, nold = 0;
    cd_worker_spec *old = NULL;
    cd_code rc = read_workers(path, &text, err);
    if (rc == CD_OK)
        rc = take_shards(path, text, w, err);
    if (rc == CD_OK && (old = calloc((size_t)cap, sizeof *old)) == NULL)
        rc = cd_fail(err, CD_ENOMEM, "out of memory");
    if (rc == CD_OK)
        rc = parse_workers(dir, path, text, w, old, &nold, cap, err);
    if (rc == CD_OK && nold == 0) { /* every run writes at least one */
        cd_fail(err, CD_ECORRUPT, "\"%s\" lists no worker", path);
        rc = cd_hint(err, WORKERS_HINT);
    }
    if (rc == CD_OK && (w->workers = calloc((size_t)nold + 1, sizeof *w->workers)) == NULL)
        rc = cd_fail(err, CD_ENOMEM, "out of memory");
    for (int i = 0; rc == CD_OK && i < nold; i++) {
        w->workers[w->nworkers++] = worker_copy(&old[i], false);
        if (!worker_copied(&w->workers[i]))
            rc = cd_fail(err, CD_ENOMEM, "out of memory");
    }
    free(old);
    free(text);
    return rc;
}

/* ---- the cut ---- */

typedef struct probe {
    const char *host;
    bool train, valid; /* the host has train workers, validation shards */
    pid_t pid;
    int status;
    bool ended;
    char out[PATH_MAX], err[PATH_MAX];
} probe;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static probe *probe_of(probe *p, int *n, const char *host)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(p[i].host, host) == 0)
            return &p[i];
    if (*n == MAX_HOSTS)
        return NULL;
    memset(&p[*n], 0, sizeof *p);
    p[*n].host = host;
    return &p[(*n)++];
}

static void meta_path(const cd_workload *w, const cd_dist_table *t, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s/%s/meta", w->mountpoint, t->db, t->dir);
}

static cd_code start_probe(const cd_workload *w, const char *logs, probe *p, cd_err *err)
{
    char train[PATH_MAX], valid[PATH_MAX], name[128];
    snprintf(name, sizeof name, "%s", p->host);
    for (char *c = name; *c; c++)
        *c = (*c == '/' || *c == ' ') ? '_' : *c;
    snprintf(p->out, sizeof p->out, "%s/cut-%s.out", logs, name);
    snprintf(p->err, sizeof p->err, "%s/cut-%s.err", logs, name);
    meta_path(w, w->citus, train, sizeof train);
    if (w->citus_valid != NULL)
        meta_path(w, w->citus_valid, valid, sizeof valid);
    char *argv[4] = {"cat", NULL, NULL, NULL};
    int k = 1;
    if (p->train)
        argv[k++] = train;
    if (p->valid)
        argv[k++] = valid;
    cd_launch l = {w->launcher == CD_LAUNCH_SSH ? w->ssh_command : NULL, p->host, NULL, p->out,
                   p->err};
    return cd_launch_start(&l, argv, &p->pid, err);
}

/* Wait for every probe until the deadline; the late ones are killed. */
static void wait_probes(probe *p, int n, double timeout)
{
    double deadline = now_s() + timeout;
    for (int left = n; left > 0;) {
        left = 0;
        for (int i = 0; i < n; i++) {
            if (p[i].ended || p[i].pid <= 0)
                continue;
            pid_t r = waitpid(p[i].pid, &p[i].status, WNOHANG);
            p[i].ended = r == p[i].pid || (r < 0 && errno != EINTR);
            left += !p[i].ended;
        }
        if (left > 0 && now_s() > deadline)
            for (int i = 0; i < n; i++)
                if (!p[i].ended && p[i].pid > 0)
                    kill(-p[i].pid, SIGKILL);
        if (left > 0)
            usleep(20000);
    }
}

/* The value of key in the [table] section starting at text ("" if absent), into buf. */
static void table_value(const char *text, const char *key, char *buf, size_t size)
{
    size_t klen = strlen(key);
    buf[0] = '\0';
    for (const char *l = text; l != NULL && *l != '\0';) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        if (l != text && l[0] == '[')
            return;
        if (len > klen + 3 && strncmp(l, key, klen) == 0 && strncmp(l + klen, " = ", 3) == 0) {
            snprintf(buf, size, "%.*s", (int)(len - klen - 3), l + klen + 3);
            return;
        }
        l = end ? end + 1 : NULL;
    }
}

/* The last line of a file (stderr of a probe), for messages. */
static void last_line(const char *path, char *buf, size_t size)
{
    char line[512];
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (line[0] != '\n')
            snprintf(buf, size, "%s", line);
    if (f != NULL)
        fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

/* A shard name in a `shards = a, b` list. */
static bool listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(list, name); p != NULL; p = strstr(p + 1, name))
        if ((p == list || p[-1] == ' ' || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return true;
    return false;
}

/* What host p showed: its metas' cuts into shows ("" when one has none), checked against
 * the shards the coordinator places there. */
static cd_code read_probe(const cd_workload *w, const probe *p, char *cut, size_t size, cd_err *err)
{
    char *text = NULL, why[300];
    bool ok = p->ended && WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0;
    cd_err e = {0};
    if (ok && cd_read_file(p->out, &text, NULL, &e) != CD_OK)
        ok = false;
    const char *train = text ? strstr(text, "[table]") : NULL;
    const char *valid = train && p->valid ? strstr(train + 1, "[table]") : NULL;
    if (!ok || (p->train && train == NULL) || (p->valid && (p->train ? valid : train) == NULL)) {
        last_line(p->err, why, sizeof why);
        free(text);
        cd_fail(err, CD_EIO, "could not read the table meta on worker host %s", p->host);
        cd_detail(err, "%s", why[0] ? why : p->ended ? "no [table] in its output" : "timed out");
        return cd_hint(err,
                       "is the host up, reached by ssh_command, with cerebro-ds-fuse "
                       "mounted on %s?",
                       w->mountpoint);
    }
    char shards[8192], c2[128];
    table_value(train, "cut", cut, size);
    table_value(train, "shards", shards, sizeof shards);
    if (p->train && p->valid && (table_value(valid, "cut", c2, sizeof c2), strcmp(c2, cut) != 0)) {
        free(text);
        cd_fail(err, CD_EINVAL, "worker host %s shows %s of %s and %s of %s", p->host,
                cut[0] ? cut : "no cut", w->citus->dir, c2[0] ? c2 : "no cut", w->citus_valid->dir);
        return cd_hint(err, "refresh both tables in one cut: `cerebro-ds refresh --cluster %s %s`",
                       w->citus->dir, w->citus_valid->dir);
    }
    for (int i = 0; p->train && i < w->nworkers; i++) {
        const cd_worker_spec *ws = &w->workers[i];
        if (ws->gone || strcmp(ws->host, p->host) != 0 || listed(shards, w->shards[ws->shard_id]))
            continue;
        free(text);
        cd_fail(err, CD_EINVAL,
                "worker host %s does not show shard %s of %s, which the coordinator places "
                "there",
                p->host, w->shards[ws->shard_id], w->citus->dir);
        cd_detail(err, "its mount shows: %s", shards[0] ? shards : "no shard");
        return cd_hint(err, "run `cerebro-ds refresh --cluster` (the shard moved since the "
                            "mount's snapshot), then resume the job");
    }
    free(text);
    return CD_OK;
}

/* Every host showed the same cut? Else the error lists what each showed. */
static cd_code same_cut(const cd_workload *w, probe *p, char (*cuts)[300], int n, char *cut,
                        size_t size, cd_err *err)
{
    bool same = cuts[0][0] != '\0';
    for (int i = 1; i < n; i++)
        same = same && strcmp(cuts[i], cuts[0]) == 0;
    if (same) {
        snprintf(cut, size, "%s", cuts[0]);
        return CD_OK;
    }
    char shows[sizeof err->detail] = "";
    for (int i = 0; i < n; i++)
        snprintf(shows + strlen(shows), sizeof shows - strlen(shows), "%s%s shows %s%s",
                 i ? "; " : "", p[i].host, cuts[i][0] ? "cut " : "",
                 cuts[i][0] ? cuts[i] : "no cut (its daemon pinned on first access)");
    cd_fail(err, CD_EINVAL, "the worker hosts do not show one cluster cut of %s", w->citus->dir);
    cd_detail(err, "%s", shows);
    return cd_hint(err, "run `cerebro-ds refresh --cluster` (every host's mount then takes the "
                        "same snapshot), then resume the job");
}

cd_code cd_cluster_cut(const cd_workload *w, const char *logs_dir, double timeout, char *cut,
                       size_t size, cd_err *err)
{
    static probe p[MAX_HOSTS];
    static char cuts[MAX_HOSTS][300];
    int n = 0;
    cd_code rc = CD_OK;
    for (int i = 0; rc == CD_OK && i < w->nworkers; i++) {
        probe *x = w->workers[i].gone ? NULL : probe_of(p, &n, w->workers[i].host);
        if (x != NULL)
            x->train = true;
        else if (!w->workers[i].gone)
            rc = cd_fail(err, CD_EINVAL, "more than %d worker hosts", MAX_HOSTS);
    }
    for (int i = 0; rc == CD_OK && w->citus_valid && i < w->nvalid_parts; i++) {
        probe *x = probe_of(p, &n, w->valid_parts[i].host);
        if (x == NULL)
            rc = cd_fail(err, CD_EINVAL, "more than %d worker hosts", MAX_HOSTS);
        else
            x->valid = true;
    }
    for (int i = 0; rc == CD_OK && i < n; i++)
        rc = start_probe(w, logs_dir, &p[i], err);
    wait_probes(p, n, timeout);
    for (int i = 0; rc == CD_OK && i < n; i++)
        rc = read_probe(w, &p[i], cuts[i], sizeof cuts[i], err);
    return rc == CD_OK ? same_cut(w, p, cuts, n, cut, size, err) : rc;
}

/* ---- snapshots ---- */

static cd_seen_entry *find_seen(const cd_seen *s, int shard, const char *host)
{
    for (int i = 0; i < s->n; i++)
        if (s->v[i].shard == shard && strcmp(s->v[i].host, host) == 0)
            return &s->v[i];
    return NULL;
}

cd_snap cd_seen_check(const cd_seen *s, int shard, const char *host, const char *cut,
                      const char *content, char *why, size_t size)
{
    const cd_seen_entry *e = find_seen(s, shard, host);
    why[0] = '\0';
    if (e == NULL)
        return CD_SNAP_FIRST;
    bool contents = e->content[0] != '\0' && content[0] != '\0';
    bool cuts = e->cut[0] != '\0' && cut[0] != '\0';
    snprintf(why, size, "cut %s -> %s, content %s -> %s", e->cut[0] ? e->cut : "none",
             cut[0] ? cut : "none", e->content[0] ? e->content : "unknown",
             content[0] ? content : "unknown");
    if (contents)
        return strcmp(e->content, content) == 0 ? CD_SNAP_SAME : CD_SNAP_CHANGED;
    if (cuts)
        return strcmp(e->cut, cut) == 0 ? CD_SNAP_SAME : CD_SNAP_CHANGED;
    return CD_SNAP_UNKNOWN;
}

cd_code cd_seen_update(cd_seen *s, int shard, const char *host, const char *cut,
                       const char *content, cd_err *err)
{
    if (cut[0] == '\0' && content[0] == '\0')
        return CD_OK;
    cd_seen_entry *e = find_seen(s, shard, host);
    if (e == NULL) {
        if (s->n == s->cap) {
            int cap = s->cap ? 2 * s->cap : 32;
            cd_seen_entry *v = realloc(s->v, (size_t)cap * sizeof *v);
            if (v == NULL)
                return cd_fail(err, CD_ENOMEM, "out of memory");
            s->v = v;
            s->cap = cap;
        }
        e = &s->v[s->n++];
        memset(e, 0, sizeof *e);
        e->shard = shard;
        snprintf(e->host, sizeof e->host, "%s", host);
    }
    if (cut[0] != '\0')
        snprintf(e->cut, sizeof e->cut, "%s", cut);
    if (content[0] != '\0')
        snprintf(e->content, sizeof e->content, "%s", content);
    return CD_OK;
}

void cd_seen_free(cd_seen *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}
