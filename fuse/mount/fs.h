/*
 * fs.h: the insides of cerebro-ds-fuse, shared by the fs_*.c files: the served databases
 * and tables, the inode table, snapshot generations and their lifetime.
 *
 * Inodes. Static nodes (root, .cerebro-ds and its files, database and table directories)
 * live until unmount; their inode is their index + 1 in fs.snodes. Every snapshot of a
 * table is a generation (fs_gen): its table-level files, shard directories and shard files
 * get a fresh, contiguous inode range [base, base + count) from FS_DYN_INO on, so a new
 * snapshot never shows an inode number of an old one, and the kernel's page cache of an
 * inode (keep_cache) is never stale. Node i of a generation: table files first (meta), then
 * the shard directories, then the files of shard 0, shard 1, ...
 *
 * Lifetime. A generation is held by: being its table's current one, the kernel's lookup
 * counts of its nodes (lookup/readdirplus add, forget subtracts), and open files and
 * directories (refs). When none is left it is released: cd_vtable_close rolls back the
 * pinning transaction and drops its cached chunks. Nobody can hold an old snapshot for
 * long: release_grace seconds after a refresh replaced it (fs_gen_sweep), or at once when
 * its table would hold more than max_snapshots or the daemon more than max_connections
 * connections, its snapshot is released (cd_vtable_release) while its nodes stay: their
 * opens and reads then fail with ESTALE, and the memory goes with the last holder.
 *
 * Memory of handles. Every open file and directory and every listing is charged to
 * fs.handle_bytes, bounded by handles_mb (EMFILE past it). A generation directory's
 * listing is made once and shared by all its handles (fs_gen.lists).
 *
 * Lock order: fs_table.pin_lock, then fs.lock. fs.lock guards the node tables, the
 * generations' counts and each table's current generation; it is held only briefly, and
 * no call that blocks on the database, the cache or a vtable's own lock runs under it
 * (cd_vtable_open/read/may_select/close never; the lock-free accessors of an open vtable,
 * names, files and sizes, may). pin_lock serializes pinning one table (first access,
 * refresh) so it happens once; other tables pin in parallel.
 */
#ifndef CD_FS_H
#define CD_FS_H

/* 3.12: fuse_loop_cfg_set_max_threads (the 3.5 loop config caps the pool at 10 threads) */
#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "cache.h"
#include "cd_err.h"
#include "config.h"
#include "vtable.h"

#define FS_DYN_INO ((uint64_t)1 << 32) /* first inode of generations */
#define FS_ROOT_INO 1
#define FS_MAX_READ ((size_t)1 << 20) /* largest read and readahead asked of the kernel */

typedef struct cd_fs cd_fs;
typedef struct fs_db fs_db;
typedef struct fs_table fs_table;
typedef struct fs_gen fs_gen;

typedef enum fs_kind {
    FS_ROOT,
    FS_CTLDIR,  /* .cerebro-ds */
    FS_CTLFILE, /* .cerebro-ds/stats, version, control */
    FS_DB,      /* <database> */
    FS_TABLE,   /* <database>/<schema>.<table> */
    FS_TFILE,   /* a file of the table directory (meta) */
    FS_SHARD,   /* a shard directory */
    FS_FILE,    /* a file of a shard directory */
} fs_kind;

typedef enum fs_ctl { FS_CTL_STATS, FS_CTL_VERSION, FS_CTL_CONTROL } fs_ctl;

/* A static node. */
typedef struct fs_snode {
    fs_kind kind;
    fs_ctl ctl;      /* FS_CTLFILE */
    uint64_t ino;    /* index + 1 */
    uint64_t parent; /* inode of its directory */
    char *name;      /* entry name (encoded); "" for the root */
    fs_db *db;       /* FS_DB, FS_TABLE */
    fs_table *table; /* FS_TABLE */
} fs_snode;

/* One snapshot of one table and the inodes of its files. */
struct fs_gen {
    fs_table *table;
    cd_vtable *v;
    uint64_t serial;      /* 1 for the table's first snapshot, then 2, ... */
    uint64_t base, count; /* inodes [base, base + count) */
    int ntfiles, nshards;
    uint64_t *first;   /* [nshards + 1] node index of each shard's first file; [nshards]: count */
    uint64_t *nlookup; /* [count] the kernel's lookup count of each node (fs.lock) */
    uint64_t lookups;  /* sum of nlookup (fs.lock) */
    uint64_t refs;     /* open files and directories, and callers holding it (fs.lock) */
    bool current;      /* the table's current generation (fs.lock) */
    time_t pinned;     /* when it was pinned: mtime of its nodes */
    time_t retired;    /* when a refresh replaced it (fs.lock) */
    bool released;     /* its snapshot was released early (fs.lock) */
    struct fs_listing **lists; /* [1 + nshards] shared listings: the table directory, then
                                  each shard's; made at the first opendir (fs.lock) */
    char priv_role[8][64];     /* last answers of the privilege check (fs.lock) */
    bool priv_yes[8];
    int priv_next;
};

