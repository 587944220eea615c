/*
 * cache.c: the memory-bounded chunk cache (semantics in cache.h).
 *
 * Structures: a chained hash table of entries keyed by (file, chunk) and one LRU list per
 * resting state (hot, cold = LZ4 in memory, spilled = LZ4 on disk), least recently used at the
 * head. An entry is on its list only while no thread works on it (busy) and it is not dead.
 * Accounting: used = hot_bytes + cold_bytes + reserved, where reserved holds the bytes of fills
 * and promotions in progress. make_room() reserves before a buffer is allocated, so used never
 * exceeds the bound.
 *
 * Decisions:
 * - Eviction: the hot LRU chunk (not pinned by a reader) is compressed into the cold tier, or
 *   dropped when LZ4 saves less than a quarter. The cold LRU chunk is spilled (or dropped)
 *   instead once the cold tier holds more than half the bound, or when no hot chunk can go.
 *   A cold or spilled chunk that is read is promoted back to hot.
 * - A failed fill removes its entry and wakes the waiters; each waiter retries, so one of them
 *   fills again (a deterministic error reaches every reader, a transient one may heal).
 * - No room (chunk larger than the bound, or everything else filling): the chunk is served
 *   from a temporary buffer and not kept. Before giving up, make_room() waits for readers that
 *   pin chunks and for evictions in flight, never for fills. A reader holding pins may read
 *   more chunks (cd_cache_use, nested): such a read never waits, neither for room nor for a
 *   busy entry (whose owner may be waiting for room), and fails with CD_EBUSY instead.
 * - Outside the bound: those temporary buffers and the LZ4 buffer of an eviction in flight.
 * - Compression, decompression and spill reads/writes run outside the mutex; unlink of a
 *   spill file runs under it.
 * Does not: prefetch, or bound the number of entries (~100 bytes of bookkeeping each).
 *
 * Lock order: c->mu is a leaf. Ownership: a busy entry belongs to one thread, which alone
 * changes its state and data; others wait on c->cv (readers of a busy hot entry may still copy
 * it). refs pin a hot entry's data while a reader copies it out without the mutex.
 */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <lz4.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { ST_FILLING, ST_HOT, ST_COLD, ST_SPILLED };

typedef struct entry entry;
struct entry {
    cd_cache_key key;
    entry *hnext;       /* hash chain */
    entry *prev, *next; /* LRU list of its state, while listed */
    uint8_t *data;      /* hot: len decoded bytes; cold: clen LZ4 bytes; else NULL */
    size_t len;         /* decoded size */
    size_t clen;        /* compressed size (cold, spilled) */
    int state;          /* ST_* */
    int refs;           /* readers copying out of a hot entry's data */
    bool busy;          /* one thread fills or moves it */
    bool listed;        /* on the LRU list of its state */
    bool dead;          /* out of the table; freed when neither busy nor referenced */
};

typedef struct lru {
    entry *head; /* least recently used */
    entry *tail;
} lru;

struct cd_cache {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* an entry became ready, unpinned or freed */
    size_t bytes;
    char *spill_dir;    /* NULL: no spill */
    uint64_t spill_max; /* 0: no bound */
    entry **tab;        /* [nbuckets] hash chains */
    size_t nbuckets;
    size_t count;
    lru hot, cold, spill;
    size_t hot_bytes, cold_bytes, reserved;
    uint64_t spill_used; /* on disk, writes in flight included */
    uint64_t nhot, ncold;
    int pins;          /* refs held over all entries */
    int freeing;       /* evictions in flight */
    cd_cache_stats st; /* counters; the "now" fields are filled by get_stats */
};

/* ---- hash table ---- */

static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static size_t bucket(const cd_cache *c, cd_cache_key k)
{
    return (size_t)(mix64(mix64(k.file) ^ k.chunk) & (c->nbuckets - 1));
}

static entry *tab_find(const cd_cache *c, cd_cache_key k)
{
    for (entry *e = c->tab[bucket(c, k)]; e != NULL; e = e->hnext)
        if (e->key.file == k.file && e->key.chunk == k.chunk)
            return e;
    return NULL;
}

/* Double the bucket count; on allocation failure keep the longer chains. */
static void tab_grow(cd_cache *c)
{
    size_t old_n = c->nbuckets;
    entry **old = c->tab;
    entry **tab = calloc(old_n * 2, sizeof *tab);
    if (tab == NULL)
        return;
    c->tab = tab;
    c->nbuckets = old_n * 2;
    for (size_t b = 0; b < old_n; b++) {
        for (entry *e = old[b], *next; e != NULL; e = next) {
            next = e->hnext;
            size_t nb = bucket(c, e->key);
            e->hnext = tab[nb];
            tab[nb] = e;
        }
    }
    free(old);
}

