/*
 * fsutil.h: small file-system helpers shared by the components: mkdir -p, a whole (small)
 * file into memory, the directory of the running executable, and what is mounted where.
 * Does not: write files (each writer has its own atomic temp + fsync + rename).
 */
#ifndef CD_FSUTIL_H
#define CD_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "cd_err.h"

/* Create path and any missing parents (mode 0755). */
cd_code cd_mkdir_p(const char *path, cd_err *err);

/* The whole file at path into *text (malloc'd, NUL-terminated; *len without the NUL, len may
 * be NULL). CD_ENOTFOUND when it does not exist, CD_EIO or CD_ENOMEM otherwise. */
cd_code cd_read_file(const char *path, char **text, size_t *len, cd_err *err);

/* The directory of the running executable (no trailing '/') into buf; false when unknown. */
bool cd_exe_dir(char *buf, size_t size);

/* Is path (absolute, canonical) a mount point in this process's mount namespace? If so, its
 * file-system type ("fuse.cerebro-ds", "ext4", ...) and device number ("0:52") into type and
 * dev (either may be NULL). Paths with blanks (escaped in /proc/self/mountinfo) never match. */
bool cd_mount_lookup(const char *path, char *type, size_t tsize, char *dev, size_t dsize);

#endif
