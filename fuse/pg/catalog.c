/*
 * catalog.c: resolve, lock, snapshot, checkpoint and open a table (see catalog.h).
 * Every query runs through query() so server errors carry the SQL's purpose.
 */
#include "catalog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "madlib.h"
#include "pgdisk.h"
#include "pgquery.h"

/* ---- libpq helpers ---- */

static cd_code query(PGconn *conn, const char *what, const char *sql, int nparams,
                     const char *const *params, PGresult **out, cd_err *err)
{
    return cd_pg_query(conn, what, sql, nparams, params, out, err);
}

/* query() with one parameter: an OID. */
static cd_code query_oid(PGconn *conn, const char *what, const char *sql, uint32_t oid,
                         PGresult **out, cd_err *err)
{
    char text[16];
    snprintf(text, sizeof text, "%u", oid);
    const char *params[1] = {text};
    return query(conn, what, sql, 1, params, out, err);
}

cd_code cd_pg_exec(PGconn *conn, const char *sql, cd_err *err)
{
    PGresult *r;
    cd_code rc = query(conn, "run command", sql, 0, NULL, &r, err);
    if (rc == CD_OK)
        PQclear(r);
    if (rc != CD_OK)
        cd_context(err, "SQL: %s", sql);
    return rc;
}

static uint32_t u32(const PGresult *r, int row, int col)
{
    return (uint32_t)strtoul(PQgetvalue(r, row, col), NULL, 10);
}

static bool tbool(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col)[0] == 't';
}

static void copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src);
}

/* ---- types ---- */

static const struct {
    uint32_t oid;
    cd_kind kind;
    int16_t elemlen;
    const char *dtype;
} type_map[] = {
    {PGD_BOOLOID, CD_KIND_SCALAR, 1, "|b1"},       {PGD_INT2OID, CD_KIND_SCALAR, 2, "<i2"},
    {PGD_INT4OID, CD_KIND_SCALAR, 4, "<i4"},       {PGD_INT8OID, CD_KIND_SCALAR, 8, "<i8"},
    {PGD_FLOAT4OID, CD_KIND_SCALAR, 4, "<f4"},     {PGD_FLOAT8OID, CD_KIND_SCALAR, 8, "<f8"},
    {PGD_NUMERICOID, CD_KIND_NUMERIC, 8, "<f8"},   {PGD_BYTEAOID, CD_KIND_VARLENA, 1, ""},
    {PGD_TEXTOID, CD_KIND_VARLENA, 1, ""},         {PGD_VARCHAROID, CD_KIND_VARLENA, 1, ""},
    {PGD_BPCHAROID, CD_KIND_VARLENA, 1, ""},       {PGD_INT2ARRAYOID, CD_KIND_ARRAY, 2, "<i2"},
    {PGD_INT4ARRAYOID, CD_KIND_ARRAY, 4, "<i4"},   {PGD_INT8ARRAYOID, CD_KIND_ARRAY, 8, "<i8"},
    {PGD_FLOAT4ARRAYOID, CD_KIND_ARRAY, 4, "<f4"}, {PGD_FLOAT8ARRAYOID, CD_KIND_ARRAY, 8, "<f8"},
};

size_t cd_attr_elem_bytes(const cd_attr *a)
{
    return a->kind == CD_KIND_NUMERIC ? 8 : (size_t)a->elemlen;
}

void cd_attr_classify(cd_attr *a, uint32_t basetype, uint32_t elemoid)
{
    a->kind = CD_KIND_UNSUPPORTED;
    a->dtype[0] = '\0';
    for (size_t i = 0; i < sizeof type_map / sizeof type_map[0]; i++) {
        if (type_map[i].oid != basetype)
            continue;
        a->kind = type_map[i].kind;
        a->elemlen = type_map[i].elemlen;
        copy_str(a->dtype, sizeof a->dtype, type_map[i].dtype);
        a->elemoid = a->kind == CD_KIND_ARRAY ? elemoid : 0;
        a->typoid = a->kind == CD_KIND_ARRAY ? a->typoid : basetype;
        return;
    }
}

/* ---- resolving the table ---- */