static void tab_insert(cd_cache *c, entry *e)
{
    if (c->count >= c->nbuckets)
        tab_grow(c);
    size_t b = bucket(c, e->key);
    e->hnext = c->tab[b];
    c->tab[b] = e;
    c->count++;
}

static void tab_remove(cd_cache *c, entry *e)
{
    for (entry **p = &c->tab[bucket(c, e->key)]; *p != NULL; p = &(*p)->hnext) {
        if (*p == e) {
            *p = e->hnext;
            c->count--;
            return;
        }
    }
}

/* ---- LRU lists ---- */

static lru *list_of(cd_cache *c, const entry *e)
{
    return e->state == ST_HOT ? &c->hot : e->state == ST_COLD ? &c->cold : &c->spill;
}

/* Append e as most recently used. */
static void lru_push(cd_cache *c, entry *e)
{
    lru *l = list_of(c, e);
    e->prev = l->tail;
    e->next = NULL;
    if (l->tail != NULL)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    e->listed = true;
}

static void lru_unlink(cd_cache *c, entry *e)
{
    if (!e->listed)
        return;
    lru *l = list_of(c, e);
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
    e->listed = false;
}

static entry *first_unpinned(const lru *l)
{
    entry *e = l->head;
    while (e != NULL && e->refs > 0)
        e = e->next;
    return e;
}

/* ---- spill files ---- */

static bool spill_path(const cd_cache *c, cd_cache_key k, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/c-%" PRIu64 "-%" PRIu64 ".lz4", c->spill_dir, k.file, k.chunk);
    return n > 0 && (size_t)n < size;
}

static bool spill_write(const char *path, const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int rc = close(fd);
    if (done == len && rc == 0)
        return true;
    unlink(path);
    return false;
}

/* Read exactly len bytes of path into buf. */
static bool spill_read(const char *path, uint8_t *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, buf + done, len - done, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    uint8_t extra;
    bool exact = done == len && pread(fd, &extra, 1, (off_t)len) == 0;
    close(fd);
    return exact;
}

static void spill_unlink(const cd_cache *c, const entry *e)
{
    char path[PATH_MAX];
    if (spill_path(c, e->key, path, sizeof path))
        unlink(path);
}

/* A buffer for a chunk about to be filled. Large ones come from their own mapping (see
 * mallopt in the daemon); their pages are faulted in by one madvise rather than one page
 * fault per 4 kB while the chunk is written (the kernel's fault path was a fifth of a cold
 * read's CPU). Best effort: without MADV_POPULATE_WRITE (Linux < 5.14) they fault as before. */
static uint8_t *chunk_alloc(size_t len)
{
    uint8_t *buf = malloc(len);
#ifdef MADV_POPULATE_WRITE
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)buf + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)buf + len) & ~(page - 1);
    if (buf != NULL && hi > lo)
        madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
#endif
    return buf;
}

/* ---- LZ4 ---- */

/* LZ4 of src in a new buffer when that saves at least a quarter; NULL otherwise. */
static uint8_t *pack(const uint8_t *src, size_t len, size_t *clen)
{
    if (len > LZ4_MAX_INPUT_SIZE || len - len / 4 == 0)
        return NULL;
    size_t cap = len - len / 4;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    int got = LZ4_compress_default((const char *)src, (char *)buf, (int)len, (int)cap);
    if (got <= 0) {
        free(buf);
        return NULL;
    }
    uint8_t *fit = realloc(buf, (size_t)got);
    *clen = (size_t)got;
    return fit != NULL ? fit : buf;
}

static bool unpack(const uint8_t *src, size_t clen, uint8_t *dst, size_t len)
{
    if (clen > INT_MAX || len > INT_MAX)
        return false;
    return LZ4_decompress_safe((const char *)src, (char *)dst, (int)clen, (int)len) == (int)len;
}

/* ---- entry life cycle (lock held) ---- */

/* Release what e holds from the accounting and free it; e is out of the table and lists. */
static void entry_destroy(cd_cache *c, entry *e)
{
    if (e->state == ST_HOT) {
        c->hot_bytes -= e->len;
        c->nhot--;
    } else if (e->state == ST_COLD) {
        c->cold_bytes -= e->clen;
        c->ncold--;
    } else if (e->state == ST_SPILLED) {
        spill_unlink(c, e);
        c->spill_used -= e->clen;
    }
    free(e->data);
    free(e);
}

