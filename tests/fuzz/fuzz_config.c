/*
 * fuzz_config.c: libFuzzer target for the cerebro-ds configuration file reader
 * (common/config.c over libinih), which decides what the daemon serves to whom.
 *
 * Input: the configuration file, served from a memory file (memfd, mode 0600) through its
 * /proc/self/fd path. Checks: cd_config_load returns CD_OK or CD_EINVAL only; a file that
 * holds a NUL byte, a line longer than inih reads whole (CD_INI_MAX_LINE - 2) or an indented
 * line after a key (inih's next value of that key) is refused, as each would be read as other
 * text than the file's without a word; the effective
 * configuration cd_config_print writes loads again to the same print (--print-config output
 * is a configuration file), unless a printed line is itself too long or holds what inih
 * takes for an inline comment (the file's "key =;value").
 * Seeds: tests/fuzz/seeds/fuzz_config/, conf/cerebro-ds.conf and the sections the tests use.
 * Does not: test the ownership and mode checks (tests/unit/test_config.c does).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_util.h"
#include "ini_lines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Does text[n] hold what inih takes for an inline comment (a blank, then ';')? A value that
 * starts with ';' (given as "key =;value") prints as one. */
static int inline_comment(const char *text, size_t n)
{
    return memmem(text, n, " ;", 2) != NULL || memmem(text, n, "\t;", 2) != NULL;
}

/* c as cd_config_print writes it (malloc'd, *n bytes). */
static char *printed(const cd_config *c, size_t *n)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, n);
    if (f == NULL)
        abort();
    cd_config_print(f, c);
    if (fclose(f) != 0)
        abort();
    return text;
}

/* text[n] loaded into *c over the defaults; the code. */
static cd_code load(const uint8_t *text, size_t n, cd_config *c, cd_err *err)
{
    char path[64];
    int fd = fuzz_mem_file(text, n, NULL, 0, path);
    if (fd < 0 || fchmod(fd, 0600) != 0 || cd_config_init(c, err) != CD_OK)
        abort();
    cd_code rc = cd_config_load(c, path, err);
    close(fd);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cd_config c, again;
    cd_err err;
    cd_code rc = load(data, size, &c, &err);
    if (rc == CD_OK) {
        if (!fuzz_ini_readable(data, size, CD_INI_MAX_LINE - 2) ||
            fuzz_ini_continues((const char *)data, size))
            abort();
        size_t n1 = 0, n2 = 0;
        char *p1 = printed(&c, &n1);
        if (inline_comment(p1, n1)) {
            cd_config_init(&again, &err); /* a value that reads back cut: no round trip */
        } else if (load((const uint8_t *)p1, n1, &again, &err) == CD_OK) {
            char *p2 = printed(&again, &n2);
            if (n1 != n2 || memcmp(p1, p2, n1) != 0)
                abort();
            free(p2);
        } else if (fuzz_longest_line(p1, n1) <= CD_INI_MAX_LINE - 2) {
            abort();
        }
        cd_config_free(&again);
        free(p1);
    } else if (rc != CD_EINVAL) {
        abort();
    }
    cd_config_free(&c);
    return 0;
}
