/*
 * meta.c: meta file texts (see meta.h).
 */
#include "meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsname.h"
#include "madlib.h"

void cd_shape_text(char *buf, size_t size, bool var, bool dims_known, int ndim, const int *dims)
{
    buf[0] = '\0';
    if (var) {
        snprintf(buf, size, "ragged");
        return;
    }
    if (!dims_known) {
        snprintf(buf, size, "0");
        return;
    }
    size_t len = 0;
    for (int i = 0; i < ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%d", i ? "," : "", dims[i]);
}

/* name as meta text (fsname.h: no newline, section end or comment can come from a name). */
static const char *esc(const char *name, char *buf, size_t size)
{
    cd_textname(name, false, buf, size);
    return buf;
}

/* name as a section header's name. */
static const char *esc_header(const char *name, char *buf, size_t size)
{
    cd_textname(name, true, buf, size);
    return buf;
}

#define ESC_SIZE 1024 /* 3 * the longest name (a qualified relation, 320) + 4 */

/* MADlib-packed tables: the keys a column's section adds, lines without a last newline ("" for
 * other tables). */
static void packed_keys(const cd_table *t, int k, char *buf, size_t size)
{
    int pair = cd_madlib_pair_of(t, k);
    buf[0] = '\0';
    char e[ESC_SIZE];
    if (pair >= 0)
        snprintf(buf, size, "packed = madlib\nshape_column = %s",
                 esc(t->madlib->pairs[pair].shape.name, e, sizeof e));
    else if (t->madlib != NULL)
        snprintf(buf, size, "repeated = yes");
}

/* The buffers of a packed table's shard, from the summary of its first packed column. */
static uint64_t buffers_of(const cd_table *t, const cd_colsum *cols)
{
    return cols[t->madlib->pairs[0].col].buffers;
}

char *cd_meta_shard(const cd_pin *p, const cd_table *t, const cd_shard *s, uint64_t nrows,
                    uint64_t content, const cd_colsum *cols, int ncols)
{
    const cd_citus_placement *pl = s->placement >= 0 ? &t->citus.placements[s->placement] : NULL;
    size_t size = 8192 + (size_t)ncols * 1024, len = 0;
    char *buf = malloc(size);
    if (buf == NULL)
        return NULL;
    char e1[ESC_SIZE], e2[ESC_SIZE];
    len += (size_t)snprintf(buf, size,
                            "[shard]\nname = %s\nrows = %llu\nrelation = %s\nrelation_file = %s\n"
                            "segments = %d\nblocks = %u-%u\ntoast_file = %s\nsnapshot = %s\n",
                            esc(s->name, e1, sizeof e1), (unsigned long long)nrows,
                            esc(s->relsql, e2, sizeof e2), s->relpath, s->rel.nseg, s->blk_start,
                            s->blk_end, s->toastoid ? s->toastpath : "", p->snaptext);
    if (p->cut[0] != '\0')
        len += (size_t)snprintf(buf + len, size - len, "cut = %s\n", p->cut);
    len +=
        (size_t)snprintf(buf + len, size - len, "content = %016llx\n", (unsigned long long)content);
    if (pl != NULL)
        len += (size_t)snprintf(buf + len, size - len,
                                "citus_shard = %lld\nrange = %s\nhost = %s:%d\n",
                                (long long)pl->shardid, pl->range, pl->host, pl->port);
    if (t->madlib != NULL && len < size)
        len += (size_t)snprintf(buf + len, size - len, "packed = madlib\nbuffers = %llu\n",
                                (unsigned long long)buffers_of(t, cols));
    for (int k = 0; k < ncols && len < size; k++) {
        const cd_colsum *c = &cols[k];
        const char *dtype = c->var ? "bin" : c->dtype[0] ? c->dtype : c->attr->dtype;
        char packed[160];
        packed_keys(t, k, packed, sizeof packed);
        len += (size_t)snprintf(buf + len, size - len,
                                "\n[column %s]\ntype = %s\ndtype = %s\nshape = %s\nfile = %s%s\n"
                                "nulls = %llu\nnull_elements = %llu\n%s%s",
                                esc_header(c->attr->name, e1, sizeof e1),
                                esc(c->attr->typname, e2, sizeof e2), dtype, c->shape, c->fname,
                                c->var ? ".bin" : ".npy", (unsigned long long)c->nnull,
                                (unsigned long long)c->null_elems, packed, packed[0] ? "\n" : "");
    }
    return buf;
}

/* The [citus] section and one [citus shard s<id>] section per shard: its range, whether
 * this node has a placement of it, and every host that has one. Returns the length written
 * (at most size - 1). */
static size_t citus_map(char *buf, size_t size, const cd_citus_table *ct)
{
    static const char *const kinds[] = {"", "distributed", "reference"};
    if (ct->kind == CD_CITUS_NONE)
        return 0;
    char e[ESC_SIZE];
    size_t len = (size_t)snprintf(buf, size, "\n\n[citus]\nkind = %s\nmethod = %c\ncolumn = %s",
                                  kinds[ct->kind], ct->method, esc(ct->column, e, sizeof e));
    for (int i = 0; i < ct->n && len < size; i++) {
        const cd_citus_placement *pl = &ct->placements[i];
        if (i > 0 && ct->placements[i - 1].shardid == pl->shardid)
            continue;
        bool local = false;
        for (int j = i; j < ct->n && ct->placements[j].shardid == pl->shardid; j++)
            local |= ct->placements[j].local;
        len += (size_t)snprintf(buf + len, size - len,
                                "\n\n[citus shard s%lld]\nrange = %s\nlocal = %s\nhosts = ",
                                (long long)pl->shardid, pl->range, local ? "yes" : "no");
        for (int j = i; j < ct->n && len < size && ct->placements[j].shardid == pl->shardid; j++)
            len += (size_t)snprintf(buf + len, size - len, "%s%s:%d", j > i ? ", " : "",
                                    ct->placements[j].host, ct->placements[j].port);
    }
    return len < size ? len : size - 1;
}

/* A column's dtype over the shards with rows: its own unless the shards say otherwise (a
 * MADlib-packed column's comes from its buffers), "mixed" when they disagree. */
static const char *table_dtype(const cd_table *t, const uint64_t *rows, const cd_colsum *sums,
                               int k)
{
    const char *dtype = NULL;
    for (int i = 0; i < t->nshards; i++) {
        const char *d = sums[(size_t)i * (size_t)t->ncols + (size_t)k].dtype;
        if (rows[i] == 0 || d[0] == '\0')
            continue;
        if (dtype != NULL && strcmp(d, dtype) != 0)
            return "mixed";
        dtype = d;
    }
    return dtype ? dtype : t->cols[k].dtype;
}

char *cd_meta_table(const cd_pin *p, const cd_table *t, const uint64_t *rows, const cd_colsum *sums)
{
    size_t size =
               4096 + (size_t)t->nshards * 300 + (size_t)t->citus.n * 400 + (size_t)t->ncols * 1024,
           len = 0;
    char *buf = malloc(size);
    if (buf == NULL)
        return NULL;
    uint64_t total = 0;
    char e1[ESC_SIZE], e2[ESC_SIZE];
    for (int i = 0; i < t->nshards; i++)
        total += rows[i];
    len += (size_t)snprintf(buf, size,
                            "[table]\ndatabase = %s\ntable = %s\nsnapshot = %s\nblock_size = %u\n"
                            "rows = %llu\nshards = ",
                            esc(p->dbname, e1, sizeof e1), esc(t->qualname, e2, sizeof e2),
                            p->snaptext, p->blcksz, (unsigned long long)total);
    for (int i = 0; i < t->nshards && len < size; i++) {
        char dirname[256];
        cd_fsname(t->shards[i].name, dirname, sizeof dirname);
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", dirname);
    }
    if (p->cut[0] != '\0' && len < size)
        len += (size_t)snprintf(buf + len, size - len, "\ncut = %s", p->cut);
    uint64_t buffers = 0;
    for (int i = 0; t->madlib != NULL && i < t->nshards; i++)
        buffers += buffers_of(t, sums + (size_t)i * (size_t)t->ncols);
    if (t->madlib != NULL && len < size)
        len += (size_t)snprintf(buf + len, size - len, "\npacked = madlib\nbuffers = %llu",
                                (unsigned long long)buffers);
    if (len < size)
        len += citus_map(buf + len, size - len, &t->citus);
    for (int k = 0; k < t->ncols && len < size; k++) {
        const cd_attr *a = &t->cols[k];
        const char *shape = t->nshards > 0 ? sums[k].shape : "";
        for (int i = 1; i < t->nshards; i++)
            if (strcmp(sums[(size_t)i * (size_t)t->ncols + (size_t)k].shape, shape) != 0)
                shape = "ragged";
        bool var = a->kind == CD_KIND_VARLENA || strcmp(shape, "ragged") == 0;
        char packed[160];
        packed_keys(t, k, packed, sizeof packed);
        len += (size_t)snprintf(
            buf + len, size - len, "\n\n[column %s]\ntype = %s\ndtype = %s\nshape = %s%s%s",
            esc_header(a->name, e1, sizeof e1), esc(a->typname, e2, sizeof e2),
            var ? "bin" : table_dtype(t, rows, sums, k), shape, packed[0] ? "\n" : "", packed);
    }
    if (len < size)
        snprintf(buf + len, size - len, "\n");
    return buf;
}
