/*
 * journal.c: DIR/journal (see journal.h): formatted appends with fsync, and a reader that
 * checks every field.
 */
#include "journal.h"

#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "cerebro-sched journal 1"

struct cd_journal {
    int fd;
    char path[4096];
};

static const char *const kind_names[] = {"unit", "fail", "valid",   "out",     "diverged",
                                         "done", "cut",  "changed", "trialout"};
static const char *const check_names[] = {"none", "same", "differs"};

const char *cd_numerics_check_name(cd_numerics_check c)
{
    return check_names[c];
}

static cd_code write_all(int fd, const char *buf, size_t len, const char *path, cd_err *err)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return cd_fail(err, CD_EIO, "could not write \"%s\": %s", path, strerror(errno));
        buf += w;
        len -= (size_t)w;
    }
    return CD_OK;
}

/* The length of the journal up to its last newline: a last line without one is a torn
 * append (a crash or a full disk mid-write), which the reader ignores. Appending after it
 * would glue the next record to it, so it is cut off first. */
static cd_code whole_lines(int fd, const char *path, off_t *len, cd_err *err)
{
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0)
        return cd_fail(err, CD_EIO, "could not seek \"%s\": %s", path, strerror(errno));
    char buf[4096];
    while (end > 0) {
        off_t at = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
        ssize_t n = pread(fd, buf, (size_t)(end - at), at);
        if (n != end - at)
            return cd_fail(err, CD_EIO, "could not read \"%s\": %s", path,
                           n < 0 ? strerror(errno) : "short read");
        char *nl = memrchr(buf, '\n', (size_t)n);
        if (nl != NULL) {
            end = at + (nl - buf) + 1;
            break;
        }
        end = at;
    }
    *len = end;
    return CD_OK;
}

/* Cut the journal back to len bytes (a torn last line, or a record this run failed to
 * append whole). */
static cd_code cut_to(int fd, off_t len, const char *path, cd_err *err)
{
    off_t end = lseek(fd, 0, SEEK_END);
    if (end == len)
        return CD_OK;
    if (end < 0 || ftruncate(fd, len) != 0) {
        cd_fail(err, CD_EIO, "could not cut the torn last line of \"%s\": %s", path,
                strerror(errno));
        return cd_hint(err, "remove the journal's last line (it has no newline) by hand");
    }
    return CD_OK;
}

