/*
 * workload_state.c: the helpers of a workload file being loaded (load_state, see
 * workload_int.h) that loading (workload.c) and its whole-file checks (workload_check.c)
 * share: errors that name the file and line, owned strings, paths against a base directory,
 * numbers. Calls neither of them.
 */
#include "workload_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

cd_code cd_wl_oom(load_state *st)
{
    return cd_fail(st->err, CD_ENOMEM, "out of memory");
}

void cd_wl_set_where(load_state *st, int line)
{
    if (line < 0)
        snprintf(st->where, sizeof st->where, "override");
    else
        snprintf(st->where, sizeof st->where, "%s:%d", st->path, line);
}

cd_code cd_wl_bad(load_state *st, const char *name, const char *v, const char *expected)
{
    cd_fail(st->err, CD_EINVAL, "%s: invalid value \"%s\" for %s", st->where, v, name);
    return cd_hint(st->err, "expected %s", expected);
}

/* Take ownership of s as *out (NULL s: out of memory). */
cd_code cd_wl_set_str(load_state *st, char **out, char *s)
{
    if (s == NULL)
        return cd_wl_oom(st);
    free(*out);
    *out = s;
    return CD_OK;
}

/* rel against base (absolute rel: itself), malloc'd. */
char *cd_wl_join(const char *base, const char *rel)
{
    if (rel[0] == '/' || base == NULL)
        return strdup(rel);
    size_t n = strlen(base) + strlen(rel) + 2;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s/%s", base, rel);
    return s;
}

bool cd_wl_parse_real(const char *v, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(v, &end);
    return v[0] != '\0' && *end == '\0' && errno == 0 && isfinite(*out);
}

/* base/v must exist as a directory (want_dir) or regular file; *out its real path. Lenient
 * (looking at a job): a path that does not exist is kept as base/v. */
cd_code cd_wl_resolve(load_state *st, const char *name, const char *base, const char *v,
                      bool want_dir, char **out)
{
    const char *what = want_dir ? "directory" : "file";
    if (v[0] == '\0')
        return cd_wl_bad(st, name, v, want_dir ? "a directory" : "a file");
    char *p = cd_wl_join(base, v);
    if (p == NULL)
        return cd_wl_oom(st);
    char *real = realpath(p, NULL);
    struct stat sb;
    cd_code rc = CD_OK;
    if ((real == NULL || stat(real, &sb) != 0) && st->lenient) {
        free(real); /* looking at a job whose data is gone: the path as it was */
        return cd_wl_set_str(st, out, p);
    }
    if (real == NULL || stat(real, &sb) != 0)
        rc = cd_fail(st->err, CD_ENOTFOUND, "%s: %s \"%s\" for %s does not exist", st->where, what,
                     v, name);
    else if (want_dir ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode))
        rc = cd_fail(st->err, CD_EINVAL, "%s: \"%s\" for %s is not a %s", st->where, v, name, what);
    if (rc == CD_OK) {
        free(p);
        return cd_wl_set_str(st, out, real);
    }
    free(real);
    if (v[0] != '/') {
        cd_detail(st->err, "path %s", p);
        cd_hint(st->err, "fix the path (relative paths are relative to %s)", base);
    } else {
        cd_hint(st->err, "fix the path%s", want_dir ? " (is the file system mounted?)" : "");
    }
    free(p);
    return rc;
}
