/*
 * test_fingerprint.c: the numeric fingerprint line (common/fingerprint.h): its fields and
 * order, values made safe for JSON, CSV and tab-separated journals, validation, and which
 * OpenBLAS kernels this CPU is said to run (its own always; an unknown name never).
 */
#include <string.h>

#include "unit.h"

#include "fingerprint.h"
#include "par.h"

static void test_format(void)
{
    char cpu[CD_FP_MAX], fp[CD_FP_MAX], want[CD_FP_MAX], blas[128];
    cd_fp_cpu_backend(cpu, sizeof cpu);
    cd_blas_version(blas, sizeof blas);
    CHECK(strncmp(blas, "OpenBLAS-", 9) == 0);
    snprintf(want, sizeof want, "backend=cpu blas=%s core=%s", blas, cd_blas_core());
    CHECK(strcmp(cpu, want) == 0);
    cd_fp_make(fp, sizeof fp, cpu, true, 3);
    snprintf(want, sizeof want, "version=%s %s threads=3", CD_VERSION, cpu);
    CHECK(strcmp(fp, want) == 0);
    CHECK(cd_fp_valid(fp));
    /* threads 0: one per online CPU, as the trainer's pool resolves it */
    cd_fp_make(fp, sizeof fp, cpu, true, 0);
    snprintf(want, sizeof want, "version=%s %s threads=%d", CD_VERSION, cpu, cd_par_resolve(0));
    CHECK(strcmp(fp, want) == 0);
    cd_fp_make(fp, sizeof fp, "backend=cuda device=X", false, 3);
    snprintf(want, sizeof want, "version=%s backend=cuda device=X", CD_VERSION);
    CHECK(strcmp(fp, want) == 0);
}

static void test_sanitize(void)
{
    char buf[CD_FP_MAX] = "";
    cd_fp_add(buf, sizeof buf, "device", "NVIDIA A100 \"x\"\t,\n");
    CHECK(strcmp(buf, "device=NVIDIA_A100__x____") == 0);
    CHECK(cd_fp_valid(buf));
    CHECK(cd_fp_valid(""));
    CHECK(!cd_fp_valid("a=\"b\""));
    CHECK(!cd_fp_valid("a=b\tc=d"));
    char small[12] = "";
    cd_fp_add(small, sizeof small, "device", "abcdefghij");
    CHECK(strlen(small) == 11 && strncmp(small, "device=abcd", 11) == 0);
    char big[CD_FP_MAX + 10];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(!cd_fp_valid(big));
}

static void test_cores(void)
{
    CHECK(cd_blas_core_runs_here(cd_blas_core()));
    CHECK(!cd_blas_core_runs_here("NoSuchCore"));
    CHECK(!cd_blas_core_runs_here(""));
#if defined(__x86_64__)
    /* every x86-64 CPU has SSE3 since 2005; Prescott needs nothing else */
    CHECK(cd_blas_core_runs_here("Prescott") == (__builtin_cpu_supports("sse3") != 0));
    CHECK(cd_blas_core_runs_here("haswell") ==
          (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")));
#endif
}

int main(void)
{
    RUN(test_format);
    RUN(test_sanitize);
    RUN(test_cores);
    return UNIT_DONE();
}
