/*
 * fuzz_npy.c: libFuzzer target for the .npy reader (common/npy.c), which treats every file as
 * hostile: the trainer opens whatever --data names, not only the mount's files.
 *
 * Input: the whole file, served from a memory file (memfd) through its /proc/self/fd path.
 * Checks: cd_npy_open returns CD_OK, CD_ECORRUPT or CD_EUNSUPPORTED only, and a failed open
 * leaves the cd_npy closed; an accepted file has a known dtype, 0..CD_NPY_MAXDIM dimensions,
 * data_bytes = product(shape) * itemsize = file size - header_len, and every data byte can be
 * read. The header cd_npy_header writes for the same dtype and shape, followed by the same
 * data, must open again to the same dtype, shape and bytes (the writer and the reader agree).
 * Seeds: tests/fuzz/seeds/fuzz_npy/, files written by numpy.save (versions 1.0 and 2.0, 0 to
 * 3 dimensions, an empty array, each dtype family).
 * Does not: test the streaming writer or files over the fuzzer's input size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The invariants of an accepted file of size bytes; aborts when one does not hold. */
static void check_open(const cd_npy *n, size_t size)
{
    uint64_t elems = 1;
    if (n->fd < 0 || n->ndim < 0 || n->ndim > CD_NPY_MAXDIM || n->itemsize == 0 ||
        cd_npy_itemsize(n->descr) != n->itemsize || n->header_len > size ||
        n->data_bytes != size - n->header_len || n->map_len != size)
        abort();
    for (int i = 0; i < n->ndim; i++)
        elems *= n->shape[i]; /* cannot overflow: the product of bytes fits the file */
    if (elems * n->itemsize != n->data_bytes)
        abort();
    const volatile uint8_t *p = n->data;
    uint8_t sum = 0;
    for (uint64_t i = 0; i < n->data_bytes; i++)
        sum ^= p[i]; /* every mapped data byte is readable */
    (void)sum;
}

/* The writer's header for n's dtype and shape, then n's data, must open to the same array. */
static void check_rewrite(const cd_npy *n)
{
    char hdr[1024], path[64];
    size_t hlen = cd_npy_header(hdr, sizeof hdr, n->descr, n->shape, n->ndim);
    if (hlen == 0 || hlen % CD_NPY_ALIGN != 0)
        abort();
    int fd = fuzz_mem_file((const uint8_t *)hdr, hlen, n->data, (size_t)n->data_bytes, path);
    if (fd < 0)
        return;
    cd_npy again;
    cd_err err;
    if (cd_npy_open(path, &again, &err) != CD_OK)
        abort();
    if (strcmp(again.descr, n->descr) != 0 || again.ndim != n->ndim ||
        memcmp(again.shape, n->shape, (size_t)n->ndim * sizeof *n->shape) != 0 ||
        again.header_len != hlen || again.data_bytes != n->data_bytes ||
        memcmp(again.data, n->data, (size_t)n->data_bytes) != 0)
        abort();
    cd_npy_close(&again);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_mem_file(data, size, NULL, 0, path);
    if (fd < 0)
        return 0;
    cd_npy n;
    cd_err err;
    cd_code rc = cd_npy_open(path, &n, &err);
    if (rc == CD_OK) {
        check_open(&n, size);
        check_rewrite(&n);
        cd_npy_close(&n);
    } else if ((rc != CD_ECORRUPT && rc != CD_EUNSUPPORTED) || n.fd != -1 || n.data != NULL) {
        abort();
    }
    close(fd);
    return 0;
}
