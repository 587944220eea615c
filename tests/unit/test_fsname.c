/*
 * test_fsname.c: database names as path components and as text in meta files and logs.
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
    /* no column's files can be named like another column's .valid.npy / .offsets.npy */
    check("x.valid", "x%2Evalid");
    check("x.offsets", "x%2Eoffsets");
    check("x.valid.y", "x.valid.y");
    check(".valid", ".valid");
    /* control characters: no newline in a file name */
    check("a\nb", "a%0Ab");
    check("t\tab\x7f", "t%09ab%7F");
}

static void check_text(const char *name, bool header, const char *want)
{
    char buf[64];
    size_t n = cd_textname(name, header, buf, sizeof buf);
    CHECK_EQ_INT(n, strlen(want));
    if (strcmp(buf, want) != 0)
        fprintf(stderr, "cd_textname(\"%s\") = \"%s\", want \"%s\"\n", name, buf, want);
    CHECK(strcmp(buf, want) == 0);
}

static void test_text(void)
{
    check_text("fashion_p0", true, "fashion_p0");
    check_text("a b.c-ü/x", true, "a b.c-ü/x");
    check_text("x\n[column evil]\n#", true, "x%0A%5Bcolumn evil%5D%0A%23");
    check_text("x\n[column evil]\n#", false, "x%0A[column evil]%0A%23");
    check_text("real[]", false, "real[]");
    check_text("a;b %", false, "a%3Bb %25");
    check_text("", true, "");
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
    RUN(test_text);
    return UNIT_DONE();
}
