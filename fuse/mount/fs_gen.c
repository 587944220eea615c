/*
 * fs_gen.c: snapshot generations of cerebro-ds-fuse: pinning a table (cd_vtable_open) on
 * its first access or at a refresh, giving the new generation its inode range, making it
 * current, invalidating the kernel's entries of the old one, and releasing a generation
 * (cd_vtable_close) once nothing holds it (see fs.h for the rules and the lock order).
 * Does not: resolve inodes to nodes or list directories (fs_tree.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "fs.h"
#include "fs_log.h"

/* The live generation holding inode ino (binary search by base), or NULL. */
fs_gen *fs_gen_find(cd_fs *fs, uint64_t ino)
{
    size_t lo = 0, hi = fs->ngens;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        fs_gen *g = fs->gens[mid];
        if (ino < g->base)
            hi = mid;
        else if (ino >= g->base + g->count)
            lo = mid + 1;
        else
            return g;
    }
    return NULL;
}

bool fs_gen_take_unused(cd_fs *fs, fs_gen *g)
{
    if (g->current || g->lookups > 0 || g->refs > 0)
        return false;
    for (size_t i = 0; i < fs->ngens; i++) {
        if (fs->gens[i] == g) {
            memmove(&fs->gens[i], &fs->gens[i + 1], (fs->ngens - i - 1) * sizeof *fs->gens);
            fs->ngens--;
            break;
        }
    }
    return true;
}

/* Release a generation that left fs->gens: its snapshot (unless released early), its
 * cached chunks, its listings, its memory. */
void fs_gen_free(cd_fs *fs, fs_gen *g)
{
    char path[512];
    if (g->v != NULL && !g->released) {
        cd_log(CD_LOG_INFO, "released snapshot %s of %s (generation %llu)",
               cd_vtable_snapshot(g->v), fs_table_path(g->table, path, sizeof path),
               (unsigned long long)g->serial);
        atomic_fetch_add(&fs->released, 1);
    }
    if (g->v != NULL) {
        cd_vtable_close(&g->v);
        pthread_mutex_lock(&fs->lock);
        fs->conns -= g->released ? 0 : 1;
        pthread_mutex_unlock(&fs->lock);
    }
    for (int i = g->nshards; g->lists != NULL && i >= 0; i--)
        fs_listing_free(fs, g->lists[i]);
    free(g->lists);
    free(g->nlookup);
    free(g->first);
    free(g);
}

/* ---- early release: grace period, max_snapshots, max_connections ---- */

/* Take g for an early release (fs.lock held): a replaced generation whose snapshot is still
 * held; the reference taken keeps it alive until gen_release has run. */
static bool gen_claim(fs_gen *g)
{
    if (g->current || g->released || g->v == NULL)
        return false;
    g->released = true;
    g->refs++;
    return true;
}

/* Release the snapshot of claimed generation g now (no lock held); why: for the log. */
static void gen_release(cd_fs *fs, fs_gen *g, const char *why)
{
    char path[512];
    cd_vtable_release(g->v);
    pthread_mutex_lock(&fs->lock);
    fs->conns--;
    uint64_t handles = g->refs - 1, lookups = g->lookups;
    time_t retired = g->retired;
    pthread_mutex_unlock(&fs->lock);
    atomic_fetch_add(&fs->released, 1);
    cd_log(CD_LOG_WARNING,
           "released snapshot %s of %s (generation %llu, replaced %lld s ago) %s, while it "
           "was still in use (%llu references by open files, directories or requests, %llu "
           "kernel lookups): their opens and reads now fail (ESTALE) until opened again",
           cd_vtable_snapshot(g->v), fs_table_path(g->table, path, sizeof path),
           (unsigned long long)g->serial, (long long)(time(NULL) - retired), why,
           (unsigned long long)handles, (unsigned long long)lookups);
    fs_gen_put(fs, g);
}

void fs_gen_sweep(cd_fs *fs)
{
    char why[64];
    snprintf(why, sizeof why, "after release_grace = %d s", fs->grace);
    for (;;) {
        fs_gen *due = NULL;
        time_t now = time(NULL);
        pthread_mutex_lock(&fs->lock);
        for (size_t i = 0; i < fs->ngens && due == NULL; i++) {
            fs_gen *g = fs->gens[i];
            if (!g->current && now - g->retired >= fs->grace && gen_claim(g))
                due = g;
        }
        pthread_mutex_unlock(&fs->lock);
        if (due == NULL)
            return;
        gen_release(fs, due, why);
    }
}

/* Release the oldest replaced snapshot of table t (of any table when t is NULL) early:
 * false when there is none (fs.lock not held). */
