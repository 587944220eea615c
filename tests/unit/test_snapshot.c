/*
 * test_snapshot.c: parsing pg_current_snapshot() text (cd_snapshot_parse, fuse/pg/xact.c):
 * xmin, xmax and the xip list with epochs, duplicates, a long list, and every malformed or
 * out-of-range form refused with CD_EINVAL and nothing allocated.
 */
#include <stdio.h>
#include <stdlib.h>

#include "unit.h"
#include "xact.h"

static void parse_ok(const char *text, cd_snapshot *s)
{
    cd_err err = {0};
    CHECK_CODE(cd_snapshot_parse(text, s, &err), CD_OK, &err);
}

static void expect_bad_snapshot(const char *text)
{
    cd_snapshot s;
    cd_err err = {0};
    CHECK_CODE(cd_snapshot_parse(text, &s, &err), CD_EINVAL, &err);
    CHECK(s.xip == NULL && s.nxip == 0);
}

static void test_snapshot_parse(void)
{
    cd_snapshot s;
    parse_ok("10:20:", &s);
    CHECK_EQ_INT(s.xmin, 10);
    CHECK_EQ_INT(s.xmax, 20);
    CHECK_EQ_INT(s.nxip, 0);
    cd_snapshot_free(&s);
    parse_ok("10:20:12,12,13\n", &s); /* duplicates dropped, trailing newline */
    CHECK_EQ_INT(s.nxip, 2);
    cd_snapshot_free(&s);
    parse_ok("8589934602:8589934700:8589934650", &s); /* epoch 2 */
    CHECK_EQ_INT(s.xmin, 10);
    CHECK_EQ_INT(s.xmax, 108);
    CHECK_EQ_INT(s.nxip, 1);
    CHECK_EQ_INT(s.xip[0], 58);
    cd_snapshot_free(&s);
    parse_ok("3:2147483650:", &s); /* widest span allowed */
    cd_snapshot_free(&s);

    char *big = malloc(5000 * 12 + 32);
    int n = sprintf(big, "10000:30000:");
    for (int i = 0; i < 5000; i++)
        n += sprintf(big + n, "%s%d", i ? "," : "", 10000 + 3 * i + (i % 2));
    parse_ok(big, &s);
    CHECK_EQ_INT(s.nxip, 5000);
    int sorted = 1;
    for (size_t i = 1; i < s.nxip; i++)
        sorted &= s.xip[i - 1] < s.xip[i];
    CHECK(sorted);
    CHECK_EQ_INT(s.xip[4999], 10000 + 3 * 4999 + 1);
    cd_snapshot_free(&s);
    free(big);

    const char *bad[] = {"",
                         "10",
                         "10:",
                         "10:20",
                         "a:20:",
                         "10:20:x",
                         "20:10:",
                         "10:20:5",
                         "10:20:20",
                         "10:20:15,12",
                         "10:20:12,",
                         "10:20:12,,13",
                         "10:20:12 13",
                         " 10:20:",
                         "-10:20:",
                         "10:20: 12",
                         "99999999999999999999:99999999999999999999:",
                         "3:2147483651:",
                         "4294967296:4294967300:",
                         "4294967290:4294967300:4294967296",
                         "10:20:12;13"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad_snapshot(bad[i]);
    cd_err err = {0};
    CHECK_CODE(cd_snapshot_parse(NULL, &s, &err), CD_EINVAL, &err);
    cd_snapshot_free(&s);
    cd_snapshot_free(NULL);
}

int main(void)
{
    RUN(test_snapshot_parse);
    return UNIT_DONE();
}
