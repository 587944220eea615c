/*
 * pagefix.c: test tool: recompute and store the data checksum of one block of a relation
 * segment file, so a test can corrupt a page's content (a line pointer, a pglz stream,
 * a TOAST chunk) and still get past checksum verification to the check it means to hit.
 *
 *   pagefix FILE BLOCK [ABSBLOCK]   BLOCK: block within FILE; ABSBLOCK: block number in the
 *                                   relation (default BLOCK), which the checksum covers
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "checksum.h"
#include "pgdisk.h"

#define BLCKSZ 8192

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: pagefix FILE BLOCK [ABSBLOCK]\n");
        return 2;
    }
    long blk = atol(argv[2]), abs_blk = argc == 4 ? atol(argv[3]) : blk;
    int fd = open(argv[1], O_RDWR);
    uint8_t page[BLCKSZ];
    if (fd < 0 || pread(fd, page, BLCKSZ, blk * BLCKSZ) != BLCKSZ) {
        perror(argv[1]);
        return 1;
    }
    uint16_t sum = cd_page_checksum(page, BLCKSZ, (uint32_t)abs_blk);
    memcpy(page + PGD_OFF_CHECKSUM, &sum, sizeof sum);
    if (pwrite(fd, page, BLCKSZ, blk * BLCKSZ) != BLCKSZ || close(fd) != 0) {
        perror(argv[1]);
        return 1;
    }
    return 0;
}
