/*
 * doctor.c: cerebro-ds doctor: is this host ready to run cerebro-ds-fuse with this
 * configuration? One line per check, "ok", "warn" (passes, with a caveat), "FAIL" or "skip"
 * (not checked because an earlier check failed), with what to do; last a summary line.
 * Checked as the user who runs it, so run it as the daemon's user (root under systemd).
 * Does not: mount, pin, lock or change anything: it opens files O_RDONLY and runs only
 * SELECTs (no CHECKPOINT: the privilege is read from the catalog).
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "fsutil.h"

typedef enum { DOC_OK, DOC_WARN, DOC_FAIL, DOC_SKIP } doc_status;

typedef struct doctor {
    FILE *out;
    int count[4];
} doctor;

/* One check's line: "STATUS  check: what[; fix: ...]". Newlines in what become blanks. */
static void say(doctor *d, doc_status st, const char *check, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void say(doctor *d, doc_status st, const char *check, const char *fix, const char *fmt, ...)
{
    static const char *const names[] = {"ok", "warn", "FAIL", "skip"};
    char what[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    for (char *c = what; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
    size_t n = strlen(what);
    while (n > 0 && what[n - 1] == ' ')
        what[--n] = '\0';
    fprintf(d->out, "%-4s  %s: %s%s%s\n", names[st], check, what,
            fix != NULL && st != DOC_OK ? "; fix: " : "", fix != NULL && st != DOC_OK ? fix : "");
    fflush(d->out);
    d->count[st]++;
}

/* ---- the host ---- */

static void check_fuse_device(doctor *d)
{
    const char *check = "fuse-device";
    struct stat st;
    if (stat("/dev/fuse", &st) != 0 || !S_ISCHR(st.st_mode))
        return say(d, DOC_FAIL, check,
                   "load the module (modprobe fuse); in a container, pass the device through",
                   "/dev/fuse %s", errno == ENOENT ? "does not exist" : "is not a device");
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return say(d, DOC_FAIL, check,
                   "run the daemon as root, or give its user read-write access to /dev/fuse",
                   "cannot open /dev/fuse read-write: %s", strerror(errno));
    close(fd);
    say(d, DOC_OK, check, NULL, "/dev/fuse opens read-write");
}

/* The first executable name in PATH (or the usual directories) into buf. */
static bool find_program(const char *name, char *buf, size_t size)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/bin:/bin:/usr/sbin:/sbin", path ? path : "");
    char *save = NULL;
    for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        snprintf(buf, size, "%s/%s", dir, name);
        if (access(buf, X_OK) == 0)
            return true;
    }
    return false;
}

static void check_fusermount(doctor *d)
{
    const char *check = "fusermount3";
    char path[4096];
    struct stat st;
    if (!find_program("fusermount3", path, sizeof path))
        return say(d, DOC_FAIL, check, "install fuse3 (apt-get install fuse3, dnf install fuse3)",
                   "fusermount3 is not installed (it unmounts a mount left by a killed daemon)");
    if (geteuid() != 0 && (stat(path, &st) != 0 || st.st_uid != 0 || !(st.st_mode & S_ISUID)))
        return say(d, DOC_FAIL, check, "reinstall fuse3, or run the daemon as root",
                   "%s is not setuid root, so a non-root daemon cannot mount", path);
    say(d, DOC_OK, check, NULL, "%s", path);
}

/* allow_other by a non-root daemon needs user_allow_other in /etc/fuse.conf. */
static void check_allow_other(doctor *d, const cd_config *cfg)
{
    if (!cd_config_bool(cfg->mount_allow_other) || geteuid() == 0)
        return;
    char *text = NULL;
    cd_err err = {0};
    bool allowed = false;
    if (cd_read_file("/etc/fuse.conf", &text, NULL, &err) == CD_OK)
        for (char *line = strtok(text, "\n"); line && !allowed; line = strtok(NULL, "\n"))
            allowed = strcmp(line, "user_allow_other") == 0;
    free(text);
    if (!allowed)
        return say(d, DOC_FAIL, "allow-other", "add a line user_allow_other to /etc/fuse.conf",
                   "allow_other = true, but /etc/fuse.conf does not allow it to non-root users");
    say(d, DOC_OK, "allow-other", NULL, "/etc/fuse.conf has user_allow_other");
}

/* ---- the configuration ---- */

static bool check_config(doctor *d, const char *path, cd_config *cfg)
{
    const char *check = "config";
    cd_err err = {0};
    if (cd_config_init(cfg, &err) != CD_OK) {
        say(d, DOC_FAIL, check, NULL, "%s", err.msg);
        return false;
    }
    if (path == NULL) {
        say(d, DOC_FAIL, check,
            "create " CD_CONFIG_DEFAULT_PATH " (see cerebro-ds.conf(5)) or pass --config FILE",
            "no configuration file: " CD_CONFIG_DEFAULT_PATH " does not exist");
        return false;
    }
    if (cd_config_load(cfg, path, &err) != CD_OK) {
        say(d, DOC_FAIL, check, err.hint[0] ? err.hint : "correct the file", "%s%s%s", err.msg,
            err.detail[0] ? ": " : "", err.detail);
        return false;
    }
    if (cfg->mount_tables[0] == '\0' && cfg->mount_schemas[0] == '\0' && cfg->ntables == 0) {
        say(d, DOC_FAIL, check, "set [mount] tables = schema.table, ... or schemas = ...",
            "%s parses, but names nothing to serve", path);
        return false;
    }
    say(d, DOC_OK, check, NULL, "%s parses", path);
    return true;
}

/* ---- the database ---- */

/* A connection that gives up after 10 s (unless conninfo says otherwise). */
static PGconn *connect_db(const char *conninfo)
{
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {"10", "cerebro-ds doctor", conninfo, NULL};
    return PQconnectdbParams(keys, values, 1);
}

/* The first row's first column of a query with up to 2 text parameters, into buf. */
static bool sql_value(PGconn *conn, const char *sql, const char *p1, const char *p2, char *buf,
                      size_t size)
{
    const char *params[2] = {p1, p2};
    int n = p2 ? 2 : p1 ? 1 : 0;
    PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0);
    if (ok)
        snprintf(buf, size, "%s", PQgetvalue(r, 0, 0));
    else
        snprintf(buf, size, "%s",
                 PQresultStatus(r) == PGRES_TUPLES_OK ? "no row" : PQerrorMessage(conn));
    PQclear(r);
    buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

static PGconn *check_database(doctor *d, const char *conninfo, const char *label)
{
    char check[128], version[64];
    snprintf(check, sizeof check, "database %s", label);
    PGconn *conn = connect_db(conninfo);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", conn ? PQerrorMessage(conn) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        say(d, DOC_FAIL, check,
            "start the server, or correct [database] conninfo (and pg_hba.conf for this host)",
            "could not connect (conninfo \"%s\"): %s", conninfo, msg);
        PQfinish(conn);
        return NULL;
    }
    int v = PQserverVersion(conn);
    snprintf(version, sizeof version, "%d.%d", v / 10000, v % 10000);
    say(d, v / 10000 == 15 ? DOC_OK : DOC_WARN, check,
        "cerebro-ds is built and tested for PostgreSQL 15 heap files",
        "%s answers as role %s (PostgreSQL %s)", PQdb(conn), PQuser(conn), version);
    return conn;
}