static bool release_oldest(cd_fs *fs, const fs_table *t, const char *why)
{
    fs_gen *oldest = NULL;
    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < fs->ngens && oldest == NULL; i++) /* by base: oldest first */
        if ((t == NULL || fs->gens[i]->table == t) && gen_claim(fs->gens[i]))
            oldest = fs->gens[i];
    pthread_mutex_unlock(&fs->lock);
    if (oldest != NULL)
        gen_release(fs, oldest, why);
    return oldest != NULL;
}

/* Snapshots of t still held (fs.lock held). */
static int live_snapshots(cd_fs *fs, const fs_table *t)
{
    int n = 0;
    for (size_t i = 0; i < fs->ngens; i++)
        n += fs->gens[i]->table == t && fs->gens[i]->v != NULL && !fs->gens[i]->released;
    return n;
}

static bool snapshots_over(cd_fs *fs, const fs_table *t)
{
    return live_snapshots(fs, t) > fs->max_snapshots;
}

static bool conns_over(cd_fs *fs, const fs_table *t)
{
    return fs->conns > fs->max_conns;
}

/* While over(fs, t) (asked under fs.lock), release the oldest replaced snapshot of t (of
 * any table when t is NULL) early; why names the bound for the log. */
static void release_while(cd_fs *fs, const fs_table *t, bool (*over)(cd_fs *, const fs_table *),
                          const char *key, int bound)
{
    char why[64];
    snprintf(why, sizeof why, "early: %s = %d", key, bound);
    for (;;) {
        pthread_mutex_lock(&fs->lock);
        bool is_over = over(fs, t);
        pthread_mutex_unlock(&fs->lock);
        if (!is_over || !release_oldest(fs, t, why))
            return;
    }
}

/* One more database connection within max_connections (+ extra), releasing replaced
 * snapshots (the oldest first) to make room; CD_ELIMIT when every connection is in use.
 * what: for the error. A refresh has extra 1: the snapshot it replaces is released after it
 * when still held (release_while). */
static cd_code conn_take(cd_fs *fs, const char *what, int extra, cd_err *err)
{
    char why[64];
    snprintf(why, sizeof why, "early: max_connections = %d", fs->max_conns);
    for (;;) {
        pthread_mutex_lock(&fs->lock);
        bool room = fs->conns < fs->max_conns + extra;
        fs->conns += room ? 1 : 0;
        int held = fs->conns;
        pthread_mutex_unlock(&fs->lock);
        if (room)
            return CD_OK;
        if (!release_oldest(fs, NULL, why)) {
            cd_fail(err, CD_ELIMIT,
                    "could not %s: the daemon holds %d database connections "
                    "(max_connections = %d), each a current snapshot or a privilege check",
                    what, held, fs->max_conns);
            return cd_hint(err, "raise [database] max_connections (the server's "
                                "max_connections must allow it), or serve fewer tables");
        }
    }
}

static void conn_give(cd_fs *fs)
{
    pthread_mutex_lock(&fs->lock);
    fs->conns--;
    pthread_mutex_unlock(&fs->lock);
}

void fs_gen_put(cd_fs *fs, fs_gen *g)
{
    pthread_mutex_lock(&fs->lock);
    g->refs--;
    bool drop = fs_gen_take_unused(fs, g);
    pthread_mutex_unlock(&fs->lock);
    if (drop)
        fs_gen_free(fs, g);
}

/* A generation for vtable v of t: node counts and first-file indexes (no inodes yet). */
static cd_code gen_new(fs_table *t, cd_vtable *v, fs_gen **out, cd_err *err)
{
    fs_gen *g = calloc(1, sizeof *g);
    int nshards = cd_vtable_nshards(v);
    if (g == NULL || (g->first = calloc((size_t)nshards + 1, sizeof *g->first)) == NULL) {
        free(g);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    g->table = t;
    g->v = v;
    g->nshards = nshards;
    g->ntfiles = cd_vtable_nfiles(v, -1);
    uint64_t idx = (uint64_t)g->ntfiles + (uint64_t)nshards;
    for (int s = 0; s < nshards; s++) {
        g->first[s] = idx;
        idx += (uint64_t)cd_vtable_nfiles(v, s);
    }
    g->first[nshards] = idx;
    g->count = idx;
    g->pinned = time(NULL);
    if ((g->nlookup = calloc(idx ? idx : 1, sizeof *g->nlookup)) == NULL) {
        free(g->first);
        free(g);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    *out = g;
    return CD_OK;
}

/* Make g the current generation of its table, with one reference for the caller. */
static cd_code gen_install(cd_fs *fs, fs_gen *g, cd_err *err)
{
    pthread_mutex_lock(&fs->lock);
    if (fs->ngens == fs->capgens) {
        size_t cap = fs->capgens ? fs->capgens * 2 : 16;
        fs_gen **grown = realloc(fs->gens, cap * sizeof *grown);
        if (grown == NULL) {
            pthread_mutex_unlock(&fs->lock);
            return cd_fail(err, CD_ENOMEM, "out of memory");
        }
        fs->gens = grown;
        fs->capgens = cap;
    }
    fs_table *t = g->table;
    fs_gen *old = t->cur;
    g->base = fs->next_ino;
    fs->next_ino += g->count ? g->count : 1;
    g->serial = old ? old->serial + 1 : 1;
    g->current = true;
    g->refs = 1;
    fs->gens[fs->ngens++] = g; /* bases only grow: the array stays sorted */
    t->cur = g;
    bool drop = false;
    if (old != NULL) {
        old->current = false;
        old->retired = time(NULL);
        drop = fs_gen_take_unused(fs, old);
    }
    pthread_mutex_unlock(&fs->lock);
    if (drop)
        fs_gen_free(fs, old);
    return CD_OK;
}

static double elapsed(const struct timeval *since)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_usec - since->tv_usec) / 1e6;
}

