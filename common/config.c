/*
 * config.c: configuration keys from the X-macro list, inih parsing (see config.h).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

static cd_code set_field(char **field, const char *value, cd_err *err)
{
    char *v = strdup(value);
    if (v == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    free(*field);
    *field = v;
    return CD_OK;
}

cd_code cd_config_init(cd_config *c, cd_err *err)
{
    memset(c, 0, sizeof *c);
    cd_code rc = CD_OK;
#define CD_CONFIG_DEFAULT(section, key, def, desc)                                                 \
    if (rc == CD_OK)                                                                               \
        rc = set_field(&c->section##_##key, def, err);
    CD_CONFIG_KEYS(CD_CONFIG_DEFAULT)
#undef CD_CONFIG_DEFAULT
    return rc;
}

cd_code cd_config_set(cd_config *c, const char *section, const char *key, const char *value,
                      cd_err *err)
{
    bool known_section = false;
#define CD_CONFIG_MATCH(sec, k, def, desc)                                                         \
    if (section == NULL || strcmp(section, #sec) == 0) {                                           \
        known_section = true;                                                                      \
        if (strcmp(key, #k) == 0)                                                                  \
            return set_field(&c->sec##_##k, value, err);                                           \
    }
    CD_CONFIG_KEYS(CD_CONFIG_MATCH)
#undef CD_CONFIG_MATCH
    if (!known_section)
        return cd_fail(err, CD_EINVAL, "unknown section [%s]", section);
    return cd_fail(err, CD_EINVAL, "unknown key \"%s\"%s%s", key, section ? " in section " : "",
                   section ? section : "");
}

typedef struct load_state {
    cd_config *c;
    cd_err *err;
    cd_code rc;
} load_state;

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    load_state *st = user;
    if (st->rc != CD_OK)
        return 0;
    st->rc = cd_config_set(st->c, section, name, value, st->err);
    return st->rc == CD_OK;
}

cd_code cd_config_load(cd_config *c, const char *path, cd_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        cd_fail(err, CD_EINVAL, "could not open configuration file \"%s\": %s", path,
                strerror(errno));
        return cd_hint(err, "give an existing file with -c");
    }
    cd_err local = {0};
    load_state st = {c, &local, CD_OK};
    int line = ini_parse_file(f, on_key, &st);
    fclose(f);
    if (line == 0)
        return CD_OK;
    if (st.rc == CD_OK)
        cd_fail(&local, CD_EINVAL, "syntax error");
    cd_fail(err, CD_EINVAL, "%s:%d: %s", path, line, local.msg);
    return cd_hint(err, "see cerebro-ds.conf(5) for the sections and keys");
}

void cd_config_print(FILE *f, const cd_config *c)
{
    const char *last = "";
#define CD_CONFIG_PRINT(sec, k, def, desc)                                                         \
    if (strcmp(last, #sec) != 0) {                                                                 \
        fprintf(f, "%s[%s]\n", last[0] ? "\n" : "", #sec);                                         \
        last = #sec;                                                                               \
    }                                                                                              \
    fprintf(f, "%s = %s\n", #k, c->sec##_##k);
    CD_CONFIG_KEYS(CD_CONFIG_PRINT)
#undef CD_CONFIG_PRINT
}

void cd_config_free(cd_config *c)
{
#define CD_CONFIG_FREE(sec, k, def, desc)                                                          \
    free(c->sec##_##k);                                                                            \
    c->sec##_##k = NULL;
    CD_CONFIG_KEYS(CD_CONFIG_FREE)
#undef CD_CONFIG_FREE
}