/* The problems of check_select: how many, the first few as text. */
typedef struct problems {
    int n;
    char text[1024];
} problems;

static void problem(problems *pr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(problems *pr, const char *fmt, ...)
{
    if (pr->n++ >= 4)
        return;
    size_t len = strlen(pr->text);
    if (len > 0)
        len += (size_t)snprintf(pr->text + len, sizeof pr->text - len, ", ");
    va_list ap;
    va_start(ap, fmt);
    if (len < sizeof pr->text)
        vsnprintf(pr->text + len, sizeof pr->text - len, fmt, ap);
    va_end(ap);
}

/* SELECT on one configured table. */
static void check_table(PGconn *conn, const char *table, problems *pr)
{
    char v[512];
    if (!sql_value(conn, "SELECT has_table_privilege(to_regclass($1), 'SELECT')", table, NULL, v,
                   sizeof v))
        problem(pr, "%s: does not exist", table);
    else if (strcmp(v, "t") != 0)
        problem(pr, "%s: no SELECT", table);
}

/* SELECT on the tables of one schema; the number of its tables. */
static int check_schema(PGconn *conn, const char *schema, problems *pr)
{
    char v[512];
    int bad = 0, all = 0;
    if (!sql_value(conn,
                   "SELECT count(*) FILTER (WHERE NOT has_table_privilege(c.oid, 'SELECT')) "
                   "|| ' ' || count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                   "c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') "
                   "AND NOT c.relispartition",
                   schema, NULL, v, sizeof v))
        problem(pr, "schema %s: %s", schema, v);
    else if (sscanf(v, "%d %d", &bad, &all) == 2 && bad > 0)
        problem(pr, "schema %s: no SELECT on %d of its %d tables", schema, bad, all);
    return all;
}

/* SELECT on every table of [mount] tables and [table] sections, and of every schema. */
static void check_select(doctor *d, PGconn *conn, const cd_config *cfg, const char *label)
{
    char check[128], item[320], q[320];
    snprintf(check, sizeof check, "select %s", label);
    problems pr = {0};
    int ntables = 0;
    for (const char *p = cfg->mount_tables; cd_config_next_item(&p, item, sizeof item); ntables++)
        check_table(conn, cd_config_qualify(item, q, sizeof q) ? q : item, &pr);
    for (int i = 0; i < cfg->ntables; i++, ntables++)
        check_table(conn, cfg->tables[i].name, &pr);
    for (const char *p = cfg->mount_schemas; cd_config_next_item(&p, item, sizeof item);)
        ntables += check_schema(conn, item, &pr);
    if (pr.n > 0)
        return say(d, DOC_FAIL, check, "GRANT SELECT ON <table> TO <role> (or correct the names)",
                   "%d problem(s) for role %s: %s%s", pr.n, PQuser(conn), pr.text,
                   pr.n > 4 ? ", ..." : "");
    say(d, DOC_OK, check, NULL, "role %s may SELECT the %d configured table(s)", PQuser(conn),
        ntables);
}

/* A privilege of the connection's role, asked with a query that returns one bool. */
static void check_role_may(doctor *d, PGconn *conn, const char *check, const char *sql,
                           const char *what, const char *fix)
{
    char v[512];
    bool ok = sql_value(conn, sql, NULL, NULL, v, sizeof v);
    if (!ok || strcmp(v, "t") != 0)
        return say(d, DOC_FAIL, check, fix, "role %s may not %s%s%s", PQuser(conn), what,
                   ok ? "" : ": ", ok ? "" : v);
    say(d, DOC_OK, check, NULL, "role %s may %s", PQuser(conn), what);
}

static void check_checkpoint(doctor *d, PGconn *conn)
{
    check_role_may(d, conn, "checkpoint",
                   "SELECT rolsuper OR pg_has_role(current_user, 'pg_checkpoint', 'MEMBER') "
                   "FROM pg_roles WHERE rolname = current_user",
                   "run CHECKPOINT (every pin flushes the pages it reads)",
                   "GRANT pg_checkpoint TO <role>");
}

static void check_pg_control(doctor *d, PGconn *conn)
{
    check_role_may(
        d, conn, "pg-control",
        "SELECT has_function_privilege('pg_control_init()', 'EXECUTE') AND "
        "has_function_privilege('pg_control_checkpoint()', 'EXECUTE')",
        "call pg_control_init() and pg_control_checkpoint()",
        "GRANT EXECUTE ON FUNCTION pg_control_init(), pg_control_checkpoint() TO <role>");
}

static void check_datadir(doctor *d, PGconn *conn, const cd_config *cfg)
{
    const char *check = "datadir";
    char dir[4096], v[512], path[4096];
    if (cfg->database_datadir[0] != '\0')
        snprintf(dir, sizeof dir, "%s", cfg->database_datadir);
    else if (!sql_value(conn, "SELECT current_setting('data_directory')", NULL, NULL, dir,
                        sizeof dir))
        return say(d, DOC_FAIL, check,
                   "set [database] datadir, or GRANT pg_read_all_settings TO <role>",
                   "the data directory is not configured and SHOW data_directory failed: %s", dir);
    const char *fix = "run the daemon as the data directory's owner (postgres) or as root, or "
                      "initdb --allow-group-access and add the daemon's user to its group";
    uint64_t id = 0;
    int e = cd_datadir_system_id(dir, &id);
    if (e != 0)
        return say(d, DOC_FAIL, check, e == EACCES ? fix : "correct [database] datadir",
                   "cannot read %s/global/pg_control: %s", dir, strerror(e));
    char sysid[32];
    snprintf(sysid, sizeof sysid, "%llu", (unsigned long long)id);
    if (sql_value(conn, "SELECT system_identifier::text FROM pg_control_system()", NULL, NULL, v,
                  sizeof v) &&
        strcmp(v, sysid) != 0)
        return say(d, DOC_FAIL, check, "correct [database] datadir",
                   "%s belongs to another cluster (system identifier %s, the server's is %s)", dir,
                   sysid, v);
    if (!sql_value(conn, "SELECT oid::text FROM pg_database WHERE datname = current_database()",
                   NULL, NULL, v, sizeof v))
        return say(d, DOC_FAIL, check, NULL, "could not read the database's oid: %s", v);
    static const char *const subdirs[] = {"base/%s", "pg_xact", "pg_multixact/offsets"};
    for (int i = 0; i < 3; i++) {
        char sub[64];
        snprintf(sub, sizeof sub, subdirs[i], v);
        snprintf(path, sizeof path, "%s/%s", dir, sub);
        if (access(path, R_OK | X_OK) != 0)
            return say(d, DOC_FAIL, check, errno == EACCES ? fix : "correct [database] datadir",
                       "cannot read %s: %s", path, strerror(errno));
    }
    say(d, DOC_OK, check, NULL, "%s is readable (pg_control, base/%s, pg_xact, pg_multixact)", dir,
        v);
}

static void check_geometry(doctor *d, PGconn *conn)
{
    char v[512];
    if (!sql_value(conn,
                   "SELECT database_block_size || ' ' || data_page_checksum_version "
                   "FROM pg_control_init()",
                   NULL, NULL, v, sizeof v))
        return say(d, DOC_SKIP, "geometry", "see the pg-control check",
                   "could not read pg_control_init(): %s", v);
    unsigned blcksz = 0, checksums = 0;
    sscanf(v, "%u %u", &blcksz, &checksums);
    say(d, checksums ? DOC_OK : DOC_WARN, "geometry",
        "pages cannot be verified: enable checksums (pg_checksums --enable, server stopped)",
        "block size %u, data checksums %s", blcksz, checksums ? "on" : "off");
}

/* ---- the mount point and memory ---- */

static void check_mountpoint(doctor *d, const char *mp)
{
    const char *check = "mountpoint";
    struct statfs sfs;
    struct stat st;
    char real[4096], type[256];
    if (statfs(mp, &sfs) != 0 && (errno == ENOTCONN || errno == ECONNABORTED))
        return say(d, DOC_WARN, check,
                   "cerebro-ds-fuse unmounts it at start, or: fusermount3 -u -z",
                   "%s is a stale mount (its daemon died)", mp);
    if (stat(mp, &st) != 0)
        return say(d, DOC_FAIL, check, errno == ENOENT ? "create it: mkdir -p <mountpoint>" : NULL,
                   "%s: %s", mp, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return say(d, DOC_FAIL, check, "point [mount] mountpoint at a directory",
                   "%s is not a directory", mp);
    if (realpath(mp, real) != NULL && cd_mount_lookup(real, type, sizeof type, NULL, 0)) {
        if (strcmp(type, "fuse.cerebro-ds") == 0)
            return say(d, DOC_OK, check, NULL, "%s is mounted by a running cerebro-ds-fuse", mp);
        return say(d, DOC_FAIL, check, "choose another [mount] mountpoint, or unmount it",
                   "%s is already a mount point of another file system (%s)", mp, type);
    }
    say(d, DOC_OK, check, NULL, "%s is a directory, nothing mounted there", mp);
}

/* MemAvailable of /proc/meminfo, in MiB (0 when unknown). */
static uint64_t mem_available_mb(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb / 1024;
}

static void check_memory(doctor *d, const cd_config *cfg)
{
    uint64_t want = cd_config_uint(cfg->mount_cache_mb), have = mem_available_mb();
    char fix[128];
    snprintf(fix, sizeof fix, "lower [mount] cache_mb to at most %llu, or free memory",
             (unsigned long long)have);
    if (have == 0)
        return say(d, DOC_WARN, "memory", "check free memory by hand",
                   "cannot read MemAvailable from /proc/meminfo (cache_mb = %llu)",
                   (unsigned long long)want);
    say(d, want <= have ? DOC_OK : DOC_FAIL, "memory", fix,
        "cache_mb = %llu MiB, %llu MiB available", (unsigned long long)want,
        (unsigned long long)have);
}

static void check_cache_dir(doctor *d, const cd_config *cfg)
{
    const char *dir = cfg->mount_cache_dir;
    if (dir[0] == '\0')
        return;
    struct statvfs sv;
    if (access(dir, R_OK | W_OK | X_OK) != 0 || statvfs(dir, &sv) != 0)
        return say(d, DOC_FAIL, "cache-dir",
                   errno == ENOENT ? "create it (the tmpfiles.d entry of the package does)"
                                   : "give the daemon's user write access to it",
                   "%s: %s", dir, strerror(errno));
    uint64_t free_mb = (uint64_t)sv.f_bavail * sv.f_frsize / (1024 * 1024);
    uint64_t want = cd_config_uint(cfg->mount_cache_dir_mb);
    say(d, want <= free_mb ? DOC_OK : DOC_FAIL, "cache-dir",
        "lower [mount] cache_dir_mb, or free space there",
        "%s is writable, %llu MiB free (cache_dir_mb = %llu%s)", dir, (unsigned long long)free_mb,
        (unsigned long long)want, want == 0 ? ": no bound" : "");
}

/* ---- all of it ---- */

/* The checks that need a connection to one database. */
static void check_one_database(doctor *d, const cd_config *cfg, const char *conninfo,
                               const char *label, bool first)
{
    PGconn *conn = check_database(d, conninfo, label);
    if (conn == NULL) {
        static const char *const needs_db[] = {"select", "checkpoint", "pg-control", "datadir",
                                               "geometry"};
        for (int i = 0; i < (first ? 5 : 1); i++)
            say(d, DOC_SKIP, needs_db[i], "see the database check", "not checked: no connection");
        return;
    }
    check_select(d, conn, cfg, label);
    if (first) {
        check_checkpoint(d, conn);
        check_pg_control(d, conn);
        check_datadir(d, conn, cfg);
        check_geometry(d, conn);
    }
    PQfinish(conn);
}

/* The dbname of conninfo (the name of its directory in the mount), or "(default)". */
static void dbname_of(const char *conninfo, char *buf, size_t size)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    snprintf(buf, size, "(default)");
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, "dbname") == 0 && o->val != NULL && o->val[0] != '\0')
            snprintf(buf, size, "%s", o->val);
    PQconninfoFree(opts);
}

