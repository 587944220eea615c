/*
 * store.c: the request and answer files of model_store = copy (see store.h). Does not:
 * start processes (launch.h) or decide what a failed transfer means (run.c retries it).
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "ckpt.h"
#include "fsutil.h"
#include "xfer.h"

cd_code cd_store_prepare(const char *job_dir, cd_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 256];
    snprintf(dir, sizeof dir, "%s/xfer", job_dir);
    cd_code rc = cd_mkdir_p(dir, err);
    DIR *d = rc == CD_OK ? opendir(dir) : NULL;
    if (rc == CD_OK && d == NULL)
        return cd_fail(err, CD_EIO, "could not open \"%s\": %s", dir, strerror(errno));
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    return rc;
}

cd_code cd_store_request(const char *path, const char *model, const char *ckpt, uint64_t *bytes,
                         cd_err *err)
{
    char *text = NULL, *image = NULL;
    size_t tlen = 0, ilen = 0;
    cd_code rc = cd_read_file(model, &text, &tlen, err);
    if (rc == CD_OK)
        rc = cd_read_file(ckpt, &image, &ilen, err);
    FILE *f = rc == CD_OK ? fopen(path, "wb") : NULL;
    if (rc == CD_OK && f == NULL)
        rc = cd_fail(err, CD_EIO, "could not create \"%s\": %s", path, strerror(errno));
    cd_xfer_part parts[2] = {{"MODL", (uint8_t *)text, tlen}, {"CKPT", (uint8_t *)image, ilen}};
    if (rc == CD_OK)
        rc = cd_xfer_write(f, CD_XFER_REQUEST, parts, 2, path, bytes, err);
    if (f != NULL && fclose(f) != 0 && rc == CD_OK)
        rc = cd_fail(err, CD_EIO, "could not write \"%s\": %s", path, strerror(errno));
    if (rc != CD_OK && f != NULL)
        unlink(path);
    free(text);
    free(image);
    return rc;
}

/* The checkpoint image of an answer: whole by its own CRC and layout, of the unit's epoch. */
static cd_code check_ckpt(const cd_xfer_part *p, const char *what, int epoch, cd_err *err)
{
    char name[256];
    cd_ckpt ck;
    snprintf(name, sizeof name, "%.200s (checkpoint)", what);
    cd_code rc = cd_ckpt_parse(p->data, p->len, name, &ck, err);
    if (rc == CD_OK && ck.epoch != (uint64_t)epoch)
        rc = cd_fail(err, CD_ECORRUPT, "%s holds a checkpoint of epoch %llu, not %d", what,
                     (unsigned long long)ck.epoch, epoch);
    cd_ckpt_free(&ck);
    return rc;
}

static cd_code write_log(const char *path, const cd_xfer_part *p, cd_err *err)
{
    FILE *f = fopen(path, "w");
    bool ok = f != NULL && fwrite(p->data, 1, p->len, f) == p->len;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    return ok ? CD_OK : cd_fail(err, CD_EIO, "could not write \"%s\": %s", path, strerror(errno));
}

cd_code cd_store_answer(const char *path, const char *what, int epoch, const char *ckpt,
                        const char *json, cd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cd_fail(err, CD_EIO, "could not open %s in \"%s\": %s", what, path, strerror(errno));
    cd_xfer_part parts[2] = {{.tag = "RSLT"}, {.tag = "CKPT"}};
    cd_code rc = cd_xfer_read(f, CD_XFER_ANSWER, parts, 2, what, NULL, err);
    fclose(f);
    if (rc == CD_OK)
        rc = check_ckpt(&parts[1], what, epoch, err);
    if (rc == CD_OK)
        rc = cd_atomic_write(ckpt, parts[1].data, parts[1].len, 0644, err);
    if (rc == CD_OK)
        rc = write_log(json, &parts[0], err);
    cd_xfer_free(parts, 2);
    return rc;
}

cd_code cd_store_result(const char *path, const char *what, const char *json, cd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cd_fail(err, CD_EIO, "could not open %s in \"%s\": %s", what, path, strerror(errno));
    cd_xfer_part part = {.tag = "RSLT"};
    cd_code rc = cd_xfer_read(f, CD_XFER_ANSWER, &part, 1, what, NULL, err);
    fclose(f);
    if (rc == CD_OK)
        rc = write_log(json, &part, err);
    cd_xfer_free(&part, 1);
    return rc;
}
