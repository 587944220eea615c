/*
 * fs_tree.c: the inode table of cerebro-ds-fuse: static nodes, inodes to nodes, attributes,
 * lookups and lookup counts, directory listings, open files (see fs.h for the numbering,
 * the lifetime rules and the lock order).
 * Does not: pin or release snapshots (fs_gen.c), talk FUSE (fs_ops.c), check privileges
 * (fs_ops.c), read file contents (cd_vtable_read, from fs_ops.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "fs_log.h"
#include "sorted.h"

#define STATIC_TIMEOUT 3600.0  /* static names and attributes never change */
#define TABLE_ATTR_TIMEOUT 1.0 /* link counts of database and table directories change */

/* A node as the inode table sees it (valid while fs.lock is held). */
typedef struct fs_node {
    fs_kind kind;
    fs_snode *s; /* static nodes */
    fs_gen *g;   /* generation nodes */
    uint64_t idx;
    int shard;
    const cd_vfile *f;
} fs_node;

static bool is_file(fs_kind k)
{
    return k == FS_TFILE || k == FS_FILE || k == FS_CTLFILE;
}

/* ---- static nodes ---- */

cd_code fs_tree_init(cd_fs *fs, cd_err *err)
{
    fs->next_ino = FS_DYN_INO;
    fs_snode *root = fs_snode_add(fs, FS_ROOT, FS_ROOT_INO, "");
    fs_snode *ctl = fs_snode_add(fs, FS_CTLDIR, FS_ROOT_INO, ".cerebro-ds");
    fs_snode *files[3] = {NULL, NULL, NULL};
    static const char *const names[3] = {"stats", "version", "control"};
    for (int i = 0; i < 3 && ctl != NULL; i++) {
        files[i] = fs_snode_add(fs, FS_CTLFILE, ctl->ino, names[i]);
        if (files[i] != NULL)
            files[i]->ctl = (fs_ctl)i;
    }
    if (root == NULL || ctl == NULL || files[2] == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    return CD_OK;
}

fs_snode *fs_snode_add(cd_fs *fs, fs_kind kind, uint64_t parent, const char *name)
{
    if (fs->nsnodes == fs->capsnodes) {
        size_t cap = fs->capsnodes ? fs->capsnodes * 2 : 64;
        fs_snode **grown = realloc(fs->snodes, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        fs->snodes = grown;
        fs->capsnodes = cap;
    }
    fs_snode *s = calloc(1, sizeof *s);
    if (s == NULL || (s->name = strdup(name)) == NULL) {
        free(s);
        return NULL;
    }
    s->kind = kind;
    s->parent = parent;
    s->ino = fs->nsnodes + 1;
    fs->snodes[fs->nsnodes++] = s;
    return s;
}

static fs_snode *snode(cd_fs *fs, uint64_t ino)
{
    return ino >= 1 && ino <= fs->nsnodes ? fs->snodes[ino - 1] : NULL;
}

/* The static child of directory parent named name, or NULL. */
static fs_snode *snode_child(cd_fs *fs, uint64_t parent, const char *name)
{
    for (size_t i = 0; i < fs->nsnodes; i++)
        if (fs->snodes[i]->parent == parent && fs->snodes[i]->ino != parent &&
            strcmp(fs->snodes[i]->name, name) == 0)
            return fs->snodes[i];
    return NULL;
}

void fs_tree_free(cd_fs *fs)
{
    for (size_t i = 0; i < fs->ngens; i++) {
        fs->gens[i]->table->cur = NULL;
        fs_gen_free(fs, fs->gens[i]);
    }
    free(fs->gens);
    fs->gens = NULL;
    fs->ngens = 0;
    for (size_t i = 0; i < fs->nsnodes; i++) {
        free(fs->snodes[i]->name);
        free(fs->snodes[i]);
    }
    free(fs->snodes);
    fs->snodes = NULL;
    fs->nsnodes = 0;
}

/* ---- nodes ---- */

/* Shard of node idx of g, which is a shard file (binary search over g->first). */
static int shard_of(const fs_gen *g, uint64_t idx)
{
    return (int)cd_last_at_most(g->first, (uint64_t)g->nshards, idx);
}

static bool node_get(cd_fs *fs, uint64_t ino, fs_node *n)
{
    memset(n, 0, sizeof *n);
    n->shard = -1;
    if (ino < FS_DYN_INO) {
        n->s = snode(fs, ino);
        n->kind = n->s ? n->s->kind : FS_ROOT;
        return n->s != NULL;
    }
    fs_gen *g = fs_gen_find(fs, ino);
    if (g == NULL)
        return false;
    n->g = g;
    n->idx = ino - g->base;
    if (n->idx < (uint64_t)g->ntfiles) {
        n->kind = FS_TFILE;
        n->f = cd_vtable_file(g->v, -1, (int)n->idx);
    } else if (n->idx < (uint64_t)g->ntfiles + (uint64_t)g->nshards) {
        n->kind = FS_SHARD;
        n->shard = (int)(n->idx - (uint64_t)g->ntfiles);
    } else {
        n->kind = FS_FILE;
        n->shard = shard_of(g, n->idx);
        n->f = cd_vtable_file(g->v, n->shard, (int)(n->idx - g->first[n->shard]));
    }
    return true;
}

static void stat_common(cd_fs *fs, struct stat *st, uint64_t ino, bool dir, time_t mtime)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_mode = dir ? S_IFDIR | 0555 : S_IFREG | 0444;
    st->st_nlink = dir ? 2 : 1;
    st->st_uid = fs->uid;
    st->st_gid = fs->gid;
    st->st_blksize = (blksize_t)FS_MAX_READ;
    st->st_mtime = st->st_ctime = st->st_atime = mtime;
}

static void set_size(struct stat *st, uint64_t size)
{
    st->st_size = (off_t)size;
    st->st_blocks = (blkcnt_t)((size + 511) / 512);
}

/* Attributes of a static node (fs.lock held). */
static void snode_attr(cd_fs *fs, const fs_snode *s, fs_attr *a)
{
    bool dir = s->kind != FS_CTLFILE;
    stat_common(fs, &a->st, s->ino, dir, fs->started);
    a->attr_timeout = a->entry_timeout = STATIC_TIMEOUT;
    if (s->kind == FS_CTLFILE && s->ctl == FS_CTL_VERSION)
        set_size(&a->st, strlen("cerebro-ds-fuse " CD_VERSION "\n"));
    else if (s->kind == FS_CTLFILE && s->ctl == FS_CTL_CONTROL)
        set_size(&a->st, strlen(fs->control) + 1);
    else if (s->kind == FS_CTLFILE) { /* stats: made at open, read with direct_io */
        a->attr_timeout = 0;
        a->st.st_mode = S_IFREG | 0400; /* other users' opens and bytes: the daemon's user's */
    }
    /* a directory's link count is 2 + its subdirectories (find relies on it) */
    if (s->kind == FS_ROOT)
        a->st.st_nlink = 3 + (nlink_t)fs->ndbs;
    if (s->kind == FS_DB) { /* a refresh may list new tables */
        a->attr_timeout = TABLE_ATTR_TIMEOUT;
        a->st.st_nlink = 2 + (nlink_t)s->db->ntables;
    }
    if (s->kind == FS_TABLE) {
        a->attr_timeout = TABLE_ATTR_TIMEOUT;
        if (s->table->cur != NULL)
            a->st.st_nlink = 2 + (nlink_t)s->table->cur->nshards;
    }
}

/* Attributes of any node (fs.lock held). Generation nodes: names are looked up again at
 * every use (entry timeout 0) so a refresh shows at once; attributes never change. */
static void node_attr(cd_fs *fs, uint64_t ino, const fs_node *n, fs_attr *a)
{
    if (n->s != NULL) {
        snode_attr(fs, n->s, a);
        return;
    }
    stat_common(fs, &a->st, ino, n->kind == FS_SHARD, n->g->pinned);
    a->attr_timeout = STATIC_TIMEOUT;
    a->entry_timeout = 0;
    if (n->f != NULL)
        set_size(&a->st, n->f->size);
}

int fs_getattr(cd_fs *fs, uint64_t ino, fs_attr *a)
{
    fs_node n;
    pthread_mutex_lock(&fs->lock);
    bool ok = node_get(fs, ino, &n);
    if (ok)
        node_attr(fs, ino, &n, a);
    pthread_mutex_unlock(&fs->lock);
    return ok ? 0 : ENOENT;
}

/* ---- lookup and forget ---- */

/* Node index of name in the table directory of g, or -1. */
static int64_t gen_child(const fs_gen *g, int shard, const char *name)
{
    if (shard < 0) {
        for (int i = 0; i < g->ntfiles; i++)
            if (strcmp(cd_vtable_file(g->v, -1, i)->name, name) == 0)
                return i;
        for (int s = 0; s < g->nshards; s++)
            if (strcmp(cd_vtable_shard_dir(g->v, s), name) == 0)
                return g->ntfiles + s;
        return -1;
    }
    int nf = cd_vtable_nfiles(g->v, shard);
    for (int i = 0; i < nf; i++)
        if (strcmp(cd_vtable_file(g->v, shard, i)->name, name) == 0)
            return (int64_t)(g->first[shard] + (uint64_t)i);
    return -1;
}

/* Found node idx of g: count the lookup, fill a (fs.lock held). */
static void gen_found(cd_fs *fs, fs_gen *g, uint64_t idx, fs_attr *a)
{
    fs_node n;
    g->nlookup[idx]++;
    g->lookups++;
    node_get(fs, g->base + idx, &n);
    node_attr(fs, g->base + idx, &n, a);
}

/* Lookup in a table directory: pins the table on its first access. */
static int lookup_in_table(cd_fs *fs, fs_table *t, const char *name, uid_t uid, fs_attr *a)
{
    fs_gen *g;
    int e = fs_table_gen_for(fs, t, uid, &g);
    if (e != 0)
        return e;
    pthread_mutex_lock(&fs->lock);
    int64_t idx = gen_child(g, -1, name);
    if (idx >= 0)
        gen_found(fs, g, (uint64_t)idx, a);
    pthread_mutex_unlock(&fs->lock);
    fs_gen_put(fs, g);
    return idx >= 0 ? 0 : ENOENT;
}

/* A shard that could not be indexed: EIO, logged with the reason (fs.lock not held). */
static int shard_broken(const fs_gen *g, int shard)
{
    cd_err err = {0};
    if (cd_vtable_shard_error(g->v, shard, &err) == CD_OK)
        return 0;
    char path[512];
    cd_log_err(CD_LOG_ERROR, &err, "shard %s of %s is not served", cd_vtable_shard_dir(g->v, shard),
               fs_table_path(g->table, path, sizeof path));
    return EIO;
}

/* Lookup in a shard directory (fs.lock held, released here). */
static int lookup_in_shard(cd_fs *fs, const fs_node *p, const char *name, fs_attr *a)
{
    if (cd_vtable_shard_error(p->g->v, p->shard, NULL) != CD_OK) {
        pthread_mutex_unlock(&fs->lock);
        return shard_broken(p->g, p->shard);
    }
    int64_t idx = gen_child(p->g, p->shard, name);
    if (idx >= 0)
        gen_found(fs, p->g, (uint64_t)idx, a);
    pthread_mutex_unlock(&fs->lock);
    return idx >= 0 ? 0 : ENOENT;
}

/* Lookup in the root, .cerebro-ds or a database directory (fs.lock held, released here). */
static int lookup_static(cd_fs *fs, uint64_t parent, const char *name, uid_t uid, fs_attr *a)
{
    fs_snode *c = snode_child(fs, parent, name);
    fs_table *unpinned = c && c->kind == FS_TABLE && c->table->cur == NULL ? c->table : NULL;
    if (c != NULL)
        snode_attr(fs, c, a);
    pthread_mutex_unlock(&fs->lock);
    if (c == NULL)
        return ENOENT;
    if (unpinned == NULL)
        return 0;
    fs_gen *g; /* a table directory is resolved on its first lookup */
    int e = fs_table_gen_for(fs, unpinned, uid, &g);
    if (e == 0)
        fs_gen_put(fs, g);
    return e == EACCES ? 0 : e; /* it exists; what is in it is refused */
}

int fs_lookup(cd_fs *fs, uint64_t parent, const char *name, uid_t uid, fs_attr *a)
{
    fs_node p;
    pthread_mutex_lock(&fs->lock);
    if (!node_get(fs, parent, &p)) {
        pthread_mutex_unlock(&fs->lock);
        return ENOENT;
    }
    if (p.kind == FS_TABLE) {
        fs_table *t = p.s->table;
        pthread_mutex_unlock(&fs->lock);
        return lookup_in_table(fs, t, name, uid, a);
    }
    if (p.kind == FS_SHARD)
        return lookup_in_shard(fs, &p, name, a);
    if (is_file(p.kind)) {
        pthread_mutex_unlock(&fs->lock);
        return ENOTDIR;
    }
    return lookup_static(fs, parent, name, uid, a);
}

void fs_forget(cd_fs *fs, uint64_t ino, uint64_t nlookup)
{
    if (ino < FS_DYN_INO)
        return; /* static nodes live until unmount */
    pthread_mutex_lock(&fs->lock);
    fs_gen *g = fs_gen_find(fs, ino);
    bool drop = false;
    if (g != NULL) {
        uint64_t *c = &g->nlookup[ino - g->base];
        uint64_t n = nlookup < *c ? nlookup : *c;
        *c -= n;
        g->lookups -= n;
        drop = fs_gen_take_unused(fs, g);
    }
    pthread_mutex_unlock(&fs->lock);
    if (drop)
        fs_gen_free(fs, g);
}

void fs_dirent_sent(cd_fs *fs, uint64_t ino)
{
    if (ino < FS_DYN_INO)
        return;
    pthread_mutex_lock(&fs->lock);
    fs_gen *g = fs_gen_find(fs, ino);
    if (g != NULL) {
        g->nlookup[ino - g->base]++;
        g->lookups++;
    }
    pthread_mutex_unlock(&fs->lock);
}

/* ---- handle memory ---- */

bool fs_charge(cd_fs *fs, long long bytes)
{
    if (bytes <= 0) {
        atomic_fetch_sub(&fs->handle_bytes, (size_t)-bytes);
        return true;
    }
    size_t was = atomic_fetch_add(&fs->handle_bytes, (size_t)bytes);
    if (was + (size_t)bytes <= fs->handle_limit)
        return true;
    atomic_fetch_sub(&fs->handle_bytes, (size_t)bytes);
    uint64_t n = atomic_fetch_add(&fs->handles_refused, 1) + 1;
    static atomic_llong last_log;
    long long now = (long long)time(NULL), prev = atomic_load(&last_log);
    if (now != prev && atomic_compare_exchange_strong(&last_log, &prev, now))
        cd_log(CD_LOG_WARNING,
               "refusing to open more files or directories (EMFILE): open handles and their "
               "listings use %zu of handles_mb = %zu MiB (%llu refused so far); they are "
               "freed as handles close",
               was, fs->handle_limit >> 20, (unsigned long long)n);
    return false;
}

/* ---- directories ---- */

void fs_listing_free(cd_fs *fs, fs_listing *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->ents[i].name);
    free(l->ents);
    fs_charge(fs, -(long long)l->bytes);
    free(l);
}

