/*
 * fs_log.h: the log of cerebro-ds-fuse: standard error in the foreground, syslog (daemon
 * facility) once daemonized; one line per event, at or above the configured level. When
 * standard error is systemd's journal stream ($JOURNAL_STREAM), each line carries its
 * syslog priority ("<3>error: ...") and no time stamp or pid, which the journal adds.
 * libfuse's own messages are routed here too. Thread-safe (one write per line).
 * Does not: rotate files (syslog/journald do).
 */
#ifndef CD_FS_LOG_H
#define CD_FS_LOG_H

#include <stdbool.h>

#include "cd_err.h"

typedef enum cd_log_level {
    CD_LOG_ERROR = 0,
    CD_LOG_WARNING,
    CD_LOG_INFO,
    CD_LOG_DEBUG,
} cd_log_level;

/* "error" | "warning" | "info" | "debug" (checked by config.c); anything else is info. */
cd_log_level cd_log_parse_level(const char *name);
/* Start logging at level to stderr, or to syslog when use_syslog. Callable again. */
void cd_log_open(cd_log_level level, bool use_syslog);
void cd_log_close(void);
bool cd_log_enabled(cd_log_level level);

void cd_log(cd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "<what>: <msg> (DETAIL: ...) (HINT: ...)" on one line. */
void cd_log_err(cd_log_level level, const cd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
