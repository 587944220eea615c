/*
 * countexport.c: test tool: `cerebro-ds export` of a table with the row counts asked of the
 * server COUNT_BLOCKS blocks of a shard at a time (cd_pin_opts.count_blocks; the command
 * uses 1 GiB of blocks), so that a small table is counted in many ranges.
 *
 *   countexport CONNINFO TABLE OUTDIR COUNT_BLOCKS [SHARDS [JOBS]]
 *
 * Exit 0 when the export succeeded (every shard's rows matched the sum of its ranges).
 */
#include <stdio.h>
#include <stdlib.h>

#include "admin.h"

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 7) {
        fprintf(stderr, "usage: countexport CONNINFO TABLE OUTDIR COUNT_BLOCKS [SHARDS [JOBS]]\n");
        return 2;
    }
    cd_admin_opts o = {.pin = {.conninfo = argv[1],
                               .block_shards = argc > 5 ? atoi(argv[5]) : 0,
                               .count_blocks = (uint32_t)atol(argv[4])},
                       .jobs = argc > 6 ? atoi(argv[6]) : 1,
                       .verify_count = true};
    cd_err err = {0};
    if (cd_cmd_export(&o, argv[2], argv[3], &err) != CD_OK) {
        cd_err_print(stderr, "countexport", &err);
        return 1;
    }
    return 0;
}
