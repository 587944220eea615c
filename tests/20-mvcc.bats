#!/usr/bin/env bats
# Visibility: the decoder returns exactly the rows of the pinned snapshot, deciding from
# hint bits, pg_xact, pg_subtrans and pg_multixact on disk. Each case checks the exported
# ids against the expected set and runs `verify` (PostgreSQL in the same snapshot).

load helpers

setup_file() {
    pg_start mvcc
    export CONN=$(pg_conninfo mvcc)
}

teardown_file() {
    pg_stop_all
}

# ids TABLE: export TABLE and print its ids, sorted, space-separated.
ids() {
    local out=$BATS_TEST_TMPDIR/exp$RANDOM
    cerebro-ds -q --conninfo "$CONN" export "$1" "$out" >&2 || return 1
    "$PYTHON" -c "
import numpy as np, glob
a = np.concatenate([np.load(f) for f in sorted(glob.glob('$out/*/id.npy'))])
print(' '.join(str(x) for x in sorted(a.tolist())))"
}

# id_v TABLE: export TABLE and print its sorted (id, v) pairs.
id_v() {
    local out=$BATS_TEST_TMPDIR/exp$RANDOM
    cerebro-ds -q --conninfo "$CONN" export "$1" "$out" >&2 || return 1
    "$PYTHON" -c "
import numpy as np
i = np.load('$out/part0/id.npy'); v = np.load('$out/part0/v.npy')
print(sorted(zip(i.tolist(), v.tolist())))"
}

verify_ok() {
    run cerebro-ds -q --conninfo "$CONN" verify "$1"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ ${lines[-1]} == *" mismatches=0" ]]
}

@test "rows of an aborted transaction are invisible" {
    pg_psql mvcc -c "CREATE TABLE ab (id int, v text)" -c "INSERT INTO ab VALUES (1, 'a'), (2, 'b')"
    pg_psql mvcc -c "BEGIN; INSERT INTO ab VALUES (3, 'aborted'); ROLLBACK;"
    run ids ab
    [ "$output" = "1 2" ]
    verify_ok ab
}

@test "rows of a transaction in progress during the export are invisible, then visible" {
    pg_psql mvcc -c "CREATE TABLE ip (id int)" -c "INSERT INTO ip VALUES (1)"
    bg=$(pg_bg_psql mvcc "BEGIN;" "INSERT INTO ip VALUES (2), (3);" "DELETE FROM ip WHERE id = 1;")
    run ids ip
    [ "$output" = "1" ]
    verify_ok ip
    pg_bg_send "$bg" "COMMIT;"
    pg_bg_close "$bg"
    run ids ip
    [ "$output" = "2 3" ]
    verify_ok ip
}

@test "deleted rows, HOT and non-HOT updates" {
    pg_psql mvcc -c "CREATE TABLE up (id int PRIMARY KEY, k int, v text)" \
        -c "CREATE INDEX ON up (k)" \
        -c "INSERT INTO up SELECT g, g, 'v' || g FROM generate_series(1, 200) g" \
        -c "DELETE FROM up WHERE id % 10 = 0" \
        -c "UPDATE up SET v = 'hot' WHERE id % 10 = 1" \
        -c "UPDATE up SET k = k + 1000 WHERE id % 10 = 2"
    run pg_psql mvcc -At -c "SELECT n_tup_hot_upd > 0, n_tup_upd > n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'up'"
    [ "$output" = "t|t" ]
    run ids up
    [ "$output" = "$(seq 1 200 | awk '$1 % 10' | xargs)" ]
    verify_ok up
}

@test "committed and rolled-back subtransactions" {
    pg_psql mvcc -c "CREATE TABLE sub (id int)"
    pg_psql mvcc -c "BEGIN; INSERT INTO sub VALUES (1); SAVEPOINT a; INSERT INTO sub VALUES (2);
        RELEASE a; SAVEPOINT b; INSERT INTO sub VALUES (3); ROLLBACK TO b;
        SAVEPOINT c; INSERT INTO sub VALUES (4); SAVEPOINT d; INSERT INTO sub VALUES (5); RELEASE d; RELEASE c; COMMIT;"
    run ids sub
    [ "$output" = "1 2 4 5" ]
    verify_ok sub
}

