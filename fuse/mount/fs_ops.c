/*
 * fs_ops.c: the FUSE low-level operations of cerebro-ds-fuse: a thin front end over the
 * inode table (fs_tree.c) and the pinned tables (vtable.h). Privileges are checked and
 * every open of a table file is logged here; cd_code becomes errno here (cd_code_errno).
 * Read-only: every operation that would write answers EROFS.
 * Does not: decode (vtable.h), pin (fs_tree.c), parse options (main_cerebro_ds_fuse.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs.h"
#include "fs_log.h"

static cd_fs *fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* ---- session ---- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    conn->max_readahead = (unsigned)FS_MAX_READ; /* the kernel keeps the smaller of its own */
    /* libfuse derives the largest request (max_pages) from max_write: 1 MiB reads, not
     * 128 KiB ones, for a read-only file system too */
    conn->max_write = (unsigned)FS_MAX_READ;
    if (conn->capable & FUSE_CAP_ASYNC_READ)
        conn->want |= FUSE_CAP_ASYNC_READ;
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
        conn->want |= FUSE_CAP_PARALLEL_DIROPS;
    cd_log(CD_LOG_DEBUG, "kernel: protocol %u.%u, max_read %u, max_readahead %u", conn->proto_major,
           conn->proto_minor, conn->max_read, conn->max_readahead);
}

/* ---- names and attributes ---- */

