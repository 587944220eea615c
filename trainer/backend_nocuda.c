/*
 * backend_nocuda.c: the CUDA backend's stand-in for builds without CUDA: opening a cuda
 * device fails with a clear message. It sits in libcerebro.a; a CUDA build links
 * backend_cuda.o ahead of the library, which defines the same symbols, so this object is
 * never pulled there (and unit tests and tools link in either build without CUDA libraries).
 */
#include "backend.h"

cd_code cd_backend_cuda_open(cd_backend **out, int ordinal, cd_err *err)
{
    *out = NULL;
    cd_fail(err, CD_EUNSUPPORTED, "device \"cuda:%d\" is not available", ordinal);
    cd_detail(err, "this cerebro-train was built without the CUDA backend");
    return cd_hint(err, "use --device cpu, or rebuild with nvcc on PATH and cudnn.h installed "
                        "(make CUDA=1 says what is missing)");
}

const char *cd_backend_cuda_built(void)
{
    return "";
}
