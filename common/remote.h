/*
 * remote.h: a command run on another host through a command template, as the scheduler's
 * ssh launcher and `cerebro-ds refresh --cluster` do: the template (ssh_command) split at
 * spaces, the word {host} replaced by the host and the word {command} by the command
 * shell-quoted into one word, so `ssh -o BatchMode=yes {host} {command}` runs the command
 * through the remote shell with every argument intact.
 */
#ifndef CD_REMOTE_H
#define CD_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

/* argv shell-quoted into buf (each word in single quotes); false when it does not fit. */
bool cd_remote_quote(char *const *argv, char *buf, size_t size);

/* Split tmpl in place into words[0..n) (NULL-terminated, at most max - 1 words), with
 * {host} and {command} replaced by host and cmd (pointers, not copies). Returns n; 0 for
 * an empty template. */
int cd_remote_words(char *tmpl, const char *host, char *cmd, char **words, int max);

/* Whether tmpl is a template cd_remote_words can use: {host} and {command} each a word of
 * its own (split at blanks), both present, and no other word holding either (user@{host}
 * would reach a host named "user@{host}"). */
bool cd_remote_template_ok(const char *tmpl);

#endif
