/*
 * ini_lines.h: the line reader every INI file of cerebro-ds is parsed through (libinih's
 * ini_parse_stream): the daemon's configuration (config.c), model files (trainer/model.c) and
 * workload files (scheduler/workload.c). It counts lines (Debian's inih gives handlers no
 * line number) and stops at a line inih would read as other text than the file's, without a
 * word: one longer than inih's buffer (inih cuts it and parses the rest as a line of its own)
 * or one holding a NUL byte (the rest of the line would be dropped). The caller reports why it
 * stopped, with the file and line. It also keeps the current section's name whole (inih cuts
 * section names at 49 characters, and a [table NAME] section names a table of up to 127:
 * schema.name) and says whether the line last read is a section line or continues the value
 * of the key above (inih's multi-line rule: an indented line after a key, even "[name]").
 * Owns nothing: the FILE is the caller's.
 */
#ifndef CD_INI_LINES_H
#define CD_INI_LINES_H

#include <ini.h>
#include <stdbool.h>
#include <stdio.h>

/* inih's line buffer: a line holds at most CD_INI_MAX_LINE - 2 characters and its newline. */
#define CD_INI_MAX_LINE INI_MAX_LINE

typedef struct cd_ini_lines {
    FILE *f;
    int line;      /* lines read: the number of the line inih is parsing */
    char bad[64];  /* "" or why reading stopped at line ("line longer than 198 characters") */
    bool too_long; /* it stopped at a line too long (else, with bad set, at a NUL byte) */
    /* of the line last read: what is between [ and ] of the last section line, whole (inih's
     * handler gets it cut at 49 characters) */
    char section[CD_INI_MAX_LINE];
    bool after_key; /* a key was read in this section: an indented line continues its value */
    bool heading;   /* the line last read is a section line: section holds its name */
    bool continued; /* the line last read continues the value of the key above */
} cd_ini_lines;

/* inih's reader (ini_reader) over a cd_ini_lines: the next line into buf (size bytes), or NULL
 * at the end of the file and where it stops (bad set). */
char *cd_ini_lines_read(char *buf, int size, void *stream);

#endif
