/*
 * cd_err.c: building and printing cd_err values. No allocation, no exit.
 */
#include "cd_err.h"

#include <errno.h>
#include <string.h>

volatile sig_atomic_t cd_interrupted;

static void vset(char *buf, size_t size, const char *fmt, va_list ap)
{
    vsnprintf(buf, size, fmt, ap);
}

cd_code cd_fail(cd_err *err, cd_code code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vset(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
    err->detail[0] = '\0';
    err->hint[0] = '\0';
    return code;
}

cd_code cd_detail(cd_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return CD_EINVAL; /* a failure path never returns CD_OK, even without err */
    va_list ap;
    va_start(ap, fmt);
    vset(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
    return err->code;
}

cd_code cd_context(cd_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return CD_EINVAL; /* a failure path never returns CD_OK, even without err */
    char prefix[384];
    char old[sizeof err->detail];
    va_list ap;
    va_start(ap, fmt);
    vset(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->detail, sizeof old);
    if (old[0] != '\0')
        snprintf(err->detail, sizeof err->detail, "%s: %s", prefix, old);
    else
        snprintf(err->detail, sizeof err->detail, "%s", prefix);
    return err->code;
}

cd_code cd_hint(cd_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return CD_EINVAL; /* a failure path never returns CD_OK, even without err */
    va_list ap;
    va_start(ap, fmt);
    vset(err->hint, sizeof err->hint, fmt, ap);
    va_end(ap);
    return err->code;
}

void cd_err_clear(cd_err *err)
{
    if (err == NULL)
        return;
    err->code = CD_OK;
    err->msg[0] = err->detail[0] = err->hint[0] = '\0';
}

const char *cd_code_name(cd_code code)
{
    switch (code) {
    case CD_OK:
        return "ok";
    case CD_EIO:
        return "io";
    case CD_ECORRUPT:
        return "corrupt";
    case CD_EREWRITTEN:
        return "rewritten";
    case CD_EUNDECIDED:
        return "undecided";
    case CD_EUNSUPPORTED:
        return "unsupported";
    case CD_ENOMEM:
        return "out of memory";
    case CD_EDB:
        return "database";
    case CD_EPRIV:
        return "privilege";
    case CD_EINVAL:
        return "invalid";
    case CD_ENOTFOUND:
        return "not found";
    case CD_EMISMATCH:
        return "mismatch";
    case CD_EINTERRUPTED:
        return "interrupted";
    case CD_ELIMIT:
        return "limit";
    case CD_EBUSY:
        return "busy";
    }
    return "unknown";
}

int cd_code_errno(cd_code code)
{
    switch (code) {
    case CD_OK:
        return 0;
    case CD_ENOMEM:
        return ENOMEM;
    case CD_EPRIV:
        return EACCES;
    case CD_EINVAL:
        return EINVAL;
    case CD_ENOTFOUND:
        return ENOENT;
    case CD_EUNSUPPORTED:
        return EOPNOTSUPP;
    case CD_EREWRITTEN:
        return ESTALE;
    case CD_EINTERRUPTED:
        return EINTR;
    case CD_ELIMIT:
        return EMFILE;
    case CD_EBUSY:
        return EAGAIN;
    default:
        return EIO;
    }
}

int cd_usage_error(const char *prog, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
    return 2;
}

void cd_err_print(FILE *f, const char *prog, const cd_err *err)
{
    fprintf(f, "%s: error: %s\n", prog, err->msg[0] ? err->msg : cd_code_name(err->code));
    if (err->detail[0] != '\0')
        fprintf(f, "DETAIL: %s\n", err->detail);
    if (err->hint[0] != '\0')
        fprintf(f, "HINT: %s\n", err->hint);
}
