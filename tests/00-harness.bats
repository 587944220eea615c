#!/usr/bin/env bats
#
# 00-harness: the test harness itself. Throwaway PostgreSQL 15 clusters (tests/lib/pg.bash),
# background sessions that hold a transaction open, the Fashion-MNIST loader
# (tests/lib/fashion.bash), that nothing is left running afterwards, and how .ci/run counts
# skips (a unit test's too).

load helpers

setup_file() {
    pg_start h0
    pg_start h1
}

teardown_file() {
    pg_stop_all
}

# wait_dead SECONDS PID...: wait until none of the processes is alive.
wait_dead() {
    local deadline=$((SECONDS + $1)) pid
    shift
    for pid in "$@"; do
        while _pg_pid_alive "$pid"; do
            if ((SECONDS >= deadline)); then
                echo "process $pid still alive: $(tr '\0' ' ' <"/proc/$pid/cmdline")" >&2
                return 1
            fi
            sleep 0.1
        done
    done
}

@test "two clusters run at once, each with data checksums on" {
    for name in h0 h1; do
        run pg_psql "$name" -Atc 'SHOW data_checksums'
        [ "$status" -eq 0 ]
        [ "$output" = on ]
        run pg_psql "$name" -Atc 'SHOW server_version_num'
        [ "${output:0:2}" = 15 ]
    done
    [ "$(pg_conninfo h0)" != "$(pg_conninfo h1)" ]
    [ "$(pg_datadir h0)" != "$(pg_datadir h1)" ]
    # The data directory is on disk and readable by us (root reads the postgres-owned files).
    [ "$(cat "$(pg_datadir h0)/PG_VERSION")" = 15 ]
    # Only a unix socket: no TCP.
    run pg_psql h0 -Atc 'SHOW listen_addresses'
    [ "$output" = "" ]
}

@test "pg_start passes extra settings to the server" {
    pg_stop h1
    pg_start h1 work_mem=7MB -c autovacuum=off
    run pg_psql h1 -Atc 'SHOW work_mem' -c 'SHOW autovacuum'
    [ "${lines[0]}" = 7MB ]
    [ "${lines[1]}" = off ]
}

@test "pg_start fails with the server log when the server cannot start" {
    run pg_start broken shared_buffers=lots
    [ "$status" -ne 0 ]
    [[ $output == *"did not start"* ]]
    [[ $output == *'invalid value for parameter "shared_buffers"'* ]]
}

@test "a transaction held by pg_bg_psql is invisible to others until COMMIT" {
    pg_psql h0 -c 'CREATE TABLE held (v int)'
    id=$(pg_bg_psql h0 'BEGIN;' 'INSERT INTO held VALUES (1), (2);')
    run pg_psql h0 -Atc 'SELECT count(*) FROM held'
    [ "$output" = 0 ]
    run pg_psql h0 -Atc "SELECT state FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
    [ "$output" = "idle in transaction" ]
    pg_bg_send "$id" 'COMMIT;'
    run pg_psql h0 -Atc 'SELECT count(*) FROM held'
    [ "$output" = 2 ]
    pg_bg_close "$id"
}

@test "pg_bg_close without COMMIT rolls the transaction back" {
    pg_psql h0 -c 'CREATE TABLE dropped (v int)'
    id=$(pg_bg_psql h0 'BEGIN;' 'INSERT INTO dropped VALUES (1);' 'SELECT 40 + 2 AS answer;')
    [[ $(pg_bg_output "$id") == *42* ]]
    pg_bg_close "$id"
    run pg_psql h0 -Atc 'SELECT count(*) FROM dropped'
    [ "$output" = 0 ]
}

@test "pg_bg_send --nowait and pg_bg_wait: a statement that waits for a lock" {
    pg_psql h1 -c 'CREATE TABLE locked (v int)'
    holder=$(pg_bg_psql h1 'BEGIN;' 'LOCK TABLE locked;')
    waiter=$(pg_bg_psql h1)
    pg_bg_send --nowait "$waiter" 'INSERT INTO locked VALUES (1);'
    sleep 0.5
    run pg_psql h1 -Atc "SELECT wait_event_type FROM pg_stat_activity WHERE query LIKE 'INSERT INTO locked%'"
    [ "$output" = Lock ]
    pg_bg_send "$holder" 'COMMIT;'
    pg_bg_wait "$waiter"
    run pg_psql h1 -Atc 'SELECT count(*) FROM locked'
    [ "$output" = 1 ]
    pg_bg_close "$holder"
    pg_bg_close "$waiter"
}

@test "pg_bg_psql fails and shows the error when its SQL fails" {
    run pg_bg_psql h0 'SELECT * FROM no_such_table;'
    [ "$status" -ne 0 ]
    [[ $output == *'relation "no_such_table" does not exist'* ]]
}

