/*
 * fs_stats.c: the text of .cerebro-ds/stats (fs_stats_text, see fs.h): the cache's counters
 * and the file system's, one "name value" a line. Below the tree (fs_tree.c serves the file)
 * and the control socket: calls neither.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "fs.h"
#include "relfile.h"

char *fs_stats_text(cd_fs *fs, size_t *len)
{
    cd_cache_stats cs;
    cd_cache_get_stats(fs->cache, &cs);
    int ntables = 0, pinned = 0;
    pthread_mutex_lock(&fs->lock);
    size_t held = fs->ngens, live = 0;
    for (size_t i = 0; i < fs->ngens; i++)
        live += !fs->gens[i]->released;
    int conns = fs->conns;
    for (int i = 0; i < fs->ndbs; i++) {
        ntables += fs->dbs[i]->ntables;
        for (int j = 0; j < fs->dbs[i]->ntables; j++)
            pinned += fs->dbs[i]->tables[j]->cur != NULL;
    }
    pthread_mutex_unlock(&fs->lock);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (f == NULL)
        return NULL;
#define STAT(name, value) fprintf(f, "%s %llu\n", name, (unsigned long long)(value))
    STAT("bytes_decoded", cs.fill_bytes);
    STAT("pages_read", cd_relfile_pages_read());
    STAT("cache_hits", cs.hits);
    STAT("cache_misses", cs.misses);
    STAT("cache_cold_hits", cs.cold_hits);
    STAT("cache_spill_hits", cs.spill_hits);
    STAT("cache_evictions", cs.evictions);
    STAT("cache_drops", cs.drops);
    STAT("cache_bytes", cs.hot_bytes + cs.cold_bytes);
    STAT("cache_hot_bytes", cs.hot_bytes);
    STAT("cache_cold_bytes", cs.cold_bytes);
    STAT("cache_spill_bytes", cs.spill_bytes);
    STAT("cache_chunks", cs.chunks);
    STAT("cache_bound", cd_config_uint(fs->cfg->mount_cache_mb) << 20);
    STAT("snapshots_held", held);
    STAT("snapshots_live", live);
    STAT("snapshots_released", atomic_load(&fs->released));
    STAT("db_connections", conns);
    STAT("db_connections_bound", fs->max_conns);
    STAT("handle_bytes", atomic_load(&fs->handle_bytes));
    STAT("handle_bound", fs->handle_limit);
    STAT("handles_refused", atomic_load(&fs->handles_refused));
    STAT("tables", ntables);
    STAT("tables_pinned", pinned);
    STAT("pins", atomic_load(&fs->pins));
    STAT("pin_errors", atomic_load(&fs->pin_errors));
    STAT("refreshes", atomic_load(&fs->refreshes));
    STAT("open_files", atomic_load(&fs->open_files));
    STAT("opens", atomic_load(&fs->opens));
    STAT("opens_denied", atomic_load(&fs->opens_denied));
    STAT("reads", atomic_load(&fs->reads));
    STAT("read_bytes", atomic_load(&fs->read_bytes));
    STAT("read_errors", atomic_load(&fs->read_errors));
    STAT("uptime_seconds", time(NULL) - fs->started);
#undef STAT
    fclose(f);
    *len = size;
    return buf;
}
