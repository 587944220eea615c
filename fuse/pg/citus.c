/*
 * citus.c: a Citus table's map, seen from one node (see citus.h).
 */
#include "citus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgquery.h"

static const char *const settings[] = {
    "SET citus.override_table_visibility = off",
    "SET citus.enable_manual_changes_to_shards = on",
};

cd_code cd_citus_session(PGconn *conn, bool *present, cd_err *err)
{
    PGresult *r;
    *present = false;
    cd_code rc =
        cd_pg_query(conn, "look for the citus extension",
                    "SELECT 1 FROM pg_extension WHERE extname = 'citus'", 0, NULL, &r, err);
    if (rc != CD_OK)
        return rc;
    *present = PQntuples(r) == 1;
    PQclear(r);
    for (size_t i = 0; *present && i < sizeof settings / sizeof settings[0]; i++) {
        rc = cd_pg_query(conn, "set a Citus session setting", settings[i], 0, NULL, &r, err);
        if (rc != CD_OK)
            return cd_context(err, "SQL: %s", settings[i]);
        PQclear(r);
    }
    return CD_OK;
}

static cd_code kind_of(PGconn *conn, const char *oid, cd_citus_table *ct, cd_err *err)
{
    PGresult *r;
    const char *sql = "SELECT partmethod, repmodel, "
                      "coalesce(column_to_column_name(logicalrelid, partkey), '') "
                      "FROM pg_dist_partition WHERE logicalrelid = $1::oid";
    cd_code rc = cd_pg_query(conn, "read the Citus partitioning", sql, 1, &oid, &r, err);
    if (rc != CD_OK)
        return rc;
    if (PQntuples(r) == 1) {
        ct->method = PQgetvalue(r, 0, 0)[0];
        char rep = PQgetvalue(r, 0, 1)[0];
        snprintf(ct->column, sizeof ct->column, "%s", PQgetvalue(r, 0, 2));
        if (ct->method != 'n')
            ct->kind = CD_CITUS_DISTRIBUTED;
        else if (rep == 't')
            ct->kind = CD_CITUS_REFERENCE;
    }
    PQclear(r);
    return CD_OK;
}

static cd_code read_map(PGconn *conn, const char *oid, cd_citus_table *ct, cd_err *err)
{
    const char *sql =
        "SELECT s.shardid, coalesce(s.shardminvalue || '..' || s.shardmaxvalue, ''), "
        "n.nodename, n.nodeport, p.groupid = (SELECT groupid FROM pg_dist_local_group), "
        "shard_name(s.logicalrelid, s.shardid) "
        "FROM pg_dist_shard s JOIN pg_dist_placement p ON p.shardid = s.shardid "
        "JOIN pg_dist_node n ON n.groupid = p.groupid AND n.noderole = 'primary' "
        "WHERE s.logicalrelid = $1::oid AND p.shardstate = 1 "
        "ORDER BY s.shardid, n.nodename, n.nodeport";
    PGresult *r;
    cd_code rc = cd_pg_query(conn, "read the Citus shard placements", sql, 1, &oid, &r, err);
    if (rc != CD_OK)
        return rc;
    int n = PQntuples(r);
    ct->placements = calloc((size_t)n + 1, sizeof *ct->placements);
    if (ct->placements == NULL) {
        PQclear(r);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        cd_citus_placement *p = &ct->placements[i];
        p->shardid = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        snprintf(p->range, sizeof p->range, "%s", PQgetvalue(r, i, 1));
        snprintf(p->host, sizeof p->host, "%s", PQgetvalue(r, i, 2));
        p->port = atoi(PQgetvalue(r, i, 3));
        p->local = PQgetvalue(r, i, 4)[0] == 't';
        snprintf(p->relname, sizeof p->relname, "%s", PQgetvalue(r, i, 5));
    }
    ct->n = n;
    PQclear(r);
    return CD_OK;
}

cd_code cd_citus_lookup(PGconn *conn, uint32_t reloid, const char *qualname, cd_citus_table *ct,
                        cd_err *err)
{
    memset(ct, 0, sizeof *ct);
    char oid[16];
    snprintf(oid, sizeof oid, "%u", reloid);
    cd_code rc = kind_of(conn, oid, ct, err);
    if (rc == CD_OK && ct->kind != CD_CITUS_NONE)
        rc = read_map(conn, oid, ct, err);
    if (rc != CD_OK)
        return cd_context(err, "Citus table %s", qualname);
    int local = 0;
    for (int i = 0; i < ct->n; i++)
        local += ct->placements[i].local;
    if (ct->kind == CD_CITUS_REFERENCE && local != 1) {
        cd_fail(err, CD_ENOTFOUND, "reference table %s has no placement on this node", qualname);
        return cd_hint(err, "serve it on a node of the Citus cluster (citus_add_node "
                            "replicates reference tables to new workers)");
    }
    return CD_OK;
}

cd_code cd_citus_recheck(PGconn *conn, uint32_t reloid, const char *qualname,
                         const cd_citus_table *ct, cd_err *err)
{
    cd_citus_table now;
    cd_code rc = cd_citus_lookup(conn, reloid, qualname, &now, err);
    bool same = rc == CD_OK && now.kind == ct->kind;
    int a = 0, b = 0;
    while (same && (a < ct->n || b < now.n)) {
        while (a < ct->n && !ct->placements[a].local)
            a++;
        while (b < now.n && !now.placements[b].local)
            b++;
        if (a < ct->n && b < now.n)
            same = ct->placements[a++].shardid == now.placements[b++].shardid;
        else
            same = a >= ct->n && b >= now.n;
    }
    cd_citus_table_free(&now);
    if (rc != CD_OK || same)
        return rc;
    cd_fail(err, CD_EDB, "the shard placements of %s on this node changed while it was pinned",
            qualname);
    cd_detail(err, "a shard was moved, split or dropped (citus_move_shard_placement, "
                   "rebalancing) between reading the map and taking the snapshot");
    return cd_hint(err, "pin it again (cerebro-ds refresh)");
}

void cd_citus_table_free(cd_citus_table *ct)
{
    free(ct->placements);
    ct->placements = NULL;
    ct->n = 0;
}