/* One entry more; charged to the handle memory. */
static bool dir_add(cd_fs *fs, fs_listing *l, const char *name, const fs_attr *a, bool plus)
{
    size_t len = strlen(name) + 1, grow = 0;
    if (l->n == l->cap)
        grow = (l->cap ? l->cap : 8) * sizeof *l->ents;
    if (!fs_charge(fs, (long long)(len + grow)))
        return false;
    l->bytes += len + grow;
    if (grow > 0) {
        size_t c = l->cap ? l->cap * 2 : 8;
        fs_dirent *grown = realloc(l->ents, c * sizeof *grown);
        if (grown == NULL)
            return false;
        l->ents = grown;
        l->cap = c;
    }
    fs_dirent *e = &l->ents[l->n];
    if ((e->name = strdup(name)) == NULL)
        return false;
    e->a = *a;
    e->plus = plus;
    l->n++;
    return true;
}

/* Entries of a static directory (fs.lock held). */
static bool list_static(cd_fs *fs, uint64_t ino, fs_listing *l)
{
    fs_attr a;
    for (size_t i = 0; i < fs->nsnodes; i++) {
        fs_snode *c = fs->snodes[i];
        if (c->parent != ino || c->ino == ino)
            continue;
        snode_attr(fs, c, &a);
        /* an unpinned table gets no attributes: its first lookup pins it */
        bool plus = c->kind != FS_TABLE || c->table->cur != NULL;
        if (!dir_add(fs, l, c->name, &a, plus))
            return false;
    }
    return true;
}

