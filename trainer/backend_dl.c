/*
 * backend_dl.c: the CUDA backend as seen by cerebro-train: a shared object,
 * libcerebro-cuda.so (backend_cuda.c and the CUDA ops, linked against cudart, cuBLAS and
 * cuDNN), loaded with dlopen only when a cuda device is asked for. A CPU run maps none of the
 * CUDA libraries (they cost ~0.06 s and ~200 MB of mappings per process).
 *
 * Where: $CEREBRO_CUDA_BACKEND, else <directory of the executable>/../lib/cerebro-ds/. The
 * shared object finds the rest of the trainer (errors, the backend record, optimizer scalars)
 * in the executable, which exports its symbols (-rdynamic). Test programs that link
 * backend_cuda.o directly never pull this object: it defines the same two symbols.
 */
#include "backend.h"

#include "fsutil.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CUDA_SO "libcerebro-cuda.so"

typedef cd_code (*open_fn)(cd_backend **out, int ordinal, cd_err *err);

/* The shared object's path into buf; false when there is none to be found. */
static bool find_backend(char *buf, size_t size)
{
    const char *env = getenv("CEREBRO_CUDA_BACKEND");
    if (env != NULL && *env != '\0') {
        snprintf(buf, size, "%s", env);
        return access(buf, R_OK) == 0;
    }
    char dir[PATH_MAX];
    if (!cd_exe_dir(dir, sizeof dir))
        return false;
    snprintf(buf, size, "%s/../lib/cerebro-ds/" CUDA_SO, dir);
    return access(buf, R_OK) == 0;
}

cd_code cd_backend_cuda_open(cd_backend **out, int ordinal, cd_err *err)
{
    char path[PATH_MAX];
    *out = NULL;
    if (!find_backend(path, sizeof path)) {
        cd_fail(err, CD_EUNSUPPORTED, "device \"cuda:%d\" is not available", ordinal);
        cd_detail(err,
                  "the CUDA backend \"%s\" is not installed (this cerebro-train was built "
                  "without it, or it was removed)",
                  path);
        return cd_hint(err, "use --device cpu, or rebuild with nvcc on PATH and cudnn.h "
                            "installed (make CUDA=1 says what is missing)");
    }
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    open_fn open = lib != NULL ? (open_fn)dlsym(lib, "cd_backend_cuda_open") : NULL;
    if (open == NULL) {
        cd_fail(err, CD_EUNSUPPORTED, "could not load the CUDA backend \"%s\"", path);
        cd_detail(err, "%s", dlerror());
        return cd_hint(err, "install the CUDA runtime, cuBLAS and cuDNN it was built with, or "
                            "use --device cpu");
    }
    return open(out, ordinal, err); /* the library stays loaded for the process's life */
}

const char *cd_backend_cuda_built(void)
{
    char path[PATH_MAX];
    return find_backend(path, sizeof path) ? "cuda" : "";
}
