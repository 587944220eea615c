/*
 * launch.c: trainer processes (see launch.h).
 */
#include "launch.h"
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WORDS 64

bool cd_launch_quote(char *const *argv, char *buf, size_t size)
{
    return cd_remote_quote(argv, buf, size);
}

/* In the child: redirect, reset signals, exec; never returns. */
static void child(const cd_launch *l, char *const *argv)
{
    int out = open(l->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int errfd = open(l->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open(l->in_path ? l->in_path : "/dev/null", O_RDONLY);
    if (out < 0 || errfd < 0 || in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setpgid(0, 0);
    execvp(argv[0], argv);
    fprintf(stderr, "cerebro-sched: could not run \"%s\": %s\n", argv[0], strerror(errno));
    _exit(127);
}

cd_code cd_launch_start(const cd_launch *l, char *const *argv, pid_t *pid, cd_err *err)
{
    static char tmpl[4096], cmd[16384];
    char *words[MAX_WORDS];
    char *const *run = argv;
    if (l->ssh_template != NULL) {
        snprintf(tmpl, sizeof tmpl, "%s", l->ssh_template);
        if (!cd_launch_quote(argv, cmd, sizeof cmd))
            return cd_fail(err, CD_EINVAL, "trainer command line too long for ssh");
        if (cd_remote_words(tmpl, l->host, cmd, words, MAX_WORDS) == 0)
            return cd_fail(err, CD_EINVAL, "empty ssh_command template");
        run = words;
    }
    pid_t p = fork();
    if (p < 0)
        return cd_fail(err, CD_EIO, "could not start \"%s\": %s", run[0], strerror(errno));
    if (p == 0)
        child(l, run);
    setpgid(p, p); /* also in the parent: no race with a kill of the group */
    *pid = p;
    return CD_OK;
}
