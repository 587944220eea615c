#!/usr/bin/env bats
# The in-DBMS data path: cerebro-train --data pg:CONNINFO#SCHEMA.TABLE[#SHARD] reads a shard
# with COPY BINARY through libpq, and must give the same batches as the shard directory
# `cerebro-ds export` writes for the same table: the same checkpoint bytes, the same eval
# figures, the same predictions; cerebro-sched discovers the shards of a pg: [data] train. The
# table's physical row order differs from its id order (updated rows moved), so an ORDER BY
# other than the heap's would show. Errors: a clear message, a non-zero exit, no password.

load helpers

setup_file() {
    pg_start pgdata
    load_fashion pgdata fm --split train --limit 600
    # updated rows move to the end of the heap: physical order is no longer id order
    pg_psql pgdata -c "UPDATE fm SET y = y WHERE id % 7 = 3"
    load_fashion pgdata two --split test --limit 600 --partitions 2
    pg_psql pgdata -c "CREATE TABLE nul AS SELECT * FROM fm ORDER BY id" \
        -c "UPDATE nul SET x = NULL WHERE id = 42" \
        -c "CREATE ROLE nosel LOGIN"
    export CONN=$(pg_conninfo pgdata)
    export D=$BATS_FILE_TMPDIR
    cerebro-ds -q --conninfo "$CONN" export fm "$D/fm"
    cerebro-ds -q --conninfo "$CONN" export two "$D/two"
    printf '[model]\ninput = 784\nlayers = dense:32, relu, dense:10\nclasses = 10\nscale = 0.00392156862745098\n[train]\noptimizer = adam\nlr = 0.001\nbatch_size = 64\nseed = 1\n' \
        >"$D/tiny.ini"
}

teardown_file() {
    pg_stop_all
}

T() { cerebro-train "$@"; }

MLP=$REPO/conf/models/fashion-mlp.ini
CNN=$REPO/conf/models/fashion-cnn.ini

# same_unit MODEL DIR SPEC...: a train unit over the shard directory DIR and one over the pg:
# SPECs (each alone) end with the same checkpoint bytes
same_unit() {
    local m=$1 dir=$2 w=$BATS_TEST_TMPDIR/u$RANDOM spec
    shift 2
    T init --model "$m" --seed 5 --out "$w.0"
    T train --model "$m" --ckpt "$w.0" --data "$dir" --epoch 2 --out "$w.dir" --threads 2 >/dev/null
    for spec in "$@"; do
        T train --model "$m" --ckpt "$w.0" --data "$spec" --epoch 2 --out "$w.pg" --threads 2 \
            >"$w.json"
        cmp "$w.dir" "$w.pg"
        # the database time is counted as waiting for data
        "$PYTHON" -c "import json; r = json.load(open('$w.json')); assert r['data_wait_s'] > 0, r"
    done
}

@test "a plain table over pg: gives the checkpoint bytes of its export (MLP and CNN)" {
    [ "$(pg_psql pgdata -Atc "SELECT count(*) FROM fm WHERE ctid > (SELECT ctid FROM fm WHERE id = 599)")" -gt 0 ]
    for m in "$MLP" "$CNN"; do
        same_unit "$m" "$D/fm/part0" "pg:$CONN#public.fm" "pg:$CONN#fm#part0"
    done
}

@test "a hash-partitioned table over pg:, shard by shard and both in one unit (MLP and CNN)" {
    for m in "$MLP" "$CNN"; do
        for s in two_p0 two_p1; do
            same_unit "$m" "$D/two/$s" "pg:$CONN#two#$s"
        done
    done
    w=$BATS_TEST_TMPDIR/both
    T init --model "$MLP" --seed 6 --out "$w.0"
    T train --model "$MLP" --ckpt "$w.0" --data "$D/two/two_p0" --data "$D/two/two_p1" \
        --epoch 1 --out "$w.dir" --threads 2
    T train --model "$MLP" --ckpt "$w.0" --data "pg:$CONN#two#two_p0" --data "pg:$CONN#two#two_p1" \
        --epoch 1 --out "$w.pg" --threads 2
    cmp "$w.dir" "$w.pg"
}

@test "eval and predict over pg: equal eval and predict over the export" {
    w=$BATS_TEST_TMPDIR/ev
    T init --model "$MLP" --seed 8 --out "$w.0"
    T train --model "$MLP" --ckpt "$w.0" --data "$D/two/two_p0" --epoch 1 --out "$w.1" --threads 2
    fig() { "$PYTHON" -c "import json, sys; r = json.load(sys.stdin); print(r['rows'], r['loss'], r['accuracy'])"; }
    a=$(T eval --model "$MLP" --ckpt "$w.1" --data "$D/fm/part0" --data "$D/two/two_p1" | fig)
    b=$(T eval --model "$MLP" --ckpt "$w.1" --data "pg:$CONN#fm" --data "pg:$CONN#two#two_p1" | fig)
    n=$(pg_psql pgdata -Atc 'SELECT 600 + count(*) FROM two_p1')
    echo "export: $a; pg: $b; rows $n"
    [ "$a" = "$b" ]
    [[ $a == "$n "* ]]
    T predict --model "$MLP" --ckpt "$w.1" --data "$D/two/two_p1" --out "$w.dir.npy" >/dev/null
    T predict --model "$MLP" --ckpt "$w.1" --data "pg:$CONN#two#two_p1" --out "$w.pg.npy" >/dev/null
    cmp "$w.dir.npy" "$w.pg.npy"
}

