#!/usr/bin/env bats
# cerebro-train on shards exported from a real PostgreSQL: MOP equivalence (a unit per
# shard, checkpoint to checkpoint, is bit-identical to one run over both shards), PyTorch
# as the numerical reference (same initial weights through export, same batches), export /
# import, and a clear error with a non-zero exit for every kind of bad input.

load helpers

setup_file() {
    pg_start trainer
    load_fashion trainer fm --split train --limit 5120
    load_fashion trainer two --split test --limit 2000 --partitions 2
    pg_psql trainer -c "CREATE TABLE empty (id int, x real[], y int)"
    export CONN=$(pg_conninfo trainer)
    export D=$BATS_FILE_TMPDIR
    cerebro-ds -q --conninfo "$CONN" export fm "$D/fm"
    cerebro-ds -q --conninfo "$CONN" export two "$D/two"
    cerebro-ds -q --conninfo "$CONN" export empty "$D/empty"
    printf '[model]\ninput = 784\nlayers = dense:1000, relu, dense:500, relu, dense:10\nclasses = 10\nscale = 0.00392156862745098\n[train]\noptimizer = %s\nlr = %s\nbatch_size = 256\nshuffle = false\n' \
        adam 0.0001 >"$D/mlp-adam.ini"
    printf '[model]\ninput = 784\nlayers = dense:1000, relu, dense:500, relu, dense:10\nclasses = 10\nscale = 0.00392156862745098\n[train]\noptimizer = momentum\nmomentum = 0.9\nlr = 0.01\nbatch_size = 256\nshuffle = false\n' \
        >"$D/mlp-momentum.ini"
    printf '[model]\ninput = 1,28,28\nlayers = conv2d:8:3:1:1, batchnorm, relu, maxpool:2, residual:16:2, avgpool:2, flatten, dense:10\nclasses = 10\nscale = 0.00392156862745098\n[train]\noptimizer = momentum\nmomentum = 0.9\nlr = 0.05\nbatch_size = 64\nshuffle = false\n' \
        >"$D/cnn-momentum.ini"
    sed 's/^lr = 0.05/lr = 0.01/' -i "$D/cnn-momentum.ini"
    sed 's/^optimizer = momentum/optimizer = adam/; s/^lr = 0.01/lr = 0.001/' "$D/cnn-momentum.ini" >"$D/cnn-adam.ini"
}

teardown_file() {
    pg_stop_all
}

T() { cerebro-train "$@"; }

# oracle MODEL STEPS: max relative difference of per-step losses, ours vs PyTorch; fails
# (max_rel_diff) unless both sides wrote STEPS losses, the only check of the steps before
# it that $(oracle ...) sees
oracle() {
    local m=$1 steps=$2 w=$BATS_TEST_TMPDIR/w$RANDOM
    T init --model "$m" --seed 3 --out "$w.ckpt"
    T export --ckpt "$w.ckpt" --out "$w"
    T train --model "$m" --ckpt "$w.ckpt" --data "$D/fm/part0" --epoch 0 --out "$w.1.ckpt" \
        --threads 1 --loss-log "$w.ours" >/dev/null
    "$PYTHON" "$REPO/tests/lib/torch_oracle.py" "$m" "$w" "$D/fm/part0" "$steps" >"$w.torch"
    max_rel_diff "$w.ours" "$w.torch" "$steps"
}

@test "MOP: unit A then unit B from A's checkpoint is bit-identical to one unit over A and B" {
    for m in "$REPO/conf/models/fashion-mlp.ini" "$REPO/conf/models/fashion-cnn.ini"; do
        T init --model "$m" --seed 7 --out "$D/c0.ckpt"
        T train --model "$m" --ckpt "$D/c0.ckpt" --data "$D/two/two_p0" --epoch 1 --out "$D/a.ckpt" --threads 2
        T train --model "$m" --ckpt "$D/a.ckpt" --data "$D/two/two_p1" --epoch 1 --out "$D/ab.ckpt" --threads 2
        T train --model "$m" --ckpt "$D/c0.ckpt" --data "$D/two/two_p0" --data "$D/two/two_p1" \
            --epoch 1 --out "$D/both.ckpt" --threads 2
        cmp "$D/ab.ckpt" "$D/both.ckpt"
    done
}

