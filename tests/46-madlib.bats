#!/usr/bin/env bats
# MADlib's training_preprocessor_dl layout (pg-format.md section 9): rows that are buffers of
# many training rows (bytea data areas, float32 inputs and int16 one-hot labels, with
# <col>_shape columns), built here with SQL from a Fashion-MNIST table, in the v1.18+ naming
# (x, y, x_shape, y_shape, buffer_id) and the v1.17 one (independent_var, dependent_var,
# smallint[] shapes, __dist_key__). Through a real mount and `cerebro-ds export` (byte for
# byte the same) they are served unpacked: every value equals the source row it was packed
# from, per-buffer columns repeated for each row; a payload that does not match its shape is
# a clear error (EIO, a non-zero exit), never a crash; and cerebro-train gives the same losses
# on the packed table as on the unpacked one.

load helpers

# madlib_table NAME COLUMNS SHAPES: NAME (COLUMNS) filled with the buffers of fm, 500 rows
# each (the last one 300), in id order; SHAPES: the SQL of the shape columns.
madlib_table() {
    pg_psql madlib -c "CREATE TABLE $1 ($2)" -c "INSERT INTO $1
        SELECT $3, string_agg(xb, ''::bytea ORDER BY id), string_agg(yb, ''::bytea ORDER BY id),
               id / 500
        FROM (SELECT id,
                (SELECT string_agg(le(float4send(v)), ''::bytea ORDER BY o)
                 FROM unnest(x) WITH ORDINALITY u(v, o)) AS xb,
                (SELECT string_agg(le(int2send((k = y)::int::int2)), ''::bytea ORDER BY k)
                 FROM generate_series(0, 9) k) AS yb
              FROM fm) s
        GROUP BY id / 500 ORDER BY id / 500"
}

setup_file() {
    pg_start madlib
    load_fashion madlib fm --split test --limit 1300
    # float4send / int2send are big-endian: reversed, they are the little-endian data area
    pg_psql madlib -c "CREATE FUNCTION le(b bytea) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS
        \$\$ SELECT CASE length(b) WHEN 2 THEN substr(b, 2, 1) || substr(b, 1, 1)
            ELSE substr(b, 4, 1) || substr(b, 3, 1) || substr(b, 2, 1) || substr(b, 1, 1) END \$\$"
    madlib_table fmp "x_shape int4[], y_shape int4[], x bytea, y bytea, buffer_id int4" \
        "ARRAY[count(*)::int, 28, 28], ARRAY[count(*)::int, 10]"
    # v1.17 names; x || '' makes new values, compressed with lz4 rather than copied
    pg_psql madlib -c "SET default_toast_compression = lz4" \
        -c "CREATE TABLE fmp17 (__dist_key__ int4, independent_var_shape smallint[],
                dependent_var_shape smallint[], independent_var bytea, dependent_var bytea,
                buffer_id int4)" \
        -c "INSERT INTO fmp17 SELECT buffer_id % 2, x_shape[1:1] || 784, y_shape,
                x || ''::bytea, y || ''::bytea, buffer_id FROM fmp ORDER BY buffer_id"
    # 2 rows of 4 float32 (32 bytes), then a buffer of 40 bytes for {2,4}; and one whose
    # x_shape and y_shape disagree on its rows
    pg_psql madlib -c "CREATE TABLE bad_len (x bytea, x_shape int4[], y bytea, y_shape int4[])" \
        -c "INSERT INTO bad_len VALUES (decode(repeat('0000803f', 8), 'hex'), '{2,4}',
                decode('01000000', 'hex'), '{2,1}')" \
        -c "INSERT INTO bad_len VALUES (decode(repeat('0000803f', 10), 'hex'), '{2,4}',
                decode('01000000', 'hex'), '{2,1}')" \
        -c "CREATE TABLE bad_rows (x bytea, x_shape int4[], y bytea, y_shape int4[])" \
        -c "INSERT INTO bad_rows VALUES (decode(repeat('0000803f', 8), 'hex'), '{2,4}',
                decode('010000000100', 'hex'), '{3,1}')" \
        -c "CHECKPOINT"
    export CONN=$(pg_conninfo madlib)
    export D=$BATS_FILE_TMPDIR
    pg_psql madlib -AtF'|' -c "SELECT id, array_to_string(x, ','), y FROM fm ORDER BY id" >"$D/src"
    pg_psql madlib -At -c "SELECT buffer_id FROM fmp ORDER BY ctid" >"$D/order"
    pg_psql madlib -At -c "SELECT buffer_id FROM fmp17 ORDER BY ctid" >"$D/order17"
    cerebro-ds -q --conninfo "$CONN" export fm "$D/fm"
    # one mount for the file: the tables do not change, so its snapshot is export's too
    BASE=$(mktemp -d /tmp/cd-madlib.XXXXXX)
    export BASE MNT=$BASE/mnt FS_LOG=$BASE/fuse.log
    mkdir "$MNT"
    cerebro-ds-fuse -f --conninfo "$CONN" -o tables=fmp,fmp17,bad_len "$MNT" \
        </dev/null >"$FS_LOG" 2>&1 3>&- &
    echo $! >"$BASE/pid"
    timeout 15 bash -c 'until [[ -r $1/.cerebro-ds/version ]]; do sleep 0.1; done' _ "$MNT" ||
        { cat "$FS_LOG" >&2 && false; }
}

