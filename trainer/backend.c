/*
 * backend.c: what every backend shares (see backend.h): closing, and the first-failure
 * record and its translation into a cd_err. The tables themselves are in backend_cpu.c and
 * backend_cuda.c (loaded by backend_dl.c); backend_open.c picks one by device name.
 */
#include "backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
