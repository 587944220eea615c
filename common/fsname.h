/*
 * fsname.h: database names (columns, partitions, tables) as single path components.
 *
 * A name may hold any character but NUL; a path component may not hold '/', and "." and
 * ".." are not names of files. Encoding: '/' -> "%2F", '%' -> "%25", a name that is "." or
 * ".." or empty gets its first character encoded as well ("%2E", "%2E."; empty -> "%"),
 * everything else is kept, so ordinary names are unchanged and distinct names stay
 * distinct. Shared by the exporter and the mount so both present the same file names.
 */
#ifndef CD_FSNAME_H
#define CD_FSNAME_H

#include <stddef.h>

/* Encode name into buf (size bytes; 3 * strlen(name) + 4 always suffices). Returns the
 * length, or 0 when buf is too small (buf then holds an empty string). */
size_t cd_fsname(const char *name, char *buf, size_t size);

#endif
