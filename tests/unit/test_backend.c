/*
 * test_backend.c: unit tests for trainer/backend.c and the CPU backend: the device names
 * cd_backend_open accepts and refuses (with the accepted forms), the CPU backend's memory
 * entries, and the first-failure record. Unit tests link libcerebro.a alone, so "cuda" here
 * meets backend_dl.c, here told (CEREBRO_CUDA_BACKEND) that no CUDA backend is installed
 * (tests/80-trainer.bats checks what --device cuda does with one).
 */
#include <string.h>

#include "backend.h"
#include "unit.h"

static void test_open_cpu(void)
{
    cd_backend *be = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_backend_open(&be, "cpu", &err), CD_OK, &err);
    CHECK(be != NULL && be->host_memory && strcmp(be->device, "cpu") == 0);
    CHECK(be != NULL && be->status == 0);
    CHECK_CODE(be ? cd_backend_status(be, &err) : CD_OK, CD_OK, &err);
    cd_backend_close(&be);
    CHECK(be == NULL);
    cd_backend_close(&be); /* safe on NULL */
    CHECK_CODE(cd_backend_open(&be, NULL, &err), CD_OK, &err);
    CHECK(be != NULL && strcmp(be->device, "cpu") == 0);
    cd_backend_close(&be);
}

static void test_refused_names(void)
{
    static const char *const bad[] = {
        "tpu",     "CPU",   "cpu:0",       "cuda:", "cuda:x", "cuda:-1",
        "cuda:1x", "cuda0", "cuda:123456", "",      " cuda",  "cuda:+1"};
    static cd_backend sentinel;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cd_backend *be = &sentinel; /* must be reset to NULL */
        cd_err err = {0};
        CHECK_CODE(cd_backend_open(&be, bad[i], &err), CD_EINVAL, &err);
        CHECK(be == NULL);
        CHECK(strstr(err.msg, "unknown device") != NULL);
        CHECK(strstr(err.detail, "cpu, cuda, cuda:N") != NULL);
        CHECK(err.hint[0] != '\0');
    }
}

static void test_cuda_without_backend(void)
{
    static const char *const names[] = {"cuda", "cuda:0", "cuda:7", "cuda:00012"};
    setenv("CEREBRO_CUDA_BACKEND", "/nonexistent/libcerebro-cuda.so", 1);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        cd_backend *be = NULL;
        cd_err err = {0};
        CHECK_CODE(cd_backend_open(&be, names[i], &err), CD_EUNSUPPORTED, &err);
        CHECK(be == NULL);
        CHECK(strstr(err.detail, "/nonexistent/libcerebro-cuda.so\" is not installed") != NULL);
        CHECK(strstr(err.hint, "--device cpu") != NULL);
    }
    cd_err err = {0};
    cd_backend *be = NULL;
    cd_backend_open(&be, "cuda:12", &err);
    CHECK(strstr(err.msg, "cuda:12") != NULL);
    CHECK(strcmp(cd_backend_cuda_built(), "") == 0);
    unsetenv("CEREBRO_CUDA_BACKEND");
}

static void test_cpu_memory(void)
{
    cd_backend *be = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_backend_open(&be, "cpu", &err), CD_OK, &err);
    if (be == NULL)
        return;
    float *d = NULL, host[5] = {1, 2, 3, 4, 5}, back[5] = {0};
    void *p = NULL;
    CHECK_EQ_INT(be->ops->alloc(be, &p, 5 * sizeof(float)), 0);
    d = p;
    CHECK(d != NULL && d[0] == 0 && d[4] == 0);
    CHECK_EQ_INT(be->ops->to_device(be, d, host, sizeof host), 0);
    CHECK_EQ_INT(be->ops->copy(be, d + 3, d, 2 * sizeof(float)), 0);
    CHECK_EQ_INT(be->ops->to_host(be, back, d, sizeof back), 0);
    CHECK(back[0] == 1 && back[2] == 3 && back[3] == 1 && back[4] == 2);
    CHECK_EQ_INT(be->ops->to_device(be, d, d, sizeof host), 0); /* itself: nothing to do */
    CHECK_EQ_INT(be->ops->memset0(be, d, 2 * sizeof(float)), 0);
    CHECK(d[0] == 0 && d[1] == 0 && d[2] == 3);
    CHECK_EQ_INT(be->ops->sync(be), 0);
    CHECK(be->ops->conv2d_workspace_size(3, 8, 8, 3, 3, 1, 1) == 3 * 9 * 64);
    be->ops->free(be, d);
    be->ops->free(be, NULL);
    cd_backend_close(&be);
}

static void test_first_failure_kept(void)
{
    cd_backend *be = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_backend_open(&be, "cpu", &err), CD_OK, &err);
    if (be == NULL)
        return;
    CHECK_EQ_INT(cd_backend_record(be, -3, CD_EIO, "dense_forward: %s", "x.cu:7: boom"), -3);
    CHECK_EQ_INT(cd_backend_record(be, -1, CD_ENOMEM, "later"), -1);
    CHECK_CODE(cd_backend_status(be, &err), CD_EIO, &err);
    CHECK(strstr(err.msg, "device \"cpu\"") != NULL);
    CHECK(strcmp(err.detail, "dense_forward: x.cu:7: boom") == 0);
    CHECK(err.hint[0] != '\0');
    cd_backend_close(&be);
    CHECK_CODE(cd_backend_open(&be, "cpu", &err), CD_OK, &err);
    if (be == NULL)
        return;
    cd_backend_record(be, -1, CD_ENOMEM, "alloc of %d bytes", 12);
    CHECK_CODE(cd_backend_status(be, &err), CD_ENOMEM, &err);
    CHECK(strstr(err.msg, "out of memory") != NULL);
    cd_backend_close(&be);
}

int main(void)
{
    RUN(test_open_cpu);
    RUN(test_refused_names);
    RUN(test_cuda_without_backend);
    RUN(test_cpu_memory);
    RUN(test_first_failure_kept);
    return UNIT_DONE();
}
