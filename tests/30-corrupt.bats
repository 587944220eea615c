#!/usr/bin/env bats
# Corrupt input: copies of relation files with a flipped byte, a truncated page, a bogus
# lp_len, a pglz stream with an out-of-range offset, a TOAST chunk missing. Each is a clean
# error that names file and block, with exit status 1; never a crash, never fewer rows.
# The server answers the catalog; the pages come from a copy of its data directory
# (--datadir), which the test corrupts. `make asan` runs this file with the ASan+UBSan
# build (CD_BIN_DIR, tests/helpers.bash).

load helpers

CD=cerebro-ds
PAGEFIX=${CD_BIN_DIR:-$REPO/build/bin}/../tools/pagefix

setup_file() {
    pg_start corrupt
    pg_psql corrupt -c "CREATE EXTENSION pageinspect" \
        -c "CREATE TABLE plain (id int, t text)" \
        -c "INSERT INTO plain SELECT g, 'row ' || g FROM generate_series(1, 3000) g" \
        -c "CREATE TABLE comp (id int, t text)" \
        -c "INSERT INTO comp SELECT g, repeat('pglz ' || g, 600) FROM generate_series(1, 20) g" \
        -c "CREATE TABLE ext (id int, t text)" \
        -c "ALTER TABLE ext ALTER COLUMN t SET STORAGE EXTERNAL" \
        -c "INSERT INTO ext SELECT g, repeat(md5(g::text), 200) FROM generate_series(1, 5) g" \
        -c "CHECKPOINT"
    export CONN=$(pg_conninfo corrupt)
}

teardown_file() {
    pg_stop_all
}

setup() {
    COPY=$BATS_TEST_TMPDIR/pgdata
    cp -a "$(pg_datadir corrupt)" "$COPY"
}

relfile() { # TABLE -> path of its main fork in the copy
    echo "$COPY/$(pg_psql corrupt -At -c "SELECT pg_relation_filepath('$1')")"
}

lp_off() { # TABLE BLOCK ITEM -> byte offset of the tuple in its block
    pg_psql corrupt -At -c "SELECT lp_off FROM heap_page_items(get_raw_page('$1', $2)) WHERE lp = $3"
}

poke() { # FILE OFFSET HEXBYTES
    printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

set_lp() { # FILE BLOCK ITEM AWK-EXPR: rewrite line pointer ITEM of BLOCK as f(w)
    local at=$(($2 * 8192 + 24 + ($3 - 1) * 4)) word new
    word=$(od -An -tu4 -j "$at" -N4 "$1" | tr -d ' ')
    new=$(awk -v w="$word" "BEGIN { printf \"%08x\", $4 }")
    poke "$1" "$at" "$(echo "$new" | sed 's/\(..\)\(..\)\(..\)\(..\)/\4\3\2\1/')"
}

cd_export() {
    run "$CD" -q --conninfo "$CONN" --datadir "$COPY" export "$@" "$BATS_TEST_TMPDIR/out$RANDOM"
    echo "$output"
}

@test "the untouched copy exports every row" {
    cd_export plain
    [ "$status" -eq 0 ]
    cd_export ext
    [ "$status" -eq 0 ]
}

@test "a flipped byte is a checksum error naming file and block; other tables still work" {
    f=$(relfile plain)
    poke "$f" $((8192 * 2 + 5000)) ff
    cd_export plain
    [ "$status" -eq 1 ]
    [[ $output == *"error: page checksum mismatch"* ]]
    [[ $output == *"DETAIL: file \"base/"*"\", block 2"* ]]
    cd_export comp
    [ "$status" -eq 0 ]
}

@test "a truncated page is an error, never fewer rows" {
    f=$(relfile plain)
    size=$(stat -c %s "$f")
    truncate -s $((size - 3000)) "$f"
    cd_export plain
    [ "$status" -eq 1 ]
    [[ $output == *"is not a whole number of blocks"* ]]
}

@test "a bogus lp_len is an error naming block and item" {
    f=$(relfile plain)
    # item 3 of block 1: keep offset and flags, length 8000 (past the page end)
    set_lp "$f" 1 3 "w % 131072 + 8000 * 131072"
    "$PAGEFIX" "$f" 1
    cd_export plain
    [ "$status" -eq 1 ]
    [[ $output == *"error: invalid line pointer"* ]]
    [[ $output == *"block 1"* ]]
}

@test "a pglz stream with an out-of-range offset is an error" {
    f=$(relfile comp)
    off=$(lp_off comp 0 1)
    # tuple header 24, id 4, varlena header 4, raw size 4: the stream. First item: a tag
    # with offset 4095 before any byte was produced.
    poke "$f" $((off + 24 + 4 + 8)) 01f0ff
    "$PAGEFIX" "$f" 0
    cd_export comp
    [ "$status" -eq 1 ]
    [[ $output == *"error: pglz"*"offset"* ]]
    [[ $output == *"block 0, item 1"* ]]
}

@test "a missing TOAST chunk is an error naming the value" {
    toast=$(pg_psql corrupt -At -c "SELECT reltoastrelid::regclass FROM pg_class WHERE relname = 'ext'")
    f=$(relfile "$toast")
    # chunk 1 of the first value is item 2 of block 0: mark its line pointer unused
    set_lp "$f" 0 2 "w - (int(w / 32768) % 4) * 32768"
    "$PAGEFIX" "$f" 0
    cd_export ext
    [ "$status" -eq 1 ]
    [[ $output == *"error: missing toast chunk"* ]]
    [[ $output == *"chunk 1 of "* ]]
}

@test "a vanished relation file says the relation was rewritten" {
    f=$(relfile plain)
    rm "$f"
    cd_export plain
    [ "$status" -eq 1 ]
    [[ $output == *"could not open file"* ]]
    [[ $output == *"HINT: the relation was rewritten; take a new snapshot"* ]]
}
