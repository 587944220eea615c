/*
 * test_data_pg.c: unit tests for trainer/data_pg.c without a server: the password masking
 * of pg: specs (key=value words, quoted values, URIs, truncation), the spec checks that come
 * before any connection, and a connection failure that names the spec without the password.
 * tests/84-pgdata.bats runs the reads against a real PostgreSQL.
 */
#include <string.h>

#include "data_pg.h"
#include "unit.h"

static void check_mask(const char *spec, const char *want)
{
    char buf[512];
    cd_pg_mask(spec, buf, sizeof buf);
    CHECK(strcmp(buf, want) == 0);
    if (strcmp(buf, want) != 0)
        fprintf(stderr, "  mask(%s) = %s, expected %s\n", spec, buf, want);
}

static void test_mask(void)
{
    check_mask("pg:host=/tmp port=5 dbname=d#public.t#p0",
               "pg:host=/tmp port=5 dbname=d#public.t#p0");
    check_mask("pg:host=h password=s3 dbname=d#t", "pg:host=h password=*** dbname=d#t");
    check_mask("pg:password = s3#t", "pg:password = ***#t");
    check_mask("pg:password='a b\\' c' user=u#t", "pg:password=*** user=u#t");
    check_mask("pg:user=password dbname=password#t", "pg:user=password dbname=password#t");
    check_mask("pg:postgresql://bob:s3@h:5432/d?sslmode=off&password=s4#t",
               "pg:postgresql://bob:***@h:5432/d?sslmode=off&password=***#t");
    check_mask("pg:postgres://bob@h/d#t", "pg:postgres://bob@h/d#t");
    check_mask("pg:postgresql://h:5432/d?password=s3#t", "pg:postgresql://h:5432/d?password=***#t");
    check_mask("pg:#t", "pg:#t");
    check_mask("/mnt/cerebro-ds/db/public.t/part0", "/mnt/cerebro-ds/db/public.t/part0");
    char small[8];
    cd_pg_mask("pg:password=s3cret#t", small, sizeof small);
    CHECK(strlen(small) == 7 && strstr(small, "s3") == NULL);
}

static void test_spec(void)
{
    CHECK(cd_pg_is_spec("pg:#t") && !cd_pg_is_spec("/pg:x") && !cd_pg_is_spec(NULL));
    CHECK(!cd_pg_spec_has_shard("pg:dbname=d#public.t"));
    CHECK(cd_pg_spec_has_shard("pg:dbname=d#public.t#t_p0"));
    CHECK(!cd_pg_spec_has_shard("/a#b#c"));
}

static void test_bad_specs(void)
{
    static const char *const bad[] = {"pg:dbname=d", "pg:dbname=d#", "pg:dbname=d#t#"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cd_pg_session *s = NULL;
        cd_err err = {0};
        cd_npy x, y;
        char name[64], shown[256];
        cd_pg_dest dest = {name, sizeof name, shown, sizeof shown, &x, &y};
        CHECK_CODE(cd_pg_session_new(&s, &err), CD_OK, &err);
        CHECK_CODE(cd_pg_read_shard(s, bad[i], "x", "y", &dest, &err), CD_EINVAL, &err);
        CHECK(strstr(err.msg, "in data spec") != NULL && strstr(err.hint, "CONNINFO") != NULL);
        CHECK(x.data == NULL && y.data == NULL && x.fd == -1);
        cd_pg_session_close(&s);
        CHECK(s == NULL);
    }
    char **names = NULL;
    int n = -1;
    cd_err err = {0};
    CHECK_CODE(cd_pg_list_shards("pg:dbname=d", &names, &n, &err), CD_EINVAL, &err);
    CHECK(names == NULL && n == 0);
}

static void test_no_server(void)
{
    char **names = NULL;
    int n = -1;
    cd_err err = {0};
    const char *spec = "pg:host=/nonexistent-dir port=1 user=u password=pw99x dbname=d#t";
    CHECK_CODE(cd_pg_list_shards(spec, &names, &n, &err), CD_EDB, &err);
    CHECK(strstr(err.msg, "could not connect") != NULL);
    CHECK(strstr(err.msg, "password=***") != NULL);
    CHECK(strstr(err.msg, "pw99x") == NULL && strstr(err.detail, "pw99x") == NULL);
    CHECK(names == NULL && n == 0);
}

int main(void)
{
    RUN(test_mask);
    RUN(test_spec);
    RUN(test_bad_specs);
    RUN(test_no_server);
    return UNIT_DONE();
}
