/*
 * data_pg.c: pg:CONNINFO#SCHEMA.TABLE[#SHARD] shards through libpq and COPY BINARY (see
 * data_pg.h). Sections: the spec and its masked form, the session (connections and their
 * transactions), the table and its shards, the columns' types, the COPY stream into columns.
 */
#include "data_pg.h"

#include "conninfo.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "clock.h"
#include "fsname.h"
#include "pgcopy.h"
#include "pgdisk.h"
#include "value.h"

#define SPEC_FORM "pg:CONNINFO#SCHEMA.TABLE[#SHARD]"

/* ---- the spec ---- */

typedef struct spec {
    char *buf;      /* one copy of the text after "pg:", split in place */
    char *conninfo; /* may hold a password: never printed (display is masked) */
    char *table;
    char *shard; /* NULL: not given */
    char display[1024];
} spec;

bool cd_pg_is_spec(const char *s)
{
    return s != NULL && strncmp(s, CD_PG_PREFIX, strlen(CD_PG_PREFIX)) == 0;
}

bool cd_pg_spec_has_shard(const char *s)
{
    const char *hash = cd_pg_is_spec(s) ? strchr(s, '#') : NULL;
    return hash != NULL && strchr(hash + 1, '#') != NULL;
}

static void put(char *out, size_t cap, size_t *n, const char *s, size_t len)
{
    for (size_t i = 0; i < len && *n + 1 < cap; i++)
        out[(*n)++] = s[i];
    if (cap > 0)
        out[*n < cap ? *n : cap - 1] = '\0';
}

void cd_pg_mask(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return;
    buf[0] = '\0';
    if (!cd_pg_is_spec(s)) {
        put(buf, cap, &n, s ? s : "", s ? strlen(s) : 0);
        return;
    }
    const char *ci = s + strlen(CD_PG_PREFIX), *hash = strchr(ci, '#');
    size_t len = hash ? (size_t)(hash - ci) : strlen(ci);
    put(buf, cap, &n, s, strlen(CD_PG_PREFIX));
    cd_conninfo_mask_append(ci, len, buf, cap, &n);
    if (hash != NULL)
        put(buf, cap, &n, hash, strlen(hash));
}

static void spec_free(spec *sp)
{
    free(sp->buf);
    sp->buf = NULL;
}

static cd_code parse_spec(const char *text, spec *sp, cd_err *err)
{
    memset(sp, 0, sizeof *sp);
    cd_pg_mask(text, sp->display, sizeof sp->display);
    if (!cd_pg_is_spec(text))
        return cd_fail(err, CD_EINVAL, "\"%s\" is not a pg: data spec", sp->display);
    if ((sp->buf = strdup(text + strlen(CD_PG_PREFIX))) == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    sp->conninfo = sp->buf;
    char *hash = strchr(sp->buf, '#');
    if (hash != NULL) {
        *hash = '\0';
        sp->table = hash + 1;
        if ((hash = strchr(sp->table, '#')) != NULL) {
            *hash = '\0';
            sp->shard = hash + 1;
        }
    }
    if (sp->table == NULL || sp->table[0] == '\0' || (sp->shard != NULL && sp->shard[0] == '\0')) {
        cd_fail(err, CD_EINVAL, "no %s in data spec \"%s\"",
                sp->table && sp->table[0] ? "shard after the second '#'" : "table", sp->display);
        return cd_hint(err, "write it as " SPEC_FORM " (CONNINFO ends at the first '#')");
    }
    return CD_OK;
}

/* ---- the session ---- */

typedef struct conn {
    char *conninfo;
    PGconn *pg;
} conn;

struct cd_pg_session {
    conn *conns;
    int n;
    double seconds;
};

cd_code cd_pg_session_new(cd_pg_session **out, cd_err *err)
{
    *out = calloc(1, sizeof **out);
    return *out ? CD_OK : cd_fail(err, CD_ENOMEM, "out of memory");
}

double cd_pg_session_seconds(const cd_pg_session *s)
{
    return s ? s->seconds : 0;
}

void cd_pg_session_close(cd_pg_session **sp)
{
    cd_pg_session *s = *sp;
    if (s == NULL)
        return;
    for (int i = s->n - 1; i >= 0; i--) {
        if (PQtransactionStatus(s->conns[i].pg) == PQTRANS_INTRANS)
            PQclear(PQexec(s->conns[i].pg, "COMMIT"));
        PQfinish(s->conns[i].pg);
        free(s->conns[i].conninfo);
    }
    free(s->conns);
    free(s);
    *sp = NULL;
}

/* msg without the conninfo's password (libpq may echo parts of a conninfo it cannot parse),
 * without its trailing newline. */
static void scrub(const char *conninfo, const char *msg, char *out, size_t cap)
{
    char *pw = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
            pw = strdup(o->val);
    PQconninfoFree(opts);
    size_t n = 0, pwlen = pw ? strlen(pw) : 0;
    out[0] = '\0';
    for (const char *c = msg; *c != '\0';) {
        if (pwlen > 0 && strncmp(c, pw, pwlen) == 0) {
            put(out, cap, &n, "***", 3);
            c += pwlen;
        } else {
            put(out, cap, &n, c++, 1);
        }
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    free(pw);
}

/* Server error of r (or of the connection) as err: CD_EPRIV for insufficient privilege. */
static cd_code server_error(const conn *c, const PGresult *r, const char *what, cd_err *err)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *hint = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_HINT) : NULL;
    char text[512];
    scrub(c->conninfo, msg ? msg : PQerrorMessage(c->pg), text, sizeof text);
    bool denied = state != NULL && strcmp(state, "42501") == 0;
    cd_fail(err, denied ? CD_EPRIV : CD_EDB, "could not %s: %s", what, text);
    if (hint != NULL)
        cd_hint(err, "%s", hint);
    return denied ? CD_EPRIV : CD_EDB;
}

