/*
 * fs_setup.c: from the configuration to what cerebro-ds-fuse serves: one directory per
 * database ([database] conninfo, then `databases`, same server), in each the tables of
 * `[mount] tables`, of `[table ...]` sections and of every schema of `schemas`; the role
 * map; the chunk cache. Connects once per database at start (and at a refresh, to list
 * schemas again); pinning a table is fs_tree.c's, on first access.
 * Does not: pin or read tables.
 */
#include <libpq-fe.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conninfo.h"
#include "fs.h"
#include "fs_log.h"
#include "fsname.h"

/* ---- tables ---- */

/* Columns of a [table] section as the catalog wants them: "a,b" (NULL when empty). */
static char *columns_of(const cd_config_table *sec)
{
    if (sec == NULL || sec->columns[0] == '\0')
        return NULL;
    char *out = calloc(1, strlen(sec->columns) + 1), item[256];
    const char *p = sec->columns;
    while (out != NULL && cd_config_next_item(&p, item, sizeof item)) {
        if (out[0] != '\0')
            strcat(out, ",");
        strcat(out, item);
    }
    return out;
}

/* Add table name (shown as name, pinned as regname) to db unless there (fs.lock held). */
static cd_code add_table(cd_fs *fs, fs_db *db, const char *name, const char *regname, cd_err *err)
{
    for (int i = 0; i < db->ntables; i++)
        if (strcmp(db->tables[i]->name, name) == 0)
            return CD_OK;
    if (db->ntables == db->cap) {
        int cap = db->cap ? db->cap * 2 : 16;
        fs_table **grown = realloc(db->tables, (size_t)cap * sizeof *grown);
        if (grown == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory");
        db->tables = grown;
        db->cap = cap;
    }
    char enc[1024];
    fs_table *t = calloc(1, sizeof *t);
    if (t == NULL || cd_fsname(name, enc, sizeof enc) == 0) {
        free(t);
        return cd_fail(err, t ? CD_EINVAL : CD_ENOMEM, "table name too long: %s", name);
    }
    const cd_config_table *sec = cd_config_table_find(fs->cfg, name);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->regname, sizeof t->regname, "%s", regname);
    t->db = db;
    t->block_shards =
        cd_config_block_shards(sec && sec->shards[0] ? sec->shards : fs->cfg->mount_shards);
    t->columns = columns_of(sec);
    pthread_mutex_init(&t->pin_lock, NULL);
    fs_snode *s = fs_snode_add(fs, FS_TABLE, db->ino, enc);
    if (s == NULL) {
        pthread_mutex_destroy(&t->pin_lock);
        free(t->columns);
        free(t);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    s->db = db;
    s->table = t;
    t->ino = s->ino;
    db->tables[db->ntables++] = t;
    return CD_OK;
}

static void free_table(fs_table *t)
{
    pthread_mutex_destroy(&t->pin_lock);
    free(t->columns);
    free(t);
}

/* Tables named in the configuration: `tables` and [table] sections (bare names: public). */
static cd_code add_named_tables(cd_fs *fs, fs_db *db, cd_err *err)
{
    char item[320], q[320];
    const char *p = fs->cfg->mount_tables;
    cd_code rc = CD_OK;
    while (rc == CD_OK && cd_config_next_item(&p, item, sizeof item)) {
        if (!cd_config_qualify(item, q, sizeof q))
            return cd_fail(err, CD_EINVAL, "table name too long: %s", item);
        rc = add_table(fs, db, q, q, err);
    }
    for (int i = 0; rc == CD_OK && i < fs->cfg->ntables; i++)
        rc = add_table(fs, db, fs->cfg->tables[i].name, fs->cfg->tables[i].name, err);
    return rc;
}

/* The ordinary and partitioned tables of every schema of `schemas` (not partitions). */
static cd_code add_schema_tables(cd_fs *fs, fs_db *db, PGconn *conn, cd_err *err)
{
    static const char sql[] =
        "SELECT n.nspname || '.' || c.relname, quote_ident(n.nspname) || '.' || "
        "quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
        "AND c.relpersistence = 'p' ORDER BY c.relname";
    char schema[128];
    const char *p = fs->cfg->mount_schemas;
    cd_code rc = CD_OK;
    while (rc == CD_OK && cd_config_next_item(&p, schema, sizeof schema)) {
        const char *params[1] = {schema};
        PGresult *r = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = cd_fail(err, CD_EDB, "could not list the tables of schema %s: %s", schema,
                         PQerrorMessage(conn));
        } else {
            if (PQntuples(r) == 0)
                cd_log(CD_LOG_WARNING, "schema %s of database %s has no tables to serve", schema,
                       db->name);
            pthread_mutex_lock(&fs->lock);
            for (int i = 0; rc == CD_OK && i < PQntuples(r); i++)
                rc = add_table(fs, db, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), err);
            pthread_mutex_unlock(&fs->lock);
        }
        PQclear(r);
    }
    return rc;
}

