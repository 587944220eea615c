/*
 * vtdump.c: test tool: serve a table through the vtable layer (what cerebro-ds-fuse
 * mounts) and write every file it serves into OUTDIR, reading each file in pieces of
 * READ bytes (default 131072; odd sizes cross every chunk and header boundary). A test
 * compares the tree with `cerebro-ds export` of the same snapshot, byte for byte.
 *
 *   vtdump CONNINFO TABLE OUTDIR [READ [SHARDS [CACHE_MB [COUNT_BLOCKS]]]]
 *
 * COUNT_BLOCKS: blocks each row-count query of the index pass covers (cd_pin_opts).
 * With READ < 0, each file is also read backwards in pieces of -READ bytes and must match.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "vtable.h"

static int fail(const cd_err *err)
{
    cd_err_print(stderr, "vtdump", err);
    return 1;
}

static int dump_file(cd_vtable *v, const cd_vfile *f, const char *dir, long piece)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, f->name);
    uint8_t *data = malloc(f->size + 1), *back = malloc(f->size + 1);
    size_t step = (size_t)(piece < 0 ? -piece : piece);
    cd_err err = {0};
    for (uint64_t off = 0; off < f->size; off += step) {
        size_t got;
        if (cd_vtable_read(v, f, off, step, data + off, &got, &err) != CD_OK)
            return fail(&err);
        if (got != (f->size - off < step ? f->size - off : step)) {
            fprintf(stderr, "vtdump: short read of %s at %llu\n", path, (unsigned long long)off);
            return 1;
        }
    }
    for (uint64_t end = f->size; piece < 0 && end > 0;) {
        uint64_t off = end > step ? end - step : 0;
        size_t got;
        if (cd_vtable_read(v, f, off, (size_t)(end - off), back + off, &got, &err) != CD_OK)
            return fail(&err);
        end = off;
    }
    if (piece < 0 && memcmp(data, back, f->size) != 0) {
        fprintf(stderr, "vtdump: %s reads differently backwards\n", path);
        return 1;
    }
    FILE *out = fopen(path, "wb");
    if (out == NULL || fwrite(data, 1, f->size, out) != f->size || fclose(out) != 0) {
        fprintf(stderr, "vtdump: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    free(back);
    free(data);
    return 0;
}

static int dump_dir(cd_vtable *v, int shard, const char *dir, long piece)
{
    mkdir(dir, 0755);
    for (int i = 0; i < cd_vtable_nfiles(v, shard); i++)
        if (dump_file(v, cd_vtable_file(v, shard, i), dir, piece) != 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 8) {
        fprintf(stderr,
                "usage: vtdump CONNINFO TABLE OUTDIR [READ [SHARDS [CACHE_MB [COUNT_BLOCKS]]]]\n");
        return 2;
    }
    long piece = argc > 4 ? atol(argv[4]) : 131072;
    cd_err err = {0};
    cd_cache *cache;
    cd_cache_config cc = {.bytes = (size_t)(argc > 6 ? atol(argv[6]) : 64) << 20};
    if (piece == 0 || cd_cache_new(&cache, &cc, &err) != CD_OK)
        return piece == 0 ? 2 : fail(&err);
    cd_vtable_opts o = {.pin = {.conninfo = argv[1],
                                .block_shards = argc > 5 ? atoi(argv[5]) : 0,
                                .count_blocks = argc > 7 ? (uint32_t)atol(argv[7]) : 0},
                        .cache = cache};
    cd_vtable *v;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (cd_vtable_open(&v, &o, argv[2], &err) != CD_OK)
        return fail(&err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (getenv("VTDUMP_TIMING") != NULL)
        fprintf(stderr, "vtdump: opened and indexed in %.3f s\n",
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    int rc = dump_dir(v, -1, argv[3], piece);
    for (int s = 0; rc == 0 && s < cd_vtable_nshards(v); s++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", argv[3], cd_vtable_shard_dir(v, s));
        rc = dump_dir(v, s, dir, piece);
    }
    cd_vtable_close(&v);
    cd_cache_free(&cache);
    return rc;
}
