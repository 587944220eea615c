#!/usr/bin/env bats
# What cerebro-ds refuses, what it needs, what it never changes: views, foreign, temporary
# and unlogged tables; privileges; the data directory left byte-identical and never opened
# for writing; page facts agreeing with pg_filedump; verify catching a wrong value; the
# command line and the configuration file.

load helpers

setup_file() {
    pg_start safety
    pg_psql safety -c "CREATE TABLE t (id int, x real[], s text)" \
        -c "INSERT INTO t SELECT g, ARRAY[g, g * 2]::real[], repeat('s', g % 300) FROM generate_series(1, 2000) g" \
        -c "CREATE VIEW v AS SELECT * FROM t" \
        -c "CREATE UNLOGGED TABLE u (id int)" \
        -c "CREATE EXTENSION file_fdw" -c "CREATE SERVER files FOREIGN DATA WRAPPER file_fdw" \
        -c "CREATE FOREIGN TABLE f (a int) SERVER files OPTIONS (filename '/dev/null')" \
        -c "CREATE ROLE nobody LOGIN" -c "CREATE ROLE reader LOGIN" \
        -c "GRANT SELECT ON t TO reader"
    export CONN=$(pg_conninfo safety)
    export DATA=$(pg_datadir safety)
}

teardown_file() {
    pg_stop_all
}

as_role() { # ROLE: conninfo for that role
    echo "$CONN" | sed "s/user=[^ ]*/user=$1/"
}

@test "views, foreign, unlogged and missing tables are refused with a clear error" {
    run cerebro-ds -q --conninfo "$CONN" inspect v
    [ "$status" -eq 1 ]
    [[ $output == *'error: cannot read "v": it is a view'* ]]
    run cerebro-ds -q --conninfo "$CONN" inspect f
    [[ $output == *"it is a foreign table"* ]]
    run cerebro-ds -q --conninfo "$CONN" inspect u
    [[ $output == *"it is an unlogged table"* ]]
    run cerebro-ds -q --conninfo "$CONN" inspect nosuch
    [ "$status" -eq 1 ]
    [[ $output == *'error: table "nosuch" does not exist'* ]]
}

@test "append-optimized tables (a table access method other than heap) are refused" {
    # Greenplum names its append-optimized access methods ao_row and ao_column; an access
    # method of that name (backed by heap here) takes the same path through the catalog.
    pg_psql safety -c "CREATE ACCESS METHOD ao_row TYPE TABLE HANDLER heap_tableam_handler" \
        -c "CREATE TABLE ao (a int) USING ao_row"
    run cerebro-ds -q --conninfo "$CONN" inspect ao
    [ "$status" -eq 1 ]
    [[ $output == *'cannot read "ao": it is an append-optimized table'* ]]
}

@test "temporary tables of another session are refused" {
    bg=$(pg_bg_psql safety "CREATE TEMP TABLE tmp AS SELECT 1 AS a;")
    name=$(pg_psql safety -At -c "SELECT n.nspname || '.tmp' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'tmp'")
    run cerebro-ds -q --conninfo "$CONN" inspect "$name"
    pg_bg_close "$bg"
    [ "$status" -eq 1 ]
    [[ $output == *"it is a temporary table"* ]]
}

@test "a role without SELECT is refused, with the GRANT to run" {
    run cerebro-ds -q --conninfo "$(as_role nobody)" --datadir "$DATA" export t "$BATS_TEST_TMPDIR/o"
    [ "$status" -eq 1 ]
    [[ $output == *"error: permission denied for table t"* ]]
    [[ $output == *"HINT: GRANT SELECT ON t TO nobody"* ]]
}

