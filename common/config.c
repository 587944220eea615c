/*
 * config.c: configuration keys from the X-macro lists, value checks, inih parsing
 * (see config.h). Does not: interpret values beyond checking them (the consumers do).
 */
#include "config.h"
#include "conninfo.h"
#include "ini_lines.h"
#include "remote.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <strings.h>

/* ---- value checks: check_<name>(key, value, err), one per `check` of the X lists ---- */

static cd_code bad_value(cd_err *err, const char *key, const char *v, const char *expected)
{
    return cd_fail(err, CD_EINVAL, "invalid value \"%s\" for %s: expected %s", v, key, expected);
}

/* Decimal digits only, at most max; *out the number. */
static bool parse_uint(const char *v, uint64_t max, uint64_t *out)
{
    if (v[0] == '\0' || strlen(v) > 19)
        return false;
    uint64_t n = 0;
    for (const char *c = v; *c != '\0'; c++) {
        if (!isdigit((unsigned char)*c))
            return false;
        n = n * 10 + (uint64_t)(*c - '0');
    }
    *out = n;
    return n <= max;
}

static cd_code check_any(const char *key, const char *v, cd_err *err)
{
    return CD_OK;
}

static cd_code check_command(const char *key, const char *v, cd_err *err)
{
    return cd_remote_template_ok(v)
               ? CD_OK
               : bad_value(err, key, v,
                           "a command template with {host} and {command} as words of their own");
}

static cd_code check_list(const char *key, const char *v, cd_err *err)
{
    return CD_OK;
}

static cd_code check_path(const char *key, const char *v, cd_err *err)
{
    return v[0] != '\0' ? CD_OK : bad_value(err, key, v, "a path");
}

static cd_code check_bool(const char *key, const char *v, cd_err *err)
{
    static const char *const ok[] = {"true", "false", "yes", "no", "on", "off", "1", "0"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcasecmp(v, ok[i]) == 0)
            return CD_OK;
    return bad_value(err, key, v, "true or false");
}

static cd_code check_verify(const char *key, const char *v, cd_err *err)
{
    if (strcmp(v, "count") == 0 || strcmp(v, "none") == 0)
        return CD_OK;
    return bad_value(err, key, v, "count or none");
}

static cd_code check_shards(const char *key, const char *v, cd_err *err)
{
    uint64_t n;
    if (v[0] == '\0' || strcmp(v, "partitions") == 0 || strcmp(v, "segments") == 0)
        return CD_OK;
    if (strncmp(v, "blocks:", 7) == 0 && parse_uint(v + 7, 65536, &n) && n > 0)
        return CD_OK;
    return bad_value(err, key, v, "partitions, segments or blocks:N (N from 1 to 65536)");
}

static cd_code check_mb(const char *key, const char *v, cd_err *err)
{
    uint64_t n;
    if (parse_uint(v, (uint64_t)1 << 30, &n) && n > 0)
        return CD_OK;
    return bad_value(err, key, v, "a positive number of MiB");
}

static cd_code check_mb0(const char *key, const char *v, cd_err *err)
{
    uint64_t n;
    if (parse_uint(v, (uint64_t)1 << 30, &n))
        return CD_OK;
    return bad_value(err, key, v, "a number of MiB");
}

static cd_code check_threads(const char *key, const char *v, cd_err *err)
{
    uint64_t n;
    if (parse_uint(v, 1024, &n) && n > 0)
        return CD_OK;
    return bad_value(err, key, v, "a number of threads from 1 to 1024");
}

static cd_code check_seconds(const char *key, const char *v, cd_err *err)
{
    uint64_t n;
    if (parse_uint(v, 3600, &n) && n > 0)
        return CD_OK;
    return bad_value(err, key, v, "a number of seconds from 1 to 3600");
}

static cd_code check_count(const char *key, const char *v, cd_err *err)
{
    uint64_t n;
    if (parse_uint(v, 100000, &n) && n > 0)
        return CD_OK;
    return bad_value(err, key, v, "a number from 1 to 100000");
}

static cd_code check_level(const char *key, const char *v, cd_err *err)
{
    static const char *const ok[] = {"error", "warning", "info", "debug"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(v, ok[i]) == 0)
            return CD_OK;
    return bad_value(err, key, v, "error, warning, info or debug");
}

static cd_code check_rolemap(const char *key, const char *v, cd_err *err)
{
    char item[256];
    const char *p = v;
    while (cd_config_next_item(&p, item, sizeof item)) {
        char *colon = strchr(item, ':');
        if (colon == NULL || colon == item || colon[1] == '\0' || strchr(colon + 1, ':'))
            return bad_value(err, key, v, "user:role, comma-separated");
    }
    return CD_OK;
}

/* ---- setting ---- */

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
#define CD_CONFIG_DEFAULT(section, key, check, def, desc)                                          \
    if (rc == CD_OK)                                                                               \
        rc = set_field(&c->section##_##key, def, err);
    CD_CONFIG_KEYS(CD_CONFIG_DEFAULT)
#undef CD_CONFIG_DEFAULT
    return rc;
}

