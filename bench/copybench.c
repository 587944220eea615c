/*
 * copybench.c: the peers of bench/decode.sh, measured through libpq.
 *
 *   copybench copy CONNINFO TABLE COLUMN    COPY (SELECT COLUMN FROM TABLE) TO STDOUT (FORMAT
 *                                           binary), every row parsed into a float32 array
 *   copybench detoast CONNINFO TABLE COLUMN SELECT sum(array_length(COLUMN, 1)) FROM TABLE:
 *                                           the server detoasts every value, returns one row
 *
 * Prints "seconds=S rows=N values=V" for the run.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgcopy.h"
#include "pgdisk.h"

typedef struct sink {
    float *buf;
    size_t cap; /* bytes */
    uint64_t rows, values;
} sink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static cd_code on_row(void *arg, int nfields, const uint8_t *const *field, const int32_t *len,
                      cd_err *err)
{
    sink *s = arg;
    int ndim, dims[6], has_null;
    size_t bytes;
    s->rows++;
    if (len[0] < 0)
        return CD_OK;
    if ((size_t)len[0] > s->cap) {
        s->cap = (size_t)len[0];
        s->buf = realloc(s->buf, s->cap);
    }
    cd_code rc = cd_copybin_array(field[0], len[0], PGD_FLOAT4OID, &ndim, dims, &has_null, s->buf,
                                  s->cap, &bytes, err);
    s->values += bytes / sizeof(float);
    return rc;
}

static int run_copy(PGconn *conn, const char *table, const char *column)
{
    char sql[512];
    snprintf(sql, sizeof sql, "COPY (SELECT %s FROM %s) TO STDOUT (FORMAT binary)", column, table);
    sink s = {0};
    cd_copybin *p;
    cd_err err = {0};
    double t0 = now();
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT || cd_copybin_new(&p, &err) != CD_OK) {
        fprintf(stderr, "copybench: %s", PQerrorMessage(conn));
        return 1;
    }
    PQclear(r);
    char *buf;
    int n;
    cd_code rc = CD_OK;
    while ((n = PQgetCopyData(conn, &buf, 0)) > 0) {
        if (rc == CD_OK)
            rc = cd_copybin_feed(p, (const uint8_t *)buf, (size_t)n, on_row, &s, &err);
        PQfreemem(buf);
    }
    while ((r = PQgetResult(conn)) != NULL)
        PQclear(r);
    if (rc == CD_OK)
        rc = cd_copybin_finish(p, &err);
    double t1 = now();
    cd_copybin_free(&p);
    free(s.buf);
    if (rc != CD_OK) {
        fprintf(stderr, "copybench: %s\n", err.msg);
        return 1;
    }
    printf("seconds=%.3f rows=%llu values=%llu\n", t1 - t0, (unsigned long long)s.rows,
           (unsigned long long)s.values);
    return 0;
}

static int run_detoast(PGconn *conn, const char *table, const char *column)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*), sum(array_length(%s, 1)) FROM %s", column, table);
    double t0 = now();
    PGresult *r = PQexec(conn, sql);
    double t1 = now();
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "copybench: %s", PQerrorMessage(conn));
        return 1;
    }
    printf("seconds=%.3f rows=%s values=%s\n", t1 - t0, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
    PQclear(r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "copy") != 0 && strcmp(argv[1], "detoast") != 0)) {
        fprintf(stderr, "usage: copybench copy|detoast CONNINFO TABLE COLUMN\n");
        return 2;
    }
    PGconn *conn = PQconnectdb(argv[2]);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "copybench: %s", PQerrorMessage(conn));
        return 1;
    }
    int rc = strcmp(argv[1], "copy") == 0 ? run_copy(conn, argv[3], argv[4])
                                          : run_detoast(conn, argv[3], argv[4]);
    PQfinish(conn);
    return rc;
}