cd_code cd_journal_open(cd_journal **out, const char *path, cd_err *err)
{
    cd_journal *j = calloc(1, sizeof *j);
    if (j == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    snprintf(j->path, sizeof j->path, "%s", path);
    j->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    cd_code rc = CD_OK;
    off_t len = 0;
    if (j->fd < 0)
        rc = cd_fail(err, CD_EIO, "could not open \"%s\": %s", path, strerror(errno));
    else
        rc = whole_lines(j->fd, path, &len, err);
    if (rc == CD_OK)
        rc = cut_to(j->fd, len, path, err);
    if (rc == CD_OK && len == 0)
        rc = write_all(j->fd, MAGIC "\n", strlen(MAGIC) + 1, path, err);
    if (rc == CD_OK && fsync(j->fd) != 0)
        rc = cd_fail(err, CD_EIO, "could not fsync \"%s\": %s", path, strerror(errno));
    if (rc != CD_OK) {
        cd_journal_close(&j);
        return rc;
    }
    *out = j;
    return CD_OK;
}

void cd_journal_close(cd_journal **jp)
{
    cd_journal *j = *jp;
    if (j == NULL)
        return;
    if (j->fd >= 0)
        close(j->fd);
    free(j);
    *jp = NULL;
}

static int format(const cd_jrec *rec, char *buf, size_t size)
{
    cd_jrec copy = *rec, *r = &copy;
    for (char *p = strpbrk(r->reason, "\t\n"); p != NULL; p = strpbrk(p, "\t\n"))
        *p = ' '; /* a reason is one field of one line */
    const char *k = kind_names[r->kind];
    switch (r->kind) {
    case CD_J_UNIT:
        return snprintf(
            buf, size,
            "%s\t%d\t%d\t%d\t%d\t%.6f\t%.6f\t%d\t%llu\t%.9g\t%.9g\t%s\t%s\t%llu\t%llu\t%s\t%s\n", k,
            r->model, r->epoch, r->shard, r->worker, r->start, r->end, r->attempt,
            (unsigned long long)r->rows, r->loss, r->accuracy, check_names[r->check], r->numerics,
            (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
            r->cut[0] ? r->cut : "-", r->content[0] ? r->content : "-");
    case CD_J_FAIL:
        return snprintf(buf, size, "%s\t%d\t%d\t%d\t%d\t%.6f\t%.6f\t%d\t%s\t%llu\t%llu\n", k,
                        r->model, r->epoch, r->shard, r->worker, r->start, r->end, r->attempt,
                        r->reason, (unsigned long long)r->bytes_in,
                        (unsigned long long)r->bytes_out);
    case CD_J_VALID:
        return snprintf(buf, size, "%s\t%d\t%d\t%.9g\t%.9g\n", k, r->model, r->epoch, r->loss,
                        r->accuracy);
    case CD_J_OUT:
        return snprintf(buf, size, "%s\t%d\t%s\n", k, r->worker, r->reason);
    case CD_J_DIVERGED:
        return snprintf(buf, size, "%s\t%d\t%d\n", k, r->model, r->epoch);
    case CD_J_DONE:
        return snprintf(buf, size, "%s\n", k);
    case CD_J_CUT:
        return snprintf(buf, size, "%s\t%s\n", k, r->cut);
    case CD_J_CHANGED:
        return snprintf(buf, size, "%s\t%d\t%d\t%s\n", k, r->shard, r->worker, r->reason);
    case CD_J_TRIAL_OUT:
        return snprintf(buf, size, "%s\t%d\t%s\n", k, r->model, r->reason);
    }
    return -1;
}

cd_code cd_journal_append(cd_journal *j, const cd_jrec *r, cd_err *err)
{
    char buf[2048];
    int len = format(r, buf, sizeof buf);
    if (len < 0 || (size_t)len >= sizeof buf)
        return cd_fail(err, CD_EINVAL, "journal record too long");
    off_t before = lseek(j->fd, 0, SEEK_END);
    if (before < 0)
        return cd_fail(err, CD_EIO, "could not seek \"%s\": %s", j->path, strerror(errno));
    cd_code rc = write_all(j->fd, buf, (size_t)len, j->path, err);
    if (rc != CD_OK) { /* no half record for the next append to follow */
        cd_err ignored = {0};
        cut_to(j->fd, before, j->path, &ignored);
        return rc;
    }
    if (fsync(j->fd) != 0)
        rc = cd_fail(err, CD_EIO, "could not fsync \"%s\": %s", j->path, strerror(errno));
    return rc;
}

/* ---- reading ---- */

static int split(char *line, char **f, int max)
{
    int n = 0;
    for (char *p = line; n < max;) {
        f[n++] = p;
        p = strchr(p, '\t');
        if (p == NULL)
            break;
        *p++ = '\0';
    }
    return n;
}

static bool num(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return *s != '\0' && *end == '\0';
}

static bool inum(const char *s, int *out)
{
    double d;
    if (!num(s, &d) || !(d >= INT_MIN && d <= INT_MAX) || d != (double)(int)d)
        return false; /* out of range (or NaN) first: converting it to int is undefined */
    *out = (int)d;
    return true;
}

/* A count (ROWS, BYTES_IN, BYTES_OUT): a number in [0, 2^64). */
static bool unum(const char *s, uint64_t *out)
{
    double d;
    if (!num(s, &d) || !(d >= 0 && d < 0x1p64))
        return false; /* out of range (or NaN) first: converting it is undefined */
    *out = (uint64_t)d;
    return true;
}

/* BYTES_IN and BYTES_OUT at f[0], f[1]. */
static bool parse_bytes(char **f, cd_jrec *r)
{
    return unum(f[0], &r->bytes_in) && unum(f[1], &r->bytes_out);
}

/* A word without blanks into buf ("-": ""). */
static bool parse_word(const char *f, char *buf, size_t size)
{
    if (strlen(f) >= size || f[0] == '\0' || strpbrk(f, " ") != NULL)
        return false;
    snprintf(buf, size, "%s", strcmp(f, "-") == 0 ? "" : f);
    return true;
}

static bool parse_check(char **f, int n, cd_jrec *r)
{
    if (n == 11)
        return true; /* an earlier version's line */
    if (n >= 15 && !parse_bytes(f + 13, r))
        return false;
    if (n == 17 && (!parse_word(f[15], r->cut, sizeof r->cut) ||
                    !parse_word(f[16], r->content, sizeof r->content)))
        return false;
    int k = 0;
    while (k <= CD_NUM_DIFFERS && strcmp(f[11], check_names[k]) != 0)
        k++;
    if (k > CD_NUM_DIFFERS || strlen(f[12]) >= sizeof r->numerics || !cd_fp_valid(f[12]))
        return false;
    r->check = (cd_numerics_check)k;
    snprintf(r->numerics, sizeof r->numerics, "%s", f[12]);
    return true;
}

static bool parse_unit(char **f, int n, cd_jrec *r, bool fail)
{
    if (fail ? n != 9 && n != 11 : n != 11 && n != 13 && n != 15 && n != 17)
        return false;
    bool ok = inum(f[1], &r->model) && inum(f[2], &r->epoch) && inum(f[3], &r->shard) &&
              inum(f[4], &r->worker) && num(f[5], &r->start) && num(f[6], &r->end) &&
              inum(f[7], &r->attempt);
    if (fail) {
        snprintf(r->reason, sizeof r->reason, "%s", f[8]);
        return ok && (n == 9 || parse_bytes(f + 9, r));
    }
    return ok && unum(f[8], &r->rows) && num(f[9], &r->loss) && num(f[10], &r->accuracy) &&
           parse_check(f, n, r);
}

static bool parse_line(char *line, cd_jrec *r)
{
    char *f[18];
    int n = split(line, f, 18);
    memset(r, 0, sizeof *r);
    int k = 0;
    while (k <= CD_J_TRIAL_OUT && strcmp(f[0], kind_names[k]) != 0)
        k++;
    if (k > CD_J_TRIAL_OUT)
        return false;
    r->kind = (cd_jkind)k;
    switch (r->kind) {
    case CD_J_UNIT:
    case CD_J_FAIL:
        return parse_unit(f, n, r, r->kind == CD_J_FAIL);
    case CD_J_VALID:
        return n == 5 && inum(f[1], &r->model) && inum(f[2], &r->epoch) && num(f[3], &r->loss) &&
               num(f[4], &r->accuracy);
    case CD_J_OUT:
        snprintf(r->reason, sizeof r->reason, "%s", n > 2 ? f[2] : "");
        return n >= 2 && inum(f[1], &r->worker);
    case CD_J_DIVERGED:
        return n == 3 && inum(f[1], &r->model) && inum(f[2], &r->epoch);
    case CD_J_DONE:
        return n == 1;
    case CD_J_CUT:
        return n == 2 && parse_word(f[1], r->cut, sizeof r->cut) && r->cut[0] != '\0';
    case CD_J_CHANGED:
        snprintf(r->reason, sizeof r->reason, "%s", n > 3 ? f[3] : "");
        return n == 4 && inum(f[1], &r->shard) && inum(f[2], &r->worker);
    case CD_J_TRIAL_OUT:
        snprintf(r->reason, sizeof r->reason, "%s", n > 2 ? f[2] : "");
        return n == 3 && inum(f[1], &r->model);
    }
    return false;
}

cd_code cd_journal_read(const char *path, cd_jrec **recs, int *n, cd_err *err)
{
    char *text = NULL;
    size_t len = 0;
    cd_code rc = cd_read_file(path, &text, &len, err);
    if (rc != CD_OK)
        return rc;
    *recs = NULL;
    *n = 0;
    int cap = 0, lineno = 0;
    char *p = text, *end = text + len;
    /* lines end at a newline only: a NUL byte inside one makes it malformed (the last line,
     * without its newline, is a torn append whatever it holds) */
    for (char *nl; rc == CD_OK && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL; p = nl + 1) {
        *nl = '\0';
        bool whole = strlen(p) == (size_t)(nl - p);
        if (++lineno == 1) {
            if (!whole || strcmp(p, MAGIC) != 0)
                rc = cd_fail(err, CD_ECORRUPT, "\"%s\" is not a cerebro-sched journal", path);
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            cd_jrec *more = realloc(*recs, (size_t)cap * sizeof **recs);
            if (more == NULL) {
                rc = cd_fail(err, CD_ENOMEM, "out of memory");
                break;
            }
            *recs = more;
        }
        if (!whole || !parse_line(p, &(*recs)[*n])) {
            rc = cd_fail(err, CD_ECORRUPT, "malformed journal record at \"%s\" line %d", path,
                         lineno);
            if (!whole)
                cd_detail(err, "The line holds a NUL byte.");
        } else
            (*n)++;
    }
    if (rc == CD_OK && lineno == 0)
        rc = cd_fail(err, CD_ECORRUPT, "\"%s\" is not a cerebro-sched journal", path);
    free(text);
    if (rc != CD_OK) {
        free(*recs);
        *recs = NULL;
        *n = 0;
    }
    return rc;
}
