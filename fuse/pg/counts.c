/*
 * counts.c: the row counts of a pinned table's shards, count(*) asked of the server on the
 * pin's connection a range of blocks at a time beside the decoding (see catalog.h).
 */
#include "catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgquery.h"

#define COUNT_SQL_MAX 800

/* SELECT [i,] count(*) of blocks [b0, b1) of shard s (i < 0: no index column) into sql. A
 * bound that is the shard's own is left out, unless the shard is one of several block
 * ranges of its table: a whole shard is counted past its last block at the pin, as before. */
static void count_sql(const cd_shard *s, int i, uint32_t b0, uint32_t b1, char *sql, size_t cap)
{
    int n = i < 0 ? snprintf(sql, cap, "SELECT count(*)")
                  : snprintf(sql, cap, "SELECT %d, count(*)", i);
    bool lo = s->block_range || b0 > s->blk_start, hi = s->block_range || b1 < s->blk_end;
    n += snprintf(sql + n, cap - (size_t)n, " FROM ONLY %s", s->relsql);
    if (lo)
        n += snprintf(sql + n, cap - (size_t)n, " WHERE ctid >= '(%u,0)'::tid", b0);
    if (hi)
        snprintf(sql + n, cap - (size_t)n, " %s ctid < '(%u,0)'::tid", lo ? "AND" : "WHERE", b1);
}

void cd_counts_free(cd_counts *c)
{
    free(c->sh);
    *c = (cd_counts){0};
}

/* Blocks of a shard one count query covers: count_blocks (1 GiB of blocks by default), or
 * the whole shard on a server without TID range scans. */
static uint32_t count_range(const cd_pin *p)
{
    if (PQserverVersion(p->conn) < 140000)
        return UINT32_MAX;
    if (p->count_blocks > 0)
        return p->count_blocks;
    return (uint32_t)((1u << 30) / (p->blcksz ? p->blcksz : 8192));
}

/* Send one query for the next range of shard `only`, or (only < 0) of the shards in order
 * until `budget` blocks are asked; for all that is left of them when rest. A shard all asked
 * is skipped (an empty one is asked once). Nothing to ask sends nothing. */