teardown_file() {
    fusermount3 -u "$MNT" || fusermount3 -u -z "$MNT" || true
    timeout 10 tail --pid="$(cat "$BASE/pid")" -f /dev/null || kill -KILL "$(cat "$BASE/pid")"
    pg_stop_all
    rm -rf "$BASE"
}

teardown() { # shown when a test fails
    tail -n 5 "$FS_LOG" | sed 's/^/  fuse.log: /'
}

# check_unpacked DIR X Y XSHAPE ORDER: DIR's files are the rows of fm packed in buffers of 500
# rows taken in the order of the buffer ids in file ORDER: X (N, XSHAPE) float32 with fm's x,
# Y (N, 10) int16 one-hot of fm's y, buffer_id (and __dist_key__ when there) repeated per row.
check_unpacked() {
    "$PYTHON" - "$@" "$D/src" <<'PY'
import os, sys
import numpy as np
d, xcol, ycol, xshape, order, src = sys.argv[1:]
rows = [line.split("|") for line in open(src).read().splitlines()]
ids = np.array([int(r[0]) for r in rows])
X = np.array([[float(v) for v in r[1].split(",")] for r in rows], np.float32)
Y = np.array([int(r[2]) for r in rows])
assert (ids == np.arange(len(ids))).all()
sel = np.concatenate([ids[ids // 500 == int(b)] for b in open(order).read().split()])
n, shape = len(sel), tuple(int(s) for s in xshape.split(","))
x = np.load("%s/%s.npy" % (d, xcol), mmap_mode="r")
y = np.load("%s/%s.npy" % (d, ycol))
assert x.dtype.str == "<f4" and x.shape == (n,) + shape, (x.dtype, x.shape)
assert y.dtype.str == "<i2" and y.shape == (n, 10), (y.dtype, y.shape)
assert (np.asarray(x).reshape(n, -1) == X[sel]).all()
onehot = np.zeros((n, 10), np.int16)
onehot[np.arange(n), Y[sel]] = 1
assert (y == onehot).all()
bid = np.load(d + "/buffer_id.npy")
assert bid.dtype.str == "<i4" and (bid == sel // 500).all()
if os.path.exists(d + "/__dist_key__.npy"):
    assert (np.load(d + "/__dist_key__.npy") == sel // 500 % 2).all()
assert not [f for f in os.listdir(d) if "shape" in f or f.endswith(".bin")], os.listdir(d)
print("ok", n)
PY
}

@test "export unpacks the v1.18 layout: x (N, 28, 28) float32, y (N, 10) int16 one-hot, buffer_id per row" {
    run cerebro-ds -q --conninfo "$CONN" export fmp "$D/fmp"
    [ "$status" -eq 0 ]
    run check_unpacked "$D/fmp/part0" x y 28,28 "$D/order"
    echo "$output"
    [ "$output" = "ok 1300" ]
    grep -qx 'rows = 1300' "$D/fmp/meta"
    grep -qx 'packed = madlib' "$D/fmp/meta"
    grep -qx 'buffers = 3' "$D/fmp/meta"
    grep -qx 'buffers = 3' "$D/fmp/part0/meta"
    grep -A5 -x '\[column y\]' "$D/fmp/meta" | grep -qx 'dtype = <i2'
    grep -A5 -x '\[column x\]' "$D/fmp/meta" | grep -qx 'shape_column = x_shape'
    grep -A5 -x '\[column buffer_id\]' "$D/fmp/meta" | grep -qx 'repeated = yes'
    run ! grep -q '\[column x_shape\]' "$D/fmp/meta"
}

@test "export unpacks the v1.17 layout (smallint[] shapes, __dist_key__, lz4)" {
    run cerebro-ds -q --conninfo "$CONN" export fmp17 "$D/fmp17"
    [ "$status" -eq 0 ]
    run check_unpacked "$D/fmp17/part0" independent_var dependent_var 784 "$D/order17"
    echo "$output"
    [ "$output" = "ok 1300" ]
    grep -qx 'shape_column = dependent_var_shape' "$D/fmp17/meta"
    run pg_psql madlib -At -c "SELECT DISTINCT pg_column_compression(independent_var) FROM fmp17"
    [ "$output" = lz4 ]
}

@test "the mount serves the same bytes as export, and NumPy reads the unpacked rows from it" {
    cerebro-ds -q --conninfo "$CONN" export fmp "$BATS_TEST_TMPDIR/fmp"
    cerebro-ds -q --conninfo "$CONN" export fmp17 "$BATS_TEST_TMPDIR/fmp17"
    diff -r "$BATS_TEST_TMPDIR/fmp" "$MNT/postgres/public.fmp"
    diff -r "$BATS_TEST_TMPDIR/fmp17" "$MNT/postgres/public.fmp17"
    run check_unpacked "$MNT/postgres/public.fmp/part0" x y 28,28 "$D/order"
    [ "$output" = "ok 1300" ]
    run check_unpacked "$MNT/postgres/public.fmp17/part0" independent_var dependent_var 784 "$D/order17"
    [ "$output" = "ok 1300" ]
}

@test "--no-unpack and verify read the buffers as stored" {
    run cerebro-ds -q --conninfo "$CONN" --no-unpack export fmp "$BATS_TEST_TMPDIR/raw"
    [ "$status" -eq 0 ]
    [ -f "$BATS_TEST_TMPDIR/raw/part0/x.bin" ]
    [ -f "$BATS_TEST_TMPDIR/raw/part0/x_shape.npy" ]
    grep -qx 'rows = 3' "$BATS_TEST_TMPDIR/raw/meta"
    run ! grep -q packed "$BATS_TEST_TMPDIR/raw/meta"
    run cerebro-ds -q --conninfo "$CONN" verify fmp
    [ "$status" -eq 0 ]
    [ "${lines[-1]}" = "rows=3 mismatches=0" ]
    run cerebro-ds --conninfo "$CONN" inspect fmp
    [[ $output == *"packed: madlib"* && $output == *"x_shape"*"not served"* ]]
}

@test "a payload that does not match its shape: a clear error naming the block and item, EIO in the mount" {
    run cerebro-ds -q --conninfo "$CONN" export bad_len "$BATS_TEST_TMPDIR/bad"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *'packed column "x" does not match its shape'* ]]
    [[ $output == *'block 0, item 2'*'40 bytes for x_shape {2,4}'* ]]
    [ ! -e "$BATS_TEST_TMPDIR/bad/part0" ]
    run cerebro-ds -q --conninfo "$CONN" export bad_rows "$BATS_TEST_TMPDIR/bad2"
    [ "$status" -eq 1 ]
    [[ $output == *'packed columns "x" and "y" disagree on the rows of a buffer'* ]]
    run cat "$MNT/postgres/public.bad_len/meta"
    [ "$status" -ne 0 ]
    [[ $output == *"Input/output error"* ]]
    run ls "$MNT/postgres/public.bad_len/part0"
    [ "$status" -ne 0 ]
    grep -q 'does not match its shape' "$FS_LOG"
    kill -0 "$(cat "$BASE/pid")" # still serving: the other tables read fine
    cmp "$MNT/postgres/public.fmp/part0/x.npy" "$D/fmp/part0/x.npy"
}

@test "cerebro-train: the packed table through the mount gives the losses of the unpacked table" {
    m=$BATS_TEST_TMPDIR/mlp.ini
    printf '[model]\ninput = 784\nlayers = dense:32, relu, dense:10\nclasses = 10\nfeature = %s\nlabel = %s\nscale = 0.00392156862745098\n[train]\noptimizer = adam\nlr = 0.001\nbatch_size = 128\nseed = 1\nshuffle = true\n' \
        x y >"$m"
    cerebro-train init --model "$m" --seed 5 --out "$D/w0.ckpt"
    cerebro-train train --model "$m" --ckpt "$D/w0.ckpt" --data "$D/fm/part0" --epoch 1 \
        --out "$D/plain.ckpt" --threads 1 --loss-log "$D/plain.loss" >"$D/plain.json"
    cerebro-train train --model "$m" --ckpt "$D/w0.ckpt" --data "$MNT/postgres/public.fmp/part0" \
        --epoch 1 --out "$D/packed.ckpt" --threads 1 --loss-log "$D/packed.loss" >"$D/packed.json"
    [ "$(wc -l <"$D/plain.loss")" -eq 11 ]
    cmp "$D/plain.loss" "$D/packed.loss"
    cmp "$D/plain.ckpt" "$D/packed.ckpt"
    field() { "$PYTHON" -c "import json, sys; r = json.load(open(sys.argv[1])); print(r['loss'], r['accuracy'], r['rows'])" "$1"; }
    plain=$(field "$D/plain.json") # fails if the line is not what it should be
    [ "$(field "$D/packed.json")" = "$plain" ]
    cerebro-train eval --model "$m" --ckpt "$D/plain.ckpt" --data "$D/fm/part0" >"$D/e-plain.json"
    # the v1.17 columns under the model's names (a model file with other names would be
    # another model for the checkpoint), still read through the mount
    mkdir -p "$BATS_TEST_TMPDIR/v17/part0"
    ln -s "$MNT/postgres/public.fmp17/part0/independent_var.npy" "$BATS_TEST_TMPDIR/v17/part0/x.npy"
    ln -s "$MNT/postgres/public.fmp17/part0/dependent_var.npy" "$BATS_TEST_TMPDIR/v17/part0/y.npy"
    cerebro-train eval --model "$m" --ckpt "$D/plain.ckpt" --data "$BATS_TEST_TMPDIR/v17/part0" \
        >"$D/e-packed.json"
    plain=$(field "$D/e-plain.json")
    [ "$(field "$D/e-packed.json")" = "$plain" ]
}
