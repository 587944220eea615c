#!/usr/bin/env bats
# Fashion-MNIST (Debian dataset-fashion-mnist): the train split hash-partitioned into 3
# partitions (one shard each) and the test split as one heap cut into block ranges. The
# exported pixels equal the dataset's own idx files, row for row by id.

load helpers

setup_file() {
    pg_start fashion
    load_fashion fashion fm --split train --partitions 3
    load_fashion fashion fmt --split test
    export CONN=$(pg_conninfo fashion)
    export OUT=$BATS_FILE_TMPDIR/out
}

teardown_file() {
    pg_stop_all
}

@test "a partitioned table exports one shard per partition, in parallel" {
    run cerebro-ds --conninfo "$CONN" export --jobs 2 fm "$OUT/fm"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"exported shard fm_p"*"3 of 3"* ]]
    [ -d "$OUT/fm/fm_p0" ]
    [ -d "$OUT/fm/fm_p1" ]
    [ -d "$OUT/fm/fm_p2" ]
    grep -qx 'shards = fm_p0, fm_p1, fm_p2' "$OUT/fm/meta"
    grep -qx 'rows = 60000' "$OUT/fm/meta"
    [[ $(ls -a "$OUT/fm") != *partial* ]]
}

@test "exported pixels and labels equal the dataset's idx files" {
    run "$PYTHON" - "$OUT/fm" train <<'PY'
import gzip, sys, numpy as np
out, split = sys.argv[1:]
src = "/usr/share/datasets/fashion-mnist/%s-%s-idx%d-ubyte.gz"
img = np.frombuffer(gzip.open(src % (split, "images", 3)).read()[16:], np.uint8).reshape(-1, 784)
lab = np.frombuffer(gzip.open(src % (split, "labels", 1)).read()[8:], np.uint8)
seen = 0
for p in ("fm_p0", "fm_p1", "fm_p2"):
    ids = np.load("%s/%s/id.npy" % (out, p)); x = np.load("%s/%s/x.npy" % (out, p), mmap_mode="r")
    y = np.load("%s/%s/y.npy" % (out, p))
    assert x.dtype.str == "<f4" and x.shape == (len(ids), 784), (x.dtype, x.shape)
    assert (x == img[ids].astype(np.float32)).all() and (y == lab[ids]).all(), p
    seen += len(ids)
assert seen == 60000
print("ok", seen)
PY
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "verify compares all 60000 rows with PostgreSQL" {
    run cerebro-ds -q --conninfo "$CONN" verify fm
    [ "$status" -eq 0 ]
    [ "${lines[-1]}" = "rows=60000 mismatches=0" ]
}

@test "block-range shards of the test split hold every row once" {
    run cerebro-ds -q --conninfo "$CONN" export --shards 4 --jobs 2 fmt "$OUT/fmt"
    [ "$status" -eq 0 ]
    run "$PYTHON" -c "
import numpy as np
ids = np.concatenate([np.load('$OUT/fmt/part%d/id.npy' % k) for k in range(4)])
assert sorted(ids.tolist()) == list(range(10000))
print('ok')"
    [ "$status" -eq 0 ]
    run cerebro-ds -q --conninfo "$CONN" verify --shards 4 fmt
    [ "${lines[-1]}" = "rows=10000 mismatches=0" ]
}
