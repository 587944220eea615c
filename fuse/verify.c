/*
 * verify.c: cerebro-ds verify: every decoded row and column against what PostgreSQL
 * returns in the same snapshot (COPY (SELECT ctid, ... ORDER BY ctid) TO STDOUT (FORMAT
 * binary), in the pinned transaction). Rows are matched by ctid, so a missing or an extra
 * row is one mismatch, not a shifted table. Values compare in the column files'
 * representation (value.h), bit for bit (NaN included).
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "pgcopy.h"

#define MAX_REPORTED 20

typedef struct verify_state {
    const cd_table *t;
    const cd_shard *s;
    const cd_decoded *d;
    FILE *out;
    uint64_t next;       /* next decoded row to match */
    uint64_t rows;       /* rows PostgreSQL returned */
    uint64_t mismatches; /* rows that differ, are missing or are extra */
    uint64_t *reported;
    cd_valctx ctx;
} verify_state;

static uint64_t decoded_ctid(const cd_decoded *d, uint64_t i)
{
    uint64_t c;
    memcpy(&c, d->ctids.p + i * sizeof c, sizeof c);
    return c;
}

static void report(verify_state *st, uint64_t ctid, const char *what, const char *col)
{
    st->mismatches++;
    if ((*st->reported)++ >= MAX_REPORTED)
        return;
    fprintf(st->out, "mismatch: shard %s, ctid (%llu,%llu): %s%s%s\n", st->s->name,
            (unsigned long long)(ctid >> 16), (unsigned long long)(ctid & 0xFFFF), what,
            col ? " " : "", col ? col : "");
}

static bool same_value(const cd_column *c, uint64_t row, const cd_value *pg)
{
    cd_value mine;
    cd_column_row(c, row, &mine);
    if (mine.isnull != pg->isnull)
        return false;
    if (pg->isnull)
        return true;
    if (c->attr->kind == CD_KIND_ARRAY && !c->ragged) {
        if (pg->ndim != c->ndim || memcmp(pg->dims, c->dims, sizeof(int) * (size_t)c->ndim) != 0)
            return false;
    }
    return mine.len == pg->len && memcmp(mine.data, pg->data, pg->len) == 0;
}

static cd_code compare_row(verify_state *st, uint64_t ctid, const uint8_t *const *field,
                           const int32_t *len, cd_err *err)
{
    for (int k = 0; k < st->t->ncols; k++) {
        cd_value pg;
        const cd_attr *a = &st->s->attrs[st->s->colmap[k]];
        cd_code rc = cd_value_from_copybin(&st->ctx, a, field[k + 1], len[k + 1], &pg, err);
        if (rc != CD_OK)
            return rc;
        if (!same_value(&st->d->cols[k], st->next, &pg)) {
            report(st, ctid, "value differs in column", a->name);
            return CD_OK;
        }
    }
    return CD_OK;
}

static cd_code on_row(void *arg, int nfields, const uint8_t *const *field, const int32_t *len,
                      cd_err *err)
{
    verify_state *st = arg;
    if (nfields != st->t->ncols + 1 || len[0] != 6)
        return cd_fail(err, CD_EDB, "unexpected row shape from COPY (%d fields)", nfields);
    const uint8_t *f = field[0];
    uint64_t ctid = ((uint64_t)f[0] << 24 | (uint64_t)f[1] << 16 | (uint64_t)f[2] << 8 | f[3])
                        << 16 |
                    (uint64_t)(f[4] << 8 | f[5]);
    st->rows++;
    while (st->next < st->d->nrows && decoded_ctid(st->d, st->next) < ctid)
        report(st, decoded_ctid(st->d, st->next++), "decoded row the database does not return",
               NULL);
    if (st->next >= st->d->nrows || decoded_ctid(st->d, st->next) != ctid) {
        report(st, ctid, "row missing from the decoded shard", NULL);
        return CD_OK;
    }
    cd_code rc = compare_row(st, ctid, field, len, err);
    st->next++;
    return rc;
}