static const char *refusal(char relkind, char persistence, const char *am)
{
    switch (relkind) {
    case 'v':
        return "is a view";
    case 'f':
        return "is a foreign table";
    case 'S':
        return "is a sequence";
    case 'i':
    case 'I':
        return "is an index";
    case 'c':
        return "is a composite type";
    case 't':
        return "is a TOAST table";
    case 'r':
    case 'p':
    case 'm':
        break;
    default:
        return "is not a table";
    }
    if (persistence == 't')
        return "is a temporary table (its pages live in one session's memory)";
    if (persistence == 'u')
        return "is an unlogged table (a checkpoint does not write its pages)";
    if (relkind != 'p' && am[0] != '\0' && strcmp(am, "heap") != 0)
        return strncmp(am, "ao", 2) == 0 ? "is an append-optimized table"
                                         : "does not use the heap access method";
    return NULL;
}

static cd_code resolve(PGconn *conn, const char *name, cd_table *t, cd_err *err)
{
    const char *sql =
        "SELECT c.oid, c.relkind, c.relpersistence, n.nspname, c.relname, "
        "coalesce(am.amname, ''), has_table_privilege(c.oid, 'SELECT'), c.oid::regclass::text, "
        "current_user "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_am am ON am.oid = c.relam WHERE c.oid = to_regclass($1)";
    PGresult *r;
    cd_code rc = query(conn, "look up the table", sql, 1, &name, &r, err);
    if (rc != CD_OK)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        cd_fail(err, CD_ENOTFOUND, "table \"%s\" does not exist", name);
        return cd_hint(err, "name it as schema.table; check the search_path of the role");
    }
    t->oid = u32(r, 0, 0);
    t->relkind = PQgetvalue(r, 0, 1)[0];
    copy_str(t->schema, sizeof t->schema, PQgetvalue(r, 0, 3));
    copy_str(t->name, sizeof t->name, PQgetvalue(r, 0, 4));
    copy_str(t->qualname, sizeof t->qualname, PQgetvalue(r, 0, 7));
    const char *why = refusal(t->relkind, PQgetvalue(r, 0, 2)[0], PQgetvalue(r, 0, 5));
    if (why != NULL) {
        cd_fail(err, CD_EUNSUPPORTED, "cannot read \"%s\": it %s", t->qualname, why);
        cd_hint(err, "cerebro-ds reads the heap files of plain, partitioned and materialized "
                     "tables");
    } else if (!tbool(r, 0, 6)) {
        cd_fail(err, CD_EPRIV, "permission denied for table %s", t->qualname);
        cd_hint(err, "GRANT SELECT ON %s TO %s", t->qualname, PQgetvalue(r, 0, 8));
    }
    PQclear(r);
    return err ? err->code : (why ? CD_EUNSUPPORTED : CD_OK);
}

/* ---- pinning ---- */

static cd_code checkpoint(PGconn *conn, cd_err *err)
{
    PGresult *r;
    cd_code rc = query(conn, "run CHECKPOINT", "CHECKPOINT", 0, NULL, &r, err);
    if (rc == CD_OK) {
        PQclear(r);
        return CD_OK;
    }
    if (rc == CD_EPRIV)
        cd_hint(err, "the role must be a superuser or have the privileges of pg_checkpoint "
                     "(PostgreSQL 15+): GRANT pg_checkpoint TO <role>");
    return rc;
}

int cd_datadir_system_id(const char *datadir, uint64_t *id)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/global/pg_control", datadir);
    const char *why = NULL;
    int fd = cd_open_regular(path, NULL, &why);
    if (fd < 0)
        return errno;
    ssize_t n = read(fd, id, sizeof *id);
    int e = n == (ssize_t)sizeof *id ? 0 : n < 0 ? errno : EIO;
    close(fd);
    return e;
}

/* A data directory given to us (--datadir, [database] datadir) is the server's: another
 * cluster's, whose relfilenodes may match, was read as this table's rows. Checked when the
 * role may call pg_control_system() (doctor says when it may not). */