/* Entries of a generation directory: the table directory (shard -1) or a shard's. */
static bool list_gen(cd_fs *fs, fs_gen *g, int shard, fs_listing *l)
{
    fs_attr a;
    fs_node n;
    uint64_t from = shard < 0 ? 0 : g->first[shard];
    uint64_t to = shard < 0 ? (uint64_t)(g->ntfiles + g->nshards) : g->first[shard + 1];
    for (uint64_t i = from; i < to; i++) {
        node_get(fs, g->base + i, &n);
        node_attr(fs, g->base + i, &n, &a);
        const char *name = n.f ? n.f->name : cd_vtable_shard_dir(g->v, n.shard);
        if (!dir_add(fs, l, name, &a, true))
            return false;
    }
    return true;
}

/* "." and "..". */
static bool list_dots(cd_fs *fs, uint64_t ino, uint64_t parent, fs_listing *l)
{
    fs_attr a = {0};
    stat_common(fs, &a.st, ino, true, fs->started);
    if (!dir_add(fs, l, ".", &a, false))
        return false;
    a.st.st_ino = parent;
    return dir_add(fs, l, "..", &a, false);
}

/* The listing of directory node n (fs.lock held): a generation directory's is made once and
 * kept by the generation; any other's is made for this handle (*own). NULL: no memory or
 * past handles_mb. */