/* Run sql with text parameters; on success *out holds its result (caller PQclear). */
static cd_code query(const conn *c, const char *what, const char *sql, int nparams,
                     const char *const *params, PGresult **out, cd_err *err)
{
    PGresult *r = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        cd_code rc = server_error(c, r, what, err);
        PQclear(r);
        return rc;
    }
    *out = r;
    return CD_OK;
}

static cd_code connect_new(const spec *sp, conn *c, cd_err *err)
{
    /* dbname with expand_dbname: the whole conninfo (words or URI); empty: defaults */
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const vals[] = {sp->conninfo, "cerebro-train", NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (c->pg == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    if (PQstatus(c->pg) != CONNECTION_OK) {
        char text[700];
        scrub(sp->conninfo, PQerrorMessage(c->pg), text, sizeof text);
        cd_fail(err, CD_EDB, "could not connect to the database of \"%s\"", sp->display);
        cd_detail(err, "%s", text);
        return cd_hint(err, "check CONNINFO in " SPEC_FORM " (libpq key=value words or a "
                            "postgresql:// URI) and that the server is running");
    }
    PGresult *r;
    cd_code rc = query(c, "start a transaction", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                       0, NULL, &r, err);
    if (rc == CD_OK)
        PQclear(r);
    return rc;
}

/* The session's connection for sp's conninfo, opened (in its transaction) on first use. */
static cd_code session_conn(cd_pg_session *s, const spec *sp, const conn **out, cd_err *err)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->conns[i].conninfo, sp->conninfo) == 0) {
            *out = &s->conns[i];
            return CD_OK;
        }
    conn *grown = realloc(s->conns, (size_t)(s->n + 1) * sizeof *grown);
    if (grown == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    s->conns = grown;
    conn *c = &grown[s->n];
    c->pg = NULL;
    if ((c->conninfo = strdup(sp->conninfo)) == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    s->n++; /* closed by cd_pg_session_close whatever happens next */
    *out = c;
    return connect_new(sp, c, err);
}

/* ---- the table and its shards ---- */

typedef struct rel {
    char oid[16];
    char relsql[320]; /* regclass text: quoted and qualified as needed */
    char name[256];   /* the shard's directory name */
    char relkind;
} rel;

typedef struct table {
    rel self;
    char user[128]; /* current_user, for the GRANT hint */
    rel *parts;     /* [nparts] leaf partitions by name (partitioned tables) */
    int nparts;
    const char *display; /* the spec, masked */
} table;

static const char *refusal(char relkind)
{
    switch (relkind) {
    case 'r':
    case 'm':
    case 'p':
        return NULL;
    case 'v':
        return "a view";
    case 'f':
        return "a foreign table";
    case 'S':
        return "a sequence";
    case 'i':
    case 'I':
        return "an index";
    default:
        return "not a table";
    }
}

static cd_code read_partitions(const conn *c, table *t, cd_err *err)
{
    PGresult *r;
    const char *params[1] = {t->self.oid};
    cd_code rc = query(c, "list the partitions",
                       "SELECT c.oid, c.oid::regclass::text, c.relname, c.relkind "
                       "FROM pg_partition_tree($1::regclass) pt JOIN pg_class c "
                       "ON c.oid = pt.relid WHERE pt.isleaf ORDER BY c.relname",
                       1, params, &r, err);
    if (rc != CD_OK)
        return rc;
    t->nparts = PQntuples(r);
    t->parts = calloc((size_t)t->nparts + 1, sizeof *t->parts);
    if (t->parts == NULL)
        rc = cd_fail(err, CD_ENOMEM, "out of memory");
    for (int i = 0; i < t->nparts && rc == CD_OK; i++) {
        rel *p = &t->parts[i];
        snprintf(p->oid, sizeof p->oid, "%s", PQgetvalue(r, i, 0));
        snprintf(p->relsql, sizeof p->relsql, "%s", PQgetvalue(r, i, 1));
        p->relkind = PQgetvalue(r, i, 3)[0];
        if (cd_fsname(PQgetvalue(r, i, 2), p->name, sizeof p->name) == 0)
            rc = cd_fail(err, CD_EINVAL, "partition name %s is too long", p->relsql);
    }
    PQclear(r);
    if (rc == CD_OK && t->nparts == 0)
        rc = cd_fail(err, CD_EINVAL, "partitioned table %s has no partitions", t->self.relsql);
    return rc;
}

static cd_code resolve_table(const conn *c, const spec *sp, table *t, cd_err *err)
{
    memset(t, 0, sizeof *t);
    t->display = sp->display;
    PGresult *r;
    const char *params[1] = {sp->table};
    cd_code rc = query(c, "look up the table",
                       "SELECT c.oid, c.oid::regclass::text, c.relkind, current_user "
                       "FROM pg_class c WHERE c.oid = to_regclass($1)",
                       1, params, &r, err);
    if (rc != CD_OK)
        return cd_context(err, "%s", sp->display);
    if (PQntuples(r) != 1) {
        PQclear(r);
        cd_fail(err, CD_ENOTFOUND, "table \"%s\" does not exist", sp->table);
        cd_detail(err, "%s", sp->display);
        return cd_hint(err, "name it as schema.table; check the search_path of the role");
    }
    snprintf(t->self.oid, sizeof t->self.oid, "%s", PQgetvalue(r, 0, 0));
    snprintf(t->self.relsql, sizeof t->self.relsql, "%s", PQgetvalue(r, 0, 1));
    t->self.relkind = PQgetvalue(r, 0, 2)[0];
    snprintf(t->user, sizeof t->user, "%s", PQgetvalue(r, 0, 3));
    snprintf(t->self.name, sizeof t->self.name, "part0");
    PQclear(r);
    const char *why = refusal(t->self.relkind);
    if (why != NULL) {
        cd_fail(err, CD_EUNSUPPORTED, "cannot read %s as shards: it is %s", t->self.relsql, why);
        cd_detail(err, "%s", t->display);
        return cd_hint(err, "give a plain, partitioned or materialized table");
    }
    return t->self.relkind == 'p' ? read_partitions(c, t, err) : CD_OK;
}

static void list_parts(const table *t, cd_err *err)
{
    char names[700] = "";
    for (int i = 0; i < t->nparts; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                 t->parts[i].name);
    cd_detail(err, "its partitions (shards): %s", names);
}

static bool block_range_name(const char *s)
{
    return strncmp(s, "part", 4) == 0 && s[4] != '\0' &&
           strspn(s + 4, "0123456789") == strlen(s + 4);
}

/* The relation holding sp's shard. */
static cd_code pick_shard(const table *t, const spec *sp, const rel **out, cd_err *err)
{
    if (t->self.relkind != 'p') {
        if (sp->shard == NULL || strcmp(sp->shard, "part0") == 0) {
            *out = &t->self;
            return CD_OK;
        }
        if (block_range_name(sp->shard)) {
            cd_fail(err, CD_EUNSUPPORTED,
                    "block-range shard \"%s\" of %s cannot be read over pg:", sp->shard,
                    t->self.relsql);
            cd_detail(err, "the block ranges of cerebro-ds export --shards N depend on N");
            return cd_hint(err, "read it from the mount or the export directory, or "
                                "hash-partition the table (each partition is a shard)");
        }
        cd_fail(err, CD_ENOTFOUND, "table %s has no shard \"%s\"", t->self.relsql, sp->shard);
        cd_detail(err, "%s", t->display);
        return cd_hint(err, "a plain table is one shard, part0 (or leave out #SHARD)");
    }
    for (int i = 0; sp->shard != NULL && i < t->nparts; i++)
        if (strcmp(t->parts[i].name, sp->shard) == 0) {
            *out = &t->parts[i];
            return CD_OK;
        }
    if (sp->shard == NULL)
        cd_fail(err, CD_EINVAL, "table %s is partitioned: name one of its partitions",
                t->self.relsql);
    else
        cd_fail(err, CD_ENOTFOUND, "table %s has no partition \"%s\"", t->self.relsql, sp->shard);
    list_parts(t, err);
    return cd_hint(err, "give the shard as pg:CONNINFO#%s#%s", sp->table, t->parts[0].name);
}

static cd_code leaf_ok(const table *t, const rel *r, cd_err *err)
{
    if (r->relkind == 'r' || r->relkind == 'm')
        return CD_OK;
    cd_fail(err, CD_EUNSUPPORTED, "cannot read partition %s of %s: it is %s", r->relsql,
            t->self.relsql, refusal(r->relkind) ? refusal(r->relkind) : "a partitioned table");
    return cd_hint(err, "partitions that are foreign tables are not shards");
}

cd_code cd_pg_list_shards(const char *text, char ***names, int *n, cd_err *err)
{
    *names = NULL;
    *n = 0;
    spec sp;
    cd_pg_session *s = NULL;
    const conn *c = NULL;
    table t = {0};
    const rel *one = NULL;
    cd_code rc = parse_spec(text, &sp, err);
    if (rc == CD_OK)
        rc = cd_pg_session_new(&s, err);
    if (rc == CD_OK)
        rc = session_conn(s, &sp, &c, err);
    if (rc == CD_OK)
        rc = resolve_table(c, &sp, &t, err);
    if (rc == CD_OK && sp.shard != NULL)
        rc = pick_shard(&t, &sp, &one, err);
    int count = t.self.relkind == 'p' && one == NULL ? t.nparts : 1;
    if (rc == CD_OK && (*names = calloc((size_t)count, sizeof **names)) == NULL)
        rc = cd_fail(err, CD_ENOMEM, "out of memory");
    for (int i = 0; rc == CD_OK && i < count; i++) {
        const rel *r = one ? one : t.self.relkind == 'p' ? &t.parts[i] : &t.self;
        rc = leaf_ok(&t, r, err);
        if (rc == CD_OK && ((*names)[i] = strdup(r->name)) == NULL)
            rc = cd_fail(err, CD_ENOMEM, "out of memory");
        *n += rc == CD_OK;
    }
    if (rc != CD_OK) {
        for (int i = 0; *names != NULL && i < *n; i++)
            free((*names)[i]);
        free(*names);
        *names = NULL;
        *n = 0;
    }
    free(t.parts);
    cd_pg_session_close(&s);
    spec_free(&sp);
    return rc;
}

/* ---- the columns' types ---- */

static cd_code column_attr(const conn *c, const table *t, const rel *r, const char *name,
                           cd_attr *a, cd_err *err)
{
    memset(a, 0, sizeof *a);
    PGresult *res;
    const char *params[2] = {r->oid, name};
    cd_code rc = query(c, "read the column types",
                       "SELECT a.atttypid, format_type(a.atttypid, a.atttypmod), "
                       "coalesce(nullif(t.typbasetype, 0), a.atttypid), coalesce(bt.typelem, 0) "
                       "FROM pg_attribute a LEFT JOIN pg_type t ON t.oid = a.atttypid "
                       "LEFT JOIN pg_type bt ON bt.oid = coalesce(nullif(t.typbasetype, 0), "
                       "a.atttypid) WHERE a.attrelid = $1 AND a.attname = $2 AND a.attnum > 0 "
                       "AND NOT a.attisdropped",
                       2, params, &res, err);
    if (rc != CD_OK)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        cd_fail(err, CD_ENOTFOUND, "table %s has no column \"%s\"", r->relsql, name);
        cd_detail(err, "%s", t->display);
        return cd_hint(err, "check the feature and label keys of the model file");
    }
    snprintf(a->name, sizeof a->name, "%s", name);
    a->typoid = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(a->typname, sizeof a->typname, "%s", PQgetvalue(res, 0, 1));
    cd_attr_classify(a, (uint32_t)strtoul(PQgetvalue(res, 0, 2), NULL, 10),
                     (uint32_t)strtoul(PQgetvalue(res, 0, 3), NULL, 10));
    PQclear(res);
    if (a->kind == CD_KIND_SCALAR || a->kind == CD_KIND_NUMERIC || a->kind == CD_KIND_ARRAY)
        return CD_OK;
    cd_fail(err, CD_EUNSUPPORTED,
            "column \"%s\" of table %s has type %s, not a number or an "
            "array of numbers",
            name, r->relsql, a->typname);
    cd_detail(err, "%s", t->display);
    return cd_hint(err, "features and labels are bool, int2/4/8, float4/8, numeric, or arrays "
                        "of int2/4/8 and float4/8");
}