@test "a role that may not CHECKPOINT is told about pg_checkpoint; with it, export works" {
    run cerebro-ds -q --conninfo "$(as_role reader)" --datadir "$DATA" export t "$BATS_TEST_TMPDIR/o"
    [ "$status" -eq 1 ]
    [[ $output == *"could not run CHECKPOINT"* ]]
    [[ $output == *"pg_checkpoint"* ]]
    pg_psql safety -c "GRANT pg_checkpoint TO reader" \
        -c "GRANT EXECUTE ON FUNCTION pg_control_init(), pg_control_checkpoint() TO reader"
    run cerebro-ds -q --conninfo "$(as_role reader)" --datadir "$DATA" export t "$BATS_TEST_TMPDIR/o"
    echo "$output"
    [ "$status" -eq 0 ]
    [ -f "$BATS_TEST_TMPDIR/o/part0/x.npy" ]
}

@test "the data directory is unchanged by an export and never opened for writing" {
    pg_psql safety -c "VACUUM t" -c "CHECKPOINT"
    rel=$(pg_psql safety -At -c "SELECT pg_relation_filepath('t')")
    toast=$(pg_psql safety -At -c "SELECT pg_relation_filepath(reltoastrelid) FROM pg_class WHERE relname = 't'")
    sums() { (cd "$DATA" && sha256sum "$rel"* "$toast"* pg_xact/* global/pg_filenode.map base/*/pg_filenode.map); }
    before=$(sums)
    run strace -f -qq -e trace=open,openat,creat,truncate,ftruncate,unlink,unlinkat,rename,renameat -o "$BATS_TEST_TMPDIR/trace" \
        cerebro-ds -q --conninfo "$CONN" export t "$BATS_TEST_TMPDIR/o"
    [ "$status" -eq 0 ]
    [ "$(sums)" = "$before" ]
    # every access under the data directory is a read-only open
    grep -F "$DATA" "$BATS_TEST_TMPDIR/trace" >"$BATS_TEST_TMPDIR/data-access"
    [ -s "$BATS_TEST_TMPDIR/data-access" ]
    ! grep -vE 'open(at)?\(.*O_RDONLY' "$BATS_TEST_TMPDIR/data-access" || false # prints the others
}

@test "page-level facts agree with pg_filedump" {
    pg_psql safety -c "DELETE FROM t WHERE id % 50 = 0" -c "UPDATE t SET s = 'u' WHERE id % 70 = 1"
    rel=$(pg_psql safety -At -c "SELECT pg_relation_filepath('t')")
    cerebro-ds -q --conninfo "$CONN" pages t >"$BATS_TEST_TMPDIR/ours"
    /usr/lib/postgresql/14/bin/pg_filedump -i -k "$DATA/$rel" >"$BATS_TEST_TMPDIR/theirs"
    run "$PYTHON" "$REPO/tests/lib/filedump_compare.py" "$BATS_TEST_TMPDIR/ours" "$BATS_TEST_TMPDIR/theirs"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ ${lines[-1]} == *"mismatches=0" ]]
    grep -q 'visible no' "$BATS_TEST_TMPDIR/ours"
}

@test "verify reports a value that differs from PostgreSQL's, with exit status 3" {
    copy=$BATS_TEST_TMPDIR/pgdata
    pg_psql safety -c "CHECKPOINT"
    cp -a "$DATA" "$copy"
    rel=$(pg_psql safety -At -c "SELECT pg_relation_filepath('t')")
    off=$(pg_psql safety -At -c "CREATE EXTENSION IF NOT EXISTS pageinspect" \
        -c "SELECT lp_off FROM heap_page_items(get_raw_page('t', 0)) WHERE lp = 2")
    # id of item 2 (offset + t_hoff 24) becomes 999999
    printf '\x3f\x42\x0f\x00' | dd of="$copy/$rel" bs=1 seek=$((off + 24)) conv=notrunc status=none
    "$REPO/build/tools/pagefix" "$copy/$rel" 0
    run cerebro-ds -q --conninfo "$CONN" --datadir "$copy" verify t
    echo "$output"
    [ "$status" -eq 3 ]
    [[ $output == *"mismatch: shard part0, ctid (0,2): value differs in column id"* ]]
    [[ ${lines[-1]} == *" mismatches=1" ]]
}

