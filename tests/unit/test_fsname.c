/*
 * test_fsname.c: database names as path components.
 */
#include "fsname.h"
#include "unit.h"

static void check(const char *name, const char *want)
{
    char buf[64];
    size_t n = cd_fsname(name, buf, sizeof buf);
    CHECK_EQ_INT(n, strlen(want));
    if (strcmp(buf, want) != 0)
        fprintf(stderr, "cd_fsname(\"%s\") = \"%s\", want \"%s\"\n", name, buf, want);
    CHECK(strcmp(buf, want) == 0);
}

static void test_names(void)
{
    check("x", "x");
    check("fashion_p0", "fashion_p0");
    check("a b.c-ü", "a b.c-ü");
    check("a/b", "a%2Fb");
    check("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd");
    check("100%", "100%25");
    check("%2F", "%252F");
    check(".", "%2E");
    check("..", "%2E.");
    check("...", "...");
    check("", "%");
}

static void test_small_buffer(void)
{
    char buf[4];
    CHECK_EQ_INT(cd_fsname("abc", buf, sizeof buf), 3);
    CHECK_EQ_INT(cd_fsname("abcd", buf, sizeof buf), 0);
    CHECK(buf[0] == '\0');
    CHECK_EQ_INT(cd_fsname("a/", buf, sizeof buf), 0);
}

int main(void)
{
    RUN(test_names);
    RUN(test_small_buffer);
    return UNIT_DONE();
}
