/*
 * cluster.c: cerebro-ds refresh --cluster: one consistent cut of Citus tables across every
 * worker host's mount (see admin.h).
 *
 * The mechanism. Citus commits a transaction that wrote to shards on several workers with
 * two-phase commit, driven by the session that ran it (on the coordinator, or on a worker
 * with metadata): PREPARE TRANSACTION on every worker, then, in the session's commit, COMMIT
 * PREPARED on every worker, and only then does the session release its locks, among them
 * the ROW EXCLUSIVE lock on the distributed table. So, holding LOCK TABLE ... IN EXCLUSIVE
 * MODE on the coordinator (Citus propagates it to every node with metadata) means: no writer
 * of the table is between its first and its last COMMIT PREPARED, and none can start. Every
 * host that takes its snapshot while the lock is held sees each such transaction on all of
 * its shards or on none. Readers are not blocked (EXCLUSIVE lets ACCESS SHARE through);
 * writers of these tables wait until the lock is released, which is printed ("held"). The
 * lock is released (COMMIT) after every host has answered, success or not.
 *
 * Not covered: a writer that changes shard relations directly on a worker, bypassing the
 * distributed table (Citus refuses that unless citus.enable_manual_changes_to_shards is on),
 * and a prepared transaction that Citus's recovery has not committed yet after a failure
 * (the worker's pg_prepared_xacts): such a transaction is in no snapshot until recovered.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admin.h"
#include "citus.h"
#include "clock.h"
#include "pgquery.h"
#include "remote.h"

#define MAX_HOSTS 256
#define MAX_WORDS 64

typedef struct host_run {
    char name[128];
    pid_t pid;
    FILE *out; /* its stdout and stderr */
    int status;
} host_run;

