/*
 * discover.c: a distributed table's shards and placements from the Citus coordinator (see
 * discover.h). One connection, three queries, closed before returning.
 */
#include "discover.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_pg.h"
#include "pgquery.h"

bool cd_dist_is_spec(const char *spec)
{
    return spec != NULL && strncmp(spec, CD_DIST_PREFIX, strlen(CD_DIST_PREFIX)) == 0;
}

void cd_dist_mask(const char *spec, char *buf, size_t cap)
{
    if (!cd_dist_is_spec(spec)) {
        cd_pg_mask(spec, buf, cap);
        return;
    }
    size_t n = strlen(spec) + 8;
    char *pg = malloc(n), *masked = malloc(n + 16);
    if (pg == NULL || masked == NULL) {
        snprintf(buf, cap, "citus:***");
    } else {
        snprintf(pg, n, "pg:%s", spec + strlen(CD_DIST_PREFIX));
        cd_pg_mask(pg, masked, n + 16);
        snprintf(buf, cap, "citus:%s", masked + 3);
    }
    free(pg);
    free(masked);
}

/* Run sql with one text parameter (pgquery.h); *out: the result (PQclear it). */
static cd_code query(PGconn *c, const char *what, const char *sql, const char *param,
                     PGresult **out, cd_err *err)
{
    cd_code rc = cd_pg_query(c, what, sql, param ? 1 : 0, param ? &param : NULL, out, err);
    if (rc != CD_OK)
        cd_context(err, "on the coordinator");
    return rc;
}

/* The table: its database, its directory name, and that it is distributed. */
static cd_code read_table(PGconn *c, const char *table, cd_dist_table *t, cd_err *err)
{
    PGresult *r;
    cd_code rc = query(c, "look up the table",
                       "SELECT current_database(), n.nspname || '.' || c.relname, "
                       "coalesce(p.partmethod::text, '') FROM pg_class c JOIN pg_namespace n ON "
                       "n.oid = c.relnamespace LEFT JOIN pg_dist_partition p ON p.logicalrelid "
                       "= c.oid WHERE c.oid = to_regclass($1)",
                       table, &r, err);
    if (rc != CD_OK)
        return cd_hint(err, "CONNINFO must reach the Citus coordinator (the citus extension "
                            "created in its database)");
    if (PQntuples(r) != 1) {
        PQclear(r);
        return cd_fail(err, CD_ENOTFOUND, "table \"%s\" does not exist on the coordinator", table);
    }
    const char *method = PQgetvalue(r, 0, 2);
    t->db = strdup(PQgetvalue(r, 0, 0));
    t->dir = strdup(PQgetvalue(r, 0, 1));
    if (t->db == NULL || t->dir == NULL) {
        rc = cd_fail(err, CD_ENOMEM, "out of memory");
    } else if (method[0] == '\0' || method[0] == 'n') {
        rc = cd_fail(err, CD_EINVAL, "%s is not a distributed Citus table", t->dir);
        cd_hint(err, "distribute it with create_distributed_table(); each shard gets a worker");
    }
    PQclear(r);
    return rc;
}

static cd_code read_shards(PGconn *c, const char *table, cd_dist_table *t, cd_err *err)
{
    PGresult *r;
    cd_code rc = query(c, "list the shards",
                       "SELECT shardid FROM pg_dist_shard WHERE logicalrelid = to_regclass($1) "
                       "ORDER BY shardid",
                       table, &r, err);
    if (rc != CD_OK)
        return rc;
    int n = PQntuples(r);
    t->shards = calloc((size_t)n + 1, sizeof *t->shards);
    for (int i = 0; t->shards != NULL && i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "s%s", PQgetvalue(r, i, 0));
        if ((t->shards[i] = strdup(name)) == NULL)
            break;
        t->nshards++;
    }
    PQclear(r);
    if (t->nshards != n)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    if (n == 0)
        return cd_fail(err, CD_EINVAL, "%s has no shards", t->dir);
    return CD_OK;
}

