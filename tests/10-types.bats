#!/usr/bin/env bats
# Every supported type, NULLs, dropped and added columns, every varlena storage form:
# `cerebro-ds export` equals PostgreSQL's own output (numpy reading the files vs SQL),
# and `cerebro-ds verify` (COPY BINARY in the pinned snapshot) finds no mismatch.

load helpers

setup_file() {
    pg_start types
    pg_psql types -f "$REPO/tests/sql/types.sql"
    export CONN=$(pg_conninfo types)
    export OUT=$BATS_FILE_TMPDIR/out
}

teardown_file() {
    pg_stop_all
}

@test "inspect shows columns, dtypes, block size, snapshot and rows" {
    run cerebro-ds --conninfo "$CONN" inspect public.types
    [ "$status" -eq 0 ]
    [[ $output == *"block size: 8192"* ]]
    [[ $output == *"data checksums: on"* ]]
    [[ $output == *"snapshot: "* ]]
    [[ $output == *"a4"*"real[]"*"<f4"* ]]
    [[ $output == *"n "*"numeric"*"<f8"* ]]
    [[ $output == *"rows: 302"* ]]
    [[ $output != *"gone"* ]]
}

@test "export of every type equals PostgreSQL's output" {
    run cerebro-ds -q --conninfo "$CONN" export public.types "$OUT/types"
    [ "$status" -eq 0 ]
    [ -f "$OUT/types/meta" ]
    [ -f "$OUT/types/part0/meta" ]
    run "$PYTHON" "$REPO/tests/lib/oracle.py" "$CONN" public.types "$OUT/types/part0"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ ${lines[-1]} == "rows=302 mismatches=0" ]]
}

@test "column files have the dtypes and shapes of the mount layout" {
    run "$PYTHON" - "$OUT/types/part0" <<'PY'
import sys, numpy as np
d = sys.argv[1]
want = {"b": ("|b1", (302,)), "i2": ("<i2", (302,)), "i8": ("<i8", (302,)),
        "f4": ("<f4", (302,)), "n": ("<f8", (302,)),
        "d_int": ("<i4", (302,))}
for c, (dt, shape) in want.items():
    a = np.load("%s/%s.npy" % (d, c), mmap_mode="r")
    assert a.dtype.str == dt and a.shape == shape, (c, a.dtype.str, a.shape)
v = np.load(d + "/b.valid.npy")
assert v.dtype == np.bool_ and v.shape == (302,) and not v[2]
o = np.load(d + "/t.offsets.npy")
assert o.dtype.str == "<i8" and o.shape == (303,) and o[0] == 0
assert open(d + "/t.bin", "rb").read()[o[0]:o[1]] == b"short"
a = np.load(d + "/d_int.npy")
assert a[0] == 42 and a[300] == 7 and a[301] == 0   # missing value, set value, NULL
print("ok")
PY
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "arrays with the same dimensions in every row are (N, d1, d2) with NULL rows as NaN" {
    run cerebro-ds -q --conninfo "$CONN" export public.grid "$OUT/grid"
    [ "$status" -eq 0 ]
    run "$PYTHON" - "$OUT/grid/part0" <<'PY'
import sys, numpy as np
d = sys.argv[1]
g = np.load(d + "/g.npy", mmap_mode="r"); h = np.load(d + "/h.npy")
assert g.dtype.str == "<f4" and g.shape == (50, 2, 3), (g.dtype, g.shape)
assert h.dtype.str == "<i8" and h.shape == (50, 2) and h[6, 1] == -7
v = np.load(d + "/g.valid.npy")
assert not v[4] and np.isnan(g[4]).all() and v[0]          # row k=5 is NULL
assert g[0, 0, 1] == 2 and np.isnan(g[0, 1, 1])            # NULL element -> NaN
print("ok")
PY
    echo "$output"
    [ "$status" -eq 0 ]
    grep -q 'null_elements = 40' "$OUT/grid/part0/meta"
    run "$PYTHON" "$REPO/tests/lib/oracle.py" "$CONN" public.grid "$OUT/grid/part0"
    [ "$status" -eq 0 ]
}

@test "a table of fixed-width columns only equals PostgreSQL's output" {
    run cerebro-ds -q --conninfo "$CONN" export public.fixedw "$OUT/fixedw"
    [ "$status" -eq 0 ]
    run "$PYTHON" "$REPO/tests/lib/oracle.py" "$CONN" public.fixedw "$OUT/fixedw/part0"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ ${lines[-1]} == "rows=702 mismatches=0" ]]
    # .valid.npy only for the columns that have a NULL (opened at their first)
    ls "$OUT/fixedw/part0"
    [ -f "$OUT/fixedw/part0/a.valid.npy" ] && [ -f "$OUT/fixedw/part0/s.valid.npy" ]
    [ ! -e "$OUT/fixedw/part0/h.valid.npy" ] && [ ! -e "$OUT/fixedw/part0/d.valid.npy" ]
    run "$PYTHON" - "$OUT/fixedw/part0" <<'PY'