/* Take e out of the cache: freed now, or by its owner or last reader when busy or pinned. */
static void forget(cd_cache *c, entry *e, bool count_drop)
{
    if (e->dead)
        return;
    tab_remove(c, e);
    lru_unlink(c, e);
    e->dead = true;
    if (count_drop)
        c->st.drops++;
    if (!e->busy && e->refs == 0)
        entry_destroy(c, e);
}

/* The owner is done with busy e: list it again (or free it when dead) and wake waiters. */
static void finish(cd_cache *c, entry *e)
{
    e->busy = false;
    if (e->dead) {
        if (e->refs == 0)
            entry_destroy(c, e);
    } else if (e->state != ST_FILLING) {
        lru_push(c, e);
    }
    pthread_cond_broadcast(&c->cv);
}

static void unpin(cd_cache *c, entry *e)
{
    e->refs--;
    c->pins--;
    if (e->refs > 0)
        return;
    if (e->dead && !e->busy)
        entry_destroy(c, e);
    pthread_cond_broadcast(&c->cv);
}

/* ---- eviction (lock held; each releases it while working) ---- */

/* Move hot e to the cold tier, or drop it when it does not compress. */
static void demote(cd_cache *c, entry *e)
{
    lru_unlink(c, e);
    e->busy = true;
    c->freeing++;
    const uint8_t *src = e->data;
    size_t len = e->len, clen = 0;
    pthread_mutex_unlock(&c->mu);
    uint8_t *packed = pack(src, len, &clen);
    pthread_mutex_lock(&c->mu);
    while (e->refs > 0) /* readers still copying the hot bytes */
        pthread_cond_wait(&c->cv, &c->mu);
    c->st.evictions++;
    if (packed != NULL && !e->dead) {
        free(e->data);
        e->data = packed;
        e->clen = clen;
        e->state = ST_COLD;
        c->hot_bytes -= len;
        c->nhot--;
        c->cold_bytes += clen;
        c->ncold++;
    } else {
        free(packed);
        forget(c, e, true);
    }
    c->freeing--;
    finish(c, e);
}

/* Reserve clen bytes of the spill directory, dropping its oldest files. */
static bool spill_reserve(cd_cache *c, size_t clen)
{
    if (c->spill_max != 0 && clen > c->spill_max)
        return false;
    while (c->spill_max != 0 && c->spill_used + clen > c->spill_max) {
        if (c->spill.head == NULL)
            return false; /* the rest is being read back */
        forget(c, c->spill.head, true);
    }
    c->spill_used += clen;
    return true;
}

/* Move cold e to the spill directory, or drop it. A failed write drops it (counted). */
static void evict_cold(cd_cache *c, entry *e)
{
    char path[PATH_MAX];
    if (c->spill_dir == NULL || !spill_path(c, e->key, path, sizeof path) ||
        !spill_reserve(c, e->clen)) {
        forget(c, e, true);
        return;
    }
    lru_unlink(c, e);
    e->busy = true;
    c->freeing++;
    const uint8_t *data = e->data;
    size_t clen = e->clen;
    pthread_mutex_unlock(&c->mu);
    bool ok = spill_write(path, data, clen);
    pthread_mutex_lock(&c->mu);
    if (ok) {
        free(e->data);
        e->data = NULL;
        e->state = ST_SPILLED;
        c->cold_bytes -= clen;
        c->ncold--;
    } else {
        c->spill_used -= clen;
        c->st.spill_errors++;
        forget(c, e, true);
    }
    c->freeing--;
    finish(c, e);
}

/* Evict one chunk; false when nothing can be evicted now. */
static bool evict_one(cd_cache *c)
{
    entry *hot = first_unpinned(&c->hot);
    bool cold_first = hot == NULL || c->cold_bytes > c->bytes / 2;
    if (cold_first && c->cold.head != NULL) {
        evict_cold(c, c->cold.head);
        return true;
    }
    if (hot != NULL) {
        demote(c, hot);
        return true;
    }
    return false;
}

/*
 * Reserve need bytes inside the bound, evicting as needed. May release the lock. False: no
 * room can be made (need exceeds the bound, or the rest is taken by fills in progress).
 */
