/*
 * test_colfile.c: the export's column files (fuse/table/colfile.c), read back with cd_npy_open.
 *
 * The validity file <col>.valid.npy is opened at a column's first NULL, with a 1 for each row
 * before it: a column without NULL writes none, and one whose first NULL comes after more
 * rows than one write buffer holds (1 MiB) still has a byte for every row. Work files live in
 * a mkdtemp directory that is removed at the end.
 */
#include "colfile.h"
#include "npy.h"
#include "unit.h"

#include <dirent.h>
#include <ftw.h>
#include <stdbool.h>
#include <unistd.h>

static char g_dir[64];

static const cd_attr int4_attr = {.name = "i",
                                  .typname = "integer",
                                  .attnum = 1,
                                  .typoid = 23,
                                  .attlen = 4,
                                  .attalign = 'i',
                                  .kind = CD_KIND_SCALAR,
                                  .elemlen = 4,
                                  .dtype = "<i4"};

static bool exists(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    return access(path, F_OK) == 0;
}

/* Entries of the work directory. */
static int entries(void)
{
    DIR *d = opendir(g_dir);
    int n = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d != NULL)
        closedir(d);
    return n;
}

/* Rows 0..nrows-1 of column i: the row number, or NULL where is_null says so. Before its
 * close, a column without NULL has one file (the data's, under its temporary name). */
static void write_column(uint64_t nrows, bool (*is_null)(uint64_t))
{
    bool any = false;
    cd_colfile c;
    cd_err err = {0};
    CHECK_CODE(cd_colfile_open(&c, &int4_attr, g_dir, false, NULL, &err), CD_OK, &err);
    for (uint64_t r = 0; r < nrows; r++) {
        int32_t x = (int32_t)r;
        cd_value v = {.isnull = is_null(r), .len = 4};
        any = any || v.isnull;
        memcpy(v.scalar, &x, 4);
        v.data = v.isnull ? NULL : v.scalar;
        v.len = v.isnull ? 0 : 4;
        if (cd_colfile_append(&c, &v, &err) != CD_OK) {
            CHECK_CODE(CD_ECORRUPT, CD_OK, &err);
            cd_colfile_abort(&c);
            return;
        }
    }
    CHECK_EQ_INT(entries(), any ? 2 : 1);
    CHECK_CODE(cd_colfile_close(&c, &err), CD_OK, &err);
}

/* Check i.npy and, when a row is NULL, i.valid.npy against is_null. */
static void check_column(uint64_t nrows, bool (*is_null)(uint64_t))
{
    bool any_null = false;
    for (uint64_t r = 0; r < nrows && !any_null; r++)
        any_null = is_null(r);
    char path[128];
    cd_npy d = {.fd = -1}, v = {.fd = -1};
    cd_err err = {0};
    snprintf(path, sizeof path, "%s/i.npy", g_dir);
    CHECK_CODE(cd_npy_open(path, &d, &err), CD_OK, &err);
    CHECK(exists("i.valid.npy") == any_null);
    if (any_null) {
        snprintf(path, sizeof path, "%s/i.valid.npy", g_dir);
        CHECK_CODE(cd_npy_open(path, &v, &err), CD_OK, &err);
        CHECK(strcmp(v.descr, "|b1") == 0);
        CHECK_EQ_INT(v.ndim, 1);
        CHECK_EQ_INT(v.shape[0], nrows);
    }
    CHECK_EQ_INT(d.ndim, 1);
    CHECK_EQ_INT(d.shape[0], nrows);
    uint64_t bad_data = 0, bad_valid = 0;
    for (uint64_t r = 0; d.data != NULL && d.shape[0] == nrows && r < nrows; r++) {
        int32_t x;
        memcpy(&x, (const uint8_t *)d.data + r * 4, 4);
        bad_data += x != (is_null(r) ? 0 : (int32_t)r);
        if (v.data != NULL && v.shape[0] == nrows)
            bad_valid += ((const uint8_t *)v.data)[r] != !is_null(r);
    }
    CHECK_EQ_INT(bad_data, 0);
    CHECK_EQ_INT(bad_valid, 0);
    cd_npy_close(&v);
    cd_npy_close(&d);
    unlink(path);
    snprintf(path, sizeof path, "%s/i.npy", g_dir);
    unlink(path);
}

static bool never(uint64_t r)
{
    (void)r;
    return false;
}

static bool late(uint64_t r) /* after more rows than a 1 MiB buffer of validity bytes */
{
    return r == 1200000 || r == 1200003;
}

static bool first(uint64_t r)
{
    return r == 0;
}

static bool every_third(uint64_t r)
{
    return r % 3 == 1;
}

static void test_no_null_no_valid_file(void)
{
    write_column(5000, never);
    check_column(5000, never);
}

static void test_late_null_backfills(void)
{
    write_column(1200010, late);
    check_column(1200010, late);
}

static void test_first_row_null(void)
{
    write_column(10, first);
    check_column(10, first);
}

static void test_many_nulls(void)
{
    write_column(70001, every_third);
    check_column(70001, every_third);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/cd-colfile.XXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_no_null_no_valid_file);
    RUN(test_late_null_backfills);
    RUN(test_first_row_null);
    RUN(test_many_nulls);
    nftw(g_dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return UNIT_DONE();
}