@test "train and eval print one JSON line with the unit's figures" {
    m=$REPO/conf/models/fashion-mlp.ini
    T init --model "$m" --seed 1 --out "$D/j0.ckpt"
    run T train --model "$m" --ckpt "$D/j0.ckpt" --data "$D/fm/part0" --epoch 1 --out "$D/j1.ckpt"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 1 ]
    echo "$output" | "$PYTHON" -c "
import json, sys
r = json.loads(sys.stdin.read())
for k in ('rows', 'loss', 'accuracy', 'seconds', 'samples_per_s', 'data_wait_s', 'epoch', 'step'):
    assert k in r, k
assert r['rows'] == 5120 and r['step'] == 20 and r['epoch'] == 1 and r['loss'] < 2.3
"
    run T eval --model "$m" --ckpt "$D/j1.ckpt" --data "$D/two/two_p0"
    [ "$status" -eq 0 ]
    [[ $output == *'"accuracy":0.'* ]]
}

# Learning rates gentle enough that float rounding differences (OpenBLAS and PyTorch sum
# in different orders) do not grow chaotically within 20 steps; with lr 0.05 and batchnorm
# the two diverge after ~10 steps although every step agrees to 1e-7 before that.
@test "PyTorch reference over 20 steps: MLP and CNN (conv, batchnorm, pooling, residual), momentum and Adam" {
    for m in mlp-momentum mlp-adam cnn-momentum cnn-adam; do
        r=$(oracle "$D/$m.ini" 20)
        echo "$m: max relative difference of the per-step losses $r over 20 steps"
        awk -v r="$r" 'BEGIN { exit !(r <= 1e-4) }'
    done
}

@test "export and import round-trip every tensor" {
    m=$REPO/conf/models/fashion-cnn.ini
    T init --model "$m" --seed 2 --out "$D/e0.ckpt"
    T export --ckpt "$D/e0.ckpt" --out "$D/e0"
    T import --model "$m" --from "$D/e0" --out "$D/e1.ckpt"
    T export --ckpt "$D/e1.ckpt" --out "$D/e1"
    diff -r "$D/e0" "$D/e1"
    "$PYTHON" -c "import numpy as np; a = np.load('$D/e0/0.weight.npy'); assert a.shape == (32, 1, 3, 3)"
}

@test "bad input: a clear error and a non-zero exit" {
    m=$REPO/conf/models/fashion-mlp.ini
    T init --model "$m" --seed 1 --out "$D/b0.ckpt"
    sed 's/^feature = x/feature = nosuch/' "$m" >"$D/nocol.ini"
    T init --model "$D/nocol.ini" --seed 1 --out "$D/nocol.ckpt"
    run T train --model "$D/nocol.ini" --ckpt "$D/nocol.ckpt" --data "$D/fm/part0" --epoch 0 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *'has no column "nosuch"'* ]]
    sed 's/^input = 784/input = 100/' "$m" >"$D/shape.ini"
    T init --model "$D/shape.ini" --seed 1 --out "$D/shape.ckpt"
    run T train --model "$D/shape.ini" --ckpt "$D/shape.ckpt" --data "$D/fm/part0" --epoch 0 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *"784 values per row"* ]]
    sed 's/^classes = 10/classes = 5/; s/dense:10$/dense:5/' "$m" >"$D/classes.ini"
    T init --model "$D/classes.ini" --seed 1 --out "$D/classes.ckpt"
    run T train --model "$D/classes.ini" --ckpt "$D/classes.ckpt" --data "$D/fm/part0" --epoch 0 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *"out of range"* ]]
    cp -r "$D/fm/part0" "$D/nan"
    "$PYTHON" -c "