static bool make_room(cd_cache *c, size_t need, bool may_wait)
{
    if (need > c->bytes)
        return false;
    while (c->hot_bytes + c->cold_bytes + c->reserved + need > c->bytes) {
        if (evict_one(c))
            continue;
        if (!may_wait || (c->pins == 0 && c->freeing == 0))
            return false;
        pthread_cond_wait(&c->cv, &c->mu); /* a reader unpins or an eviction ends */
    }
    c->reserved += need;
    return true;
}

/* ---- reads (lock held; each releases it while copying, decoding or filling) ---- */

/* What a read does with the bytes: fn(arg, p, n, err), and whether it holds other chunks. */
typedef struct reader {
    cd_cache_use_fn fn;
    void *arg;
    bool nested;
} reader;

/* Give [off, off + n) of data to the reader, the lock released meanwhile; e, when not NULL,
 * holds data and stays pinned (not evicted) until the reader is done. */
static cd_code serve(cd_cache *c, entry *e, const uint8_t *data, size_t off, size_t n,
                     const reader *rd, cd_err *err)
{
    if (e != NULL) {
        e->refs++;
        c->pins++;
    }
    pthread_mutex_unlock(&c->mu);
    cd_code rc = rd->fn(rd->arg, data + off, n, err);
    pthread_mutex_lock(&c->mu);
    if (e != NULL)
        unpin(c, e);
    return rc;
}

static cd_code read_hot(cd_cache *c, entry *e, size_t off, size_t n, const reader *rd, cd_err *err)
{
    c->st.hits++;
    if (e->listed) {
        lru_unlink(c, e);
        lru_push(c, e);
    }
    return serve(c, e, e->data, off, n, rd, err);
}

/* Decode the packed bytes of a cold (data) or spilled (file) chunk into buf. */
static bool load(const cd_cache *c, int state, cd_cache_key key, const uint8_t *data, size_t clen,
                 uint8_t *buf, size_t len)
{
    if (state == ST_COLD)
        return unpack(data, clen, buf, len);
    char path[PATH_MAX];
    uint8_t *tmp = malloc(clen);
    bool ok = tmp != NULL && spill_path(c, key, path, sizeof path) && spill_read(path, tmp, clen) &&
              unpack(tmp, clen, buf, len);
    free(tmp);
    return ok;
}

/* Turn busy cold or spilled e into a hot entry holding buf (its reservation is released). */
static void promote(cd_cache *c, entry *e, uint8_t *buf)
{
    if (e->state == ST_COLD) {
        free(e->data);
        c->cold_bytes -= e->clen;
        c->ncold--;
    } else {
        spill_unlink(c, e);
        c->spill_used -= e->clen;
    }
    e->data = buf;
    e->state = ST_HOT;
    c->hot_bytes += e->len;
    c->nhot++;
}

static cd_code no_memory(cd_err *err, cd_cache_key key, size_t len)
{
    cd_fail(err, CD_ENOMEM, "out of memory for a cached chunk");
    return cd_detail(err, "file %" PRIu64 ", chunk %" PRIu64 ", %zu bytes", key.file, key.chunk,
                     len);
}

/*
 * Serve a read from cold or spilled e (not busy) and promote it to hot when room can be made.
 * *again: e could not be decoded and was dropped; the caller retries, which fills.
 */
static cd_code read_packed(cd_cache *c, entry *e, size_t off, size_t n, const reader *rd,
                           bool *again, cd_err *err)
{
    lru_unlink(c, e);
    e->busy = true;
    bool keep = make_room(c, e->len, !rd->nested);
    int from = e->state;
    cd_cache_key key = e->key;
    size_t len = e->len, clen = e->clen;
    const uint8_t *data = e->data;
    pthread_mutex_unlock(&c->mu);
    uint8_t *buf = malloc(len);
    bool ok = buf != NULL && load(c, from, key, data, clen, buf, len);
    pthread_mutex_lock(&c->mu);
    cd_code rc = CD_OK;
    entry *kept = NULL;
    if (keep)
        c->reserved -= len;
    if (ok) {
        c->st.hits++;
        if (from == ST_COLD)
            c->st.cold_hits++;
        else
            c->st.spill_hits++;
        if (keep && !e->dead) {
            promote(c, e, buf);
            buf = NULL;
            kept = e;
        }
    } else if (buf == NULL) {
        rc = no_memory(err, key, len);
    } else {
        c->st.spill_errors += from == ST_SPILLED;
        forget(c, e, true);
        *again = true;
    }
    finish(c, e); /* not busy while the reader has it: readers of it wait for no one */
    if (ok)
        rc = serve(c, kept, kept ? kept->data : buf, off, n, rd, err);
    free(buf);
    return rc;
}

