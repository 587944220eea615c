/*
 * backend.c: what every backend shares (see backend.h): the device name parser that picks a
 * backend, closing, and the first-failure record and its translation into a cd_err. The
 * tables themselves are in backend_cpu.c and backend_cuda.c (loaded by backend_dl.c).
 */
#include "backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* "N" of "cuda:N": digits only, 0 .. 99999; -1 otherwise. */
static int parse_ordinal(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 5 || strspn(s, "0123456789") != len)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

cd_code cd_backend_open(cd_backend **out, const char *device, cd_err *err)
{
    *out = NULL;
    if (device == NULL || strcmp(device, "cpu") == 0)
        return cd_backend_cpu_open(out, err);
    if (strcmp(device, "cuda") == 0)
        return cd_backend_cuda_open(out, 0, err);
    int ordinal = strncmp(device, "cuda:", 5) == 0 ? parse_ordinal(device + 5) : -1;
    if (ordinal >= 0)
        return cd_backend_cuda_open(out, ordinal, err);
    cd_fail(err, CD_EINVAL, "unknown device \"%s\"", device);
    cd_detail(err, "accepted forms: cpu, cuda, cuda:N (N a CUDA device number, from 0)");
    return cd_hint(err, "use --device cpu, --device cuda or --device cuda:N");
}

void cd_backend_close(cd_backend **be)
{
    if (be == NULL || *be == NULL)
        return;
    (*be)->ops->close(*be);
    *be = NULL;
}

int cd_backend_record(cd_backend *be, int status, cd_code code, const char *fmt, ...)
{
    if (be->status != 0)
        return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->error, sizeof be->error, fmt, ap);
    va_end(ap);
    be->status = status != 0 ? status : -1;
    be->code = code != CD_OK ? code : CD_EIO;
    return be->status;
}

cd_code cd_backend_status(const cd_backend *be, cd_err *err)
{
    if (be->status == 0)
        return CD_OK;
    if (be->code == CD_ENOMEM) {
        cd_fail(err, CD_ENOMEM, "out of memory on device \"%s\"", be->device);
        cd_detail(err, "%s", be->error);
        return cd_hint(err, "use a smaller batch_size or model, or another device");
    }
    cd_fail(err, be->code, "computation on device \"%s\" failed", be->device);
    cd_detail(err, "%s", be->error);
    return cd_hint(err, "check the device (nvidia-smi for CUDA), or use --device cpu");
}
