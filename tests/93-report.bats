#!/usr/bin/env bats
# cerebro-sched's plots (scheduler/plot.h): a 4-configuration, 2-epoch grid of fashion-mlp
# over 2 shards of 500 Fashion-MNIST rows draws curves.png (validation accuracy per epoch,
# one line per trial) and schedule.png (a Gantt chart: one row per worker, one colour per
# model), both checked pixel by pixel by tests/lib/check_png.py, with nothing in
# logs/gnuplot.log; MSE models plot their validation loss, a trial that diverged before any
# validation is left out without a gnuplot warning and one validated at a loss of 1e24 does
# not flatten the others; a gnuplot that complains is a warning of cerebro-sched that leaves
# no broken PNG behind, not a failed job.

load helpers
bats_require_minimum_version 1.5.0 # run !

setup_file() {
    pg_start report
    load_fashion report fm --split train --limit 500 --partitions 2
    load_fashion report fv --split test --limit 200
    export D=$BATS_FILE_TMPDIR
    cerebro-ds -q --conninfo "$(pg_conninfo report)" export fm "$D/train"
    cerebro-ds -q --conninfo "$(pg_conninfo report)" export fv "$D/valid"
    pg_stop_all
}

teardown_file() {
    pg_stop_all
}

# workload MODEL_FILE LRS BATCH_SIZES: a grid over the two shards, 2 epochs
workload() {
    printf '[data]\ntrain = %s\nvalid = %s\n[model]\nfile = %s\n' "$D/train" "$D/valid/part0" "$1"
    printf '[search]\ntrain.lr = %s\ntrain.batch_size = %s\n' "$2" "$3"
    printf '[procedure]\nkind = grid\nepochs = 2\n[workers]\nthreads = 2\n'
}

@test "a 4-configuration grid: readable learning curves and Gantt chart, gnuplot silent" {
    command -v gnuplot >/dev/null || cd_skip "gnuplot is not installed"
    workload "$REPO/conf/models/fashion-mlp.ini" "0.001, 0.0001" "64, 256" >"$D/grid.ini"
    cerebro-sched run "$D/grid.ini" --job "$D/grid" 2>"$D/grid.log"
    run ! grep -q warning "$D/grid.log"
    run "$PYTHON" "$REPO/tests/lib/check_png.py" "$D/grid" --models 4
    echo "$output"
    [ "$status" -eq 0 ]
    # one row per worker, labelled with its host and shard; the validation accuracy
    grep -q "'w0 localhost:fm_p0' 0, 'w1 localhost:fm_p1' 1" "$D/grid/logs/plots.gp"
    grep -q "set ylabel 'validation accuracy'" "$D/grid/logs/plots.gp"
    [ "$(grep -c "title 't00[0-3]" "$D/grid/logs/plots.gp")" -eq 8 ] # 4 curves, 4 models
    [ ! -e "$D/grid/curves.png.tmp" ]
    [ ! -e "$D/grid/schedule.png.tmp" ]
}

@test "MSE models plot their validation loss; diverged trials neither warn nor flatten it" {
    command -v gnuplot >/dev/null || cd_skip "gnuplot is not installed"
    # a linear regression of the label on the pixels: plain SGD diverges with lr 1
    printf '[model]\ninput = 784\nlayers = dense:1\nloss = mse\nscale = 0.00392156862745098\n[train]\noptimizer = sgd\nlr = 0.001\nbatch_size = 128\n' \
        >"$D/linear.ini"
    # lr 1: t004 (batch 128) is validated once (loss ~1e24) and diverges in epoch 2, t005
    # (batch 32) diverges in epoch 1, before any validation
    workload "$D/linear.ini" "0.001, 0.0003, 1" "128, 32" >"$D/mse.ini"
    cerebro-sched run "$D/mse.ini" --job "$D/mse" 2>"$D/mse.log"
    grep -q 'trial t004 diverged in epoch 2' "$D/mse.log"
    grep -q 'trial t005 diverged in epoch 1' "$D/mse.log"
    run ! grep -q warning "$D/mse.log"
    run "$PYTHON" "$REPO/tests/lib/check_png.py" "$D/mse" --models 4
    echo "$output"
    [ "$status" -eq 0 ]
    grep -q "set ylabel 'validation loss'" "$D/mse/logs/plots.gp"
    grep -q "title 't004  1, 128 (diverged)'" "$D/mse/logs/plots.gp"
    run ! grep -q "title 't005 " "$D/mse/logs/plots.gp" # no point to draw: not in the key
    run ! grep -q logscale "$D/mse/logs/plots.gp"       # the y range is the healthy trials'
}

@test "gnuplot complaining is a warning: the job succeeds, no broken or stale PNG is left" {
    [ -e "$D/grid/journal" ] || cd_skip "needs the grid job of the first test"
    cp -a "$D/grid" "$D/noisy"
    mkdir -p "$D/fakebin"
    printf '#!/bin/sh\necho "gnuplot: warning: something is off" >&2\n' >"$D/fakebin/gnuplot"
    chmod +x "$D/fakebin/gnuplot"
    PATH=$D/fakebin:$PATH run cerebro-sched resume "$D/noisy"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"cerebro-sched: warning: gnuplot could not draw the plots"* ]]
    [[ $output == *"DETAIL: gnuplot: gnuplot: warning: something is off"* ]]
    [[ $output == *"HINT: see $D/noisy/logs/gnuplot.log"* ]]
    [ ! -e "$D/noisy/curves.png" ]
    [ ! -e "$D/noisy/schedule.png" ]
    [ -z "$(find "$D/noisy" -maxdepth 1 -name '*.tmp')" ]
    [ -s "$D/noisy/results.csv" ]
    [ -s "$D/noisy/best.ckpt" ]
}