static void check_databases(doctor *d, const cd_config *cfg)
{
    char label[128];
    dbname_of(cfg->database_conninfo, label, sizeof label);
    check_one_database(d, cfg, cfg->database_conninfo, label, true);
    char name[128];
    const char *p = cfg->database_databases;
    while (cd_config_next_item(&p, name, sizeof name)) {
        cd_err err = {0};
        char *ci = cd_conninfo_with_db(cfg->database_conninfo, name, &err);
        if (ci == NULL) {
            say(d, DOC_FAIL, "database", NULL, "%s", err.msg);
            continue;
        }
        check_one_database(d, cfg, ci, name, false);
        free(ci);
    }
}

/* --conninfo or --datadir (value, NULL: not given) over the file's [database] key; false (a
 * failed check) when the value is refused. */
static bool override(doctor *d, cd_config *cfg, const char *key, const char *value)
{
    cd_err err = {0};
    if (value == NULL || cd_config_set(cfg, "database", key, value, &err) == CD_OK)
        return true;
    say(d, DOC_FAIL, "config", NULL, "--%s: %s", key, err.msg);
    return false;
}

int cd_cmd_doctor(const char *config_path, const char *conninfo, const char *datadir, FILE *out)
{
    doctor d = {.out = out};
    cd_config cfg = {0};
    check_fuse_device(&d);
    check_fusermount(&d);
    bool loaded = check_config(&d, config_path, &cfg);
    loaded = loaded && override(&d, &cfg, "conninfo", conninfo) &&
             override(&d, &cfg, "datadir", datadir);
    if (loaded) {
        check_allow_other(&d, &cfg);
        check_databases(&d, &cfg);
        check_mountpoint(&d, cfg.mount_mountpoint);
        check_memory(&d, &cfg);
        check_cache_dir(&d, &cfg);
    } else {
        say(&d, DOC_SKIP, "database", "see the config check", "not checked: no configuration");
    }
    cd_config_free(&cfg);
    int bad = d.count[DOC_FAIL] + d.count[DOC_SKIP];
    fprintf(out, "doctor: %d checks, %d ok, %d warn, %d failed, %d skipped: %s\n",
            d.count[0] + d.count[1] + d.count[2] + d.count[3], d.count[DOC_OK], d.count[DOC_WARN],
            d.count[DOC_FAIL], d.count[DOC_SKIP], bad == 0 ? "ready" : "NOT ready");
    return bad;
}
