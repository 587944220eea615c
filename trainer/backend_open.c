/*
 * backend_open.c: the device name parser that picks a backend (cd_backend_open, see
 * backend.h): "cpu" is backend_cpu.c, "cuda" and "cuda:N" the CUDA backend that
 * backend_dl.c loads. Above the backends: they do not call it.
 */
#include "backend.h"

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
