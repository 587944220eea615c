/*
 * test_net_cuda.c: whole training steps on a CUDA device (backend_cuda.c through net.c and
 * optim.c) against the CPU backend (tests/unit/net_compare.h, tolerance 1e-4), and the
 * failure record of the CUDA backend. Without a CUDA device it prints one skip line and
 * exits 0. Built by mk/cuda.mk; run by make unit.
 */
#include <cuda_runtime_api.h>

#include "../unit/net_compare.h"

/* A failing entry names itself and where it failed; the backend keeps the first failure. */
static void test_failure_reported(void)
{
    cd_err err = {0};
    CHECK_CODE(cd_backend_status(dev, &err), CD_OK, &err);
    void *p = NULL;
    CHECK(dev->ops->alloc(dev, &p, (size_t)1 << 60) != 0 && p == NULL);
    CHECK_CODE(cd_backend_status(dev, &err), CD_ENOMEM, &err);
    CHECK(strstr(err.detail, "alloc of") != NULL && strstr(err.detail, ".c:") != NULL);
}

static void test_against_cpu(void)
{
    net_compare_all(dev, 1e-4);
}

int main(void)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        printf("skipped: no CUDA device found (cudaGetDeviceCount: %s)\n",
               e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 0;
    }
    cd_err err = {0};
    CHECK_CODE(cd_backend_open(&dev, "cuda:0", &err), CD_OK, &err);
    if (dev == NULL)
        return UNIT_DONE();
    RUN(test_against_cpu);
    RUN(test_failure_reported); /* last: it leaves the backend failed */
    cd_backend_close(&dev);
    printf("test_net_cuda: %d checks, %d failed\n", unit_checks, unit_failures);
    return UNIT_DONE();
}