import sys, numpy as np
d = sys.argv[1]
a, v = np.load(d + "/a.npy"), np.load(d + "/a.valid.npy")
assert a.shape == (702,) and v.shape == (702,) and v.sum() == 701 and not v[400] and a[400] == 0
assert (np.load(d + "/d.npy")[:402] == -42).all() and np.load(d + "/d.npy")[402] == 1
assert np.load(d + "/h.npy")[0] == 1 << 33
print("ok")
PY
    echo "$output"
    [ "$status" -eq 0 ]
    run cerebro-ds -q --conninfo "$CONN" verify public.fixedw
    [ "$status" -eq 0 ]
    [[ ${lines[-1]} == "rows=702 mismatches=0" ]]
}

@test "ragged arrays go to .bin and .offsets.npy" {
    [ -f "$OUT/types/part0/a4.bin" ]
    [ -f "$OUT/types/part0/a4.offsets.npy" ]
    grep -A3 '^\[column a4\]' "$OUT/types/meta" | grep -q 'shape = ragged'
}

@test "verify finds no mismatch for every type" {
    run cerebro-ds -q --conninfo "$CONN" verify public.types
    echo "$output"
    [ "$status" -eq 0 ]
    [[ ${lines[-1]} == "rows=302 mismatches=0" ]]
}

@test "short, long, pglz, lz4 and external values decode exactly" {
    run pg_psql types -At -c "SELECT count(*) FROM pg_class WHERE relname = 'storage' AND reltoastrelid <> 0"
    [ "$output" = 1 ]
    run cerebro-ds -q --conninfo "$CONN" export public.storage "$OUT/storage"
    [ "$status" -eq 0 ]
    run "$PYTHON" "$REPO/tests/lib/oracle.py" "$CONN" public.storage "$OUT/storage/part0"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ ${lines[-1]} == "rows=40 mismatches=0" ]]
    run cerebro-ds -q --conninfo "$CONN" verify public.storage
    [ "$status" -eq 0 ]
    [[ ${lines[-1]} == "rows=40 mismatches=0" ]]
}

@test "the storage table really holds every storage form" {
    # pg_column_compression and pg_column_size tell how PostgreSQL stored each value.
    run pg_psql types -At -c "SELECT
        bool_and(pg_column_compression(pglz_inline) = 'pglz' AND pg_column_size(pglz_inline) < 2000),
        bool_and(pg_column_compression(lz4_inline) = 'lz4'),
        bool_and(pg_column_compression(ext_plain) IS NULL AND pg_column_size(ext_plain) > 4000),
        bool_and(pg_column_compression(ext_pglz) = 'pglz' AND pg_column_size(ext_pglz) > 2000),
        bool_and(pg_column_compression(ext_lz4) = 'lz4' AND pg_column_size(ext_lz4) > 2000),
        bool_and(pg_column_size(small_arr) < 127)
        FROM storage"
    [ "$output" = "t|t|t|t|t|t" ]
}

@test "--columns selects columns; an unknown column is a clear error" {
    run cerebro-ds -q --conninfo "$CONN" export --columns id,f8 public.types "$OUT/cols"
    [ "$status" -eq 0 ]
    [ -f "$OUT/cols/part0/id.npy" ]
    [ -f "$OUT/cols/part0/f8.npy" ]
    [ ! -f "$OUT/cols/part0/i4.npy" ]
    run cerebro-ds -q --conninfo "$CONN" export --columns nosuch public.types "$OUT/cols2"
    [ "$status" -eq 1 ]
    [[ $output == *'column "nosuch" of table types does not exist'* ]]
}

@test "--shards N splits a heap into block ranges that together hold every row" {
    pg_psql types -c "CREATE TABLE wide AS SELECT g AS id, repeat('w', 500) AS pad FROM generate_series(1, 5000) g"
    run cerebro-ds -q --conninfo "$CONN" export --shards 3 --jobs 2 public.wide "$OUT/wide"
    [ "$status" -eq 0 ]
    run "$PYTHON" -c "
import numpy as np
ids = np.concatenate([np.load('$OUT/wide/part%d/id.npy' % k) for k in range(3)])
assert sorted(ids.tolist()) == list(range(1, 5001)), len(ids)
assert all(len(np.load('$OUT/wide/part%d/id.npy' % k)) > 1000 for k in range(3))
print('ok')"
    [ "$status" -eq 0 ]
    run cerebro-ds -q --conninfo "$CONN" verify --shards 3 public.wide
    [ "$status" -eq 0 ]
    [[ ${lines[-1]} == "rows=5000 mismatches=0" ]]
}