static cd_code copy_out(PGconn *conn, const char *sql, cd_copybin *parser, verify_state *st,
                        cd_err *err)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        cd_fail(err, CD_EDB, "could not read the table through COPY: %s", PQerrorMessage(conn));
        PQclear(r);
        return CD_EDB;
    }
    PQclear(r);
    cd_code rc = CD_OK;
    char *buf;
    int n;
    while ((n = PQgetCopyData(conn, &buf, 0)) > 0) {
        if (rc == CD_OK)
            rc = cd_copybin_feed(parser, (const uint8_t *)buf, (size_t)n, on_row, st, err);
        PQfreemem(buf);
    }
    if (n == -2 && rc == CD_OK)
        rc = cd_fail(err, CD_EDB, "COPY failed: %s", PQerrorMessage(conn));
    while ((r = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == CD_OK)
            rc = cd_fail(err, CD_EDB, "COPY failed: %s", PQerrorMessage(conn));
        PQclear(r);
    }
    if (rc == CD_OK)
        rc = cd_copybin_finish(parser, err);
    return rc;
}

static cd_code verify_shard(cd_pin *p, const cd_table *t, const cd_shard *s, FILE *out,
                            uint64_t *rows, uint64_t *mismatches, uint64_t *reported, cd_err *err)
{
    cd_decoded d;
    cd_code rc = cd_shard_decode(p, t, s, &d, err);
    char *select = rc == CD_OK ? cd_shard_select_sql(t, s) : NULL;
    char *sql = select ? malloc(strlen(select) + 64) : NULL;
    cd_copybin *parser = NULL;
    if (rc == CD_OK && sql == NULL)
        rc = cd_fail(err, CD_ENOMEM, "out of memory");
    if (rc == CD_OK)
        rc = cd_copybin_new(&parser, err);
    verify_state st = {
        .t = t, .s = s, .d = &d, .out = out, .reported = reported, .ctx = {.toast = s->toast}};
    if (rc == CD_OK) {
        sprintf(sql, "COPY (%s) TO STDOUT (FORMAT binary)", select);
        rc = copy_out(p->conn, sql, parser, &st, err);
    }
    while (rc == CD_OK && st.next < d.nrows)
        report(&st, decoded_ctid(&d, st.next++), "decoded row the database does not return", NULL);
    *rows += st.rows;
    *mismatches += st.mismatches;
    cd_valctx_free(&st.ctx);
    cd_copybin_free(&parser);
    free(sql);
    free(select);
    cd_decoded_free(&d);
    return rc;
}

cd_code cd_cmd_verify(const cd_admin_opts *o, const char *table, FILE *out, uint64_t *mismatches,
                      cd_err *err)
{
    cd_pin *p;
    cd_table *t;
    uint64_t rows = 0, reported = 0;
    *mismatches = 0;
    cd_code rc = cd_pin_table(&o->pin, table, &p, &t, err);
    if (rc == CD_OK &&
        PQsetClientEncoding(p->conn, PQparameterStatus(p->conn, "server_encoding")) != 0)
        rc = cd_fail(err, CD_EDB, "could not set the client encoding to the server's");
    for (int i = 0; rc == CD_OK && t != NULL && i < t->nshards; i++) {
        rc = verify_shard(p, t, &t->shards[i], out, &rows, mismatches, &reported, err);
        if (rc == CD_EUNDECIDED) { /* a multixact newer than the checkpoint: once more */
            rc = cd_pin_recheckpoint(p, err);
            if (rc == CD_OK)
                rc = verify_shard(p, t, &t->shards[i], out, &rows, mismatches, &reported, err);
        }
        if (rc == CD_OK && o->progress)
            fprintf(stderr, "cerebro-ds: verified shard %s\n", t->shards[i].name);
    }
    if (rc == CD_OK)
        fprintf(out, "rows=%llu mismatches=%llu\n", (unsigned long long)rows,
                (unsigned long long)*mismatches);
    cd_table_free(&t);
    cd_pin_close(&p);
    return rc;
}
