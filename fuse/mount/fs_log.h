/*
 * fs_log.h: the log of cerebro-ds-fuse, one line per event at or above the configured level
 * ("2026-01-02 03:04:05 cerebro-ds-fuse[PID]: info: message", control characters of the
 * message escaped as %XX). Where it goes ([mount] log_file, see cerebro-ds.conf(5)):
 *
 *   - in the foreground (-f, -d) without log_file: standard error. When that is systemd's
 *     journal stream ($JOURNAL_STREAM), each line carries its syslog priority
 *     ("<3>error: ...") and no time stamp or pid, which the journal adds;
 *   - with log_file, or in the background without it: a file only the daemon writes, by
 *     default /var/log/cerebro-ds/cerebro-ds-fuse.log for root and
 *     $XDG_STATE_HOME/cerebro-ds/cerebro-ds-fuse.log ($HOME/.local/state) for another user.
 *     It is opened before the daemon mounts or daemonizes, and refused (the daemon does not
 *     start) when another user could write it or replace it: a symbolic link, not a regular
 *     file, another user's file, a file or directory others may write (fs_logfile.c). In
 *     the background, standard error gets the lines too until the daemon daemonizes;
 *   - log_file = syslog: syslog (daemon facility) once daemonized, standard error before
 *     (and in the foreground). Any local user can send syslog lines that look the same.
 *
 * Thread-safe: one write(2) per line, and the file is opened O_APPEND, so lines of threads
 * stay whole. A failed write is counted (cd_log_write_failures) and otherwise ignored: the
 * log never stops the daemon. libfuse's own messages are routed here too.
 * Does not: rotate the file. logrotate's copytruncate works (O_APPEND: the next line goes to
 * the new end of the truncated file); a rename-and-reopen rotation does not (the daemon
 * keeps writing to the renamed file).
 */
#ifndef CD_FS_LOG_H
#define CD_FS_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "cd_err.h"

typedef enum cd_log_level {
    CD_LOG_ERROR = 0,
    CD_LOG_WARNING,
    CD_LOG_INFO,
    CD_LOG_DEBUG,
} cd_log_level;

/* "error" | "warning" | "info" | "debug" (checked by config.c); anything else is info. */
cd_log_level cd_log_parse_level(const char *name);
/* Start logging at level to standard error. Callable again (a new level). */
void cd_log_open(cd_log_level level);
/* Where the log goes from now on, after log_file ([mount] log_file: "", "syslog" or a path)
 * and whether the daemon stays in the foreground (see above). A file is opened here; an
 * error (what, which path, what to do) when it cannot be, or may not be, used. */
cd_code cd_log_route(const char *log_file, bool foreground, cd_err *err);
/* The daemon is in the background now: syslog starts, if chosen; standard error stops. */
void cd_log_daemonized(void);
/* Close the file or syslog; later lines go to standard error. */
void cd_log_close(void);
bool cd_log_enabled(cd_log_level level);
/* Lines that could not be written to the log file since the start. */
unsigned long cd_log_write_failures(void);

void cd_log(cd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "<what>: <msg> (DETAIL: ...) (HINT: ...)" on one line. */
void cd_log_err(cd_log_level level, const cd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the log file (fs_logfile.c) ---- */

/* The default log file of this user into buf (see above). */
cd_code cd_log_default_path(char *buf, size_t size, cd_err *err);
/* Open path to append lines to (O_APPEND, mode 0600 when created; its missing directory is
 * created with mode 0700), after checking that only this user (and root) can write it or
 * replace it. *fd is the descriptor (close-on-exec). */
cd_code cd_log_file_open(const char *path, int *fd, cd_err *err);

#endif