static cd_code check_datadir(cd_pin *p, cd_err *err)
{
    PGresult *r;
    cd_code rc = query(p->conn, "check the data directory",
                       "SELECT CASE WHEN has_function_privilege('pg_control_system()', 'EXECUTE') "
                       "THEN 1 END",
                       0, NULL, &r, err);
    if (rc != CD_OK)
        return rc;
    bool may = !PQgetisnull(r, 0, 0);
    PQclear(r);
    if (!may)
        return CD_OK;
    rc = query(p->conn, "check the data directory",
               "SELECT system_identifier::text FROM pg_control_system()", 0, NULL, &r, err);
    if (rc != CD_OK)
        return rc;
    char server[32];
    copy_str(server, sizeof server, PQgetvalue(r, 0, 0));
    PQclear(r);
    uint64_t id = 0;
    int e = cd_datadir_system_id(p->datadir, &id);
    if (e != 0) {
        cd_fail(err, CD_EIO, "cannot read %s/global/pg_control: %s", p->datadir, strerror(e));
        return cd_hint(err, "give the server's data directory (SHOW data_directory)");
    }
    char mine[32];
    snprintf(mine, sizeof mine, "%llu", (unsigned long long)id);
    if (strcmp(mine, server) != 0) {
        cd_fail(err, CD_EINVAL,
                "data directory %s belongs to another cluster (system identifier %s, the "
                "server's is %s)",
                p->datadir, mine, server);
        return cd_hint(err, "give the server's data directory (SHOW data_directory)");
    }
    return CD_OK;
}

static cd_code read_geometry(cd_pin *p, const cd_pin_opts *o, cd_err *err)
{
    PGresult *r;
    cd_code rc = query(p->conn, "read the cluster geometry",
                       "SELECT database_block_size, blocks_per_segment, max_toast_chunk_size, "
                       "data_page_checksum_version, current_database() FROM pg_control_init()",
                       0, NULL, &r, err);
    if (rc != CD_OK)
        return rc;
    p->blcksz = u32(r, 0, 0);
    p->blocks_per_seg = u32(r, 0, 1);
    p->toast_chunk = u32(r, 0, 2);
    p->checksums = u32(r, 0, 3) != 0;
    copy_str(p->dbname, sizeof p->dbname, PQgetvalue(r, 0, 4));
    PQclear(r);
    if (o->datadir != NULL) {
        copy_str(p->datadir, sizeof p->datadir, o->datadir);
        return check_datadir(p, err);
    }
    rc = query(p->conn, "read data_directory", "SELECT current_setting('data_directory')", 0, NULL,
               &r, err);
    if (rc != CD_OK)
        return cd_hint(err, "grant pg_read_all_settings to the role, or give the data "
                            "directory with --datadir");
    copy_str(p->datadir, sizeof p->datadir, PQgetvalue(r, 0, 0));
    PQclear(r);
    return CD_OK;
}

static cd_code open_xact(cd_pin *p, cd_err *err)
{
    PGresult *r;
    cd_code rc = query(p->conn, "read the checkpoint state",
                       "SELECT next_multixact_id, next_multi_offset, oldest_xid "
                       "FROM pg_control_checkpoint()",
                       0, NULL, &r, err);
    if (rc != CD_OK)
        return rc;
    cd_xact_config cfg = {
        .datadir = p->datadir,
        .blcksz = p->blcksz,
        .next_multi = u32(r, 0, 0),
        .next_multi_offset = u32(r, 0, 1),
        .oldest_xid = u32(r, 0, 2),
    };
    PQclear(r);
    rc = cd_xact_open(&p->xact, &cfg, err);
    if (rc == CD_OK)
        rc = cd_xact_hold(p->xact, &p->snap, err);
    return rc;
}

cd_code cd_pin_recheckpoint(cd_pin *p, cd_err *err)
{
    cd_code rc = p->counts.busy ? cd_counts_receive(p, err) : CD_OK; /* frees the connection */
    if (rc != CD_OK)
        return rc;
    cd_xact_close(&p->xact);
    rc = checkpoint(p->conn, err);
    if (rc == CD_OK)
        rc = open_xact(p, err);
    return rc;
}

static cd_code take_snapshot(cd_pin *p, cd_err *err)
{
    PGresult *r;
    cd_code rc =
        query(p->conn, "read the snapshot", "SELECT pg_current_snapshot()::text", 0, NULL, &r, err);
    if (rc != CD_OK)
        return rc;
    copy_str(p->snaptext, sizeof p->snaptext, PQgetvalue(r, 0, 0));
    rc = cd_snapshot_parse(PQgetvalue(r, 0, 0), &p->snap, err);
    PQclear(r);
    return rc;
}

/* LOCK the table, or on a Citus node its local placements (the session may not lock a
 * Citus table without locking it on every node). */