/* Pin t to a new snapshot and make it current (pin_lock held). *out is referenced. */
static cd_code gen_pin(cd_fs *fs, fs_table *t, const char *cut, fs_gen **out, cd_err *err)
{
    char path[512];
    struct timeval start;
    gettimeofday(&start, NULL);
    const cd_config *c = fs->cfg;
    cd_vtable_opts o = {.pin = {.conninfo = t->db->conninfo,
                                .datadir = c->database_datadir[0] ? c->database_datadir : NULL,
                                .block_shards = t->block_shards,
                                .columns = t->columns,
                                .cut = cut},
                        .cache = fs->cache,
                        .progress = false,
                        .skip_count = strcmp(c->database_verify, "none") == 0};
    cd_vtable *v = NULL;
    fs_gen *g = NULL;
    atomic_fetch_add(&fs->pins, 1);
    pthread_mutex_lock(&fs->lock);
    int extra = t->cur != NULL; /* a refresh */
    pthread_mutex_unlock(&fs->lock);
    cd_code rc = conn_take(fs, "pin a snapshot", extra, err);
    if (rc == CD_OK && (rc = cd_vtable_open(&v, &o, t->regname, err)) != CD_OK)
        conn_give(fs);
    if (rc == CD_OK && (rc = gen_new(t, v, &g, err)) != CD_OK) {
        cd_vtable_close(&v);
        conn_give(fs);
    }
    if (rc == CD_OK && (rc = gen_install(fs, g, err)) != CD_OK)
        fs_gen_free(fs, g); /* gives its connection back */
    if (rc != CD_OK) {
        atomic_fetch_add(&fs->pin_errors, 1);
        return rc;
    }
    /* within the bounds again: the snapshot a refresh replaced may be the one released */
    release_while(fs, t, snapshots_over, "max_snapshots", fs->max_snapshots);
    release_while(fs, NULL, conns_over, "max_connections", fs->max_conns);
    cd_log(CD_LOG_INFO,
           "pinned %s: snapshot %s%s%s, %d shards, %llu rows, in %.2f s (generation %llu)",
           fs_table_path(t, path, sizeof path), cd_vtable_snapshot(v), cut ? ", cluster cut " : "",
           cut ? cut : "", g->nshards, (unsigned long long)cd_vtable_rows(v), elapsed(&start),
           (unsigned long long)g->serial);
    *out = g;
    return CD_OK;
}

void fs_db_priv_close(fs_db *db)
{
    PQfinish(db->priv);
    db->priv = NULL;
}

/* db's privilege connection, opened at need within max_connections (priv_lock held):
 * false when it cannot be had (logged). */
static bool priv_conn(cd_fs *fs, fs_db *db)
{
    if (db->priv != NULL && PQstatus(db->priv) == CONNECTION_OK)
        return true;
    if (db->priv != NULL) {
        fs_db_priv_close(db);
        conn_give(fs);
    }
    cd_err err = {0};
    if (conn_take(fs, "check privileges", 0, &err) != CD_OK) {
        cd_log_err(CD_LOG_ERROR, &err, "database %s", db->name);
        return false;
    }
    db->priv = PQconnectdb(db->conninfo);
    if (PQstatus(db->priv) == CONNECTION_OK)
        return true;
    cd_log(CD_LOG_ERROR, "could not connect to ask privileges: %s", PQerrorMessage(db->priv));
    fs_db_priv_close(db);
    conn_give(fs);
    return false;
}

/* Does role have SELECT on t (db's privilege connection, opened at need)? 0 yes, EACCES no,
 * EIO when the database cannot say. */