@test "errors: a clear message naming what, a non-zero exit, never the password" {
    w=$BATS_TEST_TMPDIR/er
    T init --model "$MLP" --seed 1 --out "$w.0"
    ev() { T eval --model "${M:-$MLP}" --ckpt "${K:-$w.0}" --data "$1"; }
    run ev "pg:host=$BATS_TEST_TMPDIR port=1 user=postgres password=sekrit99 dbname=x#fm"
    [ "$status" -eq 1 ]
    [[ $output == *"could not connect to the database"* ]]
    [[ $output == *"password=***"* && $output != *sekrit99* ]]
    run ev "pg:postgresql://bob:sekrit99@$BATS_TEST_TMPDIR:1/x#fm"
    [ "$status" -eq 1 ]
    [[ $output == *"bob:***@"* && $output != *sekrit99* ]]
    run ev "pg:$CONN#nosuch"
    [ "$status" -eq 1 ]
    [[ $output == *'table "nosuch" does not exist'* ]]
    run ev "pg:$CONN"
    [ "$status" -eq 1 ]
    [[ $output == *"no table in data spec"* ]]
    sed 's/^feature = x/feature = nosuch/' "$MLP" >"$w.ini"
    T init --model "$w.ini" --seed 1 --out "$w.nc"
    M=$w.ini K=$w.nc run ev "pg:$CONN#fm"
    [ "$status" -eq 1 ]
    [[ $output == *'table fm has no column "nosuch"'* ]]
    run ev "pg:$CONN#nul"
    [ "$status" -eq 1 ]
    [[ $output == *'column "x" of table nul has NULLs'* ]]
    run ev "pg:${CONN/user=postgres/user=nosel}#fm"
    [ "$status" -eq 1 ]
    [[ $output == *"permission denied for table fm"* && $output == *"GRANT SELECT ON fm TO nosel"* ]]
    run ev "pg:$CONN#two"
    [ "$status" -eq 1 ]
    [[ $output == *"two is partitioned"* && $output == *"two_p0, two_p1"* ]]
    run ev "pg:$CONN#two#two_p9"
    [ "$status" -eq 1 ]
    [[ $output == *'no partition "two_p9"'* ]]
    run ev "pg:$CONN#fm#part1"
    [ "$status" -eq 1 ]
    [[ $output == *'block-range shard "part1"'* ]]
    sed 's/^input = 784/input = 100/' "$MLP" >"$w.shape.ini"
    T init --model "$w.shape.ini" --seed 1 --out "$w.sh"
    M=$w.shape.ini K=$w.sh run ev "pg:$CONN#fm"
    [ "$status" -eq 1 ]
    [[ $output == *"784 values per row"* ]]
}

# workload TRAIN VALID: a grid of 2 configurations, 2 epochs
workload() {
    printf '[data]\ntrain = %s\nvalid = %s\n[model]\nfile = %s\n' "$1" "$2" "$D/tiny.ini"
    printf '[search]\ntrain.lr = 0.001, 0.003\n[procedure]\nkind = grid\nepochs = 2\n'
    printf '[workers]\nthreads = 1\n'
}

@test "cerebro-sched over [data] train = pg:...: shards discovered, the final checkpoints of the export" {
    # the conninfo has spaces and the spec '#': both fine in an INI value
    workload "pg:$CONN#two" "pg:$CONN#fm" >"$D/pg.ini"
    workload "$D/two" "$D/fm/part0" >"$D/dir.ini"
    cerebro-sched run "$D/dir.ini" --job "$D/dirjob"
    cerebro-sched run "$D/pg.ini" --job "$D/pgjob"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/pgjob" 2 2
    for t in t000 t001; do
        cmp "$D/dirjob/ckpt/$t/e2-2.ckpt" "$D/pgjob/ckpt/$t/e2-2.ckpt"
    done
    diff <(cut -d, -f1-7 "$D/dirjob/results.csv") <(cut -d, -f1-7 "$D/pgjob/results.csv")
    [ "$(cut -d, -f4 "$D/pgjob/schedule.csv" | sort -u | tr '\n' ' ')" = "shard two_p0 two_p1 " ]
    # workers named by shard; errors name the file and line
    (cat "$D/pg.ini" && printf 'worker = localhost:two_p0\nworker = localhost:two_p9\n') >"$D/w.ini"
    run cerebro-sched run "$D/w.ini" --job "$D/wjob"
    [ "$status" -ne 0 ]
    [[ $output == *'w.ini:'*'worker shard "two_p9" is not a shard'* ]]
    workload "pg:$CONN#two" "pg:$CONN#two" >"$D/v.ini"
    run cerebro-sched run "$D/v.ini" --job "$D/vjob"
    [ "$status" -ne 0 ]
    [[ $output == *'[data] valid'*'has 2 shards'* ]]
    workload "pg:${CONN/dbname=postgres/dbname=nosuchdb password=sekrit99}#two" "$D/fm/part0" >"$D/c.ini"
    run cerebro-sched run "$D/c.ini" --job "$D/cjob"
    [ "$status" -ne 0 ]
    [[ $output == *'c.ini:2: [data] train: could not connect'* && $output != *sekrit99* ]]
}