static const fs_listing *listing_of(cd_fs *fs, uint64_t ino, const fs_node *n, fs_gen *g,
                                    fs_listing **own)
{
    int slot = n->kind == FS_SHARD ? n->shard + 1 : 0;
    if (g != NULL && g->lists != NULL && g->lists[slot] != NULL)
        return g->lists[slot];
    if (g != NULL && g->lists == NULL &&
        (g->lists = calloc((size_t)g->nshards + 1, sizeof *g->lists)) == NULL)
        return NULL;
    fs_listing *l = calloc(1, sizeof *l);
    uint64_t parent = n->s ? n->s->parent : g->table->ino;
    bool ok = l != NULL && list_dots(fs, ino, parent, l) &&
              (g ? list_gen(fs, g, slot - 1, l) : list_static(fs, ino, l));
    if (!ok) {
        fs_listing_free(fs, l);
        return NULL;
    }
    if (g != NULL)
        g->lists[slot] = l;
    else
        *own = l;
    return l;
}

/* The generation of a directory handle, referenced: a table directory's current one (pinned
 * now if needed, for uid's privilege), a generation directory's own. */
static int dir_gen(cd_fs *fs, const fs_node *n, uid_t uid, fs_gen **g)
{
    *g = NULL;
    if (n->kind == FS_TABLE) { /* listing a table pins it, as a lookup in it would */
        fs_table *t = n->s->table;
        pthread_mutex_unlock(&fs->lock);
        int e = fs_table_gen_for(fs, t, uid, g);
        pthread_mutex_lock(&fs->lock);
        return e;
    }
    if (n->g != NULL && !is_file(n->kind)) {
        if (n->g->released)
            return ESTALE;
        *g = n->g;
        n->g->refs++;
    }
    return 0;
}

