/*
 * test_net_device.c: the device path of net.c and optim.c (tensor mirrors, batch upload,
 * host copies of outputs and optimizer state, to_device / to_host) without a GPU: the CPU
 * backend's ops over memory it pretends is its own (host_memory false, so every buffer is a
 * separate allocation and every transfer a copy), against the plain CPU backend, bit for bit
 * (tests/unit/net_compare.h, which tests/cuda/test_net_cuda.c runs on a GPU). A copy the
 * device path forgets shows up as a difference here.
 */
#include "net_compare.h"

static void test_device_path_bit_identical(void)
{
    cd_backend *be = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_backend_open(&be, "cpu", &err), CD_OK, &err);
    if (be == NULL)
        return;
    be->host_memory = false;
    net_compare_all(be, 0.0);
    CHECK_CODE(cd_backend_status(be, &err), CD_OK, &err);
    cd_backend_close(&be);
}

int main(void)
{
    RUN(test_device_path_bit_identical);
    return UNIT_DONE();
}
