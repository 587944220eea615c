/*
 * cd_err.h: the one error type of cerebro-ds libraries.
 *
 * Library functions return a cd_code (CD_OK == 0 on success) and fill a caller-owned
 * cd_err with a message in PostgreSQL's error style: a short lowercase primary message,
 * an optional detail (relation, block, offset), an optional hint (what to do).
 * Only main() functions print errors and exit; the FUSE front end maps codes to errno
 * in one place (cd_code_errno).
 */
#ifndef CD_ERR_H
#define CD_ERR_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

typedef enum cd_code {
    CD_OK = 0,
    CD_EIO,          /* a read or write failed */
    CD_ECORRUPT,     /* on-disk data fails validation */
    CD_EREWRITTEN,   /* a relation file was truncated or vanished since the pin */
    CD_EUNDECIDED,   /* tuple visibility cannot be decided from what is on disk */
    CD_EUNSUPPORTED, /* valid but not supported (type, table kind, format version) */
    CD_ENOMEM,       /* allocation failed */
    CD_EDB,          /* the database returned an error */
    CD_EPRIV,        /* a privilege is missing */
    CD_EINVAL,       /* bad argument, option or configuration */
    CD_ENOTFOUND,    /* a named object does not exist */
    CD_EMISMATCH,    /* a decoded value differs from the database's */
    CD_EINTERRUPTED, /* stopped by a signal (cd_interrupted) */
    CD_ELIMIT,       /* a configured bound is reached (connections, handles) */
    CD_EBUSY,        /* would wait on another thread's work (a nested cache read, cache.h) */
} cd_code;

typedef struct cd_err {
    cd_code code;
    char msg[256];    /* primary message, lowercase, no trailing period */
    char detail[768]; /* where: relation, file, block, offset */
    char hint[256];   /* what to do about it */
} cd_err;

/* Set code and primary message; clears detail and hint. Returns code. err may be NULL. */
cd_code cd_fail(cd_err *err, cd_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Set (replace) the detail line. Returns err->code (CD_EINVAL when err is NULL). */
cd_code cd_detail(cd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the detail line with more context ("file base/5/16384, block 7: " + old detail). */
cd_code cd_context(cd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Set the hint line. Returns err->code. */
cd_code cd_hint(cd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cd_err_clear(cd_err *err);

/* Set by a signal handler of the program; long loops return CD_EINTERRUPTED when set. */
extern volatile sig_atomic_t cd_interrupted;

/* Name of a code ("corrupt", "rewritten", ...). */
const char *cd_code_name(cd_code code);
/* errno value for a code, used at the FUSE boundary. */
int cd_code_errno(cd_code code);
/* A usage error of a command-line tool: "PROG: <fmt with arg>" and where to find help, on
 * stderr. Returns 2, the usage exit status of every cerebro-ds tool. */
int cd_usage_error(const char *prog, const char *fmt, const char *arg);

/* Print "PROG: error: msg\nDETAIL: ...\nHINT: ...\n" to f. */
void cd_err_print(FILE *f, const char *prog, const cd_err *err);

#endif
