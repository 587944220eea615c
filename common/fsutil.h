/*
 * fsutil.h: small file-system helpers shared by the components: mkdir -p, a whole (small)
 * file into memory, a whole pread, the directory of the running executable, what is mounted where,
 * and whether a directory is safe from other users (as ssh checks the paths it trusts). Does not:
 * write files (each writer has its own atomic temp + fsync + rename).
 */
#ifndef CD_FSUTIL_H
#define CD_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cd_err.h"

/* Create path and any missing parents (mode 0755). */
cd_code cd_mkdir_p(const char *path, cd_err *err);
/* The same with mode for the directories it creates. */
cd_code cd_mkdir_p_mode(const char *path, mode_t mode, cd_err *err);

/* open(path, O_RDONLY | O_CLOEXEC) of a regular file, without blocking on a FIFO or a device
 * to find out: the descriptor (its fstat into *st when st is not NULL), or -1 with *why saying
 * what went wrong (strerror's text, or "not a regular file"; *why is static) and errno set
 * (EINVAL for a file of another type). */
int cd_open_regular(const char *path, struct stat *st, const char **why);
/* The same as a stream for reading: NULL with *why and errno as above (or fdopen's). */
FILE *cd_fopen_regular(const char *path, const char **why);

/* The whole file at path into *text (malloc'd, NUL-terminated; *len without the NUL, len may
 * be NULL). CD_ENOTFOUND when it does not exist, CD_EIO or CD_ENOMEM otherwise. */
cd_code cd_read_file(const char *path, char **text, size_t *len, cd_err *err);
/* The same for a text file that must hold no NUL byte (one would end the text early and hide
 * the lines after it): a NUL byte is CD_ECORRUPT naming the file and the byte's line. */
cd_code cd_read_text(const char *path, char **text, cd_err *err);

/* pread of n bytes at off, again after a short read or EINTR, until n bytes or the end of the
 * file: the bytes read (fewer than n only at the end of the file), or -1 with errno set. */
ssize_t cd_pread_full(int fd, void *buf, size_t n, off_t off);

/* The directory of path into dir: what comes before its last '/' ("/" for "/x", "." for a
 * name without one). Truncated to size. */
void cd_dir_of(const char *path, char *dir, size_t size);

/* The directory of the running executable (no trailing '/') into buf; false when unknown. */
bool cd_exe_dir(char *buf, size_t size);

/* Is path (absolute, canonical) a mount point in this process's mount namespace? If so, its
 * file-system type ("fuse.cerebro-ds", "ext4", ...) and device number ("0:52") into type and
 * dev (either may be NULL). Paths with blanks (escaped in /proc/self/mountinfo) never match. */
bool cd_mount_lookup(const char *path, char *type, size_t tsize, char *dev, size_t dsize);

/* Why other users could change what the directory st describes, or NULL when only this user
 * and root can: owned by one of them, and not writable by others (nor by its group, unless
 * group_ok) unless sticky like /tmp. */
const char *cd_dir_untrusted(const struct stat *st, bool group_ok);

/*
 * Can no user but this one and root change what the directory dir (absolute) holds, or where
 * its path leads? Each directory on the way is checked with cd_dir_untrusted (the ancestors
 * may be group-writable, as Ubuntu's /var/log is; dir itself may not), each symbolic link on
 * the way must be owned by this user or root, and the directories the links lead to are
 * checked the same way. A missing dir (its parent existing) is created with mode create
 * (0: not created). what names dir in errors ("log directory"); CD_EINVAL when untrusted,
 * with the chown/chmod to run as the hint.
 */
cd_code cd_trusted_dir(const char *dir, mode_t create, const char *what, cd_err *err);

#endif
