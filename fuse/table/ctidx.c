/*
 * ctidx.c: tuple addresses as runs (see ctidx.h).
 */
#include "ctidx.h"

#include <stdlib.h>
#include <string.h>

#include "sorted.h"

static cd_code grow_runs(cd_ctidx *x, cd_err *err)
{
    size_t cap = x->cap ? x->cap * 2 : 256;
    uint32_t *blk = realloc(x->blk, cap * sizeof *blk);
    if (blk != NULL)
        x->blk = blk;
    uint16_t *item = realloc(x->item, cap * sizeof *item);
    if (item != NULL)
        x->item = item;
    uint64_t *first = realloc(x->first, (cap + 1) * sizeof *first);
    if (first != NULL)
        x->first = first;
    if (blk == NULL || item == NULL || first == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory indexing the table");
    x->cap = cap;
    return CD_OK;
}

cd_code cd_ctidx_add(cd_ctidx *x, uint32_t blk, uint16_t item, cd_err *err)
{
    if (x->nruns > 0) {
        size_t r = x->nruns - 1;
        uint64_t len = x->n - x->first[r];
        if (x->blk[r] == blk && (uint64_t)x->item[r] + len == item) {
            x->first[++r] = ++x->n;
            return CD_OK;
        }
    }
    if (x->nruns == x->cap) {
        cd_code rc = grow_runs(x, err);
        if (rc != CD_OK)
            return rc;
    }
    if (x->nruns == 0)
        x->first[0] = 0;
    x->blk[x->nruns] = blk;
    x->item[x->nruns] = item;
    x->first[++x->nruns] = ++x->n;
    return CD_OK;
}

void cd_ctidx_get(const cd_ctidx *x, uint64_t i, size_t *cursor, uint32_t *blk, uint16_t *item)
{
    size_t r = *cursor < x->nruns ? *cursor : 0;
    if (i >= x->first[r + 1] && r + 1 < x->nruns && i < x->first[r + 2]) {
        r++; /* the next run: in-order access */
    } else if (i < x->first[r] || i >= x->first[r + 1]) {
        r = (size_t)cd_last_at_most(x->first, x->nruns, i); /* the last run with first <= i */
    }
    *cursor = r;
    *blk = x->blk[r];
    *item = (uint16_t)(x->item[r] + (i - x->first[r]));
}

size_t cd_ctidx_bytes(const cd_ctidx *x)
{
    return x->cap * (sizeof *x->blk + sizeof *x->item + sizeof *x->first);
}

void cd_ctidx_free(cd_ctidx *x)
{
    free(x->first);
    free(x->item);
    free(x->blk);
    memset(x, 0, sizeof *x);
}
