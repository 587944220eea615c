#!/usr/bin/env bats
# The layer under the mount (fuse/table/vtable.c): a table pinned and indexed once, its files read
# in pieces through the chunk cache, must be byte-identical to `cerebro-ds export` of the
# same data: every type and storage form, partitions, block ranges, NULL rows and elements,
# ragged arrays, a small cache that evicts, tiny and backwards reads across every chunk and
# header boundary. build/tools/vtdump writes what the layer serves into a directory.

load helpers

setup_file() {
    pg_start vt
    pg_psql vt -f "$REPO/tests/sql/types.sql"
    load_fashion vt fm --split test --limit 3000 --partitions 2
    export CONN=$(pg_conninfo vt)
    export VTDUMP=${CD_BIN_DIR:-$REPO/build/bin}/../tools/vtdump
}

teardown_file() {
    pg_stop_all
}

same() { # TABLE READ [SHARDS [CACHE_MB]]: vtdump and export agree byte for byte
    local out=$BATS_TEST_TMPDIR/$1$RANDOM shards=${3:-0}
    local -a sh=()
    ((shards > 0)) && sh=(--shards "$shards")
    mkdir -p "$out"
    "$VTDUMP" "$CONN" "$1" "$out/vt" "$2" "$shards" "${4:-64}"
    cerebro-ds -q --conninfo "$CONN" export "${sh[@]}" "$1" "$out/ex"
    diff -r "$out/vt" "$out/ex"
}

@test "every type, NULLs, dropped and added columns: identical to export" {
    same types 131072
    same types 7
    same types -4093
}

@test "every varlena storage form and ragged arrays: identical to export" {
    same storage 131072
    same storage -1000
}

@test "fixed-shape arrays with NULL rows and NULL elements: identical to export" {
    same grid 5
}

@test "partitions and block ranges: identical to export" {
    same fm 131072
    same types 65536 3
}

@test "a column's first NULL, or first ragged array, thousands of rows in: identical to export" {
    # the index keeps NULL flags and row offsets from that row on, and fills in the rows
    # before it: its buffers once grew by one doubling from 1024 rows, and those rows were
    # written past their end (the daemon aborted at the table's first lookup)
    pg_psql vt -c "CREATE TABLE latenull AS SELECT i AS id, i::float8 AS v FROM generate_series(1, 5000) i;
        UPDATE latenull SET v = NULL WHERE id = 4999;
        CREATE TABLE lateragged AS SELECT i AS id, ARRAY[i, i]::float4[] AS a FROM generate_series(1, 5000) i;
        UPDATE lateragged SET a = '{1,2,3}' WHERE id = 5000"
    same latenull 131072
    same lateragged 131072
    same lateragged 3000
}

@test "a cache far smaller than the table still serves identical bytes" {
    same fm 100000 0 1
}

@test "rows of a transaction in progress stay out of the index" {
    bg=$(pg_bg_psql vt "BEGIN;" "INSERT INTO types (id) VALUES (9999);" "DELETE FROM types WHERE id = 1;")
    same types 131072
    pg_bg_close "$bg"
}

# count_ranges LOG FROM N: the count queries logged from byte FROM of LOG, as "shard queries" per
# shard; fails when a shard's ranges do not tile it (the first without a lower bound, each next
# starting where the one before ended, the last without an upper bound) or when a range before
# the last is not N blocks. How many ranges a shard gets depends on how fast the server counts
# beside the decoding (what is left when it ends is one range); their bounds do not. A backend
# writes log_statement's line itself before it runs the statement (no logging collector here),
# so every query is in the log once the client has its results.
count_ranges() {
    tail -c +"$2" "$1" | grep 'count(\*) FROM ONLY' | sed 's/.*statement: //' | awk -v want="$3" '
        { k = split($0, q, / UNION ALL /)
          for (j = 1; j <= k; j++) {
              if (!match(q[j], /^SELECT [0-9]+,/)) continue
              i = substr(q[j], 8, RLENGTH - 8); lo = "-"; hi = "-"
              if (match(q[j], /ctid >= .\([0-9]+/)) lo = substr(q[j], RSTART + 10, RLENGTH - 10)
              if (match(q[j], /ctid < .\([0-9]+/)) hi = substr(q[j], RSTART + 9, RLENGTH - 9)
              if (n[i]++ == 0 && lo != "-") bad = bad " shard " i ": first range from " lo
              if (n[i] > 1 && lo != last[i]) bad = bad " shard " i ": " last[i] " then " lo
              if (hi != "-" && hi - (lo == "-" ? 0 : lo) != want) bad = bad " shard " i ": " lo "-" hi
              last[i] = hi } }
        END { for (i in n) { print i, n[i]; if (last[i] != "-") bad = bad " shard " i ": ends at " last[i] }
              if (bad != "") { print "not tiled:" bad; exit 1 } }' | sort
}

@test "row counts are asked a few blocks at a time beside the decoding and tile each shard" {
    local log conn from out=$BATS_TEST_TMPDIR/ranges
    local countexport=${CD_BIN_DIR:-$REPO/build/bin}/../tools/countexport
    pg_psql vt -c "CREATE ROLE counter LOGIN SUPERUSER" -c "ALTER ROLE counter SET log_statement = 'all'"
    log=$(pg_logfile vt)
    conn=$(echo "$CONN" | sed "s/user=[^ ]*/user=counter/")
    # export: 2 partitions, 2 jobs, 7 blocks a query; every shard's rows match their sum
    from=$(($(stat -c %s "$log") + 1))
    run "$countexport" "$conn" fm "$out/ex" 7 0 2
    echo "$output"
    [ "$status" -eq 0 ]
    run count_ranges "$log" "$from" 7
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    (($(cut -d' ' -f2 <<<"${lines[0]}") >= 2)) # shard 0's first range, then at least the rest
    # the index pass under the mount: the same ranges, and the same bytes as the export
    from=$(($(stat -c %s "$log") + 1))
    run "$VTDUMP" "$conn" fm "$out/vt" 131072 0 64 7
    echo "$output"
    [ "$status" -eq 0 ]
    diff -r "$out/vt" "$out/ex"
    run count_ranges "$log" "$from" 7
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    (($(cut -d' ' -f2 <<<"${lines[0]}") >= 2))
    # block ranges of one table, one job, one block a query
    run "$countexport" "$conn" types "$out/types" 1 3 1
    echo "$output"
    [ "$status" -eq 0 ]
    pg_psql vt -c "DROP ROLE counter"
}
