/*
 * atomicfile.h: replace a file so that a crash at any moment leaves either the old file or the
 * new one, whole: write a temporary file next to it (PATH.tmp), fsync it, rename it over
 * PATH, fsync the directory. Used by every writer of a file that readers may see at any time
 * (.npy columns, exports' meta, checkpoints, workload copies, reports).
 * Owns: the temporary file while a write is open, and a lock on it (flock) until it is renamed:
 * a second writer of the same path meanwhile fails (CD_EBUSY) instead of removing it as stale.
 */
#ifndef CD_ATOMICFILE_H
#define CD_ATOMICFILE_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cd_err.h"

typedef struct cd_atomic {
    char path[4096]; /* the file to replace */
    char tmp[4100];  /* path + ".tmp" */
    int fd;          /* the temporary file; -1 when closed */
    FILE *f;         /* a stream over fd (cd_atomic_fopen), or NULL */
    int lock_fd;     /* holds the flock on the temporary file until its rename; -1 */
    struct stat st;  /* the temporary file's identity, checked before the rename */
} cd_atomic;

/* Create path's temporary file with mode: a stale one (no writer holds its lock) is removed
 * first, one being written is CD_EBUSY; the create is exclusive and does not follow a
 * symlink (one planted there makes it fail). */
cd_code cd_atomic_open(cd_atomic *a, const char *path, mode_t mode, cd_err *err);
/* The same, with a buffered stream in a->f. */
cd_code cd_atomic_fopen(cd_atomic *a, const char *path, mode_t mode, cd_err *err);
/* Flush, fsync and close the temporary file, rename it over path, fsync the directory. On a
 * failure the temporary file is removed and path is as it was (old file or none). */
cd_code cd_atomic_commit(cd_atomic *a, cd_err *err);
/* Close and remove the temporary file; path is untouched. Safe after a commit. */
void cd_atomic_abort(cd_atomic *a);
/* The whole of it for one buffer. */
cd_code cd_atomic_write(const char *path, const void *data, size_t len, mode_t mode, cd_err *err);

/* The whole of buf to fd (EINTR retried): 0, or an errno (EIO for a zero-byte write). */
int cd_write_all(int fd, const void *buf, size_t n);

/* Start writing fd's dirty pages to disk without waiting for them (sync_file_range), so
 * that a long write leaves little for its final fsync and little dirty memory behind. A hint:
 * errors are left for that fsync to report. */
void cd_writeback_start(int fd);

/* The fsync of path's directory (the rename's durability); an errno or 0. */
int cd_fsync_dir_of(const char *path);

/*
 * Fault injection for tests: when set, called at each step of a commit (1: the temporary
 * file is written and synced, 2: renamed over path, 3: the directory is synced); returning
 * true stops there as a crash would, leaving the files as they are, and the commit fails.
 */
extern bool (*cd_atomic_crash_hook)(int step, const char *path);

#endif