/* ---- the COPY stream into columns ---- */

typedef struct column {
    cd_attr attr;
    uint8_t *buf; /* [len] native values, row after row */
    size_t len, cap;
    bool dims_known;
    int ndim;
    int dims[CD_COPYBIN_MAXDIM];
} column;

typedef struct copy_state {
    column col[2];
    cd_valctx ctx;
    uint64_t rows;
    const rel *r;
    const char *display;
    cd_err row_err; /* a row's own error, without the parser's stream position */
} copy_state;

static cd_code append(column *c, const void *p, size_t n, cd_err *err)
{
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 1 << 16;
        while (cap < c->len + n)
            cap *= 2;
        uint8_t *b = realloc(c->buf, cap);
        if (b == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory for column \"%s\" (%zu bytes)",
                           c->attr.name, cap);
        c->buf = b;
        c->cap = cap;
    }
    if (n > 0)
        memcpy(c->buf + c->len, p, n);
    c->len += n;
    return CD_OK;
}

static void dims_text(int ndim, const int *dims, char *buf, size_t cap)
{
    size_t n = 0;
    put(buf, cap, &n, "(", 1);
    for (int i = 0; i < ndim; i++) {
        char num[24];
        int k = snprintf(num, sizeof num, "%s%d", i ? ", " : "", dims[i]);
        put(buf, cap, &n, num, (size_t)k);
    }
    put(buf, cap, &n, ndim == 1 ? ",)" : ")", ndim == 1 ? 2 : 1);
}

