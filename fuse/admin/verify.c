/*
 * verify.c: cerebro-ds verify: every decoded row and column against what PostgreSQL
 * returns in the same snapshot (COPY (SELECT ctid, ... ORDER BY ctid) TO STDOUT (FORMAT
 * binary), in the pinned transaction). Decoding and the COPY stream advance together, one
 * row at a time, so memory does not grow with the shard. Rows are matched by ctid, so a
 * missing or an extra row is one mismatch, not a shifted table. Values compare in the column
 * files' representation (value.h), bit for bit (NaN included), array dimensions included.
 * A MADlib-packed table (madlib.h) is compared as stored: its bytea buffers and shapes, the
 * values its unpacked rows are cut from.
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "pgcopy.h"

#define MAX_REPORTED 20
#define NO_ROW UINT64_MAX

/* The COPY stream, pulled one row at a time. */
typedef struct copy_cursor {
    PGconn *conn;
    cd_copybin *parser;
    bool done;             /* the stream has ended */
    uint64_t ctid;         /* current row's ctid, NO_ROW when none */
    int nfields;           /* current row */
    const uint8_t **field; /* [nfields] into the libpq buffer */
    int32_t *len;
    char *buf; /* libpq's buffer of the current row */
} copy_cursor;

typedef struct verify_state {
    const cd_table *t;
    const cd_shard *s;
    FILE *out;
    copy_cursor cur;
    bool matched;        /* the decoded row being compared has a PostgreSQL row */
    bool row_differs;    /* a value of the current row differed already */
    uint64_t rows;       /* rows PostgreSQL returned */
    uint64_t mismatches; /* rows that differ, are missing or are extra */
    uint64_t *reported;
    cd_valctx ctx; /* for the COPY side's values */
} verify_state;

static uint64_t be_ctid(const uint8_t *f)
{
    uint64_t blk = (uint64_t)f[0] << 24 | (uint64_t)f[1] << 16 | (uint64_t)f[2] << 8 | f[3];
    return blk << 16 | (uint64_t)(f[4] << 8 | f[5]);
}

static cd_code on_copy_row(void *arg, int nfields, const uint8_t *const *field, const int32_t *len,
                           cd_err *err)
{
    copy_cursor *c = arg;
    if (nfields != c->nfields || len[0] != 6)
        return cd_fail(err, CD_EDB, "unexpected row shape from COPY (%d fields)", nfields);
    memcpy(c->field, field, sizeof *field * (size_t)nfields);
    memcpy(c->len, len, sizeof *len * (size_t)nfields);
    c->ctid = be_ctid(field[0]);
    return CD_OK;
}

/* Move to the next COPY row (c->ctid = NO_ROW at the end). */
static cd_code cursor_next(copy_cursor *c, cd_err *err)
{
    PQfreemem(c->buf);
    c->buf = NULL;
    c->ctid = NO_ROW;
    while (!c->done && c->ctid == NO_ROW) {
        int n = PQgetCopyData(c->conn, &c->buf, 0);
        if (n == -2)
            return cd_fail(err, CD_EDB, "COPY failed: %s", PQerrorMessage(c->conn));
        if (n < 0) {
            c->done = true;
            break;
        }
        cd_code rc =
            cd_copybin_feed(c->parser, (const uint8_t *)c->buf, (size_t)n, on_copy_row, c, err);
        if (rc != CD_OK)
            return rc;
        if (c->ctid == NO_ROW) {
            PQfreemem(c->buf);
            c->buf = NULL;
        }
    }
    return CD_OK;
}

