/*
 * launch.h: starting trainer processes for the scheduler. local: fork + exec of the command;
 * ssh: the workload's command template, split at spaces, with {host} replaced by the
 * worker's host and {command} by the command shell-quoted into one word (so
 * `ssh -o BatchMode=yes {host} {command}` runs it on the host through the remote shell).
 * The child's stdin comes from a file (model_store = copy: the unit's request, store.h; ssh
 * carries it to the remote command over the same connection) or /dev/null, its stdout and
 * stderr go to files; it runs in its own process group with the scheduler's signal mask
 * cleared. Does not wait: the caller watches the pid (loop.h).
 */
#ifndef CD_LAUNCH_H
#define CD_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cd_err.h"

typedef struct cd_launch {
    const char *ssh_template; /* NULL: local */
    const char *host;
    const char *in_path;             /* read as stdin; NULL: /dev/null */
    const char *out_path, *err_path; /* created or truncated */
} cd_launch;

/* Start argv (NULL-terminated); *pid on success. */
cd_code cd_launch_start(const cd_launch *l, char *const *argv, pid_t *pid, cd_err *err);

/* argv shell-quoted into buf (each word in single quotes); false when it does not fit. */
bool cd_launch_quote(char *const *argv, char *buf, size_t size);

#endif