static int shard_index(const cd_dist_table *t, const char *id)
{
    for (int i = 0; i < t->nshards; i++)
        if (strcmp(t->shards[i] + 1, id) == 0)
            return i;
    return -1;
}

static cd_code read_placements(PGconn *c, const char *table, cd_dist_table *t, cd_err *err)
{
    PGresult *r;
    cd_code rc = query(c, "list the shard placements",
                       "SELECT s.shardid, n.nodename FROM pg_dist_shard s JOIN pg_dist_placement "
                       "p ON p.shardid = s.shardid AND p.shardstate = 1 JOIN pg_dist_node n ON "
                       "n.groupid = p.groupid AND n.noderole = 'primary' AND n.isactive WHERE "
                       "s.logicalrelid = to_regclass($1) ORDER BY s.shardid, n.nodename",
                       table, &r, err);
    if (rc != CD_OK)
        return rc;
    int n = PQntuples(r);
    t->placements = calloc((size_t)n + 1, sizeof *t->placements);
    rc = t->placements ? CD_OK : cd_fail(err, CD_ENOMEM, "out of memory");
    for (int i = 0; rc == CD_OK && i < n; i++) {
        cd_dist_placement *p = &t->placements[t->nplacements];
        p->shard = shard_index(t, PQgetvalue(r, i, 0));
        if (p->shard < 0) /* a shard created between the two queries */
            continue;
        if ((p->host = strdup(PQgetvalue(r, i, 1))) == NULL)
            rc = cd_fail(err, CD_ENOMEM, "out of memory");
        else
            t->nplacements++;
    }
    PQclear(r);
    if (rc != CD_OK)
        return rc;
    for (int s = 0; s < t->nshards; s++) {
        int k = 0;
        while (k < t->nplacements && t->placements[k].shard != s)
            k++;
        if (k == t->nplacements) {
            cd_fail(err, CD_EINVAL, "shard %s of %s has no active placement on a primary node",
                    t->shards[s], t->dir);
            return cd_hint(err, "see pg_dist_placement and pg_dist_node on the coordinator");
        }
    }
    return CD_OK;
}

cd_code cd_dist_discover(const char *spec, cd_dist_table *t, cd_err *err)
{
    memset(t, 0, sizeof *t);
    const char *ci = spec + strlen(CD_DIST_PREFIX), *hash = strchr(ci, '#');
    if (!cd_dist_is_spec(spec) || hash == NULL || hash[1] == '\0' || strchr(hash + 1, '#')) {
        cd_fail(err, CD_EINVAL, "not a citus: table");
        return cd_hint(err, "give citus:CONNINFO#SCHEMA.TABLE (CONNINFO: the coordinator's)");
    }
    char *conninfo = strndup(ci, (size_t)(hash - ci));
    if (conninfo == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    PGconn *c = PQconnectdb(conninfo);
    free(conninfo);
    cd_code rc = CD_OK;
    if (PQstatus(c) != CONNECTION_OK) {
        rc = cd_fail(err, CD_EDB, "could not connect to the coordinator");
        cd_detail(err, "%s", PQerrorMessage(c));
        err->detail[strcspn(err->detail, "\n")] = '\0';
        cd_hint(err, "CONNINFO (between citus: and #) must reach the Citus coordinator");
    }
    if (rc == CD_OK)
        rc = read_table(c, hash + 1, t, err);
    if (rc == CD_OK)
        rc = read_shards(c, hash + 1, t, err);
    if (rc == CD_OK)
        rc = read_placements(c, hash + 1, t, err);
    PQfinish(c);
    if (rc != CD_OK)
        cd_dist_table_free(t);
    return rc;
}

void cd_dist_table_free(cd_dist_table *t)
{
    for (int i = 0; i < t->nshards; i++)
        free(t->shards[i]);
    for (int i = 0; i < t->nplacements; i++)
        free(t->placements[i].host);
    free(t->shards);
    free(t->placements);
    free(t->db);
    free(t->dir);
    memset(t, 0, sizeof *t);
}