@test "rows of a subtransaction whose top transaction is in progress are invisible" {
    pg_psql mvcc -c "CREATE TABLE subip (id int)" -c "INSERT INTO subip VALUES (1)"
    bg=$(pg_bg_psql mvcc "BEGIN;" "SAVEPOINT s;" "INSERT INTO subip VALUES (2);" "RELEASE s;" "SAVEPOINT t;" "INSERT INTO subip VALUES (3);")
    run ids subip
    [ "$output" = "1" ]
    verify_ok subip
    pg_bg_send "$bg" "COMMIT;"
    pg_bg_close "$bg"
    run ids subip
    [ "$output" = "1 2 3" ]
}

@test "rows locked FOR SHARE by two transactions (multixact, lock only) stay visible" {
    pg_psql mvcc -c "CREATE TABLE sh (id int, v int)" -c "INSERT INTO sh SELECT g, g FROM generate_series(1, 10) g"
    b1=$(pg_bg_psql mvcc "BEGIN;" "SELECT id FROM sh WHERE id <= 5 FOR SHARE;")
    b2=$(pg_bg_psql mvcc "BEGIN;" "SELECT id FROM sh WHERE id <= 5 FOR SHARE;")
    run pg_psql mvcc -At -c "CREATE EXTENSION IF NOT EXISTS pageinspect" \
        -c "SELECT count(*) FROM heap_page_items(get_raw_page('sh', 0)) WHERE t_infomask & 4096 <> 0"
    [ "${lines[-1]}" = 5 ]
    run ids sh
    [ "$output" = "1 2 3 4 5 6 7 8 9 10" ]
    verify_ok sh
    pg_bg_close "$b1"
    pg_bg_close "$b2"
}

@test "a row updated by a transaction that also held a share lock (multixact with an updater)" {
    pg_psql mvcc -c "CREATE TABLE mu (id int PRIMARY KEY, v int)" -c "INSERT INTO mu VALUES (1, 10), (2, 20)"
    b1=$(pg_bg_psql mvcc "BEGIN;" "SELECT * FROM mu WHERE id = 1 FOR SHARE;")
    b2=$(pg_bg_psql mvcc "BEGIN;" "SELECT * FROM mu WHERE id = 1 FOR KEY SHARE;" "UPDATE mu SET v = 11 WHERE id = 2;")
    pg_bg_send "$b1" "UPDATE mu SET v = 99 WHERE id = 1;"
    run pg_psql mvcc -At -c "CREATE EXTENSION IF NOT EXISTS pageinspect" \
        -c "SELECT count(*) FROM heap_page_items(get_raw_page('mu', 0)) WHERE t_infomask & 4096 <> 0 AND t_infomask & 128 = 0"
    [ "${lines[-1]}" = 1 ]
    # The updater is in progress: the old version is visible.
    verify_ok mu
    run id_v mu
    [ "$output" = "[(1, 10), (2, 20)]" ]
    pg_bg_send "$b1" "COMMIT;"
    # The updater committed: the new version (v = 99) is visible, the old one is not.
    verify_ok mu
    run id_v mu
    echo "exported: $output" # failed once under make asan, not reproduced: what it was
    [ "$output" = "[(1, 99), (2, 20)]" ]
    pg_bg_send "$b2" "ROLLBACK;"
    pg_bg_close "$b1"
    pg_bg_close "$b2"
}

@test "frozen and all-visible pages after VACUUM FREEZE" {
    pg_psql mvcc -c "CREATE TABLE fr AS SELECT g AS id FROM generate_series(1, 1000) g" \
        -c "DELETE FROM fr WHERE id > 900" -c "VACUUM FREEZE fr"
    run ids fr
    [ "$output" = "$(seq 1 900 | xargs)" ]
    verify_ok fr
}

@test "tuples without hint bits are decided from pg_xact" {
    # The last commands leave hint bits unset: nothing reads the table before the export.
    pg_psql mvcc -c "CREATE TABLE nh (id int)"
    pg_psql mvcc -c "INSERT INTO nh SELECT generate_series(1, 50)"
    pg_psql mvcc -c "BEGIN; DELETE FROM nh WHERE id > 40; ROLLBACK;"
    pg_psql mvcc -c "DELETE FROM nh WHERE id <= 5"
    pg_psql mvcc -c "INSERT INTO nh SELECT generate_series(51, 60)"
    run pg_psql mvcc -At -c "CREATE EXTENSION IF NOT EXISTS pageinspect" \
        -c "SELECT sum((t_infomask & 256 = 0)::int), sum((t_xmax <> 0 AND t_infomask & (1024 | 2048) = 0)::int)
            FROM heap_page_items(get_raw_page('nh', 0))"
    [ "${lines[-1]}" = "10|5" ]
    run ids nh
    [ "$output" = "$(seq 6 60 | xargs)" ]
    verify_ok nh
}