static cd_code check_dims(copy_state *st, column *c, const cd_value *v, cd_err *err)
{
    if (!c->dims_known && v->ndim > 0) {
        c->dims_known = true;
        c->ndim = v->ndim;
        memcpy(c->dims, v->dims, sizeof c->dims);
        return CD_OK;
    }
    if (c->dims_known && v->ndim == c->ndim &&
        memcmp(v->dims, c->dims, sizeof(int) * (size_t)c->ndim) == 0)
        return CD_OK;
    char now[96], first[96] = "(no elements)";
    dims_text(v->ndim, v->dims, now, sizeof now);
    if (c->dims_known)
        dims_text(c->ndim, c->dims, first, sizeof first);
    cd_fail(err, CD_EINVAL, "column \"%s\" of table %s holds arrays of different shapes",
            c->attr.name, st->r->relsql);
    cd_detail(err, "row %llu (0-based, in physical order) has shape %s, the rows before %s",
              (unsigned long long)st->rows, now, first);
    return cd_hint(err, "every row's array needs the same dimensions (and at least one element)");
}

static cd_code check_row(copy_state *st, int nfields, const uint8_t *const *field,
                         const int32_t *len, cd_err *err)
{
    if (nfields != 2)
        return cd_fail(err, CD_ECORRUPT, "copy row with %d fields, expected 2", nfields);
    for (int i = 0; i < 2; i++) {
        column *c = &st->col[i];
        cd_value v;
        cd_code rc = cd_value_from_copybin(&st->ctx, &c->attr, field[i], len[i], &v, err);
        if (rc != CD_OK)
            return cd_context(err, "column \"%s\" of table %s", c->attr.name, st->r->relsql);
        if (v.isnull) {
            cd_fail(err, CD_EINVAL, "column \"%s\" of table %s has NULLs", c->attr.name,
                    st->r->relsql);
            cd_detail(err, "row %llu (0-based, in physical order) of %s",
                      (unsigned long long)st->rows, st->display);
            return cd_hint(err, "filter or fill the NULL rows in the database first");
        }
        if (c->attr.kind == CD_KIND_ARRAY && (rc = check_dims(st, c, &v, err)) != CD_OK)
            return rc;
        if ((rc = append(c, v.data, v.len, err)) != CD_OK)
            return rc;
    }
    st->rows++;
    return CD_OK;
}

