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

@test "a cache far smaller than the table still serves identical bytes" {
    same fm 100000 0 1
}

@test "rows of a transaction in progress stay out of the index" {
    bg=$(pg_bg_psql vt "BEGIN;" "INSERT INTO types (id) VALUES (9999);" "DELETE FROM types WHERE id = 1;")
    same types 131072
    pg_bg_close "$bg"
}