@test "load_fashion --limit 1000 --partitions 3" {
    load_fashion h1 fm --limit 1000 --partitions 3
    run pg_psql h1 -Atc "SELECT count(*), min(id), max(id), count(DISTINCT id) FROM fm"
    [ "$output" = "1000|0|999|1000" ]
    run pg_psql h1 -Atc "SELECT min(array_length(x, 1)), max(array_length(x, 1)),
                                min(array_ndims(x)), max(array_ndims(x)) FROM fm"
    [ "$output" = "784|784|1|1" ]
    run pg_psql h1 -Atc "SELECT min(y), max(y), count(DISTINCT y) FROM fm"
    [ "$output" = "0|9|10" ]
    run pg_psql h1 -Atc "SELECT min(v), max(v) FROM fm, unnest(x) v"
    [ "$output" = "0|255" ]
    # Three hash partitions fm_p0..fm_p2, none empty, holding all rows.
    run pg_psql h1 -Atc "SELECT string_agg(c.relname, ' ' ORDER BY c.relname)
                         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                         WHERE i.inhparent = 'fm'::regclass"
    [ "$output" = "fm_p0 fm_p1 fm_p2" ]
    for p in fm_p0 fm_p1 fm_p2; do
        run pg_psql h1 -Atc "SELECT count(*) > 0 FROM $p"
        [ "$output" = t ]
    done
    run pg_psql h1 -Atc "SELECT (SELECT count(*) FROM fm_p0) + (SELECT count(*) FROM fm_p1)
                              + (SELECT count(*) FROM fm_p2)"
    [ "$output" = 1000 ]
}

@test "load_fashion stores the pixels and labels of the idx files" {
    load_fashion h0 fmt --split test --limit 5
    # Oracle: the idx files read with NumPy directly.
    want=$("$PYTHON" -c '
import gzip, numpy as np
d = "/usr/share/datasets/fashion-mnist/"
x = np.frombuffer(gzip.open(d + "t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
y = np.frombuffer(gzip.open(d + "t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
x = x[:5 * 784].reshape(5, 784).astype(np.int64)
for i in range(5):
    print(i, y[i], x[i].sum(), (x[i] * np.arange(784)).sum())
')
    got=$(pg_psql h0 -Atc "SELECT id, y, (SELECT sum(v)::bigint FROM unnest(x) v),
                                 (SELECT sum(v * (n - 1))::bigint FROM unnest(x) WITH ORDINALITY u(v, n))
                          FROM fmt ORDER BY id" | tr '|' ' ')
    [ "$got" = "$want" ]
}

@test "pg_stop_all stops every cluster and leaves no process behind" {
    # A root of its own, so the clusters of this file keep running.
    unset CD_PG_ROOT
    pg_start s0
    pg_start s1
    root=$CD_PG_ROOT
    id=$(pg_bg_psql s0 'BEGIN;' 'CREATE TABLE t (v int);')
    pids=()
    for c in "$root"/s0 "$root"/s1; do
        pm=$(<"$c/pid")
        mapfile -t kids < <(_pg_children "$pm")
        pids+=("$pm" "${kids[@]}" "$(<"$c/watchdog.pid")")
    done
    pids+=("$(<"$root/s0/bg/1/pid")")
    [ "${#pids[@]}" -gt 10 ]
    pg_stop_all
    [ -z "${CD_PG_ROOT:-}" ]
    [ ! -e "$root" ]
    wait_dead 10 "${pids[@]}"
    [ -z "$(CD_PG_ROOT=$root _pg_orphans)" ]
}

@test "a cluster whose owner was killed is stopped by its watchdog" {
    status=0
    bash -c 'source "$1"; unset CD_PG_ROOT; pg_start orphan
             echo "$CD_PG_ROOT $(<"$CD_PG_ROOT/orphan/pid")" >"$2"; kill -KILL $$' \
        _ "$REPO/tests/lib/pg.bash" "$BATS_TEST_TMPDIR/orphan" 3>&- || status=$?
    [ "$status" -eq 137 ]
    read -r root pm <"$BATS_TEST_TMPDIR/orphan"
    wait_dead 30 "$pm"
    # The watchdog also removed the root it had made.
    for _ in $(seq 50); do [ -e "$root" ] || break; sleep 0.1; done
    [ ! -e "$root" ]
}

@test "CI counts the unit tests' skips too: only the CUDA tests' without a GPU pass" {
    local log=$BATS_TEST_TMPDIR/log
    printf '== build/tests/test_a\nok   test_one\n== build/tests/test_ops_cuda\n%s\nok 1 a bats test\n' \
        'skipped: no CUDA device found (cudaGetDeviceCount: no CUDA-capable device is detected)' >"$log"
    run "$REPO/.ci/run" --count "$log"
    echo "$output"
    if compgen -G '/dev/nvidia[0-9]*' >/dev/null; then # a GPU host: the skip is a failure
        [ "$status" -eq 1 ]
        [[ $output == *"ci: skipped: build/tests/test_ops_cuda: no CUDA device found"* ]]
    else
        [ "$status" -eq 0 ]
        [ "${lines[0]}" = "ci: 1 CUDA tests skipped: no GPU" ]
    fi
    [ "${lines[-1]}" = "check: 2 passed, 0 failed, 1 skipped" ]
    # any other skip fails, named with its test
    printf '== build/tests/test_ckpt\nskipped: the numpy check: numpy not available\nok   test_two\n' >>"$log"
    run "$REPO/.ci/run" --count "$log"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *$'\nci: skipped: build/tests/test_ckpt: the numpy check: numpy not available\n'* ]]
    [ "${lines[-1]}" = "check: 3 passed, 0 failed, 2 skipped" ]
    printf 'ok 2 a bats test # skip not here\n' >"$log"
    run "$REPO/.ci/run" --count "$log"
    [ "$status" -eq 1 ]
    [[ $output == *"ci: skipped: ok 2 a bats test # skip not here"* ]]
    [ "${lines[-1]}" = "check: 0 passed, 0 failed, 1 skipped" ]
}