/* A new entry for absent key, being filled by this thread (readers of key wait for it);
 * NULL when out of memory. */
static entry *filling_entry(cd_cache *c, cd_cache_key key, size_t len)
{
    entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    *e = (entry){.key = key, .len = len, .state = ST_FILLING, .busy = true};
    tab_insert(c, e);
    return e;
}

/* Filling e is done: it holds buf (len bytes), hot. */
static void fill_kept(cd_cache *c, entry *e, uint8_t *buf, size_t len)
{
    e->data = buf;
    e->len = len;
    e->state = ST_HOT;
    c->hot_bytes += len;
    c->nhot++;
}

/* key is absent: add a filling entry (readers of key wait for it), fill, keep if room. */
static cd_code read_miss(cd_cache *c, cd_cache_key key, size_t len, size_t off, size_t n,
                         cd_cache_fill_fn fill, void *arg, const reader *rd, cd_err *err)
{
    entry *e = filling_entry(c, key, len);
    if (e == NULL)
        return no_memory(err, key, len);
    c->st.misses++;
    bool keep = make_room(c, len, !rd->nested);
    pthread_mutex_unlock(&c->mu);
    uint8_t *buf = chunk_alloc(len);
    cd_code rc = buf != NULL ? fill(arg, buf, len, err) : no_memory(err, key, len);
    pthread_mutex_lock(&c->mu);
    entry *kept = NULL;
    if (keep)
        c->reserved -= len;
    if (rc == CD_OK)
        c->st.fill_bytes += len;
    if (rc == CD_OK && keep && !e->dead) {
        fill_kept(c, e, buf, len);
        buf = NULL;
        kept = e;
    } else {
        forget(c, e, false); /* failed or not kept: waiters retry */
    }
    finish(c, e); /* not busy while the reader has it: readers of it wait for no one */
    if (rc == CD_OK)
        rc = serve(c, kept, kept ? kept->data : buf, off, n, rd, err);
    free(buf);
    return rc;
}

/* ---- chunks written in place by their producer ---- */

uint8_t *cd_cache_claim(cd_cache *c, cd_cache_key key, size_t len, cd_cache_slot **out)
{
    *out = NULL;
    pthread_mutex_lock(&c->mu);
    entry *e = NULL;
    if (len > 0 && tab_find(c, key) == NULL && make_room(c, len, false)) {
        e = filling_entry(c, key, len);
        c->reserved -= e == NULL ? len : 0;
    }
    pthread_mutex_unlock(&c->mu);
    if (e == NULL)
        return NULL;
    /* busy: no other thread touches e->data. Not populated: the producer writes it a row at
     * a time and may give it up early, so only what it wrote is ever resident */
    e->data = malloc(len);
    if (e->data == NULL) {
        cd_cache_claim_done(c, (cd_cache_slot *)e, 0);
        return NULL;
    }
    *out = (cd_cache_slot *)e;
    return e->data;
}

void cd_cache_claim_done(cd_cache *c, cd_cache_slot *cl, size_t len)
{
    entry *e = (entry *)cl;
    if (len > 0 && len < e->len) { /* a short last chunk: give back what it does not use */
        uint8_t *fit = realloc(e->data, len);
        e->data = fit != NULL ? fit : e->data;
    }
    pthread_mutex_lock(&c->mu);
    c->reserved -= e->len;
    if (len > 0 && len <= e->len && !e->dead) {
        fill_kept(c, e, e->data, len);
        c->st.fill_bytes += len;
    } else {
        forget(c, e, false); /* its data goes with it (entry_destroy) */
    }
    finish(c, e);
    pthread_mutex_unlock(&c->mu);
}

static cd_code copy_out(void *arg, const uint8_t *p, size_t n, cd_err *err)
{
    memcpy(arg, p, n);
    return CD_OK;
}

cd_code cd_cache_read(cd_cache *c, cd_cache_key key, size_t len, size_t off, size_t n, uint8_t *dst,
                      cd_cache_fill_fn fill, void *arg, cd_err *err)
{
    return cd_cache_use(c, key, len, off, n, fill, arg, copy_out, dst, false, err);
}

