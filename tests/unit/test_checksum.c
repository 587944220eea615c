/*
 * test_checksum.c: unit tests for the data page checksum (fuse/pg/checksum.c).
 *
 * Oracle: 8 KB pages read from the files of a real PostgreSQL 15 cluster with data
 * checksums after a CHECKPOINT (tests/unit/data/page_*.bin), with pageinspect's
 * page_checksum() of the same bytes (checksum_pages.txt, from make-fixtures.sh) and the
 * pd_checksum stored in each page. 32 KB pages are checked against a slow reference written
 * in this file from the algorithm's description (itself checked on the real 8 KB pages).
 * Run from the repository root; no server needed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "pgdisk.h"
#include "unit.h"

#define DATA "tests/unit/data/"
#define BLCKSZ 8192
#define MAX_PAGES 8

typedef struct real_page {
    char file[64];
    uint32_t blkno;
    unsigned expected; /* page_checksum() */
    uint8_t page[BLCKSZ];
} real_page;

static real_page pages[MAX_PAGES];
static int npages;

static int load_page(const char *file, uint8_t *page)
{
    char path[256];
    snprintf(path, sizeof path, DATA "%s", file);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s (run from the repository root)\n", path);
        return -1;
    }
    size_t n = fread(page, 1, BLCKSZ, f);
    fclose(f);
    return n == BLCKSZ ? 0 : -1;
}

static void load_all(void)
{
    FILE *f = fopen(DATA "checksum_pages.txt", "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open " DATA "checksum_pages.txt\n");
        return;
    }
    real_page *p = &pages[0];
    while (npages < MAX_PAGES && fscanf(f, "%63s %u %u", p->file, &p->blkno, &p->expected) == 3) {
        if (load_page(p->file, p->page) == 0)
            p = &pages[++npages];
    }
    fclose(f);
}

/* Slow reference, straight from the description: 32 column sums over uint32 words. */
static uint16_t reference(const uint8_t *page, uint32_t blcksz, uint32_t blkno)
{
    static const uint32_t base[32] = {
        0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2,
        0x83E13D2C, 0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C,
        0xF718902A, 0x0B1C9CDB, 0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979,
        0xCCA6C0B2, 0x304A0979, 0x85AA43D4, 0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E,
        0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756};
    uint32_t sums[32];
    memcpy(sums, base, sizeof sums);
    for (uint32_t w = 0; w < blcksz / 4 + 64; w++) {
        uint32_t v = 0;
        if (w < blcksz / 4) {
            memcpy(&v, page + 4 * w, 4);
            if (w == 2) /* bytes 8..11: pd_checksum (low half here) and pd_flags */
                v &= 0xFFFF0000u;
        }
        uint32_t tmp = sums[w % 32] ^ v;
        sums[w % 32] = tmp * 16777619u ^ (tmp >> 17);
    }
    uint32_t x = 0;
    for (int j = 0; j < 32; j++)
        x ^= sums[j];
    return (uint16_t)((x ^ blkno) % 65535u + 1u);
}

static void test_real_pages(void)
{
    CHECK_EQ_INT(npages, 3);
    int above_zero = 0;
    for (int i = 0; i < npages; i++) {
        const real_page *p = &pages[i];
        uint16_t got = cd_page_checksum(p->page, BLCKSZ, p->blkno);
        CHECK_EQ_INT(got, p->expected);
        CHECK_EQ_INT(got, cd_rd16(p->page + PGD_OFF_CHECKSUM));
        CHECK_EQ_INT(reference(p->page, BLCKSZ, p->blkno), p->expected);
        above_zero += p->blkno > 0;
    }
    CHECK(above_zero >= 1);
}

static void test_not_modified_and_unaligned(void)
{
    for (int i = 0; i < npages; i++) {
        const real_page *p = &pages[i];
        uint8_t copy[BLCKSZ];
        memcpy(copy, p->page, BLCKSZ);
        (void)cd_page_checksum(p->page, BLCKSZ, p->blkno);
        CHECK(memcmp(copy, p->page, BLCKSZ) == 0);
        uint8_t *shifted = malloc(BLCKSZ + 3);
        memcpy(shifted + 3, p->page, BLCKSZ);
        CHECK_EQ_INT(cd_page_checksum(shifted + 3, BLCKSZ, p->blkno), p->expected);
        free(shifted);
    }
}

/* The stored checksum must not matter; block number and any bit of data must. */
static void test_sensitivity(void)
{
    if (npages == 0)
        return;
    real_page *p = &pages[0];
    uint8_t page[BLCKSZ];
    memcpy(page, p->page, BLCKSZ);
    page[PGD_OFF_CHECKSUM] ^= 0x5A;
    page[PGD_OFF_CHECKSUM + 1] ^= 0xA5;
    CHECK_EQ_INT(cd_page_checksum(page, BLCKSZ, p->blkno), p->expected);
    CHECK(cd_page_checksum(p->page, BLCKSZ, p->blkno + 1) != p->expected);
    CHECK(cd_page_checksum(p->page, BLCKSZ, p->blkno + 131072) != p->expected);
    int same = 0;
    for (int pos = 0; pos < BLCKSZ; pos += 97) {
        if (pos == PGD_OFF_CHECKSUM || pos == PGD_OFF_CHECKSUM + 1)
            continue;
        memcpy(page, p->page, BLCKSZ);
        page[pos] ^= 0x04;
        same += cd_page_checksum(page, BLCKSZ, p->blkno) == p->expected;
    }
    CHECK_EQ_INT(same, 0);
}

/* 32 KB (Greenplum's block size): four real pages side by side, against the reference. */
static void test_32k(void)
{
    enum { BIG = 32768 };
    uint8_t *big = malloc(BIG);
    for (int k = 0; k < 4; k++)
        memcpy(big + k * BLCKSZ, pages[k % (npages ? npages : 1)].page, BLCKSZ);
    for (uint32_t blk = 0; blk < 5; blk++) {
        uint16_t got = cd_page_checksum(big, BIG, blk * 1000);
        CHECK_EQ_INT(got, reference(big, BIG, blk * 1000));
        CHECK(got >= 1);
    }
    CHECK_EQ_INT(cd_page_checksum(big, 128, 7), reference(big, 128, 7));
    free(big);
}

static void test_bad_arguments(void)
{
    uint8_t page[BLCKSZ] = {0};
    CHECK_EQ_INT(cd_page_checksum(NULL, BLCKSZ, 0), 0);
    CHECK_EQ_INT(cd_page_checksum(page, 0, 0), 0);
    CHECK_EQ_INT(cd_page_checksum(page, 8000, 0), 0);
    CHECK_EQ_INT(cd_page_checksum(page, 100, 0), 0);
    CHECK(cd_page_checksum(page, BLCKSZ, 0) != 0); /* defined even for a zero page */
}

int main(void)
{
    load_all();
    RUN(test_real_pages);
    RUN(test_not_modified_and_unaligned);
    RUN(test_sensitivity);
    RUN(test_32k);
    RUN(test_bad_arguments);
    return UNIT_DONE();
}