static cd_code on_row(void *arg, int nfields, const uint8_t *const *field, const int32_t *len,
                      cd_err *err)
{
    copy_state *st = arg;
    cd_code rc = check_row(st, nfields, field, len, &st->row_err);
    if (rc != CD_OK && err != NULL)
        *err = st->row_err;
    return rc;
}

static char *copy_sql(const conn *c, const rel *r, const char *feature, const char *label)
{
    char *qx = PQescapeIdentifier(c->pg, feature, strlen(feature));
    char *qy = PQescapeIdentifier(c->pg, label, strlen(label));
    size_t cap = 200 + strlen(r->relsql) + (qx ? strlen(qx) : 0) + (qy ? strlen(qy) : 0);
    char *sql = qx && qy ? malloc(cap) : NULL;
    if (sql != NULL)
        snprintf(sql, cap,
                 "COPY (SELECT %s, %s FROM ONLY %s ORDER BY ctid) TO STDOUT (FORMAT binary)", qx,
                 qy, r->relsql);
    PQfreemem(qx);
    PQfreemem(qy);
    return sql;
}

static cd_code copy_error(const conn *c, const table *t, const rel *r, PGresult *res, cd_err *err)
{
    cd_code rc = server_error(c, res, "read the shard", err);
    if (rc != CD_EPRIV)
        return cd_detail(err, "relation %s", r->relsql);
    cd_fail(err, CD_EPRIV, "permission denied for table %s", r->relsql);
    cd_detail(err, "role %s reads it with COPY (SELECT ...) TO STDOUT: %s", t->user, t->display);
    return cd_hint(err, "GRANT SELECT ON %s TO %s%s", r->relsql, t->user,
                   r == &t->self ? ""
                                 : " (a partition is read directly: a grant on its parent "
                                   "does not cover it)");
}

