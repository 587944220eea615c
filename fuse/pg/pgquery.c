/*
 * pgquery.c: see pgquery.h.
 */
#include "pgquery.h"

#include <stdbool.h>
#include <string.h>

static cd_code server_error(PGconn *conn, const PGresult *r, const char *what, cd_err *err)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    bool denied = state != NULL && strcmp(state, "42501") == 0;
    cd_fail(err, denied ? CD_EPRIV : CD_EDB, "could not %s: %s", what,
            msg ? msg : PQerrorMessage(conn));
    const char *hint = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_HINT) : NULL;
    if (hint != NULL)
        cd_hint(err, "%s", hint);
    return err ? err->code : (denied ? CD_EPRIV : CD_EDB);
}

/* A query's result r: *out, or the server's error (r freed). */
static cd_code take_result(PGconn *conn, PGresult *r, const char *what, PGresult **out, cd_err *err)
{
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        cd_code rc = server_error(conn, r, what, err);
        PQclear(r);
        return rc;
    }
    *out = r;
    return CD_OK;
}

cd_code cd_pg_send(PGconn *conn, const char *what, const char *sql, cd_err *err)
{
    return PQsendQuery(conn, sql) == 1 ? CD_OK : server_error(conn, NULL, what, err);
}

cd_code cd_pg_receive(PGconn *conn, const char *what, PGresult **out, cd_err *err)
{
    PGresult *r = PQgetResult(conn), *extra;
    while ((extra = PQgetResult(conn)) != NULL) /* a single statement: one result, then NULL */
        PQclear(extra);
    return take_result(conn, r, what, out, err);
}

cd_code cd_pg_query(PGconn *conn, const char *what, const char *sql, int nparams,
                    const char *const *params, PGresult **out, cd_err *err)
{
    PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    return take_result(conn, r, what, out, err);
}
