# shellcheck shell=bash
#
# tests/lib/grid.bash: the data of the scheduler's end-to-end tests (92-sched, 94-copy).
#
#     grid_data CLUSTER DIR   PostgreSQL cluster CLUSTER with 1536 Fashion-MNIST training
#                             rows in 3 partitions (table fm) and 500 test rows (table fv),
#                             exported to DIR/train (shards fm_p0, fm_p1, fm_p2) and
#                             DIR/valid (part0); DIR/tiny.ini, a 784-32-10 MLP (adam)
#
# Needs pg.bash and fashion.bash (helpers.bash loads them).

grid_data() {
    local cluster=$1 dir=$2
    pg_start "$cluster"
    load_fashion "$cluster" fm --split train --limit 1536 --partitions 3
    load_fashion "$cluster" fv --split test --limit 500
    cerebro-ds -q --conninfo "$(pg_conninfo "$cluster")" export fm "$dir/train"
    cerebro-ds -q --conninfo "$(pg_conninfo "$cluster")" export fv "$dir/valid"
    printf '[model]\ninput = 784\nlayers = dense:32, relu, dense:10\nclasses = 10\nscale = 0.00392156862745098\n[train]\noptimizer = adam\nlr = 0.001\nbatch_size = 128\nseed = 1\n' \
        >"$dir/tiny.ini"
}
