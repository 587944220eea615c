/*
 * conninfo.h: a libpq connection string as it may be shown (--print-config, errors, logs,
 * job files): any password in it, "password=..." of the key = value form or a URI's
 * user:password@ and password= parameter, replaced by ***. Everything else is kept.
 * And a connection string scrubbed in place (argv, which ps shows): each character of each
 * password overwritten with 'x'.
 */
#ifndef CD_CONNINFO_H
#define CD_CONNINFO_H

#include <stddef.h>

/* Append ci[0..len), masked, to out (cap bytes, *n of them used; always terminated). */
void cd_conninfo_mask_append(const char *ci, size_t len, char *out, size_t cap, size_t *n);
/* The whole of ci, masked, into out. */
void cd_conninfo_mask(const char *ci, char *out, size_t cap);
/* Overwrite every password in ci, in place, with as many 'x' (nothing else changes). */
void cd_conninfo_scrub(char *ci);

#endif
