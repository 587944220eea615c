/*
 * toast.c: the chunk index of a TOAST relation and validated fetches (see toast.h).
 */
#include "toast.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "page.h"
#include "pgdisk.h"
#include "tuple.h"

typedef struct chunk_ref {
    uint32_t valueid;
    uint32_t seq;
    uint32_t blkno;
    uint16_t item;
} chunk_ref;

struct cd_toast {
    const cd_relfile *rf;
    uint32_t relid;
    uint32_t max_chunk;
    pthread_mutex_t lock; /* guards the lazy build of refs */
    int built;            /* 0 not yet, 1 built, -1 failed (err kept) */
    cd_err build_err;
    chunk_ref *refs; /* sorted by (valueid, seq) */
    size_t nrefs;
};

/* chunk_id oid, chunk_seq int4, chunk_data bytea */
static const cd_attr toast_attrs[3] = {
    {.name = "chunk_id", .attnum = 1, .attlen = 4, .attalign = 'i'},
    {.name = "chunk_seq", .attnum = 2, .attlen = 4, .attalign = 'i'},
    {.name = "chunk_data", .attnum = 3, .attlen = -1, .attalign = 'i'},
};

cd_code cd_toast_new(cd_toast **out, const cd_relfile *rf, uint32_t toastrelid, uint32_t max_chunk,
                     cd_err *err)
{
    cd_toast *t = calloc(1, sizeof *t);
    if (t == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    t->rf = rf;
    t->relid = toastrelid;
    t->max_chunk = max_chunk;
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return CD_OK;
}

uint32_t cd_toast_relid(const cd_toast *t)
{
    return t->relid;
}

static int cmp_ref(const void *a, const void *b)
{
    const chunk_ref *x = a, *y = b;
    if (x->valueid != y->valueid)
        return x->valueid < y->valueid ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return 0;
}

static cd_code push_ref(cd_toast *t, size_t *cap, chunk_ref r, cd_err *err)
{
    if (t->nrefs == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        chunk_ref *n = realloc(t->refs, ncap * sizeof *n);
        if (n == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory indexing toast relation");
        t->refs = n;
        *cap = ncap;
    }
    t->refs[t->nrefs++] = r;
    return CD_OK;
}

static cd_code index_page(cd_toast *t, const uint8_t *page, uint32_t blkno, size_t *cap,
                          cd_err *err)
{
    unsigned n = cd_page_nitems(page);
    for (unsigned i = 1; i <= n; i++) {
        unsigned flags;
        const uint8_t *tup;
        uint32_t len;
        cd_datum d[3];
        cd_code rc = cd_page_item(page, t->rf->blcksz, i, &flags, &tup, &len, err);
        if (rc == CD_OK && flags == PGD_LP_NORMAL)
            rc = cd_tuple_deform(tup, len, toast_attrs, 3, d, err);
        if (rc == CD_OK && flags == PGD_LP_NORMAL && (d[0].isnull || d[1].isnull || d[2].isnull))
            rc = cd_fail(err, CD_ECORRUPT, "toast chunk with a null attribute");
        if (rc != CD_OK)
            return cd_context(err, "toast file \"%s\", block %u, item %u", t->rf->path, blkno, i);
        if (flags != PGD_LP_NORMAL)
            continue;
        chunk_ref r = {cd_rd32(d[0].p), cd_rd32(d[1].p), blkno, (uint16_t)i};
        if ((rc = push_ref(t, cap, r, err)) != CD_OK)
            return rc;
    }
    return CD_OK;
}

static cd_code check_unique(const cd_toast *t, cd_err *err)
{
    for (size_t i = 1; i < t->nrefs; i++)
        if (cmp_ref(&t->refs[i - 1], &t->refs[i]) == 0) {
            cd_fail(err, CD_EUNDECIDED, "duplicate toast chunk");
            return cd_detail(err,
                             "toast file \"%s\": value %u chunk %u appears twice (blocks %u "
                             "and %u)",
                             t->rf->path, t->refs[i].valueid, t->refs[i].seq, t->refs[i - 1].blkno,
                             t->refs[i].blkno);
        }
    return CD_OK;
}

static cd_code build_index(cd_toast *t, cd_err *err)
{
    uint8_t *page = malloc(t->rf->blcksz);
    if (page == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    size_t cap = 0;
    cd_code rc = CD_OK;
    for (uint32_t b = 0; b < t->rf->nblocks && rc == CD_OK; b++) {
        rc = cd_relfile_read(t->rf, b, page, err);
        if (rc == CD_OK)
            rc = index_page(t, page, b, &cap, err);
    }
    free(page);
    if (rc != CD_OK)
        return rc;
    qsort(t->refs, t->nrefs, sizeof *t->refs, cmp_ref);
    return check_unique(t, err);
}

static cd_code ensure_index(cd_toast *t, cd_err *err)
{
    pthread_mutex_lock(&t->lock);
    if (t->built == 0) {
        cd_err_clear(&t->build_err);
        t->built = build_index(t, &t->build_err) == CD_OK ? 1 : -1;
    }
    int built = t->built;
    pthread_mutex_unlock(&t->lock);
    if (built == 1)
        return CD_OK;
    if (err != NULL)
        *err = t->build_err;
    return t->build_err.code;
}

static size_t find_first(const cd_toast *t, uint32_t valueid)
{
    size_t lo = 0, hi = t->nrefs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->refs[mid].valueid < valueid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Copy chunk r's data into dst[pos..pos+want) after checking its size. */
static cd_code copy_chunk(const cd_toast *t, const uint8_t *page, const chunk_ref *r, uint32_t want,
                          uint8_t *dst, cd_err *err)
{
    unsigned flags;
    const uint8_t *tup;
    uint32_t len;
    cd_datum d[3];
    cd_code rc = cd_page_item(page, t->rf->blcksz, r->item, &flags, &tup, &len, err);
    if (rc == CD_OK && flags != PGD_LP_NORMAL)
        rc = cd_fail(err, CD_EREWRITTEN, "toast chunk vanished from its page");
    if (rc == CD_OK)
        rc = cd_tuple_deform(tup, len, toast_attrs, 3, d, err);
    if (rc != CD_OK)
        return rc;
    const uint8_t *p = d[2].p;
    uint32_t hdr = (p[0] & 1) ? 1 : 4;
    if (p[0] == 0x01 || (!(p[0] & 1) && (p[0] & 3) != 0))
        return cd_fail(err, CD_ECORRUPT, "toast chunk data is itself toasted or compressed");
    if (cd_rd32(d[0].p) != r->valueid || (uint32_t)cd_rd32(d[1].p) != r->seq)
        return cd_fail(err, CD_EREWRITTEN, "toast chunk moved since it was indexed");
    if (d[2].len - hdr != want) {
        cd_fail(err, CD_ECORRUPT, "toast chunk has the wrong size");
        return cd_detail(err, "value %u chunk %u: %u bytes, expected %u", r->valueid, r->seq,
                         d[2].len - hdr, want);
    }
    memcpy(dst, p + hdr, want);
    return CD_OK;
}

/* Read chunks 0..nread-1 of the value's nchunks into dst (nread == nchunks: all of it). */
static cd_code fetch_chunks(cd_toast *t, size_t first, uint32_t valueid, uint32_t extsize,
                            uint32_t nread, uint8_t *dst, uint8_t *page, cd_err *err)
{
    uint32_t nchunks = extsize == 0 ? 0 : (extsize - 1) / t->max_chunk + 1;
    uint32_t cur = UINT32_MAX;
    for (uint32_t seq = 0; seq < nread; seq++) {
        size_t i = first + seq;
        if (i >= t->nrefs || t->refs[i].valueid != valueid || t->refs[i].seq != seq) {
            cd_fail(err, CD_ECORRUPT, "missing toast chunk");
            return cd_detail(err, "value %u: chunk %u of %u not found", valueid, seq, nchunks);
        }
        if (t->refs[i].blkno != cur) {
            cd_code rc = cd_relfile_read(t->rf, t->refs[i].blkno, page, err);
            if (rc != CD_OK)
                return rc;
            cur = t->refs[i].blkno;
        }
        uint32_t want = seq + 1 < nchunks ? t->max_chunk : extsize - seq * t->max_chunk;
        cd_code rc = copy_chunk(t, page, &t->refs[i], want, dst + (size_t)seq * t->max_chunk, err);
        if (rc != CD_OK)
            return cd_context(err, "toast file \"%s\", block %u", t->rf->path, cur);
    }
    size_t after = first + nchunks;
    if (nread == nchunks && after < t->nrefs && t->refs[after].valueid == valueid) {
        cd_fail(err, CD_ECORRUPT, "toast value has more chunks than its size");
        return cd_detail(err, "value %u: %u bytes need %u chunks, chunk %u exists", valueid,
                         extsize, nchunks, t->refs[after].seq);
    }
    return CD_OK;
}

static cd_code fetch(cd_toast *t, uint32_t valueid, uint32_t extsize, uint32_t want, uint8_t *dst,
                     cd_err *err)
{
    cd_code rc = ensure_index(t, err);
    if (rc != CD_OK)
        return rc;
    uint8_t *page = malloc(t->rf->blcksz);
    if (page == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    uint32_t nread = want == 0 ? 0 : (want - 1) / t->max_chunk + 1;
    if (want == extsize) {
        rc = fetch_chunks(t, find_first(t, valueid), valueid, extsize, nread, dst, page, err);
    } else { /* whole chunks into a scratch buffer, then the prefix */
        uint8_t *buf = malloc((size_t)nread * t->max_chunk);
        rc = buf ? fetch_chunks(t, find_first(t, valueid), valueid, extsize, nread, buf, page, err)
                 : cd_fail(err, CD_ENOMEM, "out of memory");
        if (rc == CD_OK)
            memcpy(dst, buf, want);
        free(buf);
    }
    free(page);
    return rc;
}

cd_code cd_toast_fetch(cd_toast *t, uint32_t valueid, uint32_t extsize, uint8_t *dst, cd_err *err)
{
    return fetch(t, valueid, extsize, extsize, dst, err);
}

cd_code cd_toast_fetch_prefix(cd_toast *t, uint32_t valueid, uint32_t extsize, uint32_t want,
                              uint8_t *dst, cd_err *err)
{
    if (want > extsize)
        return cd_fail(err, CD_EINVAL, "toast prefix of %u bytes exceeds the value's %u", want,
                       extsize);
    return fetch(t, valueid, extsize, want, dst, err);
}

void cd_toast_free(cd_toast **tp)
{
    cd_toast *t = *tp;
    if (t == NULL)
        return;
    free(t->refs);
    pthread_mutex_destroy(&t->lock);
    free(t);
    *tp = NULL;
}