cd_code cd_cache_use(cd_cache *c, cd_cache_key key, size_t len, size_t off, size_t n,
                     cd_cache_fill_fn fill, void *arg, cd_cache_use_fn use, void *use_arg,
                     bool nested, cd_err *err)
{
    const reader rd = {use, use_arg, nested};
    if (off > len || n > len - off) {
        cd_fail(err, CD_EINVAL, "read past the end of a cached chunk");
        return cd_detail(err, "file %" PRIu64 ", chunk %" PRIu64 ", %zu bytes, offset %zu, %zu",
                         key.file, key.chunk, len, off, n);
    }
    if (n == 0)
        return CD_OK;
    cd_code rc = CD_OK;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        entry *e = tab_find(c, key);
        bool again = false;
        if (e == NULL) {
            rc = read_miss(c, key, len, off, n, fill, arg, &rd, err);
        } else if (e->len != len) {
            cd_fail(err, CD_EINVAL, "chunk size differs from the cached one");
            rc = cd_detail(err, "file %" PRIu64 ", chunk %" PRIu64 ", %zu bytes, cached %zu",
                           key.file, key.chunk, len, e->len);
        } else if (e->state == ST_HOT) {
            rc = read_hot(c, e, off, n, &rd, err);
        } else if (e->busy && rd.nested) { /* its owner may be waiting for our caller's pins */
            rc = cd_fail(err, CD_EBUSY, "chunk %" PRIu64 " of file %" PRIu64 " is being filled",
                         key.chunk, key.file);
        } else if (e->busy) {
            pthread_cond_wait(&c->cv, &c->mu);
            again = true;
        } else {
            rc = read_packed(c, e, off, n, &rd, &again, err);
        }
        if (!again)
            break;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- life cycle, drop, stats ---- */

static cd_code check_spill_dir(const char *dir, cd_err *err)
{
    struct stat sb;
    if (strlen(dir) > PATH_MAX - 64) {
        cd_fail(err, CD_EINVAL, "spill directory path is too long");
        return cd_detail(err, "path \"%s\"", dir);
    }
    if (stat(dir, &sb) != 0) {
        cd_fail(err, CD_EINVAL, "could not use spill directory \"%s\": %s", dir, strerror(errno));
        return cd_hint(err, "Create the directory or leave spill_dir unset.");
    }
    if (!S_ISDIR(sb.st_mode))
        return cd_fail(err, CD_EINVAL, "spill directory \"%s\" is not a directory", dir);
    return CD_OK;
}

cd_code cd_cache_new(cd_cache **out, const cd_cache_config *cfg, cd_err *err)
{
    *out = NULL;
    bool spill = cfg->spill_dir != NULL && cfg->spill_dir[0] != '\0';
    cd_code rc = spill ? check_spill_dir(cfg->spill_dir, err) : CD_OK;
    if (rc != CD_OK)
        return rc;
    cd_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        goto fail_0;
    c->nbuckets = 1024;
    c->tab = calloc(c->nbuckets, sizeof *c->tab);
    if (c->tab == NULL)
        goto fail_1;
    if (spill && (c->spill_dir = strdup(cfg->spill_dir)) == NULL)
        goto fail_2;
    c->bytes = cfg->bytes;
    c->spill_max = cfg->spill_bytes;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    *out = c;
    return CD_OK;
fail_2:
    free(c->tab);
fail_1:
    free(c);
fail_0:
    return cd_fail(err, CD_ENOMEM, "out of memory for the chunk cache");
}

/* No reader may be in progress. Removes every spill file. */
void cd_cache_free(cd_cache **cp)
{
    if (cp == NULL || *cp == NULL)
        return;
    cd_cache *c = *cp;
    for (size_t b = 0; b < c->nbuckets; b++) {
        for (entry *e = c->tab[b], *next; e != NULL; e = next) {
            next = e->hnext;
            entry_destroy(c, e);
        }
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c->spill_dir);
    free(c->tab);
    free(c);
    *cp = NULL;
}

void cd_cache_drop_file(cd_cache *c, uint64_t file)
{
    pthread_mutex_lock(&c->mu);
    for (size_t b = 0; b < c->nbuckets; b++) {
        for (entry *e = c->tab[b], *next; e != NULL; e = next) {
            next = e->hnext;
            if (e->key.file == file)
                forget(c, e, e->state != ST_FILLING);
        }
    }
    pthread_mutex_unlock(&c->mu);
}

void cd_cache_get_stats(cd_cache *c, cd_cache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    out->hot_bytes = c->hot_bytes;
    out->cold_bytes = c->cold_bytes;
    out->spill_bytes = c->spill_used;
    out->chunks = c->nhot + c->ncold;
    out->reserved_bytes = c->reserved;
    pthread_mutex_unlock(&c->mu);
}

size_t cd_cache_bound(const cd_cache *c)
{
    return c->bytes;
}