static void reply_entry(fuse_req_t req, const fs_attr *a)
{
    struct fuse_entry_param e = {.ino = a->st.st_ino,
                                 .attr = a->st,
                                 .attr_timeout = a->attr_timeout,
                                 .entry_timeout = a->entry_timeout};
    if (fuse_reply_entry(req, &e) != 0) /* the kernel did not get it: it holds no lookup */
        fs_forget(fs_of(req), e.ino, 1);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fs_attr a;
    int e = fs_lookup(fs_of(req), parent, name, fuse_req_ctx(req)->uid, &a);
    if (e != 0)
        fuse_reply_err(req, e);
    else
        reply_entry(req, &a);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    fs_forget(fs_of(req), ino, nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        fs_forget(fs_of(req), forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fs_attr a;
    int e = fs_getattr(fs_of(req), ino, &a);
    if (e != 0)
        fuse_reply_err(req, e);
    else
        fuse_reply_attr(req, &a.st, a.attr_timeout);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    fs_attr a;
    int e = fs_getattr(fs_of(req), ino, &a);
    if (e == 0 && (mask & W_OK))
        e = EROFS;
    else if (e == 0 && (mask & X_OK) && !S_ISDIR(a.st.st_mode))
        e = EACCES;
    fuse_reply_err(req, e);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct statvfs st = {.f_bsize = FS_MAX_READ, .f_frsize = 4096, .f_namemax = 255};
    st.f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
    fuse_reply_statfs(req, &st);
}

/* ---- directories ---- */

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fs_dir *d;
    int e = fs_opendir(fs_of(req), ino, fuse_req_ctx(req)->uid, &d);
    if (e != 0) {
        fuse_reply_err(req, e);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    /* a generation's shard directory never changes; a table directory does at refresh */
    fi->cache_readdir = fi->keep_cache = ino >= FS_DYN_INO;
    if (fuse_reply_open(req, fi) != 0)
        fs_closedir(fs_of(req), d);
}

static void readdir_common(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
                           bool plus)
{
    fs_dir *d = (fs_dir *)(uintptr_t)fi->fh;
    char *buf = malloc(size);
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t used = 0;
    for (size_t i = (size_t)off; i < d->l->n; i++) {
        const fs_dirent *de = &d->l->ents[i];
        size_t need;
        if (plus) {
            struct fuse_entry_param e = {.attr = de->a.st,
                                         .attr_timeout = de->a.attr_timeout,
                                         .entry_timeout = de->a.entry_timeout};
            e.ino = de->plus ? de->a.st.st_ino : 0; /* 0: no attributes, no lookup count */
            need = fuse_add_direntry_plus(req, buf + used, size - used, de->name, &e, (off_t)i + 1);
            if (need <= size - used && de->plus)
                fs_dirent_sent(fs_of(req), e.ino);
        } else {
            need =
                fuse_add_direntry(req, buf + used, size - used, de->name, &de->a.st, (off_t)i + 1);
        }
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    readdir_common(req, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    readdir_common(req, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fs_closedir(fs_of(req), (fs_dir *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

/* ---- privileges ---- */

/* The answer of the last successful check of role in g, for when the server is gone. */
static bool priv_recall(cd_fs *fs, fs_gen *g, const char *role, bool *yes)
{
    bool found = false;
    pthread_mutex_lock(&fs->lock);
    for (int i = 0; i < 8 && !found; i++)
        if (strcmp(g->priv_role[i], role) == 0)
            *yes = g->priv_yes[i], found = true;
    pthread_mutex_unlock(&fs->lock);
    return found;
}

static void priv_remember(cd_fs *fs, fs_gen *g, const char *role, bool yes)
{
    pthread_mutex_lock(&fs->lock);
    int slot = -1;
    for (int i = 0; i < 8 && slot < 0; i++)
        if (strcmp(g->priv_role[i], role) == 0)
            slot = i;
    if (slot < 0)
        slot = g->priv_next++ % 8;
    snprintf(g->priv_role[slot], sizeof g->priv_role[slot], "%s", role);
    g->priv_yes[slot] = yes;
    pthread_mutex_unlock(&fs->lock);
}

/* May the user of req read h? Logs the access line (uid, role, table, shard, snapshot). */
static int check_access(fuse_req_t req, fs_file *h)
{
    cd_fs *fs = fs_of(req);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    char user[64], role[128], path[1024], table[512];
    fs_table *t = h->g->table;
    fs_role_for(fs, t->db, ctx->uid, user, sizeof user, role, sizeof role);
    bool yes = false;
    cd_err err = {0};
    if (cd_vtable_may_select(h->g->v, role, &yes, &err) == CD_OK) {
        priv_remember(fs, h->g, role, yes);
    } else if (!priv_recall(fs, h->g, role, &yes)) {
        cd_log_err(CD_LOG_ERROR, &err, "could not check SELECT of role %s on %s; refusing", role,
                   fs_file_path(h, path, sizeof path));
        return EIO;
    }
    const char *shard = h->f->shard < 0 ? "-" : cd_vtable_shard_dir(h->g->v, h->f->shard);
    cd_log(yes ? CD_LOG_INFO : CD_LOG_WARNING,
           "access %s: uid=%u user=%s role=%s table=%s shard=%s file=%s snapshot=%s pid=%d",
           yes ? "allowed" : "denied", (unsigned)ctx->uid, user, role,
           fs_table_path(t, table, sizeof table), shard, h->f->name, cd_vtable_snapshot(h->g->v),
           (int)ctx->pid);
    if (!yes) {
        atomic_fetch_add(&fs->opens_denied, 1);
        cd_log(CD_LOG_WARNING,
               "permission denied for table %s to role %s (HINT: GRANT SELECT ON "
               "%s TO %s, then cerebro-ds refresh)",
               table, role, t->regname, role);
        return EACCES;
    }
    return 0;
}

/* ---- files ---- */

/* .cerebro-ds/stats counts every user's opens and bytes: the daemon's user and root only. */
static int check_stats(fuse_req_t req)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    if (ctx->uid == 0 || ctx->uid == fs_of(req)->uid)
        return 0;
    cd_log(CD_LOG_WARNING, "uid %u may not read .cerebro-ds/stats: only uid %u or root",
           (unsigned)ctx->uid, (unsigned)fs_of(req)->uid);
    return EACCES;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    cd_fs *fs = fs_of(req);
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
        fuse_reply_err(req, EROFS);
        return;
    }
    fs_file *h = NULL;
    int e = fs_open(fs, ino, &h);
    if (e == 0 && h->g != NULL && (e = check_access(req, h)) != 0)
        fs_close(fs, h);
    if (e == 0 && h->kind == FS_CTLFILE && h->ctl == FS_CTL_STATS && (e = check_stats(req)) != 0)
        fs_close(fs, h);
    if (e != 0) {
        fuse_reply_err(req, e);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = h->g == NULL;  /* control files are made at open: no page cache */
    fi->keep_cache = h->g != NULL; /* a generation's files never change */
    atomic_fetch_add(&fs->opens, 1);
    atomic_fetch_add(&fs->open_files, 1);
    if (fuse_reply_open(req, fi) != 0) {
        atomic_fetch_sub(&fs->open_files, 1);
        fs_close(fs, h);
    }
}

/* A control file's text. Copied out: once the reply is written, the kernel may complete the
 * read and the release may free h before fuse_reply_buf has returned. */
static void read_ctl(fuse_req_t req, const fs_file *h, size_t size, off_t off)
{
    size_t n = (size_t)off >= h->len ? 0 : h->len - (size_t)off;
    n = n < size ? n : size;
    char *copy = malloc(n ? n : 1);
    if (copy == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    memcpy(copy, h->text + (n ? off : 0), n);
    fuse_reply_buf(req, copy, n);
    free(copy);
}

/* Fill buf with size bytes at off (fewer only at the end of the file: a short read means
 * end of file to the kernel). */
static cd_code read_full(fs_file *h, size_t size, uint64_t off, uint8_t *buf, size_t *total,
                         cd_err *err)
{
    *total = 0;
    while (*total < size) {
        size_t got = 0;
        cd_code rc =
            cd_vtable_read(h->g->v, h->f, off + *total, size - *total, buf + *total, &got, err);
        if (rc != CD_OK)
            return rc;
        if (got == 0)
            break;
        *total += got;
    }
    return CD_OK;
}

/* Each FUSE worker thread keeps one reply buffer of the largest read it has served (at most
 * FS_MAX_READ), freed when the thread exits: a buffer per request came from a fresh mapping
 * (reads are up to 1 MiB) and faulted in every page of every request. */
static pthread_key_t reply_key;
static pthread_once_t reply_once = PTHREAD_ONCE_INIT;

typedef struct reply_buf {
    size_t cap;
    uint8_t data[];
} reply_buf;

static void reply_key_make(void)
{
    pthread_key_create(&reply_key, free);
}

static uint8_t *reply_buffer(size_t size)
{
    pthread_once(&reply_once, reply_key_make);
    reply_buf *b = pthread_getspecific(reply_key);
    if (b != NULL && b->cap >= size)
        return b->data;
    reply_buf *nb = malloc(sizeof *nb + (size ? size : 1));
    if (nb == NULL)
        return NULL;
    nb->cap = size;
    if (pthread_setspecific(reply_key, nb) != 0) {
        free(nb);
        return NULL;
    }
    free(b);
    return nb->data;
}

typedef struct iov_reply {
    fuse_req_t req;
    size_t total;
} iov_reply;

/* The reply straight from the cache's memory (cd_vtable_read_iov). */
static cd_code reply_iov(void *arg, const struct iovec *iov, int cnt, cd_err *err)
{
    iov_reply *r = arg;
    for (int i = 0; i < cnt; i++)
        r->total += iov[i].iov_len;
    fuse_reply_iov(r->req, iov, cnt);
    return CD_OK;
}

/* A read of column data, answered (CD_OK) without copying it when it can be, else copied
 * into a reply buffer by read_full; an error is left for the caller to answer. */
static cd_code read_data(fuse_req_t req, fs_file *h, size_t size, uint64_t off, size_t *total,
                         cd_err *err)
{
    iov_reply r = {.req = req};
    bool served = false;
    cd_code rc = cd_vtable_read_iov(h->g->v, h->f, off, size, reply_iov, &r, &served, err);
    *total = r.total;
    if (rc != CD_OK || served)
        return rc;
    uint8_t *buf = reply_buffer(size);
    if (buf == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory for a reply of %zu bytes", size);
    rc = read_full(h, size, off, buf, total, err);
    if (rc == CD_OK)
        fuse_reply_buf(req, (const char *)buf, *total);
    return rc;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    cd_fs *fs = fs_of(req);
    fs_file *h = (fs_file *)(uintptr_t)fi->fh;
    if (h->g == NULL) {
        read_ctl(req, h, size, off);
        return;
    }
    size_t total = 0;
    cd_err err = {0};
    cd_code rc = read_data(req, h, size, (uint64_t)off, &total, &err);
    atomic_fetch_add(&fs->reads, 1);
    if (rc == CD_OK) {
        atomic_fetch_add(&fs->read_bytes, total);
    } else {
        char path[1024];
        atomic_fetch_add(&fs->read_errors, 1);
        cd_log_err(CD_LOG_ERROR, &err, "read of %s (snapshot %s), bytes %lld..%lld, failed",
                   fs_file_path(h, path, sizeof path), cd_vtable_snapshot(h->g->v), (long long)off,
                   (long long)off + (long long)size);
        /* a snapshot released after its grace period: the handle is stale */
        fuse_reply_err(req, cd_vtable_released(h->g->v) ? ESTALE : cd_code_errno(rc));
    }
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    cd_fs *fs = fs_of(req);
    atomic_fetch_sub(&fs->open_files, 1);
    fs_close(fs, (fs_file *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

/* ---- everything that would write: EROFS ---- */

static void erofs(fuse_req_t req)
{
    fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m)
{
    erofs(req);
}

static void op_mknod(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, dev_t r)
{
    erofs(req);
}

static void op_unlink(fuse_req_t req, fuse_ino_t p, const char *n)
{
    erofs(req);
}

static void op_symlink(fuse_req_t req, const char *l, fuse_ino_t p, const char *n)
{
    erofs(req);
}

static void op_rename(fuse_req_t req, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn,
                      unsigned int flags)
{
    erofs(req);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t np, const char *nn)
{
    erofs(req);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a, int to_set,
                       struct fuse_file_info *fi)
{
    erofs(req);
}

static void op_create(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
                      struct fuse_file_info *fi)
{
    erofs(req);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *b, size_t s, off_t o,
                     struct fuse_file_info *fi)
{
    erofs(req);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *n, const char *v, size_t s,
                        int f)
{
    erofs(req);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *n)
{
    erofs(req);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int m, off_t o, off_t l,
                         struct fuse_file_info *fi)
{
    erofs(req);
}

const struct fuse_lowlevel_ops fs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .access = op_access,
    .statfs = op_statfs,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .open = op_open,
    .read = op_read,
    .release = op_release,
    .mkdir = op_mkdir,
    .mknod = op_mknod,
    .unlink = op_unlink,
    .rmdir = op_unlink,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .setattr = op_setattr,
    .create = op_create,
    .write = op_write,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
    .fallocate = op_fallocate,
};