int fs_opendir(cd_fs *fs, uint64_t ino, uid_t uid, fs_dir **out)
{
    if (!fs_charge(fs, sizeof(fs_dir)))
        return EMFILE;
    fs_dir *d = calloc(1, sizeof *d);
    if (d == NULL) {
        fs_charge(fs, -(long long)sizeof(fs_dir));
        return ENOMEM;
    }
    fs_node n;
    pthread_mutex_lock(&fs->lock);
    bool ok = node_get(fs, ino, &n);
    int e = !ok ? ENOENT : is_file(n.kind) ? ENOTDIR : dir_gen(fs, &n, uid, &d->g);
    if (e == 0 && n.kind == FS_SHARD && cd_vtable_shard_error(n.g->v, n.shard, NULL) != CD_OK)
        e = EIO; /* logged below, outside fs.lock */
    if (e == 0 && (d->l = listing_of(fs, ino, &n, d->g, &d->own)) == NULL)
        e = atomic_load(&fs->handle_bytes) + 4096 > fs->handle_limit ? EMFILE : ENOMEM;
    pthread_mutex_unlock(&fs->lock);
    if (e == EIO)
        shard_broken(n.g, n.shard);
    if (e != 0) {
        fs_closedir(fs, d);
        return e;
    }
    *out = d;
    return 0;
}

