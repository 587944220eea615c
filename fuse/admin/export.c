/*
 * export.c: cerebro-ds export: every shard of a table decoded into OUTDIR/<shard>/ in the
 * mount layout (DESIGN.md section 3), shards in parallel with --jobs.
 *
 * A shard is written into OUTDIR/.<shard>.partial and renamed when complete, so an
 * interrupted export never leaves a shard directory that looks whole. OUTDIR/meta is
 * written last. Row counts are checked against count(*) in the pinned snapshot (queried
 * before the workers start: one connection is not shared between threads).
 *
 * Trust: OUTDIR must be a directory that no other user can change (owned by us or root, and
 * not writable by others unless sticky, like /tmp), else another user could swap a shard's
 * partial directory for a symlink while we write into it. Each partial directory is made
 * anew (mode 0700; a leftover of ours from an interrupted export is removed first; anything
 * else in its place, a symlink or another user's directory, is refused), and every file in it
 * is created exclusively without following symlinks (atomicfile.h). Files get --mode
 * (default 0640: the data stays governed, not world-readable), directories the same with x
 * where r is.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "atomicfile.h"
#include "bgwrite.h"
#include "colfile.h"
#include "fsname.h"
#include "fsutil.h"
#include "madlib.h"
#include "meta.h"

/* buffers: the tuples the shard's rows came from (they differ in a MADlib-packed table) */
static void colsum_of(const cd_colfile *c, uint64_t buffers, cd_colsum *sum)
{
    sum->attr = c->attr;
    snprintf(sum->dtype, sizeof sum->dtype, "%s",
             strcmp(c->dtype, c->attr->dtype) != 0 ? c->dtype : "");
    sum->buffers = buffers;
    sum->fname = c->fname;
    sum->var = c->var;
    cd_shape_text(sum->shape, sizeof sum->shape, c->var, c->dims_known, c->ndim, c->dims);
    if (c->attr->kind != CD_KIND_ARRAY)
        sum->shape[0] = '\0';
    sum->nnull = c->nnull;
    sum->null_elems = c->null_elems;
}