struct fs_table {
    fs_db *db;
    char name[320];    /* schema.table as shown (the directory name, before encoding) */
    char regname[330]; /* as given to cd_vtable_open */
    uint64_t ino;      /* its directory */
    int block_shards;  /* > 0: N block ranges */
    char *columns;     /* NULL: every supported column */
    pthread_mutex_t pin_lock;
    fs_gen *cur; /* current generation, NULL before the first access (fs.lock) */
};

struct fs_db {
    char name[128];    /* current_database() */
    char *conninfo;    /* libpq connection string with this dbname */
    char role[128];    /* current_user of conninfo: the role of the daemon's own user */
    uint64_t ino;      /* its directory */
    fs_table **tables; /* [ntables] (fs.lock: grows when a refresh lists new tables) */
    int ntables, cap;
    PGconn *priv;              /* asks privileges before a pin (fs_gen.c), opened at need */
    pthread_mutex_t priv_lock; /* guards priv */
};

typedef struct fs_rolemap {
    char user[64];
    char role[64];
} fs_rolemap;

struct cd_fs {
    const cd_config *cfg; /* not owned; lives until fs_free */
    cd_cache *cache;
    struct fuse_session *se; /* set by main before the loop (invalidations) */
    pthread_mutex_t lock;
    fs_snode **snodes; /* [nsnodes] (fs.lock) */
    size_t nsnodes, capsnodes;
    fs_gen **gens; /* [ngens] live generations, by base (fs.lock) */
    size_t ngens, capgens;
    uint64_t next_ino; /* next generation's base (fs.lock) */
    fs_db **dbs;       /* [ndbs], fixed at start */
    int ndbs;
    fs_rolemap *rolemap; /* [nrolemap] */
    int nrolemap;
    uid_t uid; /* the daemon's own user */
    gid_t gid;
    time_t started;
    char control[108];   /* abstract socket name of the control server, without the NUL */
    int conns;           /* database connections held: live snapshots + privilege (fs.lock) */
    int max_conns;       /* [database] max_connections */
    int max_snapshots;   /* [mount] max_snapshots */
    int grace;           /* [mount] release_grace, seconds */
    size_t handle_limit; /* [mount] handles_mb in bytes */
    atomic_size_t handle_bytes; /* charged by open handles and listings */
    atomic_uint_fast64_t handles_refused;
    /* counters for .cerebro-ds/stats */
    atomic_uint_fast64_t opens, opens_denied, open_files, reads, read_bytes, read_errors;
    atomic_uint_fast64_t pins, pin_errors, refreshes, released;
};

/* An open file (fi->fh). */
typedef struct fs_file {
    fs_kind kind; /* FS_CTLFILE, FS_TFILE or FS_FILE */
    fs_gen *g;    /* referenced; NULL for control files */
    const cd_vfile *f;
    char *text; /* control files: the contents, made at open */
    size_t len;
    fs_ctl ctl; /* which control file */
} fs_file;

/* Attributes and timeouts of a node. */
typedef struct fs_attr {
    struct stat st;
    double attr_timeout, entry_timeout;
} fs_attr;

/* A directory entry as readdir returns it. */
typedef struct fs_dirent {
    char *name;
    fs_attr a;
    bool plus; /* may be returned with attributes (and a lookup count) by readdirplus */
} fs_dirent;

/* The entries of a directory, made at an opendir: shared by the handles of a generation
 * directory (owned by the generation), owned by its one handle for other directories. */
typedef struct fs_listing {
    fs_dirent *ents;
    size_t n, cap;
    size_t bytes; /* charged to fs.handle_bytes */
} fs_listing;

/* An open directory (fi->fh). */
typedef struct fs_dir {
    fs_gen *g;           /* referenced while open, for generation directories */
    const fs_listing *l; /* its entries */
    fs_listing *own;     /* l when it is this handle's own (static directories) */
} fs_dir;

/* ---- fs_setup.c: from the configuration to databases and tables ---- */

/* Connect to each database, list its tables, make the cache and the static nodes. */
cd_code fs_new(cd_fs **out, const cd_config *cfg, cd_err *err);
/* Release every generation (snapshot), the cache, everything. */
void fs_free(cd_fs **fsp);
/* List the tables of each database again (schemas); new ones are added. */
cd_code fs_relist(cd_fs *fs, cd_err *err);
/* The database role of OS user uid in db (role_map, own user = db->role, else the name). */
void fs_role_for(const cd_fs *fs, const fs_db *db, uid_t uid, char *user, size_t usize, char *role,
                 size_t rsize);
