/*
 * test_cache.c: unit tests for the chunk cache (fuse/table/cache.c).
 *
 * Oracle: chunk contents are a pure function of (file, chunk, position) in three patterns
 * (compressible runs, random, half random then zeros), so every byte served is checked.
 * Covers: one fill per cached chunk, ranges, the memory bound under churn with chunks of
 * 1 KiB..1 MiB, LRU order, the compressed tier, chunks larger than the bound, failing fills,
 * drop_file, the spill directory (and its write errors) and 8 concurrent readers.
 * Run from the repository root. With CD_BENCH=1 it also prints hit and cold-hit throughput.
 * Does not need a server.
 */
#include <dirent.h>
#include <lz4.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "unit.h"

#define KIB ((size_t)1024)
#define MIB (1024 * KIB)
#define NF 4   /* files tracked by the fill counters */
#define NC 512 /* chunks tracked per file */

enum { PAT_RUNS, PAT_RANDOM, PAT_HALF };

/* ---- deterministic chunks and a recording fill ---- */

static atomic_int g_calls[NF][NC];  /* fills per key */
static atomic_int g_active[NF][NC]; /* fills of a key running now */
static atomic_int g_overlaps[NF];   /* a fill started while another of its key ran */
static atomic_ullong g_filled;      /* bytes produced by fills */

static void reset_counts(void)
{
    for (int f = 0; f < NF; f++) {
        atomic_store(&g_overlaps[f], 0);
        for (int k = 0; k < NC; k++) {
            atomic_store(&g_calls[f][k], 0);
            atomic_store(&g_active[f][k], 0);
        }
    }
    atomic_store(&g_filled, 0);
}

static int calls(uint64_t file, uint64_t chunk)
{
    return atomic_load(&g_calls[file % NF][chunk % NC]);
}

static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The len bytes of chunk k in pattern pat. */
static void make_chunk(cd_cache_key k, int pat, uint8_t *buf, size_t len)
{
    uint64_t seed = mix(k.file * 0x100000001B3ull ^ mix(k.chunk));
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = mix(seed + i / 8);
        if (pat == PAT_RUNS)
            v = mix(seed + i / 64); /* the same word 8 times in a row */
        else if (pat == PAT_HALF && i >= len / 2)
            v = 0;
        memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
    }
}

typedef struct src {
    cd_cache_key key;
    int pat;
    cd_code fail;     /* returned instead of filling when not CD_OK */
    useconds_t delay; /* sleep inside the fill */
} src;

static cd_code fill_fn(void *arg, uint8_t *buf, size_t len, cd_err *err)
{
    const src *s = arg;
    int f = (int)(s->key.file % NF), k = (int)(s->key.chunk % NC);
    if (atomic_fetch_add(&g_active[f][k], 1) != 0)
        atomic_fetch_add(&g_overlaps[f], 1);
    atomic_fetch_add(&g_calls[f][k], 1);
    if (s->delay != 0)
        usleep(s->delay);
    cd_code rc = CD_OK;
    if (s->fail != CD_OK) {
        rc = cd_fail(err, s->fail, "injected fill failure");
    } else {
        make_chunk(s->key, s->pat, buf, len);
        atomic_fetch_add(&g_filled, len);
    }
    atomic_fetch_sub(&g_active[f][k], 1);
    return rc;
}

/* Read [off, off + n) of a chunk through the cache; CD_EMISMATCH when a byte is wrong.
 * Thread-safe (no CHECK inside). */
static cd_code get_src(cd_cache *c, const src *s, size_t len, size_t off, size_t n, cd_err *err)
{
    uint8_t *dst = malloc(n + 1), *want = malloc(len + 1);
    cd_code rc = cd_cache_read(c, s->key, len, off, n, dst, fill_fn, (void *)s, err);
    if (rc == CD_OK) {
        make_chunk(s->key, s->pat, want, len);
        if (memcmp(dst, want + off, n) != 0)
            rc = cd_fail(err, CD_EMISMATCH, "served bytes differ");
    }
    free(dst);
    free(want);
    return rc;
}

static cd_code get(cd_cache *c, uint64_t file, uint64_t chunk, int pat, size_t len, size_t off,
                   size_t n, cd_err *err)
{
    src s = {.key = {file, chunk}, .pat = pat};
    return get_src(c, &s, len, off, n, err);
}

static cd_cache_stats stats(cd_cache *c)
{
    cd_cache_stats s;
    cd_cache_get_stats(c, &s);
    return s;
}

static bool within(cd_cache *c, size_t bound)
{
    cd_cache_stats s = stats(c);
    return s.hot_bytes + s.cold_bytes + s.reserved_bytes <= bound;
}

static cd_cache *new_cache(size_t bytes, const char *spill_dir, uint64_t spill_bytes)
{
    cd_cache_config cfg = {.bytes = bytes, .spill_dir = spill_dir, .spill_bytes = spill_bytes};
    cd_cache *c = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_cache_new(&c, &cfg, &err), CD_OK, &err);
    reset_counts();
    return c;
}