static cd_code one_value(PGconn *conn, const char *what, const char *sql, const char *param,
                         char *buf, size_t size, cd_err *err)
{
    PGresult *r;
    cd_code rc = cd_pg_query(conn, what, sql, param ? 1 : 0, param ? &param : NULL, &r, err);
    if (rc != CD_OK)
        return rc;
    snprintf(buf, size, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return CD_OK;
}

/* tables[i] as regclass prints it, checked to be a distributed table. */
static cd_code resolve(PGconn *conn, const char *table, char *name, size_t size, cd_err *err)
{
    char kind[8];
    cd_code rc = one_value(conn, "look up the table", "SELECT to_regclass($1)::text", table, name,
                           size, err);
    if (rc == CD_OK && name[0] == '\0')
        return cd_fail(err, CD_ENOTFOUND, "table \"%s\" does not exist on the coordinator", table);
    if (rc == CD_OK)
        rc = one_value(conn, "read the Citus partitioning",
                       "SELECT partmethod FROM pg_dist_partition WHERE logicalrelid = "
                       "to_regclass($1)",
                       table, kind, sizeof kind, err);
    if (rc == CD_OK && (kind[0] == '\0' || kind[0] == 'n')) {
        cd_fail(err, CD_EINVAL, "%s is not a distributed Citus table", name);
        return cd_hint(err, "a cluster cut is for tables distributed with "
                            "create_distributed_table(); refresh other tables on their host");
    }
    return rc;
}

/* Add the hosts with a placement of table to hosts[*n], without repeats. */
static cd_code add_hosts(PGconn *conn, const char *table, host_run *hosts, int *n, cd_err *err)
{
    PGresult *r;
    cd_code rc = cd_pg_query(
        conn, "list the hosts of the shards",
        "SELECT DISTINCT n.nodename FROM pg_dist_shard s JOIN pg_dist_placement p ON "
        "p.shardid = s.shardid JOIN pg_dist_node n ON n.groupid = p.groupid AND n.noderole = "
        "'primary' WHERE s.logicalrelid = to_regclass($1) AND p.shardstate = 1 ORDER BY 1",
        1, &table, &r, err);
    for (int i = 0; rc == CD_OK && i < PQntuples(r); i++) {
        const char *h = PQgetvalue(r, i, 0);
        bool seen = false;
        for (int k = 0; k < *n && !seen; k++)
            seen = strcmp(hosts[k].name, h) == 0;
        if (seen)
            continue;
        if (*n >= MAX_HOSTS)
            rc = cd_fail(err, CD_EINVAL, "more than %d worker hosts", MAX_HOSTS);
        else
            snprintf(hosts[(*n)++].name, sizeof hosts[0].name, "%s", h);
    }
    if (rc == CD_OK)
        PQclear(r);
    return rc;
}

/* Start `cerebro-ds refresh --cut CUT MOUNT db/table...` on host h through the template. */
static cd_code start_host(const cd_cluster_opts *o, host_run *h, char *const *cmd, cd_err *err)
{
    char tmpl[4096], quoted[16384], *words[MAX_WORDS];
    snprintf(tmpl, sizeof tmpl, "%s", o->ssh_command);
    if (!cd_remote_quote(cmd, quoted, sizeof quoted))
        return cd_fail(err, CD_EINVAL, "the refresh command line is too long");
    if (cd_remote_words(tmpl, h->name, quoted, words, MAX_WORDS) == 0)
        return cd_fail(err, CD_EINVAL, "empty [cluster] ssh_command");
    h->out = tmpfile();
    if (h->out == NULL)
        return cd_fail(err, CD_EIO, "could not create a temporary file: %s", strerror(errno));
    fflush(NULL);
    h->pid = fork();
    if (h->pid < 0)
        return cd_fail(err, CD_EIO, "could not fork: %s", strerror(errno));
    if (h->pid == 0) {
        int fd = fileno(h->out);
        if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        execvp(words[0], words);
        fprintf(stderr, "could not run \"%s\": %s\n", words[0], strerror(errno));
        _exit(127);
    }
    return CD_OK;
}

/* The first line of what h printed, for messages. */
static void first_line(host_run *h, char *buf, size_t size)
{
    buf[0] = '\0';
    if (h->out == NULL)
        return;
    rewind(h->out);
    if (fgets(buf, (int)size, h->out) == NULL)
        buf[0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

/* Refresh every host, in parallel; the number that failed. */
static int refresh_hosts(const cd_cluster_opts *o, host_run *hosts, int n, char **cmd, FILE *out,
                         cd_err *err)
{
    int failed = 0;
    for (int i = 0; i < n; i++) {
        hosts[i].pid = -1;
        cd_err e = {0};
        if (start_host(o, &hosts[i], cmd, &e) != CD_OK) {
            hosts[i].status = -1;
            fprintf(out, "  %s: %s\n", hosts[i].name, e.msg);
        }
    }
    for (int i = 0; i < n; i++) {
        char line[512];
        if (hosts[i].pid > 0)
            while (waitpid(hosts[i].pid, &hosts[i].status, 0) < 0 && errno == EINTR)
                ;
        bool ok =
            hosts[i].pid > 0 && WIFEXITED(hosts[i].status) && WEXITSTATUS(hosts[i].status) == 0;
        first_line(&hosts[i], line, sizeof line);
        fprintf(out, "  %s: %s%s\n", hosts[i].name, ok ? "" : "FAILED: ", line);
        if (!ok && failed++ == 0)
            cd_detail(err, "%s: %s", hosts[i].name, line);
    }
    return failed;
}

/* The remote command: REMOTE refresh --cut CUT MOUNT db/table... (argv, NULL-terminated). */
static char **remote_argv(const cd_cluster_opts *o, const char *cut, const char *db,
                          char names[][400], int ntables)
{
    char **argv = calloc((size_t)ntables + 8, sizeof *argv);
    if (argv == NULL)
        return NULL;
    int k = 0;
    argv[k++] = (char *)o->remote_command;
    argv[k++] = "refresh";
    argv[k++] = "--cut";
    argv[k++] = (char *)cut;
    argv[k++] = (char *)o->remote_mountpoint;
    for (int i = 0; i < ntables; i++) {
        char *q = malloc(strlen(db) + strlen(names[i]) + 2);
        if (q != NULL)
            sprintf(q, "%s/%s", db, names[i]);
        argv[k++] = q;
    }
    return argv;
}

static void free_remote_argv(char **argv, int ntables)
{
    for (int i = 0; argv != NULL && i < ntables; i++)
        free(argv[5 + i]);
    free(argv);
}

/* Under the lock: the cut's id, the hosts, the refreshes. */
static cd_code cut_locked(PGconn *conn, const cd_cluster_opts *o, char names[][400], int ntables,
                          FILE *out, cd_err *err)
{
    static host_run hosts[MAX_HOSTS];
    char cut[128], db[128];
    int n = 0;
    memset(hosts, 0, sizeof hosts);
    cd_code rc = one_value(conn, "name the cut",
                           "SELECT (SELECT system_identifier FROM pg_control_system())::text || "
                           "'-' || pg_current_xact_id()::text",
                           NULL, cut, sizeof cut, err);
    if (rc == CD_OK)
        rc = one_value(conn, "read the database name", "SELECT current_database()", NULL, db,
                       sizeof db, err);
    for (int i = 0; rc == CD_OK && i < ntables; i++)
        rc = add_hosts(conn, names[i], hosts, &n, err);
    if (rc != CD_OK)
        return rc;
    char **argv = remote_argv(o, cut, db, names, ntables);
    if (argv == NULL || argv[4 + ntables] == NULL) {
        free_remote_argv(argv, ntables);
        return cd_fail(err, CD_ENOMEM, "out of memory");
    }
    fprintf(out, "cut %s: %d table(s) on %d host(s)\n", cut, ntables, n);
    int failed = refresh_hosts(o, hosts, n, argv, out, err);
    for (int i = 0; i < n; i++)
        if (hosts[i].out != NULL)
            fclose(hosts[i].out);
    free_remote_argv(argv, ntables);
    if (failed == 0)
        return CD_OK;
    char detail[sizeof err->detail];
    snprintf(detail, sizeof detail, "%s", err->detail);
    cd_fail(err, CD_EIO, "cut %s is incomplete: %d of %d host(s) could not refresh", cut, failed,
            n);
    cd_detail(err, "%s", detail);
    return cd_hint(err, "the other hosts did take the new snapshot; fix the host, then run "
                        "`cerebro-ds refresh --cluster` again");
}

cd_code cd_cmd_refresh_cluster(const cd_cluster_opts *o, char *const *tables, int ntables,
                               FILE *out, cd_err *err)
{
    char(*names)[400] = calloc((size_t)ntables + 1, sizeof *names);
    if (names == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    PGconn *conn = PQconnectdb(o->coordinator);
    cd_code rc = CD_OK;
    if (PQstatus(conn) != CONNECTION_OK) {
        rc = cd_fail(err, CD_EDB, "could not connect to the coordinator");
        cd_detail(err, "%s", PQerrorMessage(conn));
        cd_hint(err, "set [cluster] coordinator (or [database] conninfo) in the configuration");
    }
    bool citus = false;
    if (rc == CD_OK)
        rc = cd_citus_session(conn, &citus, err);
    if (rc == CD_OK && !citus)
        rc = cd_fail(err, CD_EINVAL, "the coordinator's database has no citus extension");
    for (int i = 0; rc == CD_OK && i < ntables; i++)
        rc = resolve(conn, tables[i], names[i], sizeof names[i], err);
    char sql[8192];
    int len = snprintf(sql, sizeof sql, "LOCK TABLE ");
    for (int i = 0; i < ntables && len < (int)sizeof sql; i++)
        len += snprintf(sql + len, sizeof sql - (size_t)len, "%s%s", i ? ", " : "", names[i]);
    snprintf(sql + len, sizeof sql - (size_t)len, " IN EXCLUSIVE MODE");
    char timeout[64];
    snprintf(timeout, sizeof timeout, "SET lock_timeout = '%ds'", o->lock_timeout);
    double t0 = cd_monotonic_s(), t1 = t0;
    if (rc == CD_OK)
        rc = cd_pg_exec(conn, timeout, err);
    if (rc == CD_OK)
        rc = cd_pg_exec(conn, "BEGIN", err);
    if (rc == CD_OK && (rc = cd_pg_exec(conn, sql, err)) != CD_OK)
        cd_hint(err, "a writer held the table longer than [cluster] lock_timeout (%d s)",
                o->lock_timeout);
    t1 = cd_monotonic_s();
    bool locked = rc == CD_OK;
    if (rc == CD_OK)
        rc = cut_locked(conn, o, names, ntables, out, err);
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, rc == CD_OK ? "COMMIT" : "ROLLBACK"));
    double t2 = cd_monotonic_s();
    if (locked)
        fprintf(out, "lock: waited %.3f s for writers, held %.3f s (writers waited at most that)\n",
                t1 - t0, t2 - t1);
    PQfinish(conn);
    free(names);
    return rc;
}