static cd_code lock_table(cd_pin *p, const cd_table *t, cd_err *err)
{
    char lock[400];
    if (t->citus.kind == CD_CITUS_NONE) {
        snprintf(lock, sizeof lock, "LOCK TABLE %s IN ACCESS SHARE MODE", t->qualname);
        return cd_pg_exec(p->conn, lock, err);
    }
    cd_code rc = CD_OK;
    for (int i = 0; i < t->citus.n && rc == CD_OK; i++) {
        if (!t->citus.placements[i].local)
            continue;
        snprintf(lock, sizeof lock, "LOCK TABLE %s IN ACCESS SHARE MODE",
                 t->citus.placements[i].relname);
        rc = cd_pg_exec(p->conn, lock, err);
    }
    return rc;
}

/* BEGIN, LOCK, snapshot, CHECKPOINT, geometry, commit-log readers. */
static cd_code pin(cd_pin *p, const cd_pin_opts *o, const cd_table *t, cd_err *err)
{
    cd_code rc = cd_pg_exec(p->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ", err);
    if (rc == CD_OK)
        rc = lock_table(p, t, err);
    if (rc == CD_OK)
        rc = take_snapshot(p, err);
    if (rc == CD_OK && t->citus.kind != CD_CITUS_NONE)
        rc = cd_citus_recheck(p->conn, t->oid, t->qualname, &t->citus, err);
    if (rc == CD_OK)
        rc = checkpoint(p->conn, err);
    if (rc == CD_OK)
        rc = read_geometry(p, o, err);
    if (rc == CD_OK)
        rc = open_xact(p, err);
    return rc;
}

/* ---- attributes ---- */

static cd_code read_attrs(PGconn *conn, uint32_t reloid, cd_attr **out, int *n, cd_err *err)
{
    const char *sql =
        "SELECT a.attnum, a.attname, a.atttypid, a.attlen, a.attalign, a.attisdropped, "
        "a.atthasmissing, CASE WHEN a.atthasmissing THEN array_send(a.attmissingval) END, "
        "format_type(a.atttypid, a.atttypmod), coalesce(nullif(t.typbasetype, 0), a.atttypid), "
        "coalesce(bt.typelem, 0) "
        "FROM pg_attribute a LEFT JOIN pg_type t ON t.oid = a.atttypid "
        "LEFT JOIN pg_type bt ON bt.oid = coalesce(nullif(t.typbasetype, 0), a.atttypid) "
        "WHERE a.attrelid = $1 AND a.attnum > 0 ORDER BY a.attnum";
    PGresult *r;
    cd_code rc = query_oid(conn, "read the attributes", sql, reloid, &r, err);
    if (rc != CD_OK)
        return rc;
    int rows = PQntuples(r);
    cd_attr *a = calloc((size_t)rows + 1, sizeof *a);
    if (a == NULL) {
        PQclear(r);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    for (int i = 0; i < rows && rc == CD_OK; i++) {
        cd_attr *x = &a[i];
        x->attnum = atoi(PQgetvalue(r, i, 0));
        copy_str(x->name, sizeof x->name, PQgetvalue(r, i, 1));
        x->typoid = u32(r, i, 2);
        x->attlen = (int16_t)atoi(PQgetvalue(r, i, 3));
        x->attalign = PQgetvalue(r, i, 4)[0];
        x->dropped = tbool(r, i, 5);
        x->has_missing = tbool(r, i, 6);
        copy_str(x->typname, sizeof x->typname, PQgetvalue(r, i, 8));
        if (x->attnum != i + 1)
            rc = cd_fail(err, CD_EDB, "attribute numbers of relation %u are not dense", reloid);
        if (!x->dropped)
            cd_attr_classify(x, u32(r, i, 9), u32(r, i, 10));
        if (x->has_missing && PQgetisnull(r, i, 7)) {
            x->missing_null = true;
        } else if (x->has_missing) {
            size_t len;
            x->missing = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 7), &len);
            x->missing_len = (uint32_t)len;
            if (x->missing == NULL)
                rc = cd_fail(err, CD_ENOMEM, "out of memory");
        }
    }
    PQclear(r);
    *out = a;
    *n = rows;
    return rc;
}

static void free_attrs(cd_attr *a, int n)
{
    for (int i = n - 1; a != NULL && i >= 0; i--)
        PQfreemem(a[i].missing);
    free(a);
}

