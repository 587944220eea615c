/*
 * test_ctidx.c: the run-length tuple addresses of a shard (fuse/table/ctidx.h) against a
 * plain array of the same addresses: runs that break on a new block and on a gap of items,
 * in-order lookups through the cursor, random and backward ones, and the memory a loaded
 * table's index takes.
 */
#include "ctidx.h"
#include "sorted.h"
#include "unit.h"

#define N 20000

/* Addresses like a heap's: blocks of 1..60 items, with now and then a dead item (a gap). */
static void make_addresses(uint32_t *blk, uint16_t *item, unsigned seed)
{
    srand(seed);
    uint32_t b = 0;
    uint16_t it = 1;
    int left = 1 + rand() % 60;
    for (int i = 0; i < N; i++) {
        if (left-- == 0) {
            b += 1 + (uint32_t)(rand() % 3);
            it = 1;
            left = rand() % 60;
        }
        if (rand() % 20 == 0)
            it++; /* a dead item between two visible ones */
        blk[i] = b;
        item[i] = it++;
    }
}

/* cd_last_at_most (sorted.h), which the lookups here, the mount's shard of a node and a
 * packed table's tuple of a row use: runs of equal values, both ends, one element. */
static void test_last_at_most(void)
{
    const uint64_t a[] = {0, 3, 3, 3, 7, 10};
    const uint64_t want[] = {0, 0, 0, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5};
    for (uint64_t x = 0; x < sizeof want / sizeof want[0]; x++)
        CHECK_EQ_INT(cd_last_at_most(a, 6, x), want[x]);
    CHECK_EQ_INT(cd_last_at_most(a, 1, 99), 0);
    CHECK_EQ_INT(cd_last_at_most(a, 0, 5), 0);
    CHECK_EQ_INT(cd_last_at_most(a + 1, 3, 3), 2); /* all equal: the last */
}

static void test_lookups(void)
{
    static uint32_t blk[N];
    static uint16_t item[N];
    for (unsigned seed = 1; seed <= 3; seed++) {
        make_addresses(blk, item, seed);
        cd_ctidx x = {0};
        cd_err err = {0};
        for (int i = 0; i < N; i++)
            CHECK_CODE(cd_ctidx_add(&x, blk[i], item[i], &err), CD_OK, &err);
        CHECK(x.n == N);
        CHECK(x.nruns < N / 2);
        size_t cursor = 0;
        int bad = 0;
        for (int i = 0; i < N; i++) { /* in order */
            uint32_t b;
            uint16_t it;
            cd_ctidx_get(&x, (uint64_t)i, &cursor, &b, &it);
            bad += b != blk[i] || it != item[i];
        }
        for (int i = N - 1; i >= 0; i--) { /* backward */
            uint32_t b;
            uint16_t it;
            cd_ctidx_get(&x, (uint64_t)i, &cursor, &b, &it);
            bad += b != blk[i] || it != item[i];
        }
        for (int k = 0; k < N; k++) { /* anywhere */
            int i = rand() % N;
            uint32_t b;
            uint16_t it;
            cd_ctidx_get(&x, (uint64_t)i, &cursor, &b, &it);
            bad += b != blk[i] || it != item[i];
        }
        CHECK_EQ_INT(bad, 0);
        cd_ctidx_free(&x);
        CHECK(x.n == 0 && x.blk == NULL);
    }
}

static void test_packed_table_is_small(void)
{
    /* 40 items in each of 25000 blocks, none dead: one run a block */
    cd_ctidx x = {0};
    cd_err err = {0};
    for (uint32_t b = 0; b < 25000; b++)
        for (uint16_t it = 1; it <= 40; it++)
            CHECK_CODE(cd_ctidx_add(&x, b, it, &err), CD_OK, &err);
    CHECK(x.nruns == 25000);
    CHECK(cd_ctidx_bytes(&x) < x.n * 8 / 10); /* an array of ctids: 8 bytes a tuple */
    size_t cursor = 0;
    uint32_t b;
    uint16_t it;
    cd_ctidx_get(&x, 999999, &cursor, &b, &it);
    CHECK(b == 24999 && it == 40);
    cd_ctidx_get(&x, 0, &cursor, &b, &it);
    CHECK(b == 0 && it == 1);
    cd_ctidx_free(&x);
}

int main(void)
{
    RUN(test_last_at_most);
    RUN(test_lookups);
    RUN(test_packed_table_is_small);
    return UNIT_DONE();
}