/* ---- databases ---- */

static cd_code connect_db(const char *conninfo, PGconn **out, cd_err *err)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
        return *out = conn, CD_OK;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", conn ? PQerrorMessage(conn) : "out of memory");
    msg[strcspn(msg, "\n")] = '\0';
    PQfinish(conn);
    cd_fail(err, CD_EDB, "could not connect to the database: %s", msg);
    char masked[2048];
    cd_conninfo_mask(conninfo, masked, sizeof masked);
    cd_detail(err, "conninfo \"%s\"", masked);
    return cd_hint(err, "check [database] conninfo (or --conninfo) and that the server runs");
}

/* current_database() and current_user of conn. */
static cd_code whoami(PGconn *conn, char *db, size_t dsize, char *role, size_t rsize, cd_err *err)
{
    PGresult *r = PQexec(conn, "SELECT current_database(), current_user");
    cd_code rc = CD_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        rc = cd_fail(err, CD_EDB, "could not read current_database(): %s", PQerrorMessage(conn));
    } else {
        snprintf(db, dsize, "%s", PQgetvalue(r, 0, 0));
        snprintf(role, rsize, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return rc;
}

/* A new database directory: name, the role of conninfo, conninfo (copied). */
static cd_code new_db(cd_fs *fs, const char *name, const char *role, const char *conninfo,
                      fs_db **out, cd_err *err)
{
    char enc[400];
    fs_db **grown = realloc(fs->dbs, (size_t)(fs->ndbs + 1) * sizeof *grown);
    if (grown != NULL)
        fs->dbs = grown;
    fs_db *db = calloc(1, sizeof *db);
    fs_snode *s = NULL;
    if (db != NULL && grown != NULL && (db->conninfo = strdup(conninfo)) != NULL &&
        cd_fsname(name, enc, sizeof enc) > 0)
        s = fs_snode_add(fs, FS_DB, FS_ROOT_INO, enc);
    if (s == NULL) {
        if (db != NULL)
            free(db->conninfo);
        free(db);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    snprintf(db->name, sizeof db->name, "%s", name);
    snprintf(db->role, sizeof db->role, "%s", role);
    pthread_mutex_init(&db->priv_lock, NULL);
    db->ino = s->ino;
    s->db = db;
    fs->dbs[fs->ndbs++] = db;
    *out = db;
    return CD_OK;
}

static bool served(const cd_fs *fs, const char *name)
{
    for (int i = 0; i < fs->ndbs; i++)
        if (strcmp(fs->dbs[i]->name, name) == 0)
            return true;
    return false;
}

/* Connect with conninfo, add its database (unless already served) and its tables. */
static cd_code add_database(cd_fs *fs, const char *conninfo, cd_err *err)
{
    PGconn *conn = NULL;
    char name[128], role[128];
    fs_db *db = NULL;
    cd_code rc = connect_db(conninfo, &conn, err);
    if (rc == CD_OK)
        rc = whoami(conn, name, sizeof name, role, sizeof role, err);
    if (rc == CD_OK && !served(fs, name)) {
        rc = new_db(fs, name, role, conninfo, &db, err);
        if (rc == CD_OK)
            rc = add_named_tables(fs, db, err);
        if (rc == CD_OK)
            rc = add_schema_tables(fs, db, conn, err);
        if (rc == CD_OK)
            cd_log(CD_LOG_INFO, "serving database %s (%d tables) as role %s", db->name, db->ntables,
                   db->role);
    }
    PQfinish(conn);
    return rc;
}

static cd_code add_databases(cd_fs *fs, cd_err *err)
{
    cd_code rc = add_database(fs, fs->cfg->database_conninfo, err);
    char name[128];
    const char *p = fs->cfg->database_databases;
    while (rc == CD_OK && cd_config_next_item(&p, name, sizeof name)) {
        char *ci = cd_conninfo_with_db(fs->cfg->database_conninfo, name, err);
        rc = ci ? add_database(fs, ci, err) : err->code;
        free(ci);
        if (rc != CD_OK)
            cd_context(err, "database %s", name);
    }
    return rc;
}

cd_code fs_relist(cd_fs *fs, cd_err *err)
{
    if (fs->cfg->mount_schemas[0] == '\0')
        return CD_OK;
    cd_code rc = CD_OK;
    for (int i = 0; i < fs->ndbs && rc == CD_OK; i++) {
        PGconn *conn = NULL;
        rc = connect_db(fs->dbs[i]->conninfo, &conn, err);
        if (rc == CD_OK)
            rc = add_schema_tables(fs, fs->dbs[i], conn, err);
        PQfinish(conn);
    }
    return rc;
}

/* ---- users and roles ---- */

static cd_code parse_rolemap(cd_fs *fs, cd_err *err)
{
    char item[160];
    const char *p = fs->cfg->mount_role_map;
    while (cd_config_next_item(&p, item, sizeof item)) {
        fs_rolemap *grown = realloc(fs->rolemap, (size_t)(fs->nrolemap + 1) * sizeof *grown);
        if (grown == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory");
        fs->rolemap = grown;
        char *colon = strchr(item, ':'); /* checked by config.c */
        *colon = '\0';
        snprintf(grown[fs->nrolemap].user, sizeof grown->user, "%s", item);
        snprintf(grown[fs->nrolemap].role, sizeof grown->role, "%s", colon + 1);
        fs->nrolemap++;
    }
    return CD_OK;
}

void fs_role_for(const cd_fs *fs, const fs_db *db, uid_t uid, char *user, size_t usize, char *role,
                 size_t rsize)
{
    struct passwd pw, *found = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != NULL)
        snprintf(user, usize, "%s", found->pw_name);
    else
        snprintf(user, usize, "%u", (unsigned)uid);
    for (int i = 0; i < fs->nrolemap; i++) {
        if (strcmp(fs->rolemap[i].user, user) == 0) {
            snprintf(role, rsize, "%s", fs->rolemap[i].role);
            return;
        }
    }
    /* the user running the daemon reads as the role of its own connection */
    snprintf(role, rsize, "%s", uid == fs->uid ? db->role : user);
}

/* ---- the whole ---- */

static cd_code make_cache(cd_fs *fs, cd_err *err)
{
    const cd_config *c = fs->cfg;
    cd_cache_config cc = {.bytes = (size_t)cd_config_uint(c->mount_cache_mb) << 20,
                          .spill_dir = c->mount_cache_dir[0] ? c->mount_cache_dir : NULL,
                          .spill_bytes = cd_config_uint(c->mount_cache_dir_mb) << 20};
    return cd_cache_new(&fs->cache, &cc, err);
}

cd_code fs_new(cd_fs **out, const cd_config *cfg, cd_err *err)
{
    *out = NULL;
    cd_fs *f = calloc(1, sizeof *f);
    if (f == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    pthread_mutex_init(&f->lock, NULL);
    f->cfg = cfg;
    f->uid = getuid();
    f->gid = getgid();
    f->started = time(NULL);
    f->max_conns = (int)cd_config_uint(cfg->database_max_connections);
    f->max_snapshots = (int)cd_config_uint(cfg->mount_max_snapshots);
    f->grace = (int)cd_config_uint(cfg->mount_release_grace);
    f->handle_limit = (size_t)cd_config_uint(cfg->mount_handles_mb) << 20;
    cd_code rc = fs_tree_init(f, err);
    if (rc == CD_OK)
        rc = parse_rolemap(f, err);
    if (rc == CD_OK)
        rc = add_databases(f, err);
    if (rc == CD_OK)
        rc = make_cache(f, err);
    if (rc != CD_OK) {
        fs_free(&f);
        return rc;
    }
    *out = f;
    return CD_OK;
}

void fs_free(cd_fs **fsp)
{
    cd_fs *f = *fsp;
    if (f == NULL)
        return;
    fs_tree_free(f); /* generations first: closing one drops its chunks from the cache */
    cd_cache_free(&f->cache);
    for (int i = 0; i < f->ndbs; i++) {
        for (int j = 0; j < f->dbs[i]->ntables; j++)
            free_table(f->dbs[i]->tables[j]);
        free(f->dbs[i]->tables);
        fs_db_priv_close(f->dbs[i]);
        pthread_mutex_destroy(&f->dbs[i]->priv_lock);
        free(f->dbs[i]->conninfo);
        free(f->dbs[i]);
    }
    free(f->dbs);
    free(f->rolemap);
    pthread_mutex_destroy(&f->lock);
    free(f);
    *fsp = NULL;
}