void fs_closedir(cd_fs *fs, fs_dir *d)
{
    if (d == NULL)
        return;
    fs_listing_free(fs, d->own);
    if (d->g != NULL)
        fs_gen_put(fs, d->g);
    free(d);
    fs_charge(fs, -(long long)sizeof(fs_dir));
}

/* ---- files ---- */

/* Contents of a control file, made at open. */
static char *ctl_text(cd_fs *fs, fs_ctl ctl, size_t *len)
{
    char *text = NULL;
    if (ctl == FS_CTL_STATS)
        return fs_stats_text(fs, len);
    if (ctl == FS_CTL_VERSION)
        text = strdup("cerebro-ds-fuse " CD_VERSION "\n");
    else if (asprintf(&text, "%s\n", fs->control) < 0)
        text = NULL;
    *len = text ? strlen(text) : 0;
    return text;
}

int fs_open(cd_fs *fs, uint64_t ino, fs_file **out)
{
    fs_node n;
    if (!fs_charge(fs, sizeof(fs_file)))
        return EMFILE;
    fs_file *f = calloc(1, sizeof *f);
    if (f == NULL) {
        fs_charge(fs, -(long long)sizeof(fs_file));
        return ENOMEM;
    }
    pthread_mutex_lock(&fs->lock);
    bool ok = node_get(fs, ino, &n);
    int e = !ok ? ENOENT : is_file(n.kind) ? 0 : EISDIR;
    if (e == 0 && n.g != NULL && n.g->released)
        e = ESTALE;
    if (e == 0 && n.g != NULL) {
        n.g->refs++;
        f->g = n.g;
        f->f = n.f;
    }
    fs_ctl ctl = n.s ? n.s->ctl : FS_CTL_STATS;
    pthread_mutex_unlock(&fs->lock);
    f->kind = n.kind;
    f->ctl = ctl;
    if (e == 0 && n.kind == FS_CTLFILE && (f->text = ctl_text(fs, ctl, &f->len)) == NULL)
        e = ENOMEM;
    if (e == 0 && f->text != NULL && !fs_charge(fs, (long long)f->len)) {
        free(f->text); /* not charged */
        f->text = NULL;
        e = EMFILE;
    }
    if (e != 0) {
        fs_close(fs, f);
        return e;
    }
    *out = f;
    return 0;
}

void fs_close(cd_fs *fs, fs_file *f)
{
    if (f == NULL)
        return;
    if (f->g != NULL)
        fs_gen_put(fs, f->g);
    if (f->text != NULL)
        fs_charge(fs, -(long long)f->len);
    free(f->text);
    free(f);
    fs_charge(fs, -(long long)sizeof(fs_file));
}

const char *fs_file_path(const fs_file *f, char *buf, size_t size)
{
    char table[512];
    if (f->g == NULL) {
        snprintf(buf, size, ".cerebro-ds");
        return buf;
    }
    fs_table_path(f->g->table, table, sizeof table);
    if (f->f->shard < 0)
        snprintf(buf, size, "%s/%s", table, f->f->name);
    else
        snprintf(buf, size, "%s/%s/%s", table, cd_vtable_shard_dir(f->g->v, f->f->shard),
                 f->f->name);
    return buf;
}
