/*
 * test_config.c: the configuration file: defaults, keys, [table] sections, value checks,
 * errors with file:line, --print-config output, list and value helpers.
 */
#include <unistd.h>

#include "config.h"
#include "unit.h"

/* Write text[n] to a temporary file; its path goes to path (size 64). */
static void write_conf(char *path, const char *text, size_t n)
{
    snprintf(path, 64, "/tmp/cd-test-config-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, text, n) == (ssize_t)n);
    close(fd);
}

/* Load text[n] as a file; returns the code, err filled. */
static cd_code load_bytes(cd_config *c, const char *text, size_t n, cd_err *err, char *path)
{
    write_conf(path, text, n);
    cd_code rc = cd_config_load(c, path, err);
    unlink(path);
    return rc;
}

static cd_code load_text(cd_config *c, const char *text, cd_err *err, char *path)
{
    return load_bytes(c, text, strlen(text), err, path);
}

static void test_defaults(void)
{
    cd_config c;
    cd_err err = {0};
    CHECK_CODE(cd_config_init(&c, &err), CD_OK, &err);
    CHECK(strcmp(c.mount_mountpoint, "/mnt/cerebro-ds") == 0);
    CHECK(strcmp(c.mount_cache_mb, "1024") == 0);
    CHECK(strcmp(c.database_verify, "count") == 0);
    CHECK(!cd_config_bool(c.mount_allow_other));
    CHECK_EQ_INT(c.ntables, 0);
    cd_config_free(&c);
}

static void test_load_keys_and_tables(void)
{
    cd_config c;
    cd_err err = {0};
    char path[64];
    cd_config_init(&c, &err);
    const char *text = "[database]\nconninfo = dbname=x\ndatabases = a, b\n"
                       "[mount]\ntables = s.t1, t2\ncache_mb = 16\nallow_other = yes\n"
                       "role_map = alice:analyst, bob:reader\n"
                       "[table s.t1]\nshards = blocks:4\ncolumns = x, y\n"
                       "[table t2]\nshards = partitions\n";
    CHECK_CODE(load_text(&c, text, &err, path), CD_OK, &err);
    CHECK(strcmp(c.database_conninfo, "dbname=x") == 0);
    CHECK(strcmp(c.mount_cache_mb, "16") == 0);
    CHECK(cd_config_bool(c.mount_allow_other));
    CHECK_EQ_INT(c.ntables, 2);
    const cd_config_table *t = cd_config_table_find(&c, "s.t1");
    CHECK(t != NULL && strcmp(t->shards, "blocks:4") == 0 && strcmp(t->columns, "x, y") == 0);
    CHECK(t != NULL && cd_config_block_shards(t->shards) == 4);
    t = cd_config_table_find(&c, "public.t2");
    CHECK(t != NULL && strcmp(t->shards, "partitions") == 0 && t->columns[0] == '\0');
    CHECK(cd_config_table_find(&c, "t2") == t);
    CHECK(cd_config_table_find(&c, "s.t3") == NULL);
    cd_config_free(&c);
}

/* An error names file:line and the key or value. */
static void check_bytes_error(const char *text, size_t n, int line, const char *want)
{
    cd_config c;
    cd_err err = {0};
    char path[64], at[96];
    cd_config_init(&c, &err);
    CHECK_CODE(load_bytes(&c, text, n, &err, path), CD_EINVAL, &err);
    snprintf(at, sizeof at, "%s:%d: ", path, line);
    if (strstr(err.msg, at) == NULL || strstr(err.msg, want) == NULL)
        fprintf(stderr, "got \"%s\", want \"%s%s\"\n", err.msg, at, want);
    CHECK(strstr(err.msg, at) == err.msg);
    CHECK(strstr(err.msg, want) != NULL);
    cd_config_free(&c);
}

static void check_error(const char *text, int line, const char *want)
{
    check_bytes_error(text, strlen(text), line, want);
}

static void test_errors(void)
{
    check_error("[database]\nconninfo = x\nbogus = 1\n", 3,
                "unknown key \"bogus\" in section "
                "database");
    check_error("[nosuch]\na = 1\n", 2, "unknown section [nosuch]");
    check_error("[mount]\n\ncache_mb = lots\n", 3, "invalid value \"lots\" for cache_mb");
    check_error("[mount]\ncache_mb = 0\n", 2, "expected a positive number of MiB");
    check_error("[mount]\nallow_other = maybe\n", 2, "expected true or false");
    check_error("[mount]\nshards = blocks:0\n", 2, "invalid value \"blocks:0\" for shards");
    check_error("[mount]\nshards = rows\n", 2, "partitions, segments or blocks:N");
    check_error("[mount]\nlog_level = loud\n", 2, "error, warning, info or debug");
    check_error("[mount]\nrole_map = alice\n", 2, "user:role");
    check_error("[mount]\nthreads = 0\n", 2, "for threads");
    check_error("[table s.t]\nshards = blocks:2\nsize = 3\n", 3,
                "unknown key \"size\" in section table");
    check_error("[table]\nshards = blocks:2\n", 2, "needs a name");
    check_error("[database]\nthis is not ini\n", 2, "syntax error");
    /* lines inih would misread, refused: the rest of a line after a NUL byte was dropped
     * (tables a,b served, not c); of a line of 199 characters, inih read the rest as a line
     * of its own (cache_mb set by a comment) */
    static const char nul[] = "[mount]\ntables = a,b\0,c\ncache_mb = 64\n";
    check_bytes_error(nul, sizeof nul - 1, 2, "line holds a NUL byte");
    char text[300];
    snprintf(text, sizeof text, "[mount]\n#%0198dcache_mb = 1\n", 0);
    check_error(text, 2, "line longer than 198 characters");
    /* an indented line after a key: inih passes it as the key's next value, which replaced
     * the line above (tables = b, not a and b) */
    check_error("[mount]\ntables = a,\n  b\n", 3, "indented line continues [mount] tables");
    check_error("[mount]\ntables = a\rb\n", 2, "control character (0x0d)");
    /* ssh_command: {host} inside a word reached a host named "root@{host}" */
    check_error("[cluster]\nssh_command = ssh root@{host} {command}\n", 2,
                "{host} and {command} as words of their own");
    check_error("[cluster]\nssh_command = ssh {host}\n", 2, "as words of their own");
    check_error("[cluster]\nssh_command = ssh {host} sh -c {command}x\n", 2,
                "as words of their own");
    check_error("[mount]\ncache_mb = 512\n\t100\n", 3, "indented line continues [mount] cache_mb");
    snprintf(text, sizeof text, "[mount]\n#%0197d\ncache_mb = 1\n", 0); /* 198: read whole */
    cd_config c;
    cd_err err = {0};
    char path[64];
    cd_config_init(&c, &err);
    CHECK_CODE(load_text(&c, text, &err, path), CD_OK, &err);
    CHECK(strcmp(c.mount_cache_mb, "1") == 0);
    cd_config_free(&c);
    /* a table name of more than 49 characters: inih cut the section's name, and the table's
     * keys went to a table of another name */
    char name[80];
    snprintf(name, sizeof name, "s.%060d", 7);
    snprintf(text, sizeof text, "[table %s]\nshards = blocks:3\n", name);
    cd_config_init(&c, &err);
    CHECK_CODE(load_text(&c, text, &err, path), CD_OK, &err);
    const cd_config_table *t = cd_config_table_find(&c, name);
    CHECK(t != NULL && strcmp(t->shards, "blocks:3") == 0);
    cd_config_free(&c);
    /* an indented "[...]" after a key continues its value (inih), it names no section: it is
     * refused as such (it was accepted, tables read as "[table x]") */
    check_error("[mount]\ntables = a,\n  [table x]\ncache_mb = 5\n", 3,
                "indented line continues [mount] tables");
}

static void test_set(void)
{
    cd_config c;
    cd_err err = {0};
    cd_config_init(&c, &err);
    CHECK_CODE(cd_config_set(&c, NULL, "cache_mb", "64", &err), CD_OK, &err);
    CHECK(strcmp(c.mount_cache_mb, "64") == 0);
    CHECK_CODE(cd_config_set(&c, "mount", "cache_mb", "x", &err), CD_EINVAL, &err);
    CHECK(strcmp(c.mount_cache_mb, "64") == 0); /* a bad value changes nothing */
    CHECK_CODE(cd_config_set(&c, NULL, "nosuch", "1", &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "unknown key \"nosuch\"") != NULL);
    CHECK_CODE(cd_config_set(&c, "database", "cache_mb", "1", &err), CD_EINVAL, &err);
    /* a control character: a newline would print as a line of its own */
    CHECK_CODE(cd_config_set(&c, NULL, "tables", "a\ncache_mb = 1", &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "the value of tables holds a control character (0x0a)") != NULL);
    CHECK_CODE(cd_config_set(&c, NULL, "log_file", "/tmp/a\x7f", &err), CD_EINVAL, &err);
    CHECK_CODE(cd_config_set(&c, NULL, "tables", "a,\tb", &err), CD_OK, &err); /* a blank */
    CHECK_CODE(cd_config_set(&c, "table  a.b ", "shards", "blocks:3", &err), CD_OK, &err);
    CHECK(cd_config_table_find(&c, "a.b") != NULL);
    cd_config_free(&c);
}

static void test_print(void)
{
    cd_config c;
    cd_err err = {0};
    cd_config_init(&c, &err);
    cd_config_set(&c, "table x", "columns", "id", &err);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cd_config_print(f, &c);
    fclose(f);
    CHECK(strstr(buf, "[database]\nconninfo = \n") == buf);
    CHECK(strstr(buf, "\n[mount]\nmountpoint = /mnt/cerebro-ds\n") != NULL);
    CHECK(strstr(buf, "\n[table public.x]\nshards = \ncolumns = id\n") != NULL);
    free(buf);
    cd_config_free(&c);
}

static void test_helpers(void)
{
    const char *p = " a.b , c,,  d e  ,";
    char item[8];
    CHECK(cd_config_next_item(&p, item, sizeof item) && strcmp(item, "a.b") == 0);
    CHECK(cd_config_next_item(&p, item, sizeof item) && strcmp(item, "c") == 0);
    CHECK(cd_config_next_item(&p, item, sizeof item) && strcmp(item, "d e") == 0);
    CHECK(!cd_config_next_item(&p, item, sizeof item));
    p = "";
    CHECK(!cd_config_next_item(&p, item, sizeof item));
    char q[16];
    CHECK(cd_config_qualify("t", q, sizeof q) && strcmp(q, "public.t") == 0);
    CHECK(cd_config_qualify("s.t", q, sizeof q) && strcmp(q, "s.t") == 0);
    CHECK(!cd_config_qualify("a_very_long_name", q, sizeof q));
    CHECK_EQ_INT(cd_config_block_shards("blocks:12"), 12);
    CHECK_EQ_INT(cd_config_block_shards("partitions"), 0);
    CHECK_EQ_INT(cd_config_uint("1024"), 1024);
    CHECK(cd_config_bool("ON") && cd_config_bool("1") && !cd_config_bool("off"));
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_load_keys_and_tables);
    RUN(test_errors);
    RUN(test_set);
    RUN(test_print);
    RUN(test_helpers);
    return UNIT_DONE();
}