/* ---- single-thread behaviour ---- */

static void test_fill_once(void)
{
    cd_cache *c = new_cache(MIB, NULL, 0);
    cd_err err = {0};
    for (int round = 0; round < 10; round++)
        for (uint64_t k = 0; k < 8; k++)
            CHECK_CODE(get(c, 1, k, PAT_RANDOM, 64 * KIB, (size_t)round * 977, 3000, &err), CD_OK,
                       &err);
    for (uint64_t k = 0; k < 8; k++)
        CHECK_EQ_INT(calls(1, k), 1);
    cd_cache_stats s = stats(c);
    CHECK_EQ_INT(s.misses, 8);
    CHECK_EQ_INT(s.hits, 72);
    CHECK_EQ_INT(s.fill_bytes, 8 * 64 * KIB);
    CHECK_EQ_INT(s.hot_bytes, 8 * 64 * KIB);
    CHECK_EQ_INT(s.chunks, 8);
    CHECK_EQ_INT(s.reserved_bytes, 0);
    CHECK_EQ_INT(s.evictions + s.drops + s.cold_hits + s.spill_hits + s.cold_bytes, 0);
    cd_cache_free(&c);
    CHECK(c == NULL);
}

static void test_ranges(void)
{
    const size_t len = 10007;
    const size_t fixed[][2] = {{0, len},  {len - 1, 1}, {len, 0}, {0, 0},
                               {5000, 0}, {1, len - 1}, {0, 1},   {len - 8, 8}};
    cd_cache *c = new_cache(MIB, NULL, 0);
    cd_err err = {0};
    CHECK_CODE(get(c, 1, 9, PAT_RUNS, len, 0, 0, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(1, 9), 0); /* n == 0 needs no fill */
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        CHECK_CODE(get(c, 1, 1, PAT_RUNS, len, fixed[i][0], fixed[i][1], &err), CD_OK, &err);
    for (uint64_t i = 0; i < 300; i++) {
        size_t off = mix(i) % (len + 1), n = mix(i + 1000) % (len - off + 1);
        CHECK_CODE(get(c, 1, 1, PAT_RUNS, len, off, n, &err), CD_OK, &err);
    }
    CHECK_EQ_INT(calls(1, 1), 1);
    CHECK_CODE(get(c, 1, 1, PAT_RUNS, len, len, 1, &err), CD_EINVAL, &err);
    CHECK_CODE(get(c, 1, 1, PAT_RUNS, len, len + 1, 0, &err), CD_EINVAL, &err);
    CHECK_CODE(get(c, 1, 1, PAT_RUNS, len + 1, 0, 1, &err), CD_EINVAL, &err); /* other size */
    CHECK_EQ_INT(calls(1, 1), 1);
    cd_cache_free(&c);
}

/* Far more data than the bound, chunks of 1 KiB..1 MiB, every pattern. */
static void test_bound(void)
{
    const size_t bound = 3 * MIB;
    cd_cache *c = new_cache(bound, NULL, 0);
    cd_err err = {0};
    int bad = 0, over = 0;
    uint64_t served = 0;
    for (uint64_t i = 0; i < 4000; i++) {
        uint64_t k = mix(i) % (i % 2 ? 24 : 300);
        size_t len = KIB << (mix(k + 77) % 11);
        size_t off = mix(i + 5) % len, n = mix(i + 9) % (len - off + 1);
        bad += get(c, 1, k, (int)(k % 3), len, off, n, &err) != CD_OK;
        over += !within(c, bound);
        served += n;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(over, 0);
    cd_cache_stats s = stats(c);
    CHECK(served > 20 * bound);
    CHECK(s.evictions > 0 && s.drops > 0 && s.cold_hits > 0 && s.hits > 0);
    CHECK_EQ_INT(s.fill_bytes, atomic_load(&g_filled));
    CHECK_EQ_INT(s.reserved_bytes, 0);
    cd_cache_free(&c);
}

static void test_lru(void)
{
    cd_cache *c = new_cache(256 * KIB, NULL, 0); /* four 64 KiB chunks */
    cd_err err = {0};
    for (uint64_t k = 0; k < 4; k++)
        CHECK_CODE(get(c, 1, k, PAT_RANDOM, 64 * KIB, 0, 10, &err), CD_OK, &err);
    CHECK_CODE(get(c, 1, 0, PAT_RANDOM, 64 * KIB, 0, 10, &err), CD_OK, &err); /* 0 is recent */
    CHECK_CODE(get(c, 1, 4, PAT_RANDOM, 64 * KIB, 0, 10, &err), CD_OK, &err); /* evicts 1 */
    CHECK_CODE(get(c, 1, 0, PAT_RANDOM, 64 * KIB, 0, 10, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(1, 0), 1);
    CHECK_CODE(get(c, 1, 1, PAT_RANDOM, 64 * KIB, 0, 10, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(1, 1), 2);
    cd_cache_stats s = stats(c);
    CHECK_EQ_INT(s.evictions, 2);
    CHECK_EQ_INT(s.drops, 2); /* random bytes do not compress */
    CHECK_EQ_INT(s.cold_bytes, 0);
    CHECK_EQ_INT(s.chunks, 4);
    cd_cache_free(&c);
}

static void test_cold_tier(void)
{
    cd_cache *c = new_cache(288 * KIB, NULL, 0); /* four 64 KiB chunks + 32 KiB */
    cd_err err = {0};
    for (uint64_t k = 0; k < 5; k++)
        CHECK_CODE(get(c, 1, k, PAT_RUNS, 64 * KIB, 0, 10, &err), CD_OK, &err);
    cd_cache_stats s = stats(c);
    CHECK_EQ_INT(s.evictions, 1);
    CHECK_EQ_INT(s.drops, 0);
    CHECK(s.cold_bytes > 0 && s.cold_bytes <= 48 * KIB);
    CHECK_EQ_INT(s.chunks, 5);
    CHECK_CODE(get(c, 1, 0, PAT_RUNS, 64 * KIB, 100, 60000, &err), CD_OK, &err);
    s = stats(c);
    CHECK_EQ_INT(s.cold_hits, 1);
    CHECK_EQ_INT(calls(1, 0), 1);
    CHECK_EQ_INT(s.misses, 5);
    cd_cache_free(&c);

    c = new_cache(288 * KIB, NULL, 0); /* incompressible: dropped, not compressed */
    for (uint64_t k = 0; k < 5; k++)
        CHECK_CODE(get(c, 1, k, PAT_RANDOM, 64 * KIB, 0, 10, &err), CD_OK, &err);
    s = stats(c);
    CHECK_EQ_INT(s.evictions, 1);
    CHECK_EQ_INT(s.drops, 1);
    CHECK_EQ_INT(s.cold_bytes, 0);
    CHECK_CODE(get(c, 1, 0, PAT_RANDOM, 64 * KIB, 0, 10, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(1, 0), 2);
    CHECK_EQ_INT(stats(c).cold_hits, 0);
    cd_cache_free(&c);
}

static void test_oversize(void)
{
    const size_t big = 100 * KIB;
    cd_cache *c = new_cache(64 * KIB, NULL, 0);
    cd_err err = {0};
    CHECK_CODE(get(c, 1, 0, PAT_RUNS, 16 * KIB, 0, 16 * KIB, &err), CD_OK, &err);
    CHECK_CODE(get(c, 1, 1, PAT_RUNS, big, 0, big, &err), CD_OK, &err);
    CHECK_CODE(get(c, 1, 1, PAT_RUNS, big, big - 1, 1, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(1, 1), 2);
    cd_cache_stats s = stats(c);
    CHECK_EQ_INT(s.hot_bytes, 16 * KIB);
    CHECK_EQ_INT(s.chunks, 1);
    CHECK_EQ_INT(s.reserved_bytes, 0);
    CHECK_EQ_INT(s.fill_bytes, 16 * KIB + 2 * big);
    CHECK_CODE(get(c, 1, 0, PAT_RUNS, 16 * KIB, 5, 5, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(1, 0), 1);
    cd_cache_free(&c);
}

static void test_fill_failure(void)
{
    cd_cache *c = new_cache(MIB, NULL, 0);
    cd_err err = {0};
    src s = {.key = {1, 3}, .pat = PAT_RUNS, .fail = CD_EIO};
    CHECK_CODE(get_src(c, &s, 32 * KIB, 0, 100, &err), CD_EIO, &err);
    CHECK(strcmp(err.msg, "injected fill failure") == 0);
    cd_cache_stats st = stats(c);
    CHECK_EQ_INT(st.chunks + st.hot_bytes + st.reserved_bytes + st.fill_bytes, 0);
    CHECK_EQ_INT(st.misses, 1);
    CHECK_CODE(get_src(c, &s, 32 * KIB, 0, 100, &err), CD_EIO, &err);
    s.fail = CD_OK;
    CHECK_CODE(get_src(c, &s, 32 * KIB, 0, 100, &err), CD_OK, &err);
    CHECK_CODE(get_src(c, &s, 32 * KIB, 0, 100, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(1, 3), 3);
    CHECK_EQ_INT(stats(c).chunks, 1);
    cd_cache_free(&c);
}

static void test_drop_file(void)
{
    cd_cache *c = new_cache(MIB, NULL, 0);
    cd_err err = {0};
    for (uint64_t f = 1; f <= 2; f++)
        for (uint64_t k = 0; k < 4; k++)
            CHECK_CODE(get(c, f, k, PAT_RUNS, 16 * KIB, 0, 8, &err), CD_OK, &err);
    cd_cache_drop_file(c, 1);
    cd_cache_stats s = stats(c);
    CHECK_EQ_INT(s.chunks, 4);
    CHECK_EQ_INT(s.drops, 4);
    CHECK_EQ_INT(s.hot_bytes, 4 * 16 * KIB);
    for (uint64_t k = 0; k < 4; k++) {
        CHECK_CODE(get(c, 1, k, PAT_RUNS, 16 * KIB, 0, 8, &err), CD_OK, &err);
        CHECK_CODE(get(c, 2, k, PAT_RUNS, 16 * KIB, 0, 8, &err), CD_OK, &err);
        CHECK_EQ_INT(calls(1, k), 2);
        CHECK_EQ_INT(calls(2, k), 1);
    }
    cd_cache_drop_file(c, 99); /* unknown file: nothing happens */
    CHECK_EQ_INT(stats(c).chunks, 8);
    cd_cache_free(&c);
}

/* ---- spill directory ---- */

/* Number of entries in dir other than . and ..; *bytes their total size. */
static int dir_files(const char *dir, uint64_t *bytes)
{
    DIR *d = opendir(dir);
    int n = 0;
    *bytes = 0;
    for (struct dirent *de; d != NULL && (de = readdir(d)) != NULL;) {
        char path[512];
        struct stat sb;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &sb) == 0)
            *bytes += (uint64_t)sb.st_size;
        n++;
    }
    if (d != NULL)
        closedir(d);
    return n;
}

static bool spilled(const char *dir, uint64_t file, uint64_t chunk)
{
    char path[512];
    snprintf(path, sizeof path, "%s/c-%" PRIu64 "-%" PRIu64 ".lz4", dir, file, chunk);
    return access(path, F_OK) == 0;
}

static void test_spill(void)
{
    char dir[] = "/tmp/cd-cache-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    const size_t bound = 64 * KIB, spill_max = 64 * KIB, len = 16 * KIB;
    cd_cache *c = new_cache(bound, dir, spill_max);
    cd_err err = {0};
    int bad = 0, over = 0;
    for (uint64_t k = 0; k < 40; k++) {
        bad += get(c, 1, k, PAT_HALF, len, 0, len, &err) != CD_OK;
        over += !within(c, bound) || stats(c).spill_bytes > spill_max;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(over, 0);
    uint64_t bytes = 0;
    int files = dir_files(dir, &bytes);
    CHECK(files > 2);
    CHECK_EQ_INT(bytes, stats(c).spill_bytes);
    CHECK(!spilled(dir, 1, 0)); /* oldest files were dropped for the spill bound */
    uint64_t k = 39;
    while (k > 0 && !spilled(dir, 1, k))
        k--;
    CHECK(spilled(dir, 1, k));
    CHECK_CODE(get(c, 1, k, PAT_HALF, len, 1, len - 1, &err), CD_OK, &err);
    cd_cache_stats s = stats(c);
    CHECK_EQ_INT(s.spill_hits, 1);
    CHECK_EQ_INT(calls(1, k), 1);
    CHECK(!spilled(dir, 1, k)); /* promoted to hot */
    CHECK_EQ_INT(s.spill_errors, 0);
    CHECK_CODE(get(c, 1, 0, PAT_HALF, len, 0, 8, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(1, 0), 2);
    cd_cache_drop_file(c, 1);
    CHECK_EQ_INT(dir_files(dir, &bytes), 0);
    CHECK_EQ_INT(stats(c).spill_bytes, 0);
    for (uint64_t j = 0; j < 40; j++)
        CHECK_CODE(get(c, 2, j, PAT_HALF, len, 0, 8, &err), CD_OK, &err);
    CHECK(dir_files(dir, &bytes) > 0);
    cd_cache_free(&c);
    CHECK_EQ_INT(dir_files(dir, &bytes), 0);
    CHECK(rmdir(dir) == 0);
}

/* The spill directory vanishes: writes fail, chunks are dropped, reads stay correct. */
static void test_spill_errors(void)
{
    char dir[] = "/tmp/cd-cache-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cd_cache *c = new_cache(64 * KIB, dir, 0);
    CHECK(rmdir(dir) == 0);
    cd_err err = {0};
    int bad = 0;
    for (uint64_t k = 0; k < 40; k++)
        bad += get(c, 1, k % 30, PAT_HALF, 16 * KIB, 0, 16 * KIB, &err) != CD_OK;
    CHECK_EQ_INT(bad, 0);
    cd_cache_stats s = stats(c);
    CHECK(s.spill_errors > 0);
    CHECK_EQ_INT(s.spill_bytes, 0);
    CHECK(s.hot_bytes + s.cold_bytes <= 64 * KIB);
    cd_cache_free(&c);

    cd_cache_config cfg = {.bytes = MIB, .spill_dir = "/nonexistent/cd-cache"};
    CHECK_CODE(cd_cache_new(&c, &cfg, &err), CD_EINVAL, &err);
    CHECK(c == NULL);
}

/* ---- concurrency ---- */

typedef struct worker {
    pthread_t tid;
    cd_cache *c;
    size_t bound;
    int id;
    int reads;
    int bad;  /* wrong bytes or errors */
    int over; /* bound exceeded */
    src s;    /* for the same-key tests */
    cd_code rc;
} worker;

/* Chunk sizes 4..64 KiB, one 600 KiB chunk per file (above the 512 KiB bound). */
static size_t conc_len(uint64_t file, uint64_t chunk)
{
    return chunk == 47 ? 600 * KIB : (4 * KIB) << (mix(file * 64 + chunk) % 5);
}

static void *conc_worker(void *arg)
{
    worker *w = arg;
    cd_err err = {0};
    for (int i = 0; i < w->reads; i++) {
        uint64_t r = mix((uint64_t)w->id * 1000003 + (uint64_t)i);
        uint64_t file = r % 3, chunk = (r >> 8) % 48;
        size_t len = conc_len(file, chunk);
        size_t off = (r >> 16) % len, n = (r >> 40) % (len - off + 1);
        if (n > 128 * KIB)
            n = 128 * KIB;
        w->bad += get(w->c, file, chunk, (int)(chunk % 3), len, off, n, &err) != CD_OK;
        w->over += !within(w->c, w->bound);
        if (w->id == 0 && i % 400 == 399)
            cd_cache_drop_file(w->c, 2); /* reads of file 2 race with its drop */
    }
    return NULL;
}

static void run_workers(worker *w, int n, void *(*fn)(void *))
{
    for (int i = 0; i < n; i++)
        CHECK(pthread_create(&w[i].tid, NULL, fn, &w[i]) == 0);
    for (int i = 0; i < n; i++)
        pthread_join(w[i].tid, NULL);
}

static void test_concurrency(void)
{
    char dir[] = "/tmp/cd-cache-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    const size_t bound = 512 * KIB;
    cd_cache *c = new_cache(bound, dir, 256 * KIB);
    worker w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (worker){.c = c, .bound = bound, .id = i, .reads = 4000};
    run_workers(w, 8, conc_worker);
    int bad = 0, over = 0;
    for (int i = 0; i < 8; i++) {
        bad += w[i].bad;
        over += w[i].over;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(over, 0);
    CHECK_EQ_INT(atomic_load(&g_overlaps[0]) + atomic_load(&g_overlaps[1]), 0);
    cd_cache_stats s = stats(c);
    CHECK(s.hits > 0 && s.cold_hits > 0 && s.spill_hits > 0 && s.evictions > 0);
    CHECK_EQ_INT(s.reserved_bytes, 0);
    CHECK(s.spill_bytes <= 256 * KIB);
    fprintf(stderr,
            "  8x4000 reads: %" PRIu64 " hits (%" PRIu64 " cold, %" PRIu64 " spill), %" PRIu64
            " misses\n",
            s.hits, s.cold_hits, s.spill_hits, s.misses);
    cd_cache_free(&c);
    uint64_t bytes;
    CHECK_EQ_INT(dir_files(dir, &bytes), 0);
    CHECK(rmdir(dir) == 0);
}

static void *same_key_worker(void *arg)
{
    worker *w = arg;
    cd_err err = {0};
    w->rc = get_src(w->c, &w->s, 64 * KIB, (size_t)w->id * 100, 5000, &err);
    return NULL;
}

/* 8 readers of one missing chunk: one slow fill; when it fails, each reader retries. */
static void test_same_key(void)
{
    for (int failing = 0; failing <= 1; failing++) {
        cd_cache *c = new_cache(MIB, NULL, 0);
        worker w[8];
        for (int i = 0; i < 8; i++)
            w[i] = (worker){.c = c, .id = i, .s = {{1, 7}, PAT_RUNS, CD_OK, 20000}};
        for (int i = 0; i < 8; i++)
            w[i].s.fail = failing ? CD_EIO : CD_OK;
        run_workers(w, 8, same_key_worker);
        for (int i = 0; i < 8; i++)
            CHECK_EQ_INT(w[i].rc, failing ? CD_EIO : CD_OK);
        CHECK_EQ_INT(calls(1, 7), failing ? 8 : 1);
        CHECK_EQ_INT(atomic_load(&g_overlaps[1]), 0);
        CHECK_EQ_INT(stats(c).chunks, failing ? 0 : 1);
        cd_cache_free(&c);
    }
}

/* ---- reads without a copy (cd_cache_use) ---- */

typedef struct use_ctx {
    cd_cache *c;
    src s;           /* the chunk this callback checks */
    size_t len, off; /* its size and the offset read */
    int depth;       /* nested reads still to make */
    src next[2];     /* the chunks read nested, in turn */
    cd_code nested_rc;
    int seen;
} use_ctx;

static cd_code use_check(void *arg, const uint8_t *p, size_t n, cd_err *err)
{
    use_ctx *u = arg;
    uint8_t *want = malloc(u->len);
    make_chunk(u->s.key, u->s.pat, want, u->len);
    cd_code rc =
        memcmp(p, want + u->off, n) == 0 ? CD_OK : cd_fail(err, CD_EMISMATCH, "bytes differ");
    free(want);
    u->seen++;
    if (rc == CD_OK && u->depth > 0) { /* read the next chunk while this one is held */
        use_ctx inner = *u;
        inner.s = u->next[0];
        inner.next[0] = u->next[1];
        inner.depth = u->depth - 1;
        inner.off = 0;
        inner.seen = 0;
        u->nested_rc = cd_cache_use(u->c, inner.s.key, u->len, 0, u->len, fill_fn, &inner.s,
                                    use_check, &inner, true, err);
        u->seen += inner.seen;
        if (inner.nested_rc != CD_OK)
            u->nested_rc = inner.nested_rc;
    }
    return rc;
}

/* A held chunk is not evicted; nested reads never wait: past the bound they are served
 * without being kept (a nested read that waited for room would wait for itself). */
static void *use_nested_body(void *arg)
{
    cd_cache *c = new_cache(128 * KIB, NULL, 0); /* two chunks of 64 KiB */
    cd_err err = {0};
    use_ctx u = {
        .c = c, .s = {.key = {2, 1}, .pat = PAT_RANDOM}, .len = 64 * KIB, .off = 100, .depth = 2};
    u.next[0] = (src){.key = {2, 2}, .pat = PAT_RANDOM};
    u.next[1] = (src){.key = {2, 3}, .pat = PAT_RANDOM}; /* no room: 1 and 2 are held */
    CHECK_CODE(
        cd_cache_use(c, u.s.key, u.len, u.off, 1000, fill_fn, &u.s, use_check, &u, false, &err),
        CD_OK, &err);
    CHECK_EQ_INT(u.nested_rc, CD_OK);
    CHECK_EQ_INT(u.seen, 3);
    CHECK(within(c, 128 * KIB));
    CHECK_EQ_INT(stats(c).chunks, 2); /* 1 and 2 kept, 3 served from a temporary buffer */
    CHECK_CODE(get(c, 2, 1, PAT_RANDOM, 64 * KIB, 0, 10, &err), CD_OK, &err);
    CHECK_CODE(get(c, 2, 2, PAT_RANDOM, 64 * KIB, 0, 10, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(2, 1), 1);
    CHECK_EQ_INT(calls(2, 2), 1);
    CHECK_EQ_INT(calls(2, 3), 1);
    cd_cache_free(&c);
    return NULL;
}

static void test_use_nested(void)
{
    pthread_t t;
    pthread_create(&t, NULL, use_nested_body, NULL);
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 60;
    if (pthread_timedjoin_np(t, NULL, &limit) != 0) {
        fprintf(stderr, "test_use_nested: no answer in 60 s (a nested read waits)\n");
        _exit(1);
    }
}

static void *slow_fill_worker(void *arg)
{
    worker *w = arg;
    cd_err err = {0};
    w->rc = get_src(w->c, &w->s, 64 * KIB, 0, 10, &err);
    return NULL;
}

/* A nested read of a chunk that another thread is filling fails with CD_EBUSY at once (its
 * filler may be waiting for the room our held chunk takes); a plain read waits for it. */
static void test_use_busy(void)
{
    cd_cache *c = new_cache(MIB, NULL, 0);
    cd_err err = {0};
    CHECK_CODE(get(c, 3, 1, PAT_RUNS, 64 * KIB, 0, 10, &err), CD_OK, &err);
    worker w = {.c = c, .id = 0, .s = {{3, 9}, PAT_RUNS, CD_OK, 300000}};
    pthread_t t;
    pthread_create(&t, NULL, slow_fill_worker, &w);
    while (atomic_load(&g_active[3][9]) == 0)
        usleep(1000);
    use_ctx u = {.c = c, .s = {.key = {3, 1}, .pat = PAT_RUNS}, .len = 64 * KIB, .depth = 1};
    u.next[0] = (src){.key = {3, 9}, .pat = PAT_RUNS};
    CHECK_CODE(cd_cache_use(c, u.s.key, u.len, 0, 10, fill_fn, &u.s, use_check, &u, false, &err),
               CD_OK, &err);
    CHECK_EQ_INT(u.nested_rc, CD_EBUSY);
    CHECK_EQ_INT(atomic_load(&g_active[3][9]), 1); /* it did not wait for the fill */
    CHECK_CODE(get(c, 3, 9, PAT_RUNS, 64 * KIB, 0, 10, &err), CD_OK, &err);
    pthread_join(t, NULL);
    CHECK_EQ_INT(w.rc, CD_OK);
    CHECK_EQ_INT(calls(3, 9), 1);
    cd_cache_free(&c);
}

/* ---- chunks written in place (cd_cache_claim) ---- */

/* A claimed chunk is served with no fill once done, shortened to its done length; a claim of
 * a key that is there, a second claim of one that is claimed, and a claim over the bound get
 * none; one given up (len 0) is filled by its next reader; the bound holds throughout. */
static void test_claim(void)
{
    cd_cache *c = new_cache(256 * KIB, NULL, 0);
    cd_err err = {0};
    cd_cache_slot *sl = NULL, *sl2 = NULL;
    cd_cache_key k = {5, 0};
    uint8_t *buf = cd_cache_claim(c, k, 64 * KIB, &sl);
    CHECK(buf != NULL && sl != NULL);
    CHECK(cd_cache_claim(c, k, 64 * KIB, &sl2) == NULL && sl2 == NULL);
    CHECK_EQ_INT(stats(c).reserved_bytes, 64 * KIB);
    make_chunk(k, PAT_RUNS, buf, 40 * KIB); /* a short last chunk: 40 of 64 KiB */
    cd_cache_claim_done(c, sl, 40 * KIB);
    cd_cache_stats st = stats(c);
    CHECK_EQ_INT(st.reserved_bytes, 0);
    CHECK_EQ_INT(st.hot_bytes, 40 * KIB);
    CHECK_EQ_INT(st.fill_bytes, 40 * KIB);
    CHECK_CODE(get(c, 5, 0, PAT_RUNS, 40 * KIB, 100, 30 * KIB, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(5, 0), 0);
    CHECK(cd_cache_claim(c, k, 64 * KIB, &sl2) == NULL);                     /* cached */
    CHECK(cd_cache_claim(c, (cd_cache_key){5, 1}, 512 * KIB, &sl2) == NULL); /* over the bound */
    CHECK(within(c, 256 * KIB));
    buf = cd_cache_claim(c, (cd_cache_key){5, 2}, 64 * KIB, &sl);
    CHECK(buf != NULL);
    cd_cache_claim_done(c, sl, 0); /* given up */
    CHECK_EQ_INT(stats(c).reserved_bytes, 0);
    CHECK_CODE(get(c, 5, 2, PAT_RUNS, 64 * KIB, 0, 64 * KIB, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(5, 2), 1);
    /* claims past the free room evict what is cold enough, never over the bound */
    for (uint64_t ch = 10; ch < 20; ch++) {
        buf = cd_cache_claim(c, (cd_cache_key){6, ch}, 64 * KIB, &sl);
        CHECK(buf != NULL);
        CHECK(within(c, 256 * KIB));
        if (buf != NULL) {
            make_chunk((cd_cache_key){6, ch}, PAT_RUNS, buf, 64 * KIB);
            cd_cache_claim_done(c, sl, 64 * KIB);
        }
    }
    CHECK_CODE(get(c, 6, 19, PAT_RUNS, 64 * KIB, 0, 64 * KIB, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(6, 19), 0);
    cd_cache_free(&c);
}

typedef struct claim_reader {
    cd_cache *c;
    cd_code rc;
} claim_reader;

static void *claim_reader_main(void *arg)
{
    claim_reader *r = arg;
    cd_err err = {0};
    r->rc = get(r->c, 7, 3, PAT_RUNS, 32 * KIB, 0, 32 * KIB, &err);
    return NULL;
}

/* A reader of a claimed chunk waits for its producer and gets its bytes, with no fill; a
 * nested read fails with CD_EBUSY at once; a chunk whose file is dropped while claimed is
 * not kept. */
static void test_claim_wait(void)
{
    cd_cache *c = new_cache(MIB, NULL, 0);
    cd_err err = {0};
    cd_cache_slot *sl = NULL;
    uint8_t *buf = cd_cache_claim(c, (cd_cache_key){7, 3}, 32 * KIB, &sl);
    CHECK(buf != NULL);
    claim_reader r = {.c = c, .rc = CD_EIO};
    pthread_t t;
    pthread_create(&t, NULL, claim_reader_main, &r);
    usleep(100000);
    use_ctx u = {.c = c, .s = {.key = {3, 1}, .pat = PAT_RUNS}, .len = 32 * KIB, .depth = 1};
    u.next[0] = (src){.key = {7, 3}, .pat = PAT_RUNS};
    CHECK_CODE(cd_cache_use(c, u.s.key, u.len, 0, 10, fill_fn, &u.s, use_check, &u, false, &err),
               CD_OK, &err);
    CHECK_EQ_INT(u.nested_rc, CD_EBUSY);
    make_chunk((cd_cache_key){7, 3}, PAT_RUNS, buf, 32 * KIB);
    cd_cache_claim_done(c, sl, 32 * KIB);
    pthread_join(t, NULL);
    CHECK_EQ_INT(r.rc, CD_OK);
    CHECK_EQ_INT(calls(7, 3), 0);
    buf = cd_cache_claim(c, (cd_cache_key){8, 0}, 32 * KIB, &sl);
    CHECK(buf != NULL);
    cd_cache_drop_file(c, 8);
    cd_cache_claim_done(c, sl, 32 * KIB);
    CHECK_CODE(get(c, 8, 0, PAT_RUNS, 32 * KIB, 0, 8, &err), CD_OK, &err);
    CHECK_EQ_INT(calls(8, 0), 1);
    CHECK_EQ_INT(stats(c).reserved_bytes, 0);
    cd_cache_free(&c);
}

/* ---- throughput (CD_BENCH=1) ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads per second of fn over about a second; *reads the count. */
static double rate(cd_cache *c, src *s, int nkeys, size_t off_step, int *reads)
{
    const size_t len = 4 * MIB, n = 128 * KIB;
    uint8_t *dst = malloc(n);
    cd_err err = {0};
    int i = 0, bad = 0;
    double t0 = now(), dt;
    for (; (dt = now() - t0) < 1.0; i++) {
        s->key = (cd_cache_key){1, (uint64_t)(i % nkeys)};
        size_t off = (size_t)(i / nkeys) * off_step % len;
        bad += cd_cache_read(c, s->key, len, off, n, dst, fill_fn, s, &err) != CD_OK;
    }
    CHECK_EQ_INT(bad, 0);
    free(dst);
    *reads = i;
    return i / dt;
}

/* LZ4 decode (and *enc: encode) speed of one chunk alone, GB/s of decoded bytes; *clen its
 * packed size. */
static double lz4_rate(int pat, size_t len, size_t *clen, double *enc)
{
    uint8_t *raw = malloc(len), *out = malloc(len);
    char *packed = malloc((size_t)LZ4_compressBound((int)len));
    make_chunk((cd_cache_key){1, 0}, pat, raw, len);
    int got = 0, i = 0;
    double t0 = now(), dt;
    for (; (dt = now() - t0) < 0.5; i++)
        got = LZ4_compress_default((const char *)raw, packed, (int)len, (int)len);
    *enc = (double)i * (double)len / dt / 1e9;
    *clen = (size_t)got;
    i = 0;
    t0 = now();
    for (; (dt = now() - t0) < 0.5; i++)
        LZ4_decompress_safe(packed, (char *)out, got, (int)len);
    free(raw);
    free(out);
    free(packed);
    return (double)i * (double)len / dt / 1e9;
}

/* 128 KiB reads of 4 MiB chunks: all hot; then k chunks in rotation, each cold when read. */
static void bench(int pat, const char *name)
{
    const size_t len = 4 * MIB, n = 128 * KIB;
    size_t clen;
    double enc = 0, dec = lz4_rate(pat, len, &clen, &enc);
    int k = (int)((2 * len + 64 * KIB) / (len - clen)) + 1; /* k hot chunks do not fit */
    src s = {.pat = pat};
    int reads;
    cd_cache *c = new_cache(64 * MIB, NULL, 0);
    rate(c, &s, 8, n, &reads); /* warm up */
    double r = rate(c, &s, 8, n, &reads);
    fprintf(stderr, "  %s: hot hits %.1f GB/s (%.0f reads/s of 128 KiB)\n", name,
            r * (double)n / 1e9, r);
    cd_cache_free(&c);

    c = new_cache(2 * len + (size_t)k * clen + 64 * KIB, NULL, 0);
    rate(c, &s, k, 0, &reads);
    cd_cache_stats before = stats(c);
    r = rate(c, &s, k, 0, &reads);
    cd_cache_stats after = stats(c);
    fprintf(stderr,
            "  %s: cold hits %.0f reads/s = %.2f GB/s of chunks decoded (each also compresses"
            " the chunk it evicts); %" PRIu64 "/%d cold, %" PRIu64 " fills; LZ4 alone: decode"
            " %.2f GB/s, encode %.2f GB/s, ratio %.2f\n",
            name, r, r * (double)len / 1e9, after.cold_hits - before.cold_hits, reads,
            after.misses - before.misses, dec, enc, (double)clen / (double)len);
    cd_cache_free(&c);
}

int main(void)
{
    RUN(test_fill_once);
    RUN(test_ranges);
    RUN(test_bound);
    RUN(test_lru);
    RUN(test_cold_tier);
    RUN(test_oversize);
    RUN(test_fill_failure);
    RUN(test_drop_file);
    RUN(test_spill);
    RUN(test_spill_errors);
    RUN(test_same_key);
    RUN(test_use_nested);
    RUN(test_use_busy);
    RUN(test_claim);
    RUN(test_claim_wait);
    RUN(test_concurrency);
    const char *b = getenv("CD_BENCH");
    if (b != NULL && strcmp(b, "1") == 0) {
        bench(PAT_RUNS, "runs");
        bench(PAT_HALF, "half-random");
    }
    return UNIT_DONE();
}
