/*
 * fsname.h: database names (columns, partitions, tables) as single path components.
 *
 * A name may hold any character but NUL; a path component may not hold '/', and "." and
 * ".." are not names of files. Encoding: '/' -> "%2F", '%' -> "%25", control characters
 * (newline, tab, ...) -> "%XX", a name that is "." or ".." or empty gets its first character
 * encoded as well ("%2E", "%2E."; empty -> "%"), and a name ending in ".valid" or
 * ".offsets" gets that dot encoded ("x.valid" -> "x%2Evalid"), so that no column's files
 * can take the name of another column's <col>.valid.npy or <col>.offsets.npy; everything
 * else is kept, so ordinary names are unchanged and distinct names stay distinct. Shared by
 * the exporter and the mount so both present the same file names.
 *
 * Names as text in meta files (cd_textname): '%', control characters, ';' and '#' as "%XX"
 * (and '[', ']' in a section header's name), so a name can neither add a line nor start a
 * comment nor end a section header; ordinary names are unchanged.
 */
#ifndef CD_FSNAME_H
#define CD_FSNAME_H

#include <stdbool.h>
#include <stddef.h>

/* Encode name into buf (size bytes; 3 * strlen(name) + 4 always suffices). Returns the
 * length, or 0 when buf is too small (buf then holds an empty string). */
size_t cd_fsname(const char *name, char *buf, size_t size);
/* Encode name for a meta file's value or (header: true) section header, likewise. */
size_t cd_textname(const char *name, bool header, char *buf, size_t size);

#endif
