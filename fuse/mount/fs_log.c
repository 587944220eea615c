/*
 * fs_log.c: the daemon's log (see fs_log.h).
 */
#include "fs_log.h"

#include <fuse_log.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static cd_log_level log_level = CD_LOG_INFO;
static bool log_syslog;
static bool log_journal; /* stderr is systemd's journal stream */

static const char *const level_names[] = {"error", "warning", "info", "debug"};

cd_log_level cd_log_parse_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return (cd_log_level)i;
    return CD_LOG_INFO;
}

bool cd_log_enabled(cd_log_level level)
{
    return level <= log_level;
}

/* One finished line to its destination. */
static void emit(cd_log_level level, const char *line)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    if (log_syslog) {
        syslog(prio[level], "%s: %s", level_names[level], line);
        return;
    }
    if (log_journal) {
        /* "<N>" is the line's syslog priority; the journal adds the time, name and pid */
        fprintf(stderr, "<%d>%s: %s\n", prio[level], level_names[level], line);
        return;
    }
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
    /* one fprintf: stdio locks the stream, so lines of threads do not interleave */
    fprintf(stderr, "%s cerebro-ds-fuse[%d]: %s: %s\n", stamp, (int)getpid(), level_names[level],
            line);
}

/* One line, whatever a name in it holds: control characters (a newline in a column name)
 * become %XX, so nobody can add a line to the log through a name. */
static void vlog(cd_log_level level, const char *fmt, va_list ap)
{
    char raw[2048], line[6200];
    vsnprintf(raw, sizeof raw, fmt, ap);
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)raw; *c != '\0'; c++) {
        if (*c < 0x20 || *c == 0x7f)
            n += (size_t)snprintf(line + n, sizeof line - n, "%%%02X", *c);
        else
            line[n++] = (char)*c;
    }
    line[n] = '\0';
    emit(level, line);
}

void cd_log(cd_log_level level, const char *fmt, ...)
{
    if (!cd_log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void cd_log_err(cd_log_level level, const cd_err *err, const char *fmt, ...)
{
    if (!cd_log_enabled(level))
        return;
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    cd_log(level, "%s: %s%s%s%s%s", what, err->msg[0] ? err->msg : cd_code_name(err->code),
           err->detail[0] ? " DETAIL: " : "", err->detail, err->hint[0] ? " HINT: " : "",
           err->hint);
}

/* libfuse's messages (mount errors, bad options) go to the same log. */
static void from_libfuse(enum fuse_log_level level, const char *fmt, va_list ap)
{
    cd_log_level l = level <= FUSE_LOG_ERR       ? CD_LOG_ERROR
                     : level <= FUSE_LOG_WARNING ? CD_LOG_WARNING
                     : level <= FUSE_LOG_INFO    ? CD_LOG_INFO
                                                 : CD_LOG_DEBUG;
    if (!cd_log_enabled(l))
        return;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    emit(l, line);
}

/* Is stderr the stream systemd connected to the journal ($JOURNAL_STREAM = "dev:inode")? */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void cd_log_open(cd_log_level level, bool use_syslog)
{
    log_level = level;
    log_journal = !use_syslog && stderr_is_journal();
    if (use_syslog && !log_syslog)
        openlog("cerebro-ds-fuse", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_syslog = use_syslog;
    fuse_set_log_func(from_libfuse);
}

void cd_log_close(void)
{
    if (log_syslog)
        closelog();
    log_syslog = false;
}
