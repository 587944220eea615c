/*
 * test_fsutil.c: common/fsutil.h: mkdir -p (existing parts, a file in the way), whole files
 * read back byte for byte (empty, larger than the first buffer, missing), the executable's
 * directory, trusted directories (others may write: refused unless sticky; a group-writable
 * ancestor accepted; the missing last directory created 0700; a link on the way followed
 * and its target checked).
 */
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"

#include "fsutil.h"

static char dir[] = "/tmp/cd-fsutil-XXXXXX";

static void test_mkdir_p(void)
{
    char path[256], file[256];
    cd_err err = {0};
    snprintf(path, sizeof path, "%s/a/b/c", dir);
    CHECK_CODE(cd_mkdir_p(path, &err), CD_OK, &err);
    CHECK_CODE(cd_mkdir_p(path, &err), CD_OK, &err); /* already there */
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    snprintf(file, sizeof file, "%s/f", dir);
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(path, sizeof path, "%s/f/g", dir);
    CHECK_CODE(cd_mkdir_p(path, &err), CD_EIO, &err);
    CHECK(strstr(err.msg, "could not create directory") != NULL);
}

static void test_read_file(void)
{
    char path[256];
    cd_err err = {0};
    snprintf(path, sizeof path, "%s/big", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 10000; i++)
        fprintf(f, "%d\n", i);
    fclose(f);
    char *text = NULL;
    size_t len = 0;
    CHECK_CODE(cd_read_file(path, &text, &len, &err), CD_OK, &err);
    CHECK(text != NULL && len == strlen(text) && strncmp(text, "0\n1\n2\n", 6) == 0);
    CHECK(text != NULL && strcmp(text + len - 5, "9999\n") == 0);
    free(text);
    snprintf(path, sizeof path, "%s/empty", dir);
    fclose(fopen(path, "w"));
    CHECK_CODE(cd_read_file(path, &text, NULL, &err), CD_OK, &err);
    CHECK(text != NULL && text[0] == '\0');
    free(text);
    snprintf(path, sizeof path, "%s/missing", dir);
    CHECK_CODE(cd_read_file(path, &text, &len, &err), CD_ENOTFOUND, &err);
    CHECK(text == NULL && strstr(err.msg, "missing") != NULL);
    CHECK_CODE(cd_read_text(path, &text, &err), CD_ENOTFOUND, &err);
}

/* cd_read_text: text as cd_read_file reads it, a NUL byte an error naming its line */
static void test_read_text(void)
{
    char path[256];
    cd_err err = {0};
    char *text = NULL;
    snprintf(path, sizeof path, "%s/text", dir);
    FILE *f = fopen(path, "w");
    fputs("a\nb\n", f);
    fclose(f);
    CHECK_CODE(cd_read_text(path, &text, &err), CD_OK, &err);
    CHECK(text != NULL && strcmp(text, "a\nb\n") == 0);
    free(text);
    f = fopen(path, "w");
    fwrite("a\nb\nc\0d\ne\n", 1, 10, f);
    fclose(f);
    CHECK_CODE(cd_read_text(path, &text, &err), CD_ECORRUPT, &err);
    CHECK(text == NULL && strstr(err.msg, path) != NULL && strstr(err.msg, "not a text file"));
    CHECK(strcmp(err.detail, "line 3 holds a NUL byte") == 0);
}

static void test_trusted_dir(void)
{
    char path[256], sub[300], link[300];
    cd_err err = {0};
    struct stat st;
    snprintf(path, sizeof path, "%s/t", dir);
    CHECK_CODE(cd_trusted_dir(path, 0700, "log directory", &err), CD_OK, &err); /* created */
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
    chmod(path, 0777);
    CHECK_CODE(cd_trusted_dir(path, 0, "log directory", &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "is writable by other users") != NULL && strstr(err.msg, path));
    CHECK(strstr(err.hint, "chmod go-w") != NULL);
    chmod(path, 01777); /* like /tmp */
    CHECK_CODE(cd_trusted_dir(path, 0, "log directory", &err), CD_OK, &err);
    chmod(path, 0775); /* group-writable: refused itself, accepted on the way */
    CHECK_CODE(cd_trusted_dir(path, 0, "log directory", &err), CD_EINVAL, &err);
    snprintf(sub, sizeof sub, "%s/sub", path);
    CHECK_CODE(cd_trusted_dir(sub, 0700, "log directory", &err), CD_OK, &err);
    chmod(path, 0777); /* others may write: refused on the way too */
    CHECK_CODE(cd_trusted_dir(sub, 0, "log directory", &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "directory \"") == err.msg);
    snprintf(link, sizeof link, "%s/link", dir); /* a link to it: its target is checked */
    CHECK(symlink(sub, link) == 0);
    CHECK_CODE(cd_trusted_dir(link, 0, "log directory", &err), CD_EINVAL, &err);
    chmod(path, 0755);
    CHECK_CODE(cd_trusted_dir(link, 0, "log directory", &err), CD_OK, &err);
    snprintf(sub, sizeof sub, "%s/no/such", path); /* only the last one is created */
    CHECK_CODE(cd_trusted_dir(sub, 0700, "log directory", &err), CD_ENOTFOUND, &err);
    CHECK_CODE(cd_trusted_dir("relative", 0, "log directory", &err), CD_EINVAL, &err);
}

static void test_exe_dir(void)
{
    char d[4096], self[4096];
    CHECK(cd_exe_dir(d, sizeof d));
    snprintf(self, sizeof self, "%s/test_fsutil", d);
    CHECK(access(self, X_OK) == 0);
    CHECK(!cd_exe_dir(d, 2)); /* does not fit */
}

/* The directory of a path, as the atomic writer, the trainer's --out check and the workload
 * loader use it. */
static void test_dir_of(void)
{
    static const char *const cases[][2] = {
        {"/a/b/c.ckpt", "/a/b"}, {"/x", "/"}, {"x.ckpt", "."}, {"d/x", "d"}, {"a//b", "a/"}};
    char got[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cd_dir_of(cases[i][0], got, sizeof got);
        CHECK(strcmp(got, cases[i][1]) == 0);
    }
    cd_dir_of("/long/path/x", got, 4); /* truncated, terminated */
    CHECK(strcmp(got, "/lo") == 0);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    RUN(test_mkdir_p);
    RUN(test_read_file);
    RUN(test_read_text);
    RUN(test_trusted_dir);
    RUN(test_exe_dir);
    RUN(test_dir_of);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return UNIT_DONE();
}
