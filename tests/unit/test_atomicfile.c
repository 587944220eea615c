/*
 * test_atomicfile.c: common/atomicfile.c. A crash at each step of a replacement (injected
 * through cd_atomic_crash_hook, not timing) leaves either the old file or the new one,
 * whole, at the path; a failed write leaves the old file and no temporary; an aborted write
 * too; streams and buffers give the same bytes; a symlink planted at the temporary file's
 * path is never written through.
 */
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "unit.h"

static int crash_step; /* the step to crash at, 0: none */

static bool crash_hook(int step, const char *path)
{
    return step == crash_step;
}

static char dir[256];

static void path_in_dir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

/* The file's whole text ("" when missing: NULL). */
static char *content(const char *path)
{
    size_t len;
    return (char *)unit_read_file(path, &len);
}

static void test_crash_at_every_step(void)
{
    char path[512], tmp[600];
    path_in_dir(path, sizeof path, "f");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cd_atomic_crash_hook = crash_hook;
    for (int step = 1; step <= 3; step++) {
        cd_err err = {0};
        CHECK_CODE(cd_atomic_write(path, "old old old", 11, 0644, &err), CD_OK, &err);
        crash_step = step;
        CHECK_CODE(cd_atomic_write(path, "new", 3, 0644, &err), CD_EIO, &err);
        char *got = content(path);
        /* before the rename: the old file, whole; after it: the new one, whole */
        CHECK(got != NULL && strcmp(got, step == 1 ? "old old old" : "new") == 0);
        free(got);
        /* the crash left the temporary file only before the rename; a new write replaces it */
        CHECK_EQ_INT(access(tmp, F_OK) == 0, step == 1);
        crash_step = 0;
        CHECK_CODE(cd_atomic_write(path, "again", 5, 0644, &err), CD_OK, &err);
        got = content(path);
        CHECK(got != NULL && strcmp(got, "again") == 0);
        free(got);
        CHECK(access(tmp, F_OK) != 0);
    }
    cd_atomic_crash_hook = NULL;
}

static void test_stream_and_abort(void)
{
    char path[512], tmp[600];
    path_in_dir(path, sizeof path, "s");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cd_err err = {0};
    cd_atomic a;
    CHECK_CODE(cd_atomic_fopen(&a, path, 0600, &err), CD_OK, &err);
    fprintf(a.f, "line %d\n", 1);
    CHECK(access(path, F_OK) != 0); /* nothing at the path until the commit */
    CHECK_CODE(cd_atomic_commit(&a, &err), CD_OK, &err);
    char *got = content(path);
    CHECK(got != NULL && strcmp(got, "line 1\n") == 0);
    free(got);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    cd_atomic_abort(&a); /* after a commit: nothing happens */
    CHECK(access(path, F_OK) == 0);
    /* an aborted replacement: the old file stays, the temporary goes */
    CHECK_CODE(cd_atomic_fopen(&a, path, 0600, &err), CD_OK, &err);
    fprintf(a.f, "half");
    cd_atomic_abort(&a);
    got = content(path);
    CHECK(got != NULL && strcmp(got, "line 1\n") == 0);
    free(got);
    CHECK(access(tmp, F_OK) != 0);
}

static void test_failures(void)
{
    cd_err err = {0};
    char path[512];
    path_in_dir(path, sizeof path, "missing/f");
    CHECK_CODE(cd_atomic_write(path, "x", 1, 0644, &err), CD_EIO, &err);
    CHECK(strstr(err.msg, "missing/f.tmp") != NULL);
    /* a directory where the file should go: the rename fails, the temporary is removed */
    path_in_dir(path, sizeof path, "adir");
    CHECK(mkdir(path, 0755) == 0);
    CHECK(mkdir(strcat(path, "/x"), 0755) == 0);
    path_in_dir(path, sizeof path, "adir");
    CHECK_CODE(cd_atomic_write(path, "x", 1, 0644, &err), CD_EIO, &err);
    CHECK(strstr(err.msg, "rename") != NULL);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0);
    CHECK_EQ_INT(cd_fsync_dir_of(path), 0);
}

/* A symlink planted at PATH.tmp is not written through: it is removed, and the file is
 * created anew (the target keeps its bytes); a stale temporary file from a crash goes too. */
static void test_planted_symlink(void)
{
    cd_err err = {0};
    char path[512], tmp[600], target[512];
    path_in_dir(target, sizeof target, "secret");
    CHECK_CODE(cd_atomic_write(target, "secret", 6, 0600, &err), CD_OK, &err);
    path_in_dir(path, sizeof path, "planted");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(symlink(target, tmp) == 0);
    CHECK_CODE(cd_atomic_write(path, "new", 3, 0644, &err), CD_OK, &err);
    char *got = content(target);
    CHECK(got != NULL && strcmp(got, "secret") == 0);
    free(got);
    got = content(path);
    CHECK(got != NULL && strcmp(got, "new") == 0);
    free(got);
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
    /* a stale temporary file */
    CHECK(cd_atomic_write(tmp, "stale", 5, 0644, &err) == CD_OK);
    CHECK_CODE(cd_atomic_write(path, "newer", 5, 0644, &err), CD_OK, &err);
    got = content(path);
    CHECK(got != NULL && strcmp(got, "newer") == 0);
    free(got);
    CHECK(access(tmp, F_OK) != 0);
}

/* Two writers of one path: the second is refused while the first writes (it removed the
 * first's temporary file as stale, and the first then renamed the second's half-written
 * file into place); once the first is done, a stale temporary file is removed again. */
static void test_second_writer(void)
{
    cd_err err = {0};
    char path[512];
    path_in_dir(path, sizeof path, "two");
    cd_atomic a, b;
    CHECK_CODE(cd_atomic_open(&a, path, 0644, &err), CD_OK, &err);
    CHECK(cd_write_all(a.fd, "first", 5) == 0);
    CHECK_CODE(cd_atomic_open(&b, path, 0644, &err), CD_EBUSY, &err);
    CHECK(strstr(err.msg, "is being written by another process") != NULL);
    CHECK_CODE(cd_atomic_commit(&a, &err), CD_OK, &err);
    char *got = content(path);
    CHECK(got != NULL && strcmp(got, "first") == 0);
    free(got);
    CHECK_CODE(cd_atomic_write(path, "second", 6, 0644, &err), CD_OK, &err);
    got = content(path);
    CHECK(got != NULL && strcmp(got, "second") == 0);
    free(got);
    /* a temporary file replaced under a writer (in the instant before its lock): not renamed */
    CHECK_CODE(cd_atomic_open(&a, path, 0644, &err), CD_OK, &err);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(unlink(tmp) == 0);
    FILE *f = fopen(tmp, "w");
    CHECK(f != NULL && fputs("other", f) >= 0 && fclose(f) == 0);
    CHECK_CODE(cd_atomic_commit(&a, &err), CD_EBUSY, &err);
    got = content(path);
    CHECK(got != NULL && strcmp(got, "second") == 0);
    free(got);
    unlink(tmp);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cd-atomic.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    RUN(test_crash_at_every_step);
    RUN(test_stream_and_abort);
    RUN(test_failures);
    RUN(test_planted_symlink);
    RUN(test_second_writer);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return UNIT_DONE();
}