import numpy as np
a = np.load('$D/nan/x.npy'); a[3, 5] = np.nan; np.save('$D/nan/x.npy', a)"
    run T train --model "$m" --ckpt "$D/b0.ckpt" --data "$D/nan" --epoch 0 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *"row 3 is NaN"* ]]
    run T train --model "$m" --ckpt "$D/b0.ckpt" --data "$D/empty/part0" --epoch 0 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *"is empty"* ]]
    printf '[model]\ninput = 784\nlayers = dense:10, swish\nclasses = 10\n' >"$D/layer.ini"
    run T init --model "$D/layer.ini" --seed 1 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *'layer.ini:3: unknown layer "swish"'* ]]
    run T train --model "$REPO/conf/models/fashion-cnn.ini" --ckpt "$D/b0.ckpt" --data "$D/fm/part0" --epoch 0 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *"another model"* || $output == *"config"* ]]
    head -c 1000 "$D/b0.ckpt" >"$D/trunc.ckpt"
    run T train --model "$m" --ckpt "$D/trunc.ckpt" --data "$D/fm/part0" --epoch 0 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *"truncated"* ]]
    run T train --model "$m" --ckpt "$D/b0.ckpt" --epoch 0 --out "$D/x.ckpt"
    [ "$status" -eq 2 ]
    # labels of shape (N, 1, 1): said "5120 labels for 5120 rows"
    cp -r "$D/fm/part0" "$D/y3"
    "$PYTHON" -c "
import numpy as np
a = np.load('$D/y3/y.npy'); np.save('$D/y3/y.npy', a.reshape(-1, 1, 1))"
    run T train --model "$m" --ckpt "$D/b0.ckpt" --data "$D/y3" --epoch 0 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *'label "y" has 3 dimensions'*"HINT: labels are (N,) or one-hot (N, classes)"* ]]
    # an --out whose directory is missing: refused before the pass, not after it
    for mode in train predict; do
        run T "$mode" --model "$m" --ckpt "$D/b0.ckpt" --data "$D/fm/part0" --epoch 0 --out "$D/nodir/x.out"
        [ "$status" -eq 1 ]
        [[ $output == *"cannot write --out \"$D/nodir/x.out\": directory \"$D/nodir\": No such file or directory"* ]]
        [[ $output != *'"rows"'* ]] # no result line: nothing was trained
    done
    run T train --model "$m" --ckpt "$D/b0.ckpt" --data "$D/fm/part0" --epoch 0 --out "$D/b0.ckpt/x"
    [ "$status" -eq 1 ]
    [[ $output == *"directory \"$D/b0.ckpt\": not a directory"* ]]
    # channels-last image rows (N, 8, 8, 3) for input = 3,8,8: the right number of values in
    # the wrong order, trained on silently before; channels first, flat or with size-1
    # dimensions are rows of the input's shape
    printf '[model]\ninput = 3,8,8\nlayers = conv2d:4:3:1:1, relu, flatten, dense:2\nclasses = 2\n[train]\nbatch_size = 16\n' >"$D/rgb.ini"
    T init --model "$D/rgb.ini" --seed 1 --out "$D/rgb.ckpt"
    for layout in "8,8,3" "3,8,8" "192" "1,3,8,8"; do
        mkdir -p "$D/rgb-$layout/part0" # one shard name: the same shuffle
        "$PYTHON" -c "
import numpy as np
r = np.random.default_rng(1)
x = r.integers(0, 255, (64, 3, 8, 8), dtype=np.uint8)
if '$layout' == '8,8,3':
    x = x.transpose(0, 2, 3, 1)
np.save('$D/rgb-$layout/part0/x.npy', np.ascontiguousarray(x).reshape(64, $layout))
np.save('$D/rgb-$layout/part0/y.npy', r.integers(0, 2, 64).astype(np.int32))"
    done
    run T train --model "$D/rgb.ini" --ckpt "$D/rgb.ckpt" --data "$D/rgb-8,8,3/part0" --epoch 0 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *'feature "x" has rows of shape (8,8,3), not (3,8,8)'*"HINT: the model's input = 3,8,8 is channels first"* ]]
    for layout in "3,8,8" "192" "1,3,8,8"; do
        T train --model "$D/rgb.ini" --ckpt "$D/rgb.ckpt" --data "$D/rgb-$layout/part0" --epoch 0 --out "$D/rgb-$layout.ckpt" >/dev/null
    done
    cmp "$D/rgb-3,8,8.ckpt" "$D/rgb-192.ckpt"
    cmp "$D/rgb-3,8,8.ckpt" "$D/rgb-1,3,8,8.ckpt"
    # an unknown --blas-core: said "this CPU cannot run it"
    run env -u OPENBLAS_CORETYPE cerebro-train eval --model "$m" --ckpt "$D/b0.ckpt" --data "$D/fm/part0" --blas-core NoSuchCore
    [ "$status" -eq 0 ]
    [[ $output == *"not the requested NoSuchCore: no OpenBLAS kernel known here has that name"* ]]
}