static cd_code write_meta(const char *dir, char *text, mode_t mode, cd_err *err)
{
    if (text == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    char path[4200];
    snprintf(path, sizeof path, "%s/meta", dir);
    cd_code rc = cd_atomic_write(path, text, strlen(text), mode, err);
    free(text);
    return rc;
}

/* The shards' count(*), asked of the server before the decoding starts, a range of blocks at
 * a time as it goes on, and read when a shard is decoded (cd_shard_counts_send): the server
 * counts while we decode. */
typedef struct row_counts {
    cd_pin *p;
    const cd_table *t;
    pthread_mutex_t lock; /* the pin's connection and counts, between the workers */
    bool asked;           /* false: not checked ([database] verify = none) */
} row_counts;

/* Shard i's decoding has reached block blk: the server may count its next range. Returns
 * the block at which to call again. */
static uint32_t counts_advance(row_counts *c, int i, uint32_t blk)
{
    if (!c->asked)
        return UINT32_MAX;
    pthread_mutex_lock(&c->lock);
    uint32_t next = cd_shard_counts_advance(c->p, c->t, i, blk);
    pthread_mutex_unlock(&c->lock);
    return next;
}

typedef struct file_sink {
    cd_colfile *cols;
    const cd_shard *shard;
    int index;          /* of the shard in its table */
    row_counts *counts; /* told the blocks done */
    uint32_t count_at;  /* block at which they hear of the decoding again */
    bool progress;
    time_t last; /* last progress line */
} file_sink;

static cd_code file_value(void *arg, int col, const cd_value *v, cd_err *err)
{
    file_sink *fs = arg;
    return cd_colfile_append(&fs->cols[col], v, err);
}

static bool file_dest(void *arg, int col, cd_value_dest *d)
{
    file_sink *fs = arg;
    return cd_colfile_dest(&fs->cols[col], d);
}

static cd_code file_row_done(void *arg, uint32_t blkno, uint16_t item, cd_err *err)
{
    file_sink *fs = arg;
    if (blkno >= fs->count_at)
        fs->count_at = counts_advance(fs->counts, fs->index, blkno);
    return CD_OK;
}

static void file_progress(void *arg, uint32_t done, uint32_t total)
{
    file_sink *fs = arg;
    time_t now = time(NULL);
    if (!fs->progress || now - fs->last < 2)
        return;
    fs->last = now;
    fprintf(stderr, "cerebro-ds: shard %s: %u of %u blocks (%.0f%%)\n", fs->shard->name, done,
            total, 100.0 * done / (total ? total : 1));
}

/* Decode fs's shard into its column files (fs->cols) in dir; var[k]: column k is
 * variable-width. *nrows: rows written; *ntuples: the tuples they came from. */
static cd_code decode_files(cd_pin *p, const cd_table *t, file_sink *fs, const char *dir,
                            const bool *var, cd_bgwrite *bg, uint64_t *nrows, uint64_t *ntuples,
                            uint64_t *content, cd_err *err)
{
    cd_colfile *cols = fs->cols;
    cd_code rc = CD_OK;
    int opened = 0;
    for (; opened < t->ncols && rc == CD_OK; opened++) {
        rc = cd_colfile_open(&cols[opened], &t->cols[opened], dir, var[opened], bg, err);
        cols[opened].packed = cd_madlib_pair_of(t, opened) >= 0;
    }
    fs->last = time(NULL);
    cd_row_sink sink = {.value = file_value,
                        .row_done = file_row_done,
                        .progress = file_progress,
                        .arg = fs,
                        .dest = file_dest};
    if (rc == CD_OK)
        rc = cd_shard_decode_to(p, t, fs->shard, &sink, nrows, ntuples, content, err);
    for (int k = 0; k < opened && rc == CD_OK; k++)
        rc = cd_colfile_close(&cols[k], err);
    for (int k = opened - 1; rc != CD_OK && k >= 0; k--)
        cd_colfile_abort(&cols[k]);
    return rc;
}

/* Decode, and again while array columns turn out ragged (each pass makes one more var). */
static cd_code decode_shard_files(cd_pin *p, const cd_table *t, file_sink *fs, const char *dir,
                                  cd_bgwrite *bg, uint64_t *nrows, uint64_t *ntuples,
                                  uint64_t *content, cd_err *err)
{
    bool *var = calloc((size_t)t->ncols + 1, sizeof *var);
    if (var == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    cd_code rc;
    for (;;) {
        rc = decode_files(p, t, fs, dir, var, bg, nrows, ntuples, content, err);
        int ragged = -1;
        for (int k = 0; k < t->ncols && rc == CD_EUNSUPPORTED; k++)
            if (fs->cols[k].ragged && !var[k])
                ragged = k;
        if (ragged < 0)
            break;
        var[ragged] = true;
    }
    free(var);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* The directory mode for file mode m: x wherever r is. */
static mode_t dir_mode(mode_t m)
{
    return m | ((m & 0444) >> 2);
}

/* A new, empty partial directory of ours at tmp (mode 0700): a leftover directory of ours is
 * removed first; anything else there (a symlink, a file, another user's directory) is
 * refused and left alone. */
static cd_code fresh_partial(const char *tmp, cd_err *err)
{
    struct stat st;
    if (lstat(tmp, &st) == 0) {
        if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
            cd_fail(err, CD_EINVAL, "\"%s\" exists and is not a directory of ours", tmp);
            cd_detail(err, "it is %s owned by uid %u",
                      S_ISLNK(st.st_mode)   ? "a symbolic link"
                      : S_ISDIR(st.st_mode) ? "a directory"
                                            : "a file",
                      (unsigned)st.st_uid);
            return cd_hint(err, "nothing was written; remove it (someone may have planted it), "
                                "or export into a directory only you can write");
        }
        nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    if (mkdir(tmp, 0700) != 0)
        return cd_fail(err, CD_EIO, "could not create directory \"%s\": %s", tmp, strerror(errno));
    return CD_OK;
}

/* Give every file of dir (ours, 0700) mode, then dir its directory mode. */
static cd_code set_modes(const char *dir, mode_t mode, cd_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return cd_fail(err, CD_EIO, "could not open directory \"%s\": %s", dir, strerror(errno));
    cd_code rc = CD_OK;
    for (struct dirent *e; rc == CD_OK && (e = readdir(d)) != NULL;)
        if (e->d_type == DT_REG && fchmodat(dirfd(d), e->d_name, mode, 0) != 0)
            rc = cd_fail(err, CD_EIO, "could not set the mode of \"%s/%s\": %s", dir, e->d_name,
                         strerror(errno));
    closedir(d);
    if (rc == CD_OK && chmod(dir, dir_mode(mode)) != 0)
        rc = cd_fail(err, CD_EIO, "could not set the mode of \"%s\": %s", dir, strerror(errno));
    return rc;
}

/* count(*) of shard i, -1 when not checked. */
static cd_code shard_want(row_counts *c, int i, int64_t *want, cd_err *err)
{
    *want = -1;
    if (!c->asked)
        return CD_OK;
    pthread_mutex_lock(&c->lock);
    cd_code rc = cd_shard_counts_wait(c->p, c->t, i, want, err); /* the same each time */
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* One shard: decode into OUTDIR/.<name>.partial, check the count, write meta, rename.
 * On any failure the partial directory is removed. *nrows: rows written; *ntuples: the
 * tuples they came from (what count(*) counts). */
static cd_code export_shard(cd_pin *p, const cd_table *t, int i, row_counts *counts,
                            const char *outdir, mode_t mode, cd_colfile *cols, cd_bgwrite *bg,
                            uint64_t *nrows, uint64_t *ntuples, bool progress, cd_err *err)
{
    const cd_shard *s = &t->shards[i];
    int64_t want = -1;
    char tmp[4200], final[4200], dirname[256];
    if (cd_fsname(s->name, dirname, sizeof dirname) == 0)
        return cd_fail(err, CD_EINVAL, "shard name \"%s\" is too long for a file name", s->name);
    snprintf(tmp, sizeof tmp, "%s/.%s.partial", outdir, dirname);
    snprintf(final, sizeof final, "%s/%s", outdir, dirname);
    uint64_t content = 0;
    cd_code rc = fresh_partial(tmp, err);
    if (rc != CD_OK)
        return rc; /* not ours: not removed */
    file_sink fs = {.cols = cols, .shard = s, .index = i, .counts = counts, .progress = progress};
    rc = decode_shard_files(p, t, &fs, tmp, bg, nrows, ntuples, &content, err);
    if (rc == CD_OK)
        rc = shard_want(counts, i, &want, err);
    if (rc == CD_OK)
        rc = cd_check_count(p, s, *ntuples, want, err);
    cd_colsum *sums = rc == CD_OK ? calloc((size_t)t->ncols + 1, sizeof *sums) : NULL;
    for (int k = 0; sums != NULL && k < t->ncols; k++)
        colsum_of(&cols[k], *ntuples, &sums[k]);
    if (rc == CD_OK)
        rc = write_meta(tmp, sums ? cd_meta_shard(p, t, s, *nrows, content, sums, t->ncols) : NULL,
                        0600, err);
    free(sums);
    if (rc == CD_OK)
        rc = set_modes(tmp, mode, err);
    if (rc == CD_OK && cd_interrupted) /* after the last block: still not published */
        rc = cd_fail(err, CD_EINTERRUPTED, "interrupted");
    if (rc == CD_OK && rename(tmp, final) != 0)
        rc = cd_fail(err, CD_EIO, "could not rename \"%s\" to \"%s\": %s", tmp, final,
                     strerror(errno));
    if (rc != CD_OK)
        nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    int e = rc == CD_OK ? cd_fsync_dir_of(final) : 0; /* the rename, durable */
    if (e != 0)
        rc =
            cd_fail(err, CD_EIO, "could not fsync the directory of \"%s\": %s", final, strerror(e));
    return rc;
}

typedef struct export_job {
    cd_pin *p;
    const cd_table *t;
    const char *outdir;
    mode_t mode; /* of the files written */
    row_counts *counts;
    uint64_t *rows;  /* [nshards] decoded rows */
    bool *exported;  /* [nshards] written */
    cd_colsum *sums; /* [nshards * ncols] column summaries, for the table meta */
    pthread_mutex_t lock;
    int next;
    bool failed;
    cd_err err;
    bool progress;
    bool background; /* each worker writes its data files through a thread of its own */
    int done;
} export_job;

static void record_sums(export_job *j, int i, const cd_colfile *cols, uint64_t ntuples)
{
    for (int k = 0; k < j->t->ncols; k++)
        colsum_of(&cols[k], ntuples, &j->sums[(size_t)i * (size_t)j->t->ncols + (size_t)k]);
}

/* Export shards until none is left or one failed. */
static void export_shards(export_job *j, cd_bgwrite *bg)
{
    for (;;) {
        pthread_mutex_lock(&j->lock);
        int i = j->failed ? j->t->nshards : j->next++;
        while (i < j->t->nshards && j->exported[i])
            i = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (i >= j->t->nshards)
            return;
        cd_err err = {0};
        uint64_t nrows = 0, ntuples = 0;
        cd_colfile *cols = calloc((size_t)j->t->ncols + 1, sizeof *cols);
        cd_code rc = cols ? export_shard(j->p, j->t, i, j->counts, j->outdir, j->mode, cols, bg,
                                         &nrows, &ntuples, j->progress, &err)
                          : cd_fail(&err, CD_ENOMEM, "out of memory");
        pthread_mutex_lock(&j->lock);
        if (rc == CD_OK) {
            j->exported[i] = true;
            j->rows[i] = nrows;
            record_sums(j, i, cols, ntuples);
            j->done++;
            if (j->progress)
                fprintf(stderr, "cerebro-ds: exported shard %s (%llu rows, %d of %d)\n",
                        j->t->shards[i].name, (unsigned long long)nrows, j->done, j->t->nshards);
        } else if (!j->failed) {
            j->failed = true;
            j->err = err;
        }
        pthread_mutex_unlock(&j->lock);
        free(cols);
    }
}

/* A writer thread doubles each column's 1 MiB buffer: only for tables this narrow. */
#define EXPORT_BG_MAX_COLS 64

/* A worker: with j->background, a writer thread of its own overlaps the kernel's copy of
 * each full buffer with the decoding of the next (without one, the worker writes itself). */
static void *export_worker(void *arg)
{
    export_job *j = arg;
    cd_bgwrite *bg = NULL;
    cd_err ignored = {0};
    if (j->background && cd_bgwrite_start(&bg, &ignored) != CD_OK)
        bg = NULL;
    export_shards(j, bg);
    cd_bgwrite_stop(bg);
    return NULL;
}

static cd_code write_table_meta(const export_job *j, cd_err *err)
{
    return write_meta(j->outdir, cd_meta_table(j->p, j->t, j->rows, j->sums), j->mode, err);
}

/* Can no other user change what outdir holds? Owned (and, as a symlink, linked) by us or
 * root, and not writable by others unless sticky. */
static cd_code trusted_outdir(const char *outdir, cd_err *err)
{
    struct stat l, st;
    uid_t me = geteuid();
    if (lstat(outdir, &l) != 0 || stat(outdir, &st) != 0)
        return cd_fail(err, CD_EIO, "could not stat \"%s\": %s", outdir, strerror(errno));
    const char *why = S_ISLNK(l.st_mode) && l.st_uid != me && l.st_uid != 0
                          ? "is a symbolic link of another user"
                          : cd_dir_untrusted(&st, false);
    if (why == NULL)
        return CD_OK;
    cd_fail(err, CD_EINVAL, "output directory \"%s\" %s", outdir, why);
    cd_detail(err, "owner uid %u, mode %04o", (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    return cd_hint(err, "another user could then replace what the export writes: export into a "
                        "directory that only you (or root) can change");
}

static cd_code check_outdir(const char *outdir, const cd_table *t, cd_err *err)
{
    cd_code rc = cd_mkdir_p(outdir, err);
    if (rc == CD_OK)
        rc = trusted_outdir(outdir, err);
    for (int i = 0; i < t->nshards && rc == CD_OK; i++) {
        char path[4200], dirname[256];
        cd_fsname(t->shards[i].name, dirname, sizeof dirname);
        snprintf(path, sizeof path, "%s/%s", outdir, dirname);
        if (access(path, F_OK) == 0) {
            cd_fail(err, CD_EINVAL, "shard directory \"%s\" already exists", path);
            rc = cd_hint(err, "remove it, or export into another directory");
        }
    }
    return rc;
}

static cd_code run_workers(export_job *j, int jobs, cd_err *err)
{
    pthread_t *tids = calloc((size_t)jobs, sizeof *tids);
    if (tids == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    int started = 0;
    for (; started < jobs; started++)
        if (pthread_create(&tids[started], NULL, export_worker, j) != 0)
            break;
    if (started == 0)
        export_worker(j);
    for (int i = started - 1; i >= 0; i--)
        pthread_join(tids[i], NULL);
    free(tids);
    if (j->failed && err != NULL)
        *err = j->err;
    return j->failed ? j->err.code : CD_OK;
}

/* The progress line before the first shard: how many jobs, and why a writer thread or not. */
static void say_plan(const cd_table *t, int jobs, bool background)
{
    const char *why = background                      ? ""
                      : t->ncols > EXPORT_BG_MAX_COLS ? " (more than 64 columns)"
                                                      : " (no CPU left beside the jobs)";
    fprintf(stderr, "cerebro-ds: exporting %s: %d shard%s, %d job%s, writer threads: %s%s\n",
            t->qualname, t->nshards, t->nshards == 1 ? "" : "s", jobs, jobs == 1 ? "" : "s",
            background ? "yes" : "no", why);
}

static cd_code export_pinned(const cd_admin_opts *o, cd_pin *p, const cd_table *t,
                             const char *outdir, cd_err *err)
{
    export_job j = {.p = p,
                    .t = t,
                    .outdir = outdir,
                    .mode = o->mode ? o->mode : 0640,
                    .progress = o->progress};
    row_counts counts = {.p = p, .t = t};
    j.rows = calloc((size_t)t->nshards + 1, sizeof *j.rows);
    j.sums = calloc((size_t)t->nshards * (size_t)t->ncols + 1, sizeof *j.sums);
    j.exported = calloc((size_t)t->nshards + 1, sizeof *j.exported);
    j.counts = &counts;
    cd_code rc = (j.rows && j.sums && j.exported) ? check_outdir(outdir, t, err)
                                                  : cd_fail(err, CD_ENOMEM, "out of memory");
    if (rc == CD_OK && o->verify_count)
        rc = cd_shard_counts_send(p, t, err);
    counts.asked = rc == CD_OK && o->verify_count;
    pthread_mutex_init(&counts.lock, NULL);
    pthread_mutex_init(&j.lock, NULL);
    int jobs = o->jobs < 1 ? 1 : o->jobs > t->nshards ? (t->nshards ? t->nshards : 1) : o->jobs;
    j.background = cd_bgwrite_worthwhile(jobs) && t->ncols <= EXPORT_BG_MAX_COLS;
    if (o->progress)
        say_plan(t, jobs, j.background);
    if (rc == CD_OK)
        rc = run_workers(&j, jobs, err);
    if (rc == CD_EUNDECIDED) { /* a multixact newer than the checkpoint: once more */
        j.next = 0;
        j.failed = false;
        rc = cd_pin_recheckpoint(p, err);
        if (rc == CD_OK)
            rc = run_workers(&j, jobs, err);
    }
    if (rc == CD_OK)
        rc = write_table_meta(&j, err);
    pthread_mutex_destroy(&j.lock);
    pthread_mutex_destroy(&counts.lock);
    free(j.exported);
    free(j.sums);
    free(j.rows);
    return rc;
}

cd_code cd_cmd_export(const cd_admin_opts *o, const char *table, const char *outdir, cd_err *err)
{
    cd_pin *p;
    cd_table *t;
    cd_code rc = cd_pin_table(&o->pin, table, &p, &t, err);
    if (rc == CD_OK)
        rc = export_pinned(o, p, t, outdir, err);
    cd_table_free(&t);
    cd_pin_close(&p);
    return rc;
}