@test "column and partition names that are not file names are encoded, never paths" {
    pg_psql types -c 'CREATE TABLE odd ("a/b" int, "../../evil" text, "100%" real, "." int) PARTITION BY LIST ("a/b")' \
        -c 'CREATE TABLE "odd/one" PARTITION OF odd FOR VALUES IN (1)' \
        -c 'CREATE TABLE ".." PARTITION OF odd FOR VALUES IN (2)' \
        -c "INSERT INTO odd VALUES (1, 'x', 1.5, 7), (2, 'y', 2.5, 8)"
    run cerebro-ds -q --conninfo "$CONN" export odd "$OUT/odd"
    echo "$output"
    [ "$status" -eq 0 ]
    [ -f "$OUT/odd/odd%2Fone/a%2Fb.npy" ]
    [ -f "$OUT/odd/odd%2Fone/..%2F..%2Fevil.bin" ]
    [ -f "$OUT/odd/odd%2Fone/100%25.npy" ]
    [ -f "$OUT/odd/odd%2Fone/%2E.npy" ]
    [ -f "$OUT/odd/%2E./a%2Fb.npy" ]
    [ ! -e "$OUT/evil.bin" ]
    [ ! -e "$BATS_FILE_TMPDIR/evil.bin" ]
    grep -qx 'shards = %2E., odd%2Fone' "$OUT/odd/meta"
    run "$PYTHON" "$REPO/tests/lib/oracle.py" "$CONN" '"odd/one"' "$OUT/odd/odd%2Fone"
    echo "$output"
    [ "$status" -eq 0 ]
}

# plan_blocks LOG PATTERN: the auto_explain plans in server log LOG whose query text matches
# PATTERN, each block from its "duration:" line to the next log line.
plan_blocks() {
    awk -v pat="$2" '/LOG:  duration: .* plan:/ { if (b ~ pat) print b; b = $0; next }
        /^[0-9][0-9][0-9][0-9]-/ { if (b ~ pat) print b; b = ""; next }
        b != "" { b = b "\n" $0 } END { if (b ~ pat) print b }' "$1"
}

@test "the row count check runs without JIT, even where the server would compile it" {
    # the test needs a server that can JIT (Debian's postgresql-15 can); without it, it fails
    run pg_psql types -At -c "SELECT pg_jit_available()"
    [[ $output == t ]] || {
        echo "this PostgreSQL cannot JIT (pg_jit_available() = '$output'): install its llvmjit"
        false
    }
    pg_psql types -c "CREATE ROLE jitter LOGIN SUPERUSER" \
        -c "ALTER ROLE jitter SET jit_above_cost = 0" \
        -c "ALTER ROLE jitter SET session_preload_libraries = 'auto_explain'" \
        -c "ALTER ROLE jitter SET auto_explain.log_min_duration = 0"
    local log conn
    log=$(pg_logfile types)
    conn=$(echo "$CONN" | sed "s/user=[^ ]*/user=jitter/")
    # the oracle: the server compiles this role's count(*) (a plan with a JIT section)
    "$(_pg_bin psql)" -X -d "$conn" -c "SELECT 1, count(*) FROM ONLY public.types /* jit-oracle */" >/dev/null
    run cerebro-ds -q --conninfo "$conn" export public.types "$OUT/nojit"
    pg_psql types -c "DROP ROLE jitter"
    [ "$status" -eq 0 ]
    plan_blocks "$log" "jit-oracle" | grep -q "JIT:"
    run plan_blocks "$log" "SELECT 0, count\\(\\*\\) FROM ONLY"
    echo "$output"
    [[ $output == *"count(*)"* ]]
    [[ $output != *"JIT:"* ]]
}

@test "--verify none skips the row count check" {
    run cerebro-ds -q --conninfo "$CONN" --verify none export public.types "$OUT/noverify"
    [ "$status" -eq 0 ]
    [ -f "$OUT/noverify/part0/id.npy" ]
    run cerebro-ds -q --conninfo "$CONN" --verify sometimes export public.types "$OUT/noverify2"
    [ "$status" -eq 2 ]
    [[ $output == *"invalid value for --verify"* ]]
}