@test "hostile files and values: FIFOs, directories, huge numbers, a model too big, NaN weights" {
    m=$REPO/conf/models/fashion-mlp.ini
    T init --model "$m" --seed 1 --out "$D/h0.ckpt"
    # a FIFO or a directory where a file belongs: refused at once (a FIFO hung the trainer)
    mkfifo "$D/fifo.ckpt"
    run timeout 20 cerebro-train eval --model "$m" --ckpt "$D/fifo.ckpt" --data "$D/fm/part0"
    [ "$status" -eq 1 ]
    [[ $output == *"could not open checkpoint file \"$D/fifo.ckpt\": not a regular file"* ]]
    run timeout 20 cerebro-train init --model "$D/fifo.ckpt" --seed 1 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *"could not open model file \"$D/fifo.ckpt\": not a regular file"* ]]
    mkdir -p "$D/fifodata"
    cp "$D/fm/part0/y.npy" "$D/fifodata/"
    mkfifo "$D/fifodata/x.npy"
    run timeout 20 cerebro-train eval --model "$m" --ckpt "$D/h0.ckpt" --data "$D/fifodata"
    [ "$status" -eq 1 ]
    [[ $output == *"not a regular file"* ]]
    run T eval --model "$m" --ckpt "$D" --data "$D/fm/part0" # was "truncated: 0 bytes"
    [ "$status" -eq 1 ]
    [[ $output == *"not a regular file"* ]]
    # numbers past their type: were clamped (two seeds, one checkpoint) or cut
    run T init --model "$m" --seed 99999999999999999999 --out "$D/x.ckpt"
    [ "$status" -eq 2 ]
    [[ $output == *"invalid value for --seed"* ]]
    run T eval --model "$m" --ckpt "$D/h0.ckpt" --data "$D/fm/part0" --threads 65
    [ "$status" -eq 2 ]
    [[ $output == *"--threads: at most 64"* ]]
    # weights that do not fit in memory: an error, not a write through a NULL (SIGSEGV). Each
    # layer within the bound of 2^31 - 1 parameters (8.6 GB), 12 of them: 103 GB, whatever the
    # machine has: at most 16 GB of address space (ulimit -v), or under ASan, whose shadow
    # needs more address space, allocations of at most 4 GB; its allocator then returns NULL
    # for what it cannot give, as malloc does
    printf '[model]\ninput = 8\nlayers = %sdense:2\nclasses = 2\n' "$(printf 'dense:46340, %.0s' {1..13})" >"$D/huge.ini"
    local limit="ulimit -v 16000000;"
    [[ -n ${ASAN_OPTIONS:-} ]] && limit=""
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=4000 \
        run bash -c "$limit exec cerebro-train init --model '$D/huge.ini' --seed 1 --out '$D/x.ckpt'"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *"out of memory for a model of 25769813022 parameters"* ]]
    # one layer past the bound: refused when the model is read
    printf '[model]\ninput = 8\nlayers = dense:1048576, relu, dense:1048576, dense:2\nclasses = 2\n' >"$D/huge.ini"
    run T init --model "$D/huge.ini" --seed 1 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *"layer 3 has 1099512676352 parameters, more than 2147483647"* ]]
    # a NaN among imported weights: refused (a ReLU hid it, and it was carried on)
    T export --ckpt "$D/h0.ckpt" --out "$D/hx"
    "$PYTHON" -c "
import numpy as np
a = np.load('$D/hx/0.weight.npy'); a[0, 7] = np.nan; np.save('$D/hx/0.weight.npy', a)"
    run T import --model "$m" --from "$D/hx" --out "$D/nanw.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *"0.weight.npy\" holds nan at element 7"* ]]
    [ ! -e "$D/nanw.ckpt" ]
}

