/*
 * pgquery.h: one way to run a query over libpq for the pg/ layer: server errors become
 * cd_err with the query's purpose, the server's message and hint; a missing privilege
 * (SQLSTATE 42501) is CD_EPRIV.
 */
#ifndef CD_PGQUERY_H
#define CD_PGQUERY_H

#include <libpq-fe.h>

#include "cd_err.h"

/* Run sql with text params; on success *out holds the result (caller PQclear). what names
 * the purpose ("look up the table"): errors read "could not <what>: <server message>". */
cd_code cd_pg_query(PGconn *conn, const char *what, const char *sql, int nparams,
                    const char *const *params, PGresult **out, cd_err *err);

/* The same in two steps: send sql now (no parameters), and read its result later, while the
 * caller does other work; the connection must not be used in between. */
cd_code cd_pg_send(PGconn *conn, const char *what, const char *sql, cd_err *err);
cd_code cd_pg_receive(PGconn *conn, const char *what, PGresult **out, cd_err *err);

#endif