static int role_may_select(cd_fs *fs, fs_db *db, const fs_table *t, const char *role)
{
    pthread_mutex_lock(&db->priv_lock);
    int e = EIO;
    if (priv_conn(fs, db)) {
        const char *params[2] = {role, t->regname};
        PGresult *r = PQexecParams(db->priv,
                                   "SELECT to_regrole($1) IS NOT NULL AND "
                                   "has_table_privilege(to_regrole($1), to_regclass($2), 'SELECT')",
                                   2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            e = PQgetvalue(r, 0, 0)[0] == 't' ? 0 : EACCES;
        else
            cd_log(CD_LOG_ERROR, "could not ask the privileges of role %s: %s", role,
                   PQerrorMessage(db->priv));
        PQclear(r);
    }
    pthread_mutex_unlock(&db->priv_lock);
    return e;
}

int fs_table_gen_for(cd_fs *fs, fs_table *t, uid_t uid, fs_gen **out)
{
    pthread_mutex_lock(&fs->lock);
    bool pinned = t->cur != NULL;
    pthread_mutex_unlock(&fs->lock);
    if (!pinned && uid != fs->uid) {
        char user[64], role[128], path[512];
        fs_role_for(fs, t->db, uid, user, sizeof user, role, sizeof role);
        int e = role_may_select(fs, t->db, t, role);
        if (e != 0) {
            atomic_fetch_add(&fs->opens_denied, 1);
            cd_log(CD_LOG_WARNING, "not pinning %s for uid=%u user=%s role=%s: %s",
                   fs_table_path(t, path, sizeof path), (unsigned)uid, user, role,
                   e == EACCES ? "no SELECT on the table" : "its privileges could not be checked");
            return e;
        }
    }
    return fs_table_gen(fs, t, out);
}

int fs_table_gen(cd_fs *fs, fs_table *t, fs_gen **out)
{
    pthread_mutex_lock(&fs->lock);
    fs_gen *g = t->cur;
    if (g != NULL)
        g->refs++;
    pthread_mutex_unlock(&fs->lock);
    if (g != NULL) {
        *out = g;
        return 0;
    }
    cd_err err = {0};
    cd_code rc = CD_OK;
    pthread_mutex_lock(&t->pin_lock);
    pthread_mutex_lock(&fs->lock);
    if ((g = t->cur) != NULL)
        g->refs++;
    pthread_mutex_unlock(&fs->lock);
    if (g == NULL)
        rc = gen_pin(fs, t, NULL, &g, &err);
    pthread_mutex_unlock(&t->pin_lock);
    if (rc != CD_OK) {
        char path[512];
        cd_log_err(CD_LOG_ERROR, &err, "could not pin %s", fs_table_path(t, path, sizeof path));
        return cd_code_errno(rc);
    }
    *out = g;
    return 0;
}

/* Drop the kernel's entries of old's directories: its inodes are then forgotten as soon as
 * nothing uses them (an open file's entry is unhashed now and dies at its last close). */
static void invalidate_gen(cd_fs *fs, fs_gen *old)
{
    if (fs->se == NULL)
        return;
    uint64_t dir = old->table->ino;
    for (int s = 0; s < old->nshards; s++) {
        uint64_t shard_ino = old->base + (uint64_t)old->ntfiles + (uint64_t)s;
        int nf = cd_vtable_nfiles(old->v, s);
        for (int i = 0; i < nf; i++) {
            const char *name = cd_vtable_file(old->v, s, i)->name;
            fuse_lowlevel_notify_inval_entry(fs->se, shard_ino, name, strlen(name));
        }
        const char *name = cd_vtable_shard_dir(old->v, s);
        fuse_lowlevel_notify_inval_entry(fs->se, dir, name, strlen(name));
    }
    for (int i = 0; i < old->ntfiles; i++) {
        const char *name = cd_vtable_file(old->v, -1, i)->name;
        fuse_lowlevel_notify_inval_entry(fs->se, dir, name, strlen(name));
    }
}

cd_code fs_refresh_table(cd_fs *fs, fs_table *t, const char *cut, cd_err *err)
{
    fs_gen *g = NULL;
    pthread_mutex_lock(&t->pin_lock);
    pthread_mutex_lock(&fs->lock);
    fs_gen *old = t->cur;
    if (old != NULL)
        old->refs++; /* alive until its entries are invalidated */
    pthread_mutex_unlock(&fs->lock);
    cd_code rc = gen_pin(fs, t, cut, &g, err);
    pthread_mutex_unlock(&t->pin_lock);
    /* outside every lock: the kernel locks the directory, where lookups may be waiting */
    if (rc == CD_OK && old != NULL)
        invalidate_gen(fs, old);
    if (old != NULL)
        fs_gen_put(fs, old);
    if (g != NULL)
        fs_gen_put(fs, g);
    if (rc == CD_OK)
        atomic_fetch_add(&fs->refreshes, 1);
    return rc;
}