@test "a shard file truncated while the trainer reads it: a clear error, not a bus error" {
    m=$REPO/conf/models/fashion-cnn.ini
    T init --model "$m" --seed 1 --out "$D/s0.ckpt"
    mkdir -p "$D/shrink"
    cp "$D/fm/part0/"*.npy "$D/shrink/"
    cerebro-train train --model "$m" --ckpt "$D/s0.ckpt" --data "$D/shrink" --epoch 0 \
        --out "$D/s1.ckpt" --threads 1 >"$D/shrink.out" 2>&1 &
    pid=$!
    # stopped once it has mapped the features (the pass takes seconds), then truncated
    for _ in $(seq 1 2000); do
        grep -q "$D/shrink/x.npy" "/proc/$pid/maps" 2>/dev/null && break
        sleep 0.01
    done
    kill -STOP "$pid"
    grep -q "$D/shrink/x.npy" "/proc/$pid/maps"
    truncate -s 128 "$D/shrink/x.npy"
    kill -CONT "$pid"
    status=0
    wait "$pid" || status=$?
    cat "$D/shrink.out"
    [ "$status" -eq 1 ]
    grep -q "^cerebro-train: error: file \"$D/shrink/x.npy\" became shorter while it was being read" "$D/shrink.out"
    [ ! -e "$D/s1.ckpt" ]
}

# The CUDA backend itself is compared with the CPU by tests/cuda/test_net_cuda (make unit) on
# a GPU host; here: the CPU is the default bit for bit, and cuda either runs (a GPU host) or
# fails with what and a hint, never a crash.
@test "--device: cpu is the default; cuda runs or fails clearly; other names are refused" {
    m=$REPO/conf/models/fashion-mlp.ini
    T init --model "$m" --seed 4 --out "$D/d0.ckpt"
    T train --model "$m" --ckpt "$D/d0.ckpt" --data "$D/two/two_p0" --epoch 0 --out "$D/d-default.ckpt" >/dev/null
    T train --model "$m" --ckpt "$D/d0.ckpt" --data "$D/two/two_p0" --epoch 0 --out "$D/d-cpu.ckpt" \
        --device cpu >/dev/null
    cmp "$D/d-default.ckpt" "$D/d-cpu.ckpt"
    for dev in tpu cuda: cuda:x cuda:-1 CPU; do
        run T eval --model "$m" --ckpt "$D/d0.ckpt" --data "$D/two/two_p0" --device "$dev"
        [ "$status" -eq 1 ]
        [[ $output == *"unknown device \"$dev\""* && $output == *'cpu, cuda, cuda:N'* && $output == *HINT:* ]]
    done
    for dev in cuda cuda:0 cuda:99; do
        run T train --model "$m" --ckpt "$D/d0.ckpt" --data "$D/two/two_p0" --epoch 0 \
            --out "$D/d-$dev.ckpt" --device "$dev"
        echo "$dev: status $status: $output"
        if [[ $(T --version) != *cuda* ]]; then
            [ "$status" -eq 1 ]
            [[ $output == *'is not installed'* ]]
        elif [ "$status" -eq 0 ]; then # a host with a GPU
            [[ $dev != cuda:99 && $output == *'"rows":'* ]]
        else
            [ "$status" -eq 1 ]
            [[ $output == *'error: no CUDA device'* ]]
        fi
        [ "$status" -eq 0 ] || [[ $output == *'HINT: use --device'* && ! -e $D/d-$dev.ckpt ]]
    done
}

@test "the CUDA backend is a shared object loaded only for --device cuda" {
    run ldd "$(command -v cerebro-train)"
    [ "$status" -eq 0 ]
    [[ ! $output =~ libcud(art|nn)|libcublas ]]
    m=$REPO/conf/models/fashion-mlp.ini
    T init --model "$m" --seed 4 --out "$D/l0.ckpt"
    CEREBRO_CUDA_BACKEND=$D/nosuch.so run T eval --model "$m" --ckpt "$D/l0.ckpt" \
        --data "$D/two/two_p0" --device cuda
    [ "$status" -eq 1 ]
    [[ $output == *"nosuch.so\" is not installed"* && $output == *HINT:* ]]
    echo 'not an ELF file' >"$D/broken.so"
    CEREBRO_CUDA_BACKEND=$D/broken.so run T eval --model "$m" --ckpt "$D/l0.ckpt" \
        --data "$D/two/two_p0" --device cuda
    [ "$status" -eq 1 ]
    [[ $output == *"could not load the CUDA backend"*"broken.so"* ]]
    [[ $output == *"DETAIL: "* && $output == *"HINT: "*"--device cpu"* ]]
}