/* Drain the COPY: every chunk to the parser, then the command's result. After a parse
 * error the stream is left unread (the session's close drops the connection). */
static cd_code stream(const conn *c, const table *t, const rel *r, copy_state *st, cd_err *err)
{
    cd_copybin *p = NULL;
    cd_code rc = cd_copybin_new(&p, err);
    int n = 0;
    char *buf = NULL;
    while (rc == CD_OK && (n = PQgetCopyData(c->pg, &buf, 0)) > 0) {
        rc = cd_copybin_feed(p, (const uint8_t *)buf, (size_t)n, on_row, st, err);
        if (rc != CD_OK && st->row_err.code != CD_OK && err != NULL)
            *err = st->row_err; /* the row's message, not the parser's position */
        PQfreemem(buf);
        buf = NULL;
    }
    if (rc == CD_OK && n == -2)
        rc = server_error(c, NULL, "read the copy data", err);
    for (PGresult *res; n == -1 && (res = PQgetResult(c->pg)) != NULL; PQclear(res))
        if (rc == CD_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = copy_error(c, t, r, res, err);
    if (rc == CD_OK)
        rc = cd_copybin_finish(p, err);
    cd_copybin_free(&p);
    return rc;
}

static void to_npy(column *c, uint64_t rows, cd_npy *n)
{
    memset(n, 0, sizeof *n);
    n->fd = -1;
    snprintf(n->descr, sizeof n->descr, "%s", c->attr.dtype);
    n->itemsize = cd_npy_itemsize(c->attr.dtype);
    n->ndim = 1;
    n->shape[0] = rows;
    for (int i = 0; c->attr.kind == CD_KIND_ARRAY && c->dims_known && i < c->ndim; i++)
        n->shape[n->ndim++] = (uint64_t)c->dims[i];
    n->data_bytes = c->len;
    n->data = c->buf ? (const void *)c->buf : malloc(1);
    c->buf = NULL;
}

void cd_pg_column_free(cd_npy *n)
{
    if (n == NULL)
        return;
    free((void *)(uintptr_t)n->data);
    memset(n, 0, sizeof *n);
    n->fd = -1;
}

static cd_code read_columns(const conn *c, const table *t, const rel *r, const char *feature,
                            const char *label, const cd_pg_dest *dest, copy_state *st, cd_err *err)
{
    cd_code rc = column_attr(c, t, r, feature, &st->col[0].attr, err);
    if (rc == CD_OK)
        rc = column_attr(c, t, r, label, &st->col[1].attr, err);
    char *sql = rc == CD_OK ? copy_sql(c, r, feature, label) : NULL;
    if (rc == CD_OK && sql == NULL)
        rc = cd_fail(err, CD_ENOMEM, "out of memory");
    PGresult *res = sql ? PQexec(c->pg, sql) : NULL;
    free(sql);
    if (rc == CD_OK && PQresultStatus(res) != PGRES_COPY_OUT)
        rc = copy_error(c, t, r, res, err);
    else if (rc == CD_OK)
        rc = stream(c, t, r, st, err);
    PQclear(res);
    if (rc != CD_OK)
        return rc;
    to_npy(&st->col[0], st->rows, dest->x);
    to_npy(&st->col[1], st->rows, dest->y);
    if (dest->x->data == NULL || dest->y->data == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    return CD_OK;
}

cd_code cd_pg_read_shard(cd_pg_session *s, const char *text, const char *feature, const char *label,
                         const cd_pg_dest *dest, cd_err *err)
{
    double t0 = cd_monotonic_s();
    spec sp;
    table t = {0};
    const conn *c = NULL;
    const rel *r = NULL;
    copy_state st = {.display = NULL};
    memset(dest->x, 0, sizeof *dest->x);
    memset(dest->y, 0, sizeof *dest->y);
    dest->x->fd = dest->y->fd = -1;
    cd_code rc = parse_spec(text, &sp, err);
    snprintf(dest->display, dest->display_cap, "%s", sp.display);
    st.display = sp.display;
    if (rc == CD_OK)
        rc = session_conn(s, &sp, &c, err);
    if (rc == CD_OK)
        rc = resolve_table(c, &sp, &t, err);
    if (rc == CD_OK)
        rc = pick_shard(&t, &sp, &r, err);
    if (rc == CD_OK)
        rc = leaf_ok(&t, r, err);
    if (rc == CD_OK) {
        snprintf(dest->name, dest->name_cap, "%s", r->name);
        st.r = r;
        rc = read_columns(c, &t, r, feature, label, dest, &st, err);
    }
    if (rc != CD_OK) {
        cd_pg_column_free(dest->x);
        cd_pg_column_free(dest->y);
    }
    free(st.col[0].buf);
    free(st.col[1].buf);
    cd_valctx_free(&st.ctx);
    free(t.parts);
    spec_free(&sp);
    s->seconds += cd_monotonic_s() - t0;
    return rc;
}
