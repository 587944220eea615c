/*
 * fs_log.c: the daemon's log (see fs_log.h): levels, escaping, and the lines to standard
 * error, the log file or syslog. The log file is opened by fs_logfile.c.
 */
#include "fs_log.h"

#include <errno.h>
#include <fuse_log.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Set before the daemon has threads (cd_log_open, cd_log_route, cd_log_daemonized), read by
 * every thread. */
static cd_log_level log_level = CD_LOG_INFO;
static bool log_journal;       /* stderr is systemd's journal stream */
static bool log_stderr = true; /* lines go to standard error */
static int log_fd = -1;        /* lines go to this file, or -1 */
static bool log_syslog;        /* lines go to syslog (and nowhere else) */
static bool syslog_later;      /* log_file = syslog: to syslog once daemonized */
static atomic_ulong write_failures;

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

/* "2026-01-02 03:04:05 cerebro-ds-fuse[PID]: level: line\n" into buf; its length. */
static size_t stamped(char *buf, size_t size, cd_log_level level, const char *line)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
    int n = snprintf(buf, size, "%s cerebro-ds-fuse[%d]: %s: %s\n", stamp, (int)getpid(),
                     level_names[level], line);
    if (n < 0)
        return 0;
    if ((size_t)n >= size) { /* cut, but still a line */
        n = (int)size - 1;
        buf[n - 1] = '\n';
    }
    return (size_t)n;
}

/* One write: O_APPEND puts the whole line at the end, whatever other threads write. A
 * failure is counted, never waited on or retried (a retry could tear the line). */
static void to_file(const char *buf, size_t n)
{
    ssize_t w;
    do
        w = write(log_fd, buf, n);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)n)
        atomic_fetch_add(&write_failures, 1);
}

/* One finished line to its destinations. */
static void emit(cd_log_level level, const char *line)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    int saved = errno; /* a caller may log between a failure and its errno */
    char buf[6400];
    size_t n =
        log_fd >= 0 || (log_stderr && !log_journal) ? stamped(buf, sizeof buf, level, line) : 0;
    if (log_syslog)
        syslog(prio[level], "%s: %s", level_names[level], line);
    if (!log_syslog && log_fd >= 0)
        to_file(buf, n);
    /* "<N>" is the line's syslog priority; the journal adds the time, name and pid */
    if (!log_syslog && log_stderr && log_journal)
        fprintf(stderr, "<%d>%s: %s\n", prio[level], level_names[level], line);
    else if (!log_syslog && log_stderr) /* one call: stdio locks the stream */
        fwrite(buf, 1, n, stderr);
    errno = saved;
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

void cd_log_open(cd_log_level level)
{
    log_level = level;
    log_journal = stderr_is_journal();
    fuse_set_log_func(from_libfuse);
}

static void close_file(void)
{
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
}

cd_code cd_log_route(const char *log_file, bool foreground, cd_err *err)
{
    char path[PATH_MAX];
    bool use_syslog = strcmp(log_file, "syslog") == 0;
    syslog_later = use_syslog && !foreground;
    if (use_syslog || (log_file[0] == '\0' && foreground))
        return CD_OK;
    if (log_file[0] == '\0' && cd_log_default_path(path, sizeof path, err) != CD_OK)
        return err->code;
    int fd = -1;
    if (cd_log_file_open(log_file[0] != '\0' ? log_file : path, &fd, err) != CD_OK)
        return err->code;
    signal(SIGXFSZ, SIG_IGN); /* a file at its size limit: EFBIG, not the end of the daemon */
    close_file();
    log_fd = fd;
    log_stderr = !foreground; /* until daemonized: whoever starts it sees how the start goes */
    return CD_OK;
}

void cd_log_daemonized(void)
{
    if (syslog_later && !log_syslog)
        openlog("cerebro-ds-fuse", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_syslog = syslog_later;
    log_stderr = false; /* it is /dev/null now */
}

void cd_log_close(void)
{
    if (log_syslog)
        closelog();
    log_syslog = syslog_later = false;
    close_file();
    log_stderr = true;
}

unsigned long cd_log_write_failures(void)
{
    return atomic_load(&write_failures);
}
