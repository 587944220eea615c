/*
 * fuzz_estimate.c: libFuzzer target for the reader of a job's estimates file
 * (scheduler/estimate.c), which every resume of cerebro-sched reads back: its values decide
 * the shard orders, so a file read wrong gives other checkpoint bytes, not an error.
 *
 * Input: the estimates file, served from a memory file (memfd) through its /proc/self/fd path.
 * Checks: cd_estimate_read returns CD_OK or CD_ECORRUPT only and leaves nothing when it fails;
 * a file holding a NUL byte is refused (it would hide the lines after it); every value read is
 * finite and >= 0; the values written again with cd_estimate_write read back bit for bit.
 * Seeds: tests/fuzz/seeds/fuzz_estimate/, files as cerebro-sched writes them.
 * Does not: test cd_estimate_write's atomic replace under a crash.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "estimate.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* est[n] written to a file of fuzz_dir() and read back; aborts unless bit for bit the same. */
static void rewrite(const double *est, int n)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/estimates", fuzz_dir());
    double *back = NULL;
    int nback = 0;
    cd_err err;
    if (cd_estimate_write(path, est, n, &err) != CD_OK ||
        cd_estimate_read(path, &back, &nback, &err) != CD_OK || nback != n ||
        (n > 0 && memcmp(back, est, (size_t)n * sizeof *est) != 0))
        abort();
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_mem_file(data, size, NULL, 0, path);
    if (fd < 0)
        return 0;
    double *est = NULL;
    int n = 0;
    cd_err err;
    cd_code rc = cd_estimate_read(path, &est, &n, &err);
    close(fd);
    if (rc == CD_OK) {
        if (memchr(data, '\0', size) != NULL || n < 0)
            abort();
        for (int i = 0; i < n; i++)
            if (!isfinite(est[i]) || est[i] < 0)
                abort();
        rewrite(est, n);
    } else if (rc != CD_ECORRUPT || est != NULL || n != 0) {
        abort();
    }
    free(est);
    return 0;
}
