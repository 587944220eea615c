/*
 * inspect.c: cerebro-ds inspect: what a table looks like to the decoder, without decoding.
 */
#include "admin.h"
#include "madlib.h"

static const char *kind_name(cd_kind k)
{
    switch (k) {
    case CD_KIND_SCALAR:
        return "scalar";
    case CD_KIND_NUMERIC:
        return "numeric";
    case CD_KIND_VARLENA:
        return "bytes";
    case CD_KIND_ARRAY:
        return "array";
    default:
        return "unsupported";
    }
}

static void print_columns(const cd_table *t, FILE *out)
{
    fprintf(out, "columns:\n");
    for (int k = 0; k < t->ncols; k++) {
        const cd_attr *a = &t->cols[k];
        int pair = cd_madlib_pair_of(t, k);
        if (pair >= 0)
            fprintf(out, "  %-24s %-20s %-8s <f4 or <i2 (from the buffers), shape from %s\n",
                    a->name, a->typname, "madlib", t->madlib->pairs[pair].shape.name);
        else
            fprintf(out, "  %-24s %-20s %-8s %s%s\n", a->name, a->typname, kind_name(a->kind),
                    a->dtype[0] ? a->dtype : "bin+offsets",
                    t->madlib ? ", repeated for each row of its buffer" : "");
    }
    for (int p = 0; t->madlib != NULL && p < t->madlib->npairs; p++)
        fprintf(out, "  %-24s %-20s not served (the shape of the packed buffers of %s)\n",
                t->madlib->pairs[p].shape.name, t->madlib->pairs[p].shape.typname,
                t->cols[t->madlib->pairs[p].col].name);
    for (int k = 0; k < t->nskipped; k++)
        fprintf(out, "  %-24s %-20s skipped (unsupported type)\n", t->skipped[k].name,
                t->skipped[k].typname);
}

static cd_code print_shards(cd_pin *p, const cd_table *t, FILE *out, cd_err *err)
{
    fprintf(out, "shards: %d\n", t->nshards);
    int64_t total = 0;
    for (int i = 0; i < t->nshards; i++) {
        const cd_shard *s = &t->shards[i];
        int64_t n;
        cd_code rc = cd_shard_count(p, s, &n, err);
        if (rc != CD_OK)
            return rc;
        total += n;
        fprintf(out, "  %s: relation %s, file %s (%d segment%s, %u blocks), blocks %u-%u, ",
                s->name, s->relsql, s->relpath, s->rel.nseg, s->rel.nseg == 1 ? "" : "s",
                s->rel.nblocks, s->blk_start, s->blk_end);
        if (s->toastoid != 0)
            fprintf(out, "toast %s (%u blocks), ", s->toastpath, s->toastrel.nblocks);
        fprintf(out, "%s %lld\n", t->madlib ? "buffers" : "rows", (long long)n);
    }
    fprintf(out, "%s: %lld\n", t->madlib ? "buffers" : "rows", (long long)total);
    return CD_OK;
}

cd_code cd_cmd_inspect(const cd_admin_opts *o, const char *table, FILE *out, cd_err *err)
{
    cd_pin *p;
    cd_table *t;
    cd_code rc = cd_pin_table(&o->pin, table, &p, &t, err);
    if (rc == CD_OK) {
        fprintf(out, "table: %s (oid %u, %s)\n", t->qualname, t->oid,
                t->relkind == 'p' ? "partitioned" : "heap");
        fprintf(out, "database: %s\ndata directory: %s\n", p->dbname, p->datadir);
        fprintf(out, "block size: %u\nblocks per segment: %u\ntoast chunk: %u\n", p->blcksz,
                p->blocks_per_seg, p->toast_chunk);
        fprintf(out, "data checksums: %s\nsnapshot: %s\n", p->checksums ? "on" : "off",
                p->snaptext);
        if (t->madlib != NULL)
            fprintf(out, "packed: madlib (each row a buffer of rows: served unpacked)\n");
        print_columns(t, out);
        rc = print_shards(p, t, out, err);
    }
    cd_table_free(&t);
    cd_pin_close(&p);
    return rc;
}