static cd_code counts_ask(cd_pin *p, const cd_table *t, int only, bool rest, uint64_t budget,
                          cd_err *err)
{
    cd_counts *c = &p->counts;
    size_t cap = (size_t)t->nshards * (COUNT_SQL_MAX + 16) + 1, len = 0;
    char *sql = malloc(cap);
    if (sql == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    uint64_t asked = 0;
    for (int i = 0; i < t->nshards && asked < budget; i++) {
        const cd_shard *s = &t->shards[i];
        cd_shard_rows *r = &c->sh[i];
        uint32_t b0 = r->asked_to;
        if ((only >= 0 && i != only) || (r->asked && b0 >= s->blk_end))
            continue;
        uint32_t b1 = rest || s->blk_end - b0 <= c->range ? s->blk_end : b0 + c->range;
        if (len > 0)
            len += (size_t)snprintf(sql + len, cap - len, " UNION ALL ");
        count_sql(s, i, b0, b1, sql + len, cap - len);
        len += strlen(sql + len);
        asked += b1 - b0;
        *r = (cd_shard_rows){.rows = r->rows, .asked_to = b1, .asked = true, .running = true};
    }
    cd_code rc = len > 0 ? cd_pg_send(p->conn, "count the rows", sql, err) : CD_OK;
    c->busy = len > 0 && rc == CD_OK;
    free(sql);
    return rc;
}

cd_code cd_shard_counts_send(cd_pin *p, const cd_table *t, cd_err *err)
{
    cd_counts *c = &p->counts;
    cd_counts_free(c);
    c->n = t->nshards;
    c->sh = calloc((size_t)t->nshards + 1, sizeof *c->sh);
    if (c->sh == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    c->range = count_range(p);
    for (int i = 0; i < t->nshards; i++)
        c->sh[i].asked_to = t->shards[i].blk_start;
    return counts_ask(p, t, -1, false, c->range, err);
}

/* Add the running query's counts; a failure is kept in p->counts.err (and copied to err). */
cd_code cd_counts_receive(cd_pin *p, cd_err *err)
{
    cd_counts *c = &p->counts;
    PGresult *r;
    c->busy = false;
    cd_code rc = cd_pg_receive(p->conn, "count the rows", &r, &c->err);
    for (int row = 0; rc == CD_OK && row < PQntuples(r); row++) {
        int i = atoi(PQgetvalue(r, row, 0));
        if (i >= 0 && i < c->n && c->sh[i].running) {
            c->sh[i].rows += strtoll(PQgetvalue(r, row, 1), NULL, 10);
            c->sh[i].running = false;
        }
    }
    if (rc == CD_OK)
        PQclear(r);
    for (int k = 0; rc == CD_OK && k < c->n; k++)
        if (c->sh[k].running)
            rc = cd_fail(&c->err, CD_EDB, "could not count the rows: no count for shard %d", k);
    if (rc != CD_OK && err != NULL)
        *err = c->err;
    return rc;
}

/* The block at which shard i's next range is due: its first block while none is asked,
 * then past the middle of the last one asked. */
static uint32_t counts_due(const cd_counts *c, const cd_table *t, int i)
{
    const cd_shard_rows *r = &c->sh[i];
    if (c->err.code != CD_OK || (r->asked && r->asked_to >= t->shards[i].blk_end))
        return UINT32_MAX; /* all asked, or the counts failed */
    if (!r->asked)
        return t->shards[i].blk_start;
    return r->asked_to - c->range / 2; /* a whole range was asked: not past blk_start */
}

/* Whether the running count's result is in, reading what has come without waiting (a
 * broken connection counts as in: reading the result then says what broke). */
static bool counts_ready(cd_pin *p)
{
    return PQconsumeInput(p->conn) == 0 || PQisBusy(p->conn) == 0;
}

uint32_t cd_shard_counts_advance(cd_pin *p, const cd_table *t, int i, uint32_t blk)
{
    cd_counts *c = &p->counts;
    if (c->sh == NULL || i < 0 || i >= c->n)
        return UINT32_MAX;
    uint32_t due = counts_due(c, t, i);
    if (blk < due)
        return due;
    if (c->busy && !counts_ready(p)) /* the decoding does not wait: look again a little on */
        return blk + (c->range / 16 > 0 ? c->range / 16 : 1);
    if (!c->busy || cd_counts_receive(p, NULL) == CD_OK)
        counts_ask(p, t, i, false, UINT64_MAX, &c->err);
    return counts_due(c, t, i);
}

cd_code cd_shard_counts_wait(cd_pin *p, const cd_table *t, int i, int64_t *n, cd_err *err)
{
    cd_counts *c = &p->counts;
    if (c->sh == NULL || c->n != t->nshards || i < 0 || i >= c->n)
        return cd_fail(err, CD_EINVAL, "the row counts were not asked for");
    if (c->err.code == CD_OK && c->busy)
        cd_counts_receive(p, NULL);
    if (c->err.code == CD_OK) /* what the decoding did not ask for, in one query */
        counts_ask(p, t, i, true, UINT64_MAX, &c->err);
    if (c->err.code == CD_OK && c->busy)
        cd_counts_receive(p, NULL);
    if (c->err.code != CD_OK) {
        if (err != NULL)
            *err = c->err;
        return c->err.code;
    }
    *n = c->sh[i].rows;
    return CD_OK;
}

cd_code cd_shard_count(cd_pin *p, const cd_shard *s, int64_t *n, cd_err *err)
{
    char sql[COUNT_SQL_MAX];
    count_sql(s, -1, s->blk_start, s->blk_end, sql, sizeof sql);
    PGresult *r;
    cd_code rc = cd_pg_query(p->conn, "count the rows", sql, 0, NULL, &r, err);
    if (rc != CD_OK)
        return rc;
    *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return CD_OK;
}