/* Pick the output columns from the table's attributes. */
static cd_code select_columns(cd_table *t, const cd_attr *attrs, int n, const char *list,
                              cd_err *err)
{
    t->cols = calloc((size_t)n + 1, sizeof *t->cols);
    t->skipped = calloc((size_t)n + 1, sizeof *t->skipped);
    if (t->cols == NULL || t->skipped == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    if (list == NULL) {
        for (int i = 0; i < n; i++) {
            if (attrs[i].dropped)
                continue;
            if (attrs[i].kind == CD_KIND_UNSUPPORTED)
                t->skipped[t->nskipped++] = attrs[i];
            else
                t->cols[t->ncols++] = attrs[i];
        }
        for (int i = 0; i < t->ncols; i++)
            t->cols[i].missing = NULL, t->cols[i].has_missing = false;
        for (int i = 0; i < t->nskipped; i++)
            t->skipped[i].missing = NULL, t->skipped[i].has_missing = false;
        return CD_OK;
    }
    char *copy = strdup(list), *save = NULL;
    if (copy == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    cd_code rc = CD_OK;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL && rc == CD_OK;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        int k = -1;
        for (int i = 0; i < n && k < 0; i++)
            if (!attrs[i].dropped && strcmp(attrs[i].name, tok) == 0)
                k = i;
        if (k < 0) {
            rc = cd_fail(err, CD_ENOTFOUND, "column \"%s\" of table %s does not exist", tok,
                         t->qualname);
        } else if (attrs[k].kind == CD_KIND_UNSUPPORTED) {
            rc = cd_fail(err, CD_EUNSUPPORTED, "column \"%s\" has unsupported type %s", tok,
                         attrs[k].typname);
            cd_hint(err, "supported: bool, int2/4/8, float4/8, numeric, text, varchar, char, "
                         "bytea, and arrays of int2/4/8 and float4/8");
        } else if (t->ncols < n) {
            t->cols[t->ncols] = attrs[k];
            t->cols[t->ncols].missing = NULL;
            t->cols[t->ncols++].has_missing = false;
        }
    }
    free(copy);
    return rc;
}

/* ---- shards ---- */

static cd_code shard_files(cd_pin *p, cd_shard *s, cd_err *err)
{
    PGresult *r;
    cd_code rc = query_oid(p->conn, "locate the relation files",
                           "SELECT pg_relation_filepath(c.oid), c.reltoastrelid, "
                           "pg_relation_filepath(nullif(c.reltoastrelid, 0)), "
                           "c.oid::regclass::text FROM pg_class c WHERE c.oid = $1",
                           s->reloid, &r, err);
    if (rc != CD_OK)
        return rc;
    copy_str(s->relpath, sizeof s->relpath, PQgetvalue(r, 0, 0));
    s->toastoid = u32(r, 0, 1);
    copy_str(s->toastpath, sizeof s->toastpath, PQgetvalue(r, 0, 2));
    copy_str(s->relsql, sizeof s->relsql, PQgetvalue(r, 0, 3));
    PQclear(r);
    rc = cd_relfile_open(&s->rel, p->datadir, s->relpath, p->blcksz, p->blocks_per_seg,
                         p->checksums, err);
    if (rc == CD_OK && s->toastoid != 0)
        rc = cd_relfile_open(&s->toastrel, p->datadir, s->toastpath, p->blcksz, p->blocks_per_seg,
                             p->checksums, err);
    if (rc == CD_OK && s->toastoid != 0)
        rc = cd_toast_new(&s->toast, &s->toastrel, s->toastoid, p->toast_chunk, err);
    s->blk_end = s->rel.nblocks;
    return rc;
}

/* Attributes of the shard's relation and where each output column is among them. */
static cd_code shard_attrs(cd_pin *p, const cd_table *t, cd_shard *s, cd_err *err)
{
    cd_code rc = read_attrs(p->conn, s->reloid, &s->attrs, &s->natts, err);
    if (rc != CD_OK)
        return rc;
    s->colmap = calloc((size_t)t->ncols + 1, sizeof *s->colmap);
    if (s->colmap == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    for (int k = 0; k < t->ncols; k++) {
        s->colmap[k] = -1;
        for (int i = 0; i < s->natts; i++)
            if (!s->attrs[i].dropped && strcmp(s->attrs[i].name, t->cols[k].name) == 0)
                s->colmap[k] = i;
        if (s->colmap[k] < 0 || s->attrs[s->colmap[k]].kind != t->cols[k].kind)
            return cd_fail(err, CD_EDB, "partition %s has no column \"%s\" of the same type",
                           s->relsql, t->cols[k].name);
    }
    return CD_OK;
}

static cd_code add_shards(cd_table *t, int n, cd_err *err)
{
    t->shards = calloc((size_t)n + 1, sizeof *t->shards);
    if (t->shards == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    t->nshards = n;
    for (int i = 0; i < n; i++)
        t->shards[i].placement = -1;
    return CD_OK;
}

static cd_code partition_shards(cd_pin *p, cd_table *t, cd_err *err)
{
    PGresult *r;
    cd_code rc = query_oid(p->conn, "list the partitions",
                           "SELECT c.oid, c.relname, c.relkind, coalesce(am.amname, '') "
                           "FROM pg_partition_tree($1::regclass) pt JOIN pg_class c "
                           "ON c.oid = pt.relid LEFT JOIN pg_am am ON am.oid = c.relam "
                           "WHERE pt.isleaf ORDER BY c.relname",
                           t->oid, &r, err);
    if (rc != CD_OK)
        return rc;
    int n = PQntuples(r);
    rc = add_shards(t, n, err);
    for (int i = 0; i < n && rc == CD_OK; i++) {
        const char *why = refusal(PQgetvalue(r, i, 2)[0], 'p', PQgetvalue(r, i, 3));
        if (why != NULL)
            rc = cd_fail(err, CD_EUNSUPPORTED, "cannot read partition \"%s\" of %s: it %s",
                         PQgetvalue(r, i, 1), t->qualname, why);
        t->shards[i].reloid = u32(r, i, 0);
        copy_str(t->shards[i].name, sizeof t->shards[i].name, PQgetvalue(r, i, 1));
    }
    PQclear(r);
    return rc;
}

static cd_code plain_shards(cd_table *t, int nblock, cd_err *err)
{
    cd_code rc = add_shards(t, nblock > 0 ? nblock : 1, err);
    for (int i = 0; i < t->nshards && rc == CD_OK; i++) {
        t->shards[i].reloid = t->oid;
        t->shards[i].block_range = nblock > 0;
        snprintf(t->shards[i].name, sizeof t->shards[i].name, "part%d", i);
    }
    return rc;
}

/* Split [0, nblocks) of a plain table among its block-range shards. */
static void split_blocks(cd_table *t)
{
    uint64_t nb = t->shards[0].rel.nblocks, n = (uint64_t)t->nshards;
    for (int i = 0; i < t->nshards; i++) {
        t->shards[i].blk_start = (uint32_t)(nb * (uint64_t)i / n);
        t->shards[i].blk_end = (uint32_t)(nb * (uint64_t)(i + 1) / n);
    }
}

/* The relation of a Citus placement: its oid, refused when it is partitioned. */
static cd_code placement_relation(cd_pin *p, const cd_citus_placement *pl, uint32_t *oid,
                                  cd_err *err)
{
    PGresult *r;
    const char *name = pl->relname;
    cd_code rc = query(p->conn, "find a shard relation",
                       "SELECT c.oid, c.relkind FROM pg_class c WHERE c.oid = to_regclass($1)", 1,
                       &name, &r, err);
    if (rc != CD_OK)
        return rc;
    if (PQntuples(r) != 1)
        rc = cd_fail(err, CD_ENOTFOUND, "shard relation %s of shard %lld is not on this node",
                     pl->relname, (long long)pl->shardid);
    else if (PQgetvalue(r, 0, 1)[0] == 'p')
        rc = cd_fail(err, CD_EUNSUPPORTED,
                     "shard %s is partitioned: distributed partitioned tables are not supported",
                     pl->relname);
    else
        *oid = u32(r, 0, 0);
    PQclear(r);
    return rc;
}

/* A distributed table's shards: its local placements, s<shardid>. */
static cd_code citus_shards(cd_pin *p, cd_table *t, cd_err *err)
{
    int n = 0;
    for (int i = 0; i < t->citus.n; i++)
        n += t->citus.placements[i].local;
    cd_code rc = add_shards(t, n, err);
    for (int i = 0, k = 0; i < t->citus.n && rc == CD_OK; i++) {
        const cd_citus_placement *pl = &t->citus.placements[i];
        if (!pl->local)
            continue;
        cd_shard *s = &t->shards[k++];
        snprintf(s->name, sizeof s->name, "s%lld", (long long)pl->shardid);
        s->placement = i;
        rc = placement_relation(p, pl, &s->reloid, err);
    }
    return rc;
}

/* A reference table: a plain table whose heap is the local placement. */
static cd_code reference_shards(cd_pin *p, cd_table *t, int nblock, cd_err *err)
{
    uint32_t oid = 0;
    int local = 0;
    while (!t->citus.placements[local].local)
        local++;
    cd_code rc = placement_relation(p, &t->citus.placements[local], &oid, err);
    if (rc == CD_OK)
        rc = plain_shards(t, nblock, err);
    for (int i = 0; rc == CD_OK && i < t->nshards; i++) {
        t->shards[i].reloid = oid;
        t->shards[i].placement = local;
    }
    return rc;
}

static cd_code make_shards(cd_pin *p, const cd_pin_opts *o, cd_table *t, cd_err *err)
{
    if (t->citus.kind == CD_CITUS_DISTRIBUTED && o->block_shards > 0)
        return cd_fail(err, CD_EINVAL, "%s is a distributed Citus table: its shards are its own",
                       t->qualname);
    if (t->citus.kind == CD_CITUS_DISTRIBUTED)
        return citus_shards(p, t, err);
    if (t->citus.kind == CD_CITUS_REFERENCE)
        return reference_shards(p, t, o->block_shards, err);
    if (o->block_shards > 0 && t->relkind == 'p')
        return cd_fail(err, CD_EINVAL, "--shards applies to plain tables; %s is partitioned",
                       t->qualname);
    return t->relkind == 'p' ? partition_shards(p, t, err) : plain_shards(t, o->block_shards, err);
}

static cd_code open_shards(cd_pin *p, const cd_pin_opts *o, cd_table *t, cd_err *err)
{
    cd_attr *attrs = NULL;
    int natts = 0;
    cd_code rc = read_attrs(p->conn, t->oid, &attrs, &natts, err);
    if (rc == CD_OK)
        rc = select_columns(t, attrs, natts, o->columns, err);
    free_attrs(attrs, natts);
    if (rc == CD_OK)
        rc = make_shards(p, o, t, err);
    for (int i = 0; i < t->nshards && rc == CD_OK; i++) {
        rc = shard_attrs(p, t, &t->shards[i], err);
        if (rc == CD_OK)
            rc = shard_files(p, &t->shards[i], err);
    }
    if (rc == CD_OK && o->block_shards > 0)
        split_blocks(t);
    return rc;
}

/*
 * The pin's session runs the row counts (count(*) over every shard, at the same time as the
 * decoding) and catalog queries: none gains from JIT compilation, which past jit_above_cost
 * costs a compile per query and, on a host whose page cache does not hold it, reading
 * libLLVM (110 MB on Debian 12) from disk. jit exists from PostgreSQL 11.
 */
static cd_code session_no_jit(PGconn *conn, cd_err *err)
{
    if (PQserverVersion(conn) < 110000)
        return CD_OK;
    return cd_pg_exec(conn, "SET jit = off", err);
}

cd_code cd_pin_table(const cd_pin_opts *o, const char *table, cd_pin **pinp, cd_table **tabp,
                     cd_err *err)
{
    *pinp = NULL;
    *tabp = NULL;
    cd_pin *p = calloc(1, sizeof *p);
    cd_table *t = calloc(1, sizeof *t);
    if (p == NULL || t == NULL) {
        free(p);
        free(t);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    *pinp = p;
    *tabp = t;
    p->conn = PQconnectdb(o->conninfo ? o->conninfo : "");
    if (PQstatus(p->conn) != CONNECTION_OK) {
        cd_fail(err, CD_EDB, "could not connect to the database");
        cd_detail(err, "%s", PQerrorMessage(p->conn));
        return cd_hint(err, "check the conninfo (-c FILE [database] conninfo, or --conninfo)");
    }
    if (o->cut != NULL)
        copy_str(p->cut, sizeof p->cut, o->cut);
    p->count_blocks = o->count_blocks;
    cd_code rc = cd_pg_exec(p->conn, "SET application_name = 'cerebro-ds'", err);
    if (rc == CD_OK)
        rc = session_no_jit(p->conn, err);
    if (rc == CD_OK)
        rc = cd_citus_session(p->conn, &p->citus, err);
    if (rc == CD_OK)
        rc = resolve(p->conn, table, t, err);
    if (rc == CD_OK && p->citus)
        rc = cd_citus_lookup(p->conn, t->oid, t->qualname, &t->citus, err);
    if (rc == CD_OK)
        rc = pin(p, o, t, err);
    if (rc == CD_OK)
        rc = open_shards(p, o, t, err);
    if (rc == CD_OK && !o->keep_packed)
        rc = cd_madlib_detect(t, err);
    return rc;
}

/* Append name as a double-quoted SQL identifier. */
static size_t quote_ident(char *dst, size_t cap, const char *name)
{
    size_t n = 0;
    if (n < cap)
        dst[n++] = '"';
    for (const char *c = name; *c && n + 2 < cap; c++) {
        if (*c == '"')
            dst[n++] = '"';
        dst[n++] = *c;
    }
    if (n < cap)
        dst[n++] = '"';
    return n;
}

char *cd_shard_select_sql(const cd_table *t, const cd_shard *s)
{
    size_t cap = 1024 + (size_t)t->ncols * 140;
    char *sql = malloc(cap);
    if (sql == NULL)
        return NULL;
    size_t len = (size_t)snprintf(sql, cap, "SELECT ctid");
    for (int k = 0; k < t->ncols; k++) {
        len += (size_t)snprintf(sql + len, cap - len, ", ");
        len += quote_ident(sql + len, cap - len, t->cols[k].name);
    }
    len += (size_t)snprintf(sql + len, cap - len, " FROM ONLY %s", s->relsql);
    if (s->block_range)
        len += (size_t)snprintf(sql + len, cap - len,
                                " WHERE ctid >= '(%u,0)'::tid AND ctid < '(%u,0)'::tid",
                                s->blk_start, s->blk_end);
    snprintf(sql + len, cap - len, " ORDER BY ctid");
    return sql;
}

static void free_shard(cd_shard *s)
{
    cd_toast_free(&s->toast);
    cd_relfile_close(&s->toastrel);
    cd_relfile_close(&s->rel);
    free(s->colmap);
    free_attrs(s->attrs, s->natts);
}

void cd_table_close_files(cd_table *t)
{
    for (int i = t->nshards - 1; i >= 0; i--) {
        cd_toast_free(&t->shards[i].toast);
        cd_relfile_close(&t->shards[i].toastrel);
        cd_relfile_close(&t->shards[i].rel);
    }
}

void cd_table_free(cd_table **tp)
{
    cd_table *t = *tp;
    if (t == NULL)
        return;
    for (int i = t->nshards - 1; i >= 0; i--)
        free_shard(&t->shards[i]);
    free(t->shards);
    cd_citus_table_free(&t->citus);
    cd_madlib_free(&t->madlib);
    free(t->skipped);
    free(t->cols);
    free(t);
    *tp = NULL;
}

void cd_pin_release(cd_pin *p)
{
    cd_counts_free(&p->counts); /* PQfinish drops a query still running */
    cd_xact_close(&p->xact);
    cd_snapshot_free(&p->snap);
    if (p->conn != NULL) {
        if (PQtransactionStatus(p->conn) == PQTRANS_INTRANS)
            PQclear(PQexec(p->conn, "ROLLBACK"));
        PQfinish(p->conn);
        p->conn = NULL;
    }
}

void cd_pin_close(cd_pin **pp)
{
    cd_pin *p = *pp;
    if (p == NULL)
        return;
    cd_pin_release(p);
    free(p);
    *pp = NULL;
}

char *cd_conninfo_with_db(const char *conninfo, const char *dbname, cd_err *err)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (opts == NULL) {
        cd_fail(err, CD_EINVAL, "invalid conninfo: %s", perr ? perr : "out of memory");
        PQfreemem(perr);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    for (PQconninfoOption *o = opts; f != NULL && o->keyword != NULL; o++) {
        const char *v = strcmp(o->keyword, "dbname") == 0 ? NULL : o->val;
        if (v == NULL)
            continue;
        fprintf(f, "%s='", o->keyword);
        for (const char *c = v; *c; c++)
            fprintf(f, "%s%c", *c == '\'' || *c == '\\' ? "\\" : "", *c);
        fprintf(f, "' ");
    }
    if (f != NULL) {
        fprintf(f, "dbname='");
        for (const char *c = dbname; *c; c++)
            fprintf(f, "%s%c", *c == '\'' || *c == '\\' ? "\\" : "", *c);
        fprintf(f, "'");
        fclose(f);
    }
    PQconninfoFree(opts);
    if (buf == NULL)
        cd_fail(err, CD_ENOMEM, "out of memory");
    return buf;
}