@test "a --datadir of another cluster is refused, not read as this server's table" {
    # the other cluster's relfilenodes may match: its rows were exported under this table's
    # name, or the errors pointed elsewhere (a rewritten relation, a checksum)
    pg_start safety_other
    run cerebro-ds -q --conninfo "$CONN" --datadir "$(pg_datadir safety_other)" export t "$BATS_TEST_TMPDIR/o"
    [ "$status" -eq 1 ]
    [[ $output == *"data directory $(pg_datadir safety_other) belongs to another cluster (system identifier "*"HINT: give the server's data directory"* ]]
    [ ! -e "$BATS_TEST_TMPDIR/o" ]
    cerebro-ds -q --conninfo "$CONN" --datadir "$DATA" export t "$BATS_TEST_TMPDIR/ok"
}

@test "command line: help, version, usage errors, configuration file" {
    run cerebro-ds --help
    [ "$status" -eq 0 ]
    [[ $output == *"export TABLE OUTDIR"* ]]
    [[ $output == *"Exit status"* ]]
    run cerebro-ds --version
    [[ $output == "cerebro-ds "* ]]
    run cerebro-ds
    [ "$status" -eq 2 ]
    run cerebro-ds --bogus inspect t
    [ "$status" -eq 2 ]
    run cerebro-ds frobnicate t
    [ "$status" -eq 2 ]
    [[ $output == *'unknown command "frobnicate"'* ]]
    # "-" and what follows "--" are arguments: getopt stopped there and the parse loop spun
    run timeout 20 cerebro-ds -
    [ "$status" -eq 2 ]
    [[ $output == *'unknown command "-"'* ]]
    run timeout 20 cerebro-ds -q --conninfo "$CONN" inspect -- -nosuch
    [ "$status" -eq 1 ]
    [[ $output == *'-nosuch'* ]]
    run cerebro-ds --jobs 0 inspect t
    [ "$status" -eq 2 ]
    run cerebro-ds --jobs 70000 inspect t
    [ "$status" -eq 2 ]
    [[ $output == *"--jobs: expected an integer from 1 to 65536"* ]]
    run cerebro-ds --columns ", ," inspect t # exported no column at all, exit 0
    [ "$status" -eq 2 ]
    [[ $output == *"invalid value for --columns: no column named"* ]]
    printf '[database]\nconninfo = %s\n' "$CONN" >"$BATS_TEST_TMPDIR/ok.conf"
    run cerebro-ds -q -c "$BATS_TEST_TMPDIR/ok.conf" inspect t
    [ "$status" -eq 0 ]
    printf '[database]\nconninfo = %s\nbogus = 1\n' "$CONN" >"$BATS_TEST_TMPDIR/bad.conf"
    run cerebro-ds -q -c "$BATS_TEST_TMPDIR/bad.conf" inspect t
    [ "$status" -eq 1 ]
    [[ $output == *"bad.conf:3: unknown key \"bogus\" in section database"* ]]
    run cerebro-ds -q -c /nonexistent.conf inspect t
    [ "$status" -eq 1 ]
    [[ $output == *'could not open configuration file "/nonexistent.conf"'* ]]
}

@test "the man page documents every option and command of --help, and no other" {
    help=$(cerebro-ds --help | grep -oE -- '--[a-z-]+' | sort -u)
    man=$(sed 's/\\-/-/g; s/\\f[BIR]//g' "$REPO/docs/cerebro-ds.1" | grep -oE -- '--[a-z-]+' | sort -u)
    diff <(echo "$help") <(echo "$man")
    for cmd in inspect export verify pages; do
        cerebro-ds --help | grep -q "^  $cmd "
        grep -q "^\.B $cmd\$" "$REPO/docs/cerebro-ds.1"
    done
}