static cd_code cursor_open(copy_cursor *c, PGconn *conn, const char *select, int nfields,
                           cd_err *err)
{
    memset(c, 0, sizeof *c);
    c->conn = conn;
    c->nfields = nfields;
    c->ctid = NO_ROW;
    c->field = calloc((size_t)nfields, sizeof *c->field);
    c->len = calloc((size_t)nfields, sizeof *c->len);
    char *sql = malloc(strlen(select) + 64);
    if (c->field == NULL || c->len == NULL || sql == NULL) {
        free(sql);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    sprintf(sql, "COPY (%s) TO STDOUT (FORMAT binary)", select);
    PGresult *r = PQexec(conn, sql);
    free(sql);
    cd_code rc = CD_OK;
    if (PQresultStatus(r) != PGRES_COPY_OUT)
        rc =
            cd_fail(err, CD_EDB, "could not read the table through COPY: %s", PQerrorMessage(conn));
    PQclear(r);
    if (rc == CD_OK)
        rc = cd_copybin_new(&c->parser, err);
    if (rc == CD_OK)
        rc = cursor_next(c, err);
    return rc;
}

/* Drain the stream (after an error too, so the connection can run the next command). */
static cd_code cursor_close(copy_cursor *c, cd_code rc, cd_err *err)
{
    while (rc == CD_OK && !c->done)
        rc = cursor_next(c, err);
    if (rc != CD_OK && !c->done) {
        char *b;
        while (PQgetCopyData(c->conn, &b, 0) > 0)
            PQfreemem(b);
    }
    PGresult *r;
    while ((r = PQgetResult(c->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == CD_OK)
            rc = cd_fail(err, CD_EDB, "COPY failed: %s", PQerrorMessage(c->conn));
        PQclear(r);
    }
    if (rc == CD_OK && c->parser != NULL)
        rc = cd_copybin_finish(c->parser, err);
    PQfreemem(c->buf);
    cd_copybin_free(&c->parser);
    free(c->len);
    free(c->field);
    return rc;
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

/* Rows PostgreSQL returned before ctid are missing from the decode; then match ctid. */
static cd_code verify_row_start(void *arg, uint32_t blkno, uint16_t item, cd_err *err)
{
    verify_state *st = arg;
    uint64_t ctid = (uint64_t)blkno << 16 | item;
    cd_code rc = CD_OK;
    while (rc == CD_OK && st->cur.ctid < ctid) {
        st->rows++;
        report(st, st->cur.ctid, "row missing from the decoded shard", NULL);
        rc = cursor_next(&st->cur, err);
    }
    st->matched = rc == CD_OK && st->cur.ctid == ctid;
    st->row_differs = false;
    if (rc == CD_OK && !st->matched)
        report(st, ctid, "decoded row the database does not return", NULL);
    return rc;
}

static bool same_value(const cd_value *mine, const cd_value *pg)
{
    if (mine->isnull != pg->isnull)
        return false;
    if (pg->isnull)
        return true;
    if (mine->ndim != pg->ndim || memcmp(mine->dims, pg->dims, sizeof(int) * (size_t)pg->ndim))
        return false;
    return mine->len == pg->len && memcmp(mine->data, pg->data, pg->len) == 0;
}

static cd_code verify_value(void *arg, int col, const cd_value *v, cd_err *err)
{
    verify_state *st = arg;
    if (!st->matched || st->row_differs)
        return CD_OK;
    const cd_attr *a = &st->s->attrs[st->s->colmap[col]];
    cd_value pg;
    cd_code rc =
        cd_value_from_copybin(&st->ctx, a, st->cur.field[col + 1], st->cur.len[col + 1], &pg, err);
    if (rc == CD_OK && !same_value(v, &pg)) {
        st->row_differs = true;
        report(st, st->cur.ctid, "value differs in column", a->name);
    }
    return rc;
}

static cd_code verify_row_done(void *arg, uint32_t blkno, uint16_t item, cd_err *err)
{
    verify_state *st = arg;
    if (!st->matched)
        return CD_OK;
    st->rows++;
    return cursor_next(&st->cur, err);
}

static cd_code verify_shard(cd_pin *p, const cd_table *t, const cd_shard *s, FILE *out,
                            uint64_t *rows, uint64_t *mismatches, uint64_t *reported, cd_err *err)
{
    char *select = cd_shard_select_sql(t, s);
    if (select == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    verify_state st = {
        .t = t, .s = s, .out = out, .reported = reported, .ctx = {.toast = s->toast}};
    cd_code rc = cursor_open(&st.cur, p->conn, select, t->ncols + 1, err);
    free(select);
    cd_row_sink sink = {.value = verify_value,
                        .row_done = verify_row_done,
                        .row_start = verify_row_start,
                        .arg = &st};
    uint64_t decoded = 0;
    if (rc == CD_OK)
        rc = cd_shard_decode_to(p, t, s, &sink, &decoded, NULL, NULL, err);
    while (rc == CD_OK && st.cur.ctid != NO_ROW) {
        st.rows++;
        report(&st, st.cur.ctid, "row missing from the decoded shard", NULL);
        rc = cursor_next(&st.cur, err);
    }
    rc = cursor_close(&st.cur, rc, err);
    *rows += st.rows;
    *mismatches += st.mismatches;
    cd_valctx_free(&st.ctx);
    return rc;
}

cd_code cd_cmd_verify(const cd_admin_opts *o, const char *table, FILE *out, uint64_t *mismatches,
                      cd_err *err)
{
    cd_pin *p;
    cd_table *t;
    uint64_t rows = 0, reported = 0;
    *mismatches = 0;
    cd_pin_opts po = o->pin;
    po.keep_packed = true; /* the COPY stream has the stored values */
    cd_code rc = cd_pin_table(&po, table, &p, &t, err);
    if (rc == CD_OK &&
        PQsetClientEncoding(p->conn, PQparameterStatus(p->conn, "server_encoding")) != 0)
        rc = cd_fail(err, CD_EDB, "could not set the client encoding to the server's");
    for (int i = 0; rc == CD_OK && i < t->nshards; i++) {
        uint64_t r0 = rows, m0 = *mismatches, rep0 = reported;
        rc = verify_shard(p, t, &t->shards[i], out, &rows, mismatches, &reported, err);
        if (rc == CD_EUNDECIDED) { /* a multixact newer than the checkpoint: once more */
            rows = r0, *mismatches = m0, reported = rep0;
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