/* "db/schema.table" of t. */
static inline const char *fs_table_path(const fs_table *t, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", t->db->name, t->name);
    return buf;
}

/* ---- fs_caps.c ---- */

/* Started as root: keep only CAP_DAC_READ_SEARCH and CAP_SYS_ADMIN, set no_new_privs. */
cd_code fs_drop_caps(cd_err *err);

/* ---- fs_gen.c: generations: pinning, refresh, release ---- */

/* The current generation of t, pinning it first when it has none; referenced (fs_gen_put). */
int fs_table_gen(cd_fs *fs, fs_table *t, fs_gen **out);
/* The same for a request of user uid: a pin it would cause needs its role to have SELECT on
 * the table first (the daemon's own user needs nothing), else EACCES, logged; a table
 * pinned already is returned as is (opening its files is checked then). */
int fs_table_gen_for(cd_fs *fs, fs_table *t, uid_t uid, fs_gen **out);
/* Close the privilege connection of db. */
void fs_db_priv_close(fs_db *db);
void fs_gen_put(cd_fs *fs, fs_gen *g);
/* Take a new snapshot of t (and pin it when it had none), as part of cluster cut `cut` (its
 * meta files then say so) or of none (NULL). */
cd_code fs_refresh_table(cd_fs *fs, fs_table *t, const char *cut, cd_err *err);
/* The live generation holding inode ino, or NULL (fs.lock held). */
fs_gen *fs_gen_find(cd_fs *fs, uint64_t ino);
/* If nothing holds g any more, take it out of fs->gens and return true: the caller then
 * releases it with fs_gen_free after unlocking (fs.lock held). */
bool fs_gen_take_unused(cd_fs *fs, fs_gen *g);
/* Release the snapshot of a generation out of fs->gens, and its memory (no lock held). */
void fs_gen_free(cd_fs *fs, fs_gen *g);
/* Release the snapshots of generations replaced more than release_grace seconds ago that
 * something still holds (the control thread runs it every second). */
void fs_gen_sweep(cd_fs *fs);
/* Charge (bytes > 0) or refund (< 0) handle memory: false (nothing charged) past
 * handles_mb, logged at most once a second. */
bool fs_charge(cd_fs *fs, long long bytes);
/* Free a listing and refund it. */
void fs_listing_free(cd_fs *fs, struct fs_listing *l);

/* ---- fs_tree.c: the inode table ---- */

cd_code fs_tree_init(cd_fs *fs, cd_err *err);
/* Add a static node under parent (fs.lock held, or before the loop). NULL: no memory. */
fs_snode *fs_snode_add(cd_fs *fs, fs_kind kind, uint64_t parent, const char *name);
int fs_lookup(cd_fs *fs, uint64_t parent, const char *name, uid_t uid, fs_attr *a);
int fs_getattr(cd_fs *fs, uint64_t ino, fs_attr *a);
void fs_forget(cd_fs *fs, uint64_t ino, uint64_t nlookup);
int fs_opendir(cd_fs *fs, uint64_t ino, uid_t uid, fs_dir **out);
void fs_closedir(cd_fs *fs, fs_dir *d);
/* A readdirplus entry was sent: one more lookup of its inode. */
void fs_dirent_sent(cd_fs *fs, uint64_t ino);
int fs_open(cd_fs *fs, uint64_t ino, fs_file **out);
void fs_close(cd_fs *fs, fs_file *f);
/* Release every generation at unmount. */
void fs_tree_free(cd_fs *fs);
/* "db/schema.table/shard/file" of an open file. */
const char *fs_file_path(const fs_file *f, char *buf, size_t size);

/* ---- fs_ctl.c: the control socket, refresh, stats ---- */

/* Open the control socket and start its thread (after daemonizing: the name has the pid). */
cd_code fs_ctl_start(cd_fs *fs, cd_err *err);
void fs_ctl_stop(cd_fs *fs);
/* Async-signal-safe: ask the control thread to refresh every table (SIGHUP). */
void fs_ctl_request_refresh(void);
/* Run one control command line; the answer line (with "\n") into reply. */
void fs_ctl_command(cd_fs *fs, const char *line, char *reply, size_t size);
/* fs_stats.c: the text of .cerebro-ds/stats (malloc'd). */
char *fs_stats_text(cd_fs *fs, size_t *len);
/* Pin every table now (--preload), in a thread of its own. */
void fs_preload_start(cd_fs *fs);
void fs_preload_join(void);

/* ---- fs_ops.c ---- */

extern const struct fuse_lowlevel_ops fs_ops;

#endif