@test "the man page documents every option and command of --help" {
    help=$(cerebro-train --help | grep -oE -- '--[a-z-]+' | sort -u)
    man=$(sed 's/\\-/-/g; s/\\f[BIR]//g' "$REPO/docs/cerebro-train.1" | grep -oE -- '--[a-z-]+' | sort -u)
    diff <(echo "$help") <(echo "$man")
    for cmd in init train eval predict export import; do
        grep -q "^\.B $cmd\$" "$REPO/docs/cerebro-train.1"
    done
}

# An oracle of predict's values: the forward pass of fashion-mlp (dense, relu, dense, relu,
# dense, softmax) in NumPy, in float64, from the exported weights of a trained checkpoint.
@test "predict writes the model's outputs for every row: those of a NumPy forward pass" {
    m=$REPO/conf/models/fashion-mlp.ini
    T init --model "$m" --seed 1 --out "$D/p0.ckpt"
    T train --model "$m" --ckpt "$D/p0.ckpt" --data "$D/fm/part0" --epoch 1 --out "$D/p1.ckpt" >/dev/null
    T export --ckpt "$D/p1.ckpt" --out "$D/p1"
    run T predict --model "$m" --ckpt "$D/p1.ckpt" --data "$D/two/two_p0" --out "$D/preds.npy"
    [ "$status" -eq 0 ]
    run T eval --model "$m" --ckpt "$D/p1.ckpt" --data "$D/two/two_p0"
    [ "$status" -eq 0 ]
    "$PYTHON" - "$D/p1" "$D/two/two_p0" "$D/preds.npy" "$output" <<'PY'
import json, sys
import numpy as np
wdir, shard, preds, result = sys.argv[1:5]
w = lambda name: np.load("%s/%s.npy" % (wdir, name)).astype(np.float64)
x = np.load(shard + "/x.npy").reshape(-1, 784).astype(np.float64) * (1 / 255)
y = np.load(shard + "/y.npy")
h = np.maximum(x @ w("0.weight").T + w("0.bias"), 0)
h = np.maximum(h @ w("2.weight").T + w("2.bias"), 0)
z = h @ w("4.weight").T + w("4.bias")
want = np.exp(z - z.max(1, keepdims=True))
want /= want.sum(1, keepdims=True)
got = np.load(preds)
assert got.dtype == np.float32 and got.shape == want.shape == (len(y), 10), (got.dtype, got.shape)
d = np.abs(got - want).max()
print("rows %d, max |predict - numpy| %.3g" % (len(y), d))
assert d < 1e-5, d
# eval scores the same outputs: accuracy and mean cross-entropy
r = json.loads(result)
acc, loss = (want.argmax(1) == y).mean(), -np.log(want[np.arange(len(y)), y]).mean()
assert acc > 0.5 and abs(r["accuracy"] - acc) < 1e-4 and abs(r["loss"] - loss) < 1e-4, (r, acc, loss)
PY
}

@test "the checkpoint's RNG state: the seeds of every random stream and their counters" {
    m=$REPO/conf/models/fashion-mlp.ini
    T init --model "$m" --seed 7 --out "$D/r0.ckpt"
    T train --model "$m" --ckpt "$D/r0.ckpt" --data "$D/fm/part0" --epoch 3 --out "$D/r1.ckpt"
    for c in r0:0:0 r1:3:20; do
        IFS=: read -r f epoch step <<<"$c"
        "$PYTHON" -c "
import struct, sys
b = open('$D/$f.ckpt', 'rb').read()
rng_len, = struct.unpack_from('<Q', b, 48)
assert rng_len == 48 and b[64:72] == b'CDRNG001', (rng_len, b[64:72])
init, shuffle, dropout, epoch, step = struct.unpack_from('<5Q', b, 72)
assert (init, shuffle, epoch, step) == (7, 1, $epoch, $step), (init, shuffle, epoch, step)
"
    done
}