/* The [table NAME] entry of name, added with defaults when new. */
static cd_code table_entry(cd_config *c, const char *name, cd_config_table **out, cd_err *err)
{
    char q[320];
    if (name[0] == '\0' || !cd_config_qualify(name, q, sizeof q))
        return cd_fail(err, CD_EINVAL, "a [table] section needs a name: [table schema.table]");
    for (int i = 0; i < c->ntables; i++)
        if (strcmp(c->tables[i].name, q) == 0) {
            *out = &c->tables[i];
            return CD_OK;
        }
    cd_config_table *grown = realloc(c->tables, (size_t)(c->ntables + 1) * sizeof *grown);
    if (grown == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    c->tables = grown;
    cd_config_table *t = &grown[c->ntables++];
    memset(t, 0, sizeof *t);
    cd_code rc = set_field(&t->name, q, err);
#define CD_CONFIG_TDEFAULT(key, check, def, desc)                                                  \
    if (rc == CD_OK)                                                                               \
        rc = set_field(&t->key, def, err);
    CD_CONFIG_TABLE_KEYS(CD_CONFIG_TDEFAULT)
#undef CD_CONFIG_TDEFAULT
    *out = t;
    return rc;
}

static cd_code set_table_key(cd_config *c, const char *name, const char *key, const char *value,
                             cd_err *err)
{
    cd_config_table *t = NULL;
    cd_code rc = table_entry(c, name, &t, err);
    if (rc != CD_OK)
        return rc;
#define CD_CONFIG_TMATCH(k, check, def, desc)                                                      \
    if (strcmp(key, #k) == 0) {                                                                    \
        rc = check_##check(#k, value, err);                                                        \
        return rc == CD_OK ? set_field(&t->k, value, err) : rc;                                    \
    }
    CD_CONFIG_TABLE_KEYS(CD_CONFIG_TMATCH)
#undef CD_CONFIG_TMATCH
    return cd_fail(err, CD_EINVAL, "unknown key \"%s\" in section table", key);
}

/* "table NAME" (blanks around NAME ignored): NAME, else NULL. */
static const char *table_section(const char *section, char *buf, size_t size)
{
    if (section == NULL || strncmp(section, "table", 5) != 0 ||
        (section[5] != '\0' && !isspace((unsigned char)section[5])))
        return NULL;
    const char *s = section + 5;
    while (isspace((unsigned char)*s))
        s++;
    snprintf(buf, size, "%s", s);
    size_t n = strlen(buf);
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    return buf;
}

/* A control character in value (a tab is a blank), or NULL: a newline given with -o would
 * print (--print-config) as a line of its own. */
static const char *control_char(const char *value)
{
    for (const char *p = value; *p != '\0'; p++)
        if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
            return p;
    return NULL;
}

cd_code cd_config_set(cd_config *c, const char *section, const char *key, const char *value,
                      cd_err *err)
{
    const char *bad = control_char(value);
    if (bad != NULL)
        return cd_fail(err, CD_EINVAL, "the value of %s holds a control character (0x%02x)", key,
                       (unsigned)(unsigned char)*bad);
    char tname[320];
    if (table_section(section, tname, sizeof tname) != NULL)
        return set_table_key(c, tname, key, value, err);
    bool known_section = false;
    cd_code rc;
#define CD_CONFIG_MATCH(sec, k, check, def, desc)                                                  \
    if (section == NULL || strcmp(section, #sec) == 0) {                                           \
        known_section = true;                                                                      \
        if (strcmp(key, #k) == 0) {                                                                \
            rc = check_##check(#k, value, err);                                                    \
            return rc == CD_OK ? set_field(&c->sec##_##k, value, err) : rc;                        \
        }                                                                                          \
    }
    CD_CONFIG_KEYS(CD_CONFIG_MATCH)
#undef CD_CONFIG_MATCH
    if (!known_section)
        return cd_fail(err, CD_EINVAL, "unknown section [%s]", section);
    return cd_fail(err, CD_EINVAL, "unknown key \"%s\"%s%s", key, section ? " in section " : "",
                   section ? section : "");
}

/* ---- loading ---- */

typedef struct load_state {
    cd_config *c;
    cd_err *err;
    cd_code rc;
    const cd_ini_lines *lines; /* the file's reader: the whole section name, continued lines */
} load_state;

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    load_state *st = user;
    if (st->rc != CD_OK)
        return 0;
    (void)section;              /* cut by inih at 49 characters */
    if (st->lines->continued) { /* inih's next value of the key above: it would replace it */
        st->rc =
            cd_fail(st->err, CD_EINVAL,
                    "indented line continues [%s] %s (a value is one line: remove the indentation)",
                    st->lines->section, name);
        return 0;
    }
    st->rc = cd_config_set(st->c, st->lines->section, name, value, st->err);
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
    struct stat sb;
    const char *why = NULL;
    if (fstat(fileno(f), &sb) != 0)
        why = "cannot be examined";
    else if (sb.st_uid != 0 && sb.st_uid != geteuid())
        why = "belongs to another user";
    else if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        why = "is writable by other users";
    if (why != NULL) {
        fclose(f);
        cd_fail(err, CD_EINVAL, "configuration file \"%s\" %s", path, why);
        cd_detail(err, "owner uid %u, mode %04o", (unsigned)sb.st_uid,
                  (unsigned)(sb.st_mode & 07777));
        return cd_hint(err,
                       "it decides what is served to whom: make it owned by root or this "
                       "user and writable only by its owner (chmod go-w \"%s\")",
                       path);
    }
    cd_err local = {0};
    cd_ini_lines lines = {.f = f};
    load_state st = {c, &local, CD_OK, &lines};
    int line = ini_parse_stream(cd_ini_lines_read, &lines, on_key, &st);
    fclose(f);
    if (line == 0 && lines.bad[0] == '\0')
        return CD_OK;
    if (line == 0) /* stopped at a line inih would misread */
        cd_fail(&local, CD_EINVAL, "%s", lines.bad);
    else if (st.rc == CD_OK)
        cd_fail(&local, CD_EINVAL, "syntax error");
    line = line == 0 ? lines.line : line;
    cd_fail(err, st.rc == CD_ENOMEM ? CD_ENOMEM : CD_EINVAL, "%s:%d: %s", path, line, local.msg);
    return cd_hint(err, "see cerebro-ds.conf(5) for the sections and keys");
}

/* ---- printing and freeing ---- */

/* A value as printed: connection strings without their passwords. */
static const char *shown(const char *key, const char *value, char *buf, size_t size)
{
    if (strcmp(key, "conninfo") != 0 && strcmp(key, "coordinator") != 0)
        return value;
    cd_conninfo_mask(value, buf, size);
    return buf;
}

void cd_config_print(FILE *f, const cd_config *c)
{
    const char *last = "";
    char masked[4096];
#define CD_CONFIG_PRINT(sec, k, check, def, desc)                                                  \
    if (strcmp(last, #sec) != 0) {                                                                 \
        fprintf(f, "%s[%s]\n", last[0] ? "\n" : "", #sec);                                         \
        last = #sec;                                                                               \
    }                                                                                              \
    fprintf(f, "%s = %s\n", #k, shown(#k, c->sec##_##k, masked, sizeof masked));
    CD_CONFIG_KEYS(CD_CONFIG_PRINT)
#undef CD_CONFIG_PRINT
    for (int i = 0; i < c->ntables; i++) {
        const cd_config_table *t = &c->tables[i];
        fprintf(f, "\n[table %s]\n", t->name);
#define CD_CONFIG_TPRINT(k, check, def, desc) fprintf(f, "%s = %s\n", #k, t->k);
        CD_CONFIG_TABLE_KEYS(CD_CONFIG_TPRINT)
#undef CD_CONFIG_TPRINT
    }
}

void cd_config_free(cd_config *c)
{
    for (int i = 0; i < c->ntables; i++) {
        cd_config_table *t = &c->tables[i];
#define CD_CONFIG_TFREE(k, check, def, desc) free(t->k);
        CD_CONFIG_TABLE_KEYS(CD_CONFIG_TFREE)
#undef CD_CONFIG_TFREE
        free(t->name);
    }
    free(c->tables);
    c->tables = NULL;
    c->ntables = 0;
#define CD_CONFIG_FREE(sec, k, check, def, desc)                                                   \
    free(c->sec##_##k);                                                                            \
    c->sec##_##k = NULL;
    CD_CONFIG_KEYS(CD_CONFIG_FREE)
#undef CD_CONFIG_FREE
}

/* ---- helpers ---- */

const cd_config_table *cd_config_table_find(const cd_config *c, const char *name)
{
    char q[320];
    if (!cd_config_qualify(name, q, sizeof q))
        return NULL;
    for (int i = 0; i < c->ntables; i++)
        if (strcmp(c->tables[i].name, q) == 0)
            return &c->tables[i];
    return NULL;
}

bool cd_config_bool(const char *v)
{
    return strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 || strcasecmp(v, "on") == 0 ||
           strcmp(v, "1") == 0;
}

int cd_config_block_shards(const char *v)
{
    uint64_t n = 0;
    if (strncmp(v, "blocks:", 7) == 0 && parse_uint(v + 7, 65536, &n))
        return (int)n;
    return 0;
}

uint64_t cd_config_uint(const char *v)
{
    uint64_t n = 0;
    return parse_uint(v, UINT64_MAX, &n) ? n : 0;
}

bool cd_config_qualify(const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s%s", strchr(name, '.') ? "" : "public.", name);
    return n >= 0 && (size_t)n < size;
}

bool cd_config_next_item(const char **p, char *buf, size_t size)
{
    const char *s = *p;
    while (*s == ',' || isspace((unsigned char)*s))
        s++;
    *p = s;
    if (*s == '\0')
        return false;
    const char *end = strchr(s, ',');
    if (end == NULL)
        end = s + strlen(s);
    *p = end;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    size_t n = (size_t)(end - s);
    if (n >= size)
        n = size - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}
