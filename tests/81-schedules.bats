#!/usr/bin/env bats
# Learning-rate schedules and training-time augmentation of cerebro-train ([train] lr_schedule,
# lr_warmup_*, lr_step_size, lr_gamma, lr_total_steps, lr_min, augment_crop_pad,
# augment_hflip), on shards exported from a real PostgreSQL: the lr of every step equals
# PyTorch's schedulers', the per-step losses agree with PyTorch trained with the same schedule
# on the same batches cropped and flipped by NumPy (tests/lib/cd_rng.py draws them again from
# the trainer's specification), the augmented batches equal NumPy's crop and flip of the stored
# rows, eval and predict are never augmented, and a unit per shard is still bit-identical to
# one unit over both shards (MOP) with a schedule spanning epochs and augmentation on.

load helpers

TOOLS=${CD_BIN_DIR:-$REPO/build/bin}/../tools

setup_file() {
    pg_start sched81
    load_fashion sched81 seq --split train --limit 1280 # 20 batches of 64 for the oracle
    load_fashion sched81 two --split test --limit 1000 --partitions 2
    export D=$BATS_FILE_TMPDIR
    cerebro-ds -q --conninfo "$(pg_conninfo sched81)" export seq "$D/seq"
    cerebro-ds -q --conninfo "$(pg_conninfo sched81)" export two "$D/two"
    local head='[model]\ninput = %s\nlayers = %s\nclasses = 10\nscale = 0.00392156862745098\n'
    # step decay on an MLP with Adam; cosine with warm-up on a CNN with momentum. The CNN pools
    # by averaging: with maxpool, PyTorch and we pick different winners in windows whose two
    # largest values differ by a rounding error (the zero padding of the crops makes many),
    # and from the 3rd to 9th step on the losses part by ~10x a step (1e-3 by the 12th, as
    # with a constant lr of 0.002), although lr and batches are the same in both.
    local cnn='conv2d:8:3:1:1, batchnorm, relu, avgpool:2, conv2d:16:3:1:1, batchnorm, relu, avgpool:2, flatten, dense:10'
    printf "$head"'[train]\noptimizer = adam\nlr = 0.001\nbatch_size = 64\nshuffle = false\nlr_schedule = step\nlr_step_size = 5\nlr_gamma = 0.5\n' \
        784 'dense:256, relu, dense:10' >"$D/mlp-step.ini"
    printf "$head"'[train]\noptimizer = momentum\nlr = 0.02\nbatch_size = 64\nshuffle = false\nlr_schedule = cosine\nlr_warmup_steps = 5\nlr_warmup_start_factor = 0.1\nlr_total_steps = 20\nlr_min = 0.001\n' \
        1,28,28 "$cnn" >"$D/cnn-cosine.ini"
    # the same CNN, rows shuffled, cropped (padding 2) and flipped
    sed 's/^shuffle = false/shuffle = true/' "$D/cnn-cosine.ini" >"$D/cnn-aug.ini"
    printf 'augment_crop_pad = 2\naugment_hflip = true\n' >>"$D/cnn-aug.ini"
    # for MOP: a cosine schedule that spans two epochs of both shards, with warm-up, maxpool
    sed 's/^lr_total_steps = 20/lr_total_steps = 30/; s/^lr_warmup_steps = 5/lr_warmup_steps = 4/; s/avgpool/maxpool/g' \
        "$D/cnn-aug.ini" >"$D/cnn-mop.ini"
}

teardown_file() {
    pg_stop_all
}

T() { cerebro-train "$@"; }

# oracle MODEL STEPS [EPOCH]: max relative difference of per-step losses, ours vs PyTorch
oracle() {
    local m=$1 steps=$2 epoch=${3:-0} w=$BATS_TEST_TMPDIR/w$RANDOM
    T init --model "$m" --seed 3 --out "$w.ckpt"
    T export --ckpt "$w.ckpt" --out "$w"
    T train --model "$m" --ckpt "$w.ckpt" --data "$D/seq/part0" --epoch "$epoch" \
        --out "$w.1.ckpt" --threads 1 --loss-log "$w.ours" >/dev/null
    "$PYTHON" "$REPO/tests/lib/torch_oracle.py" "$m" "$w" "$D/seq/part0" "$steps" 1 "$epoch" \
        >"$w.torch"
    [ "$(wc -l <"$w.torch")" -eq "$steps" ]
    max_rel_diff "$w.ours" "$w.torch" "$steps"
}

@test "the lr of every step equals PyTorch's lr_scheduler (StepLR, CosineAnnealingLR, LinearLR warm-up, SequentialLR)" {
    local base='[model]\ninput = 4\nlayers = dense:2\nclasses = 2\n[train]\nlr = 0.05\n'
    printf "$base"'lr_schedule = step\nlr_step_size = 700\nlr_gamma = 0.3\n' >"$D/lr-step.ini"
    printf "$base"'lr_schedule = step\nlr_step_size = 450\nlr_gamma = 0.5\nlr_warmup_steps = 300\n' >"$D/lr-step-warm.ini"
    printf "$base"'lr_schedule = cosine\nlr_total_steps = 3000\nlr_min = 1e-5\n' >"$D/lr-cos.ini"
    printf "$base"'lr_schedule = cosine\nlr_total_steps = 3000\nlr_min = 1e-5\nlr_warmup_steps = 250\nlr_warmup_start_factor = 0.01\n' >"$D/lr-cos-warm.ini"
    printf "$base"'lr_warmup_steps = 100\nlr_warmup_start_factor = 0.2\n' >"$D/lr-const-warm.ini"
    for name in lr-step lr-step-warm lr-cos lr-cos-warm lr-const-warm; do
        "$TOOLS/lrsched" "$D/$name.ini" 3000 >"$D/$name.ours"
        "$PYTHON" - "$D/$name.ini" 3000 >"$D/$name.torch" <<'PY'
import configparser, sys, warnings
import torch
from torch.optim import lr_scheduler as L
warnings.simplefilter("ignore")
cp = configparser.ConfigParser(); cp.read(sys.argv[1]); t = cp["train"]
opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=float(t["lr"]))
kind, w = t.get("lr_schedule", "constant"), int(t.get("lr_warmup_steps", "0"))
main = {"step": lambda: L.StepLR(opt, int(t["lr_step_size"]), float(t["lr_gamma"])),
        "cosine": lambda: L.CosineAnnealingLR(opt, int(t["lr_total_steps"]) - w,
                                              float(t["lr_min"])),
        "constant": lambda: None}[kind]()
if w:
    warm = L.LinearLR(opt, start_factor=float(t.get("lr_warmup_start_factor", 1 / 3)),
                      total_iters=w)
    sched = L.SequentialLR(opt, [warm, main], [w]) if main else warm
else:
    sched = main
for _ in range(int(sys.argv[2])):
    print("%.17g" % opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
PY
        r=$(max_rel_diff "$D/$name.ours" "$D/$name.torch" 3000)
        f32=$(paste "$D/$name.ours" "$D/$name.torch" | "$PYTHON" -c "
import sys, numpy as np
a = np.loadtxt(sys.stdin)
print(int((a[:, 0].astype(np.float32) != a[:, 1].astype(np.float32)).sum()))")
        echo "$name: max relative difference of the lr over 3000 steps $r; steps whose float32 lr differs: $f32"
        # the trainer keeps lr as a double, as Python does: the same lr to a few ulps of a
        # double (PyTorch evaluates its schedules recursively, we in closed form)
        awk -v r="$r" 'BEGIN { exit !(r <= 1e-12) }'
        [ "$f32" -eq 0 ]
    done
}

@test "per-step losses with a step schedule (MLP, Adam) and cosine with warm-up (CNN, momentum) agree with PyTorch over 20 steps" {
    for m in mlp-step cnn-cosine; do
        r=$(oracle "$D/$m.ini" 20)
        echo "$m: max relative difference of the per-step losses $r over 20 steps"
        awk -v r="$r" 'BEGIN { exit !(r <= 1e-4) }'
    done
    # and the schedule changes the run: without it the losses differ from the 7th step on
    sed '/^lr_/d' "$D/cnn-cosine.ini" >"$D/cnn-constant.ini"
    for m in cnn-cosine cnn-constant; do
        T init --model "$D/$m.ini" --seed 3 --out "$D/$m.0.ckpt"
        T train --model "$D/$m.ini" --ckpt "$D/$m.0.ckpt" --data "$D/seq/part0" --epoch 0 \
            --out "$D/$m.1.ckpt" --threads 1 --loss-log "$D/$m.log" >/dev/null
    done
    run ! cmp -s <(sed -n 7,20p "$D/cnn-cosine.log") <(sed -n 7,20p "$D/cnn-constant.log")
}

@test "augmentation: the first training batch is NumPy's crop and flip of the stored rows, by the same draws" {
    m=$D/cnn-aug.ini
    "$TOOLS/batchdump" "$m" 3 "$D/aug-batch.npy" "$D/seq/part0"
    "$TOOLS/batchdump" --eval "$m" 3 "$D/eval-batch.npy" "$D/seq/part0"
    "$PYTHON" - "$REPO/tests/lib" "$D" <<'PY'
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import cd_rng
d = sys.argv[2]
x = np.load(d + "/seq/part0/x.npy").reshape(-1, 1, 28, 28) * np.float32(0.00392156862745098)
got, ev = np.load(d + "/aug-batch.npy"), np.load(d + "/eval-batch.npy")
assert got.shape == (64, 1, 28, 28) and ev.shape == (64, 1, 28, 28), (got.shape, ev.shape)
# eval: the first 64 rows as stored, bit for bit
assert np.array_equal(ev, x[:64])
# train: rows in the trainer's order for epoch 3, each cropped and flipped by its own draw
rows = cd_rng.permutation(1, 3, "part0", len(x))[:64]
dy, dx, flip = cd_rng.draws(1, 3, "part0", rows, 2)
want = cd_rng.augment(x[rows], dy, dx, flip, 2)
assert np.array_equal(got, want), np.abs(got - want).max()
# the draws are not trivial: shifted and flipped rows, some padding visible
shifted = ((dy != 2) | (dx != 2)).sum()
print("rows shifted %d of 64, flipped %d, offsets %s" % (shifted, flip.sum(), sorted(set(dy))))
assert 30 < shifted and 16 < flip.sum() < 48 and sorted(set(dy)) == [0, 1, 2, 3, 4]
assert not np.array_equal(got, x[rows])
PY
}

@test "augmentation, shuffling and a cosine schedule with warm-up agree with PyTorch fed NumPy's crops and flips" {
    for e in 0 5; do
        r=$(oracle "$D/cnn-aug.ini" 20 $e)
        echo "cnn-aug epoch $e: max relative difference of the per-step losses $r over 20 steps"
        awk -v r="$r" 'BEGIN { exit !(r <= 1e-4) }'
    done
}

@test "MOP with a schedule and augmentation: units per shard over two epochs are bit-identical to one unit over both shards per epoch" {
    for m in "$D/cnn-mop.ini" "$REPO/conf/models/fashion-cnn-aug.ini"; do
        w=$D/mop-$(basename "$m" .ini)
        T init --model "$m" --seed 7 --out "$w.0.ckpt"
        prev=$w.0.ckpt both=$w.0.ckpt
        for e in 1 2; do
            T train --model "$m" --ckpt "$prev" --data "$D/two/two_p0" --epoch $e --out "$w.$e.a.ckpt" --threads 2 >/dev/null
            T train --model "$m" --ckpt "$w.$e.a.ckpt" --data "$D/two/two_p1" --epoch $e --out "$w.$e.ab.ckpt" --threads 2 >/dev/null
            T train --model "$m" --ckpt "$both" --data "$D/two/two_p0" --data "$D/two/two_p1" \
                --epoch $e --out "$w.$e.both.ckpt" --threads 2 >/dev/null
            cmp "$w.$e.ab.ckpt" "$w.$e.both.ckpt"
            prev=$w.$e.ab.ckpt both=$w.$e.both.ckpt
        done
    done
    # the augmentation took part: other losses without it
    sed '/^augment_/d' "$D/cnn-mop.ini" >"$D/cnn-noaug.ini"
    T init --model "$D/cnn-noaug.ini" --seed 7 --out "$D/noaug.0.ckpt"
    T train --model "$D/cnn-noaug.ini" --ckpt "$D/noaug.0.ckpt" --data "$D/two/two_p0" --epoch 1 \
        --out "$D/noaug.1.ckpt" --threads 2 --loss-log "$D/noaug.log" >/dev/null
    T train --model "$D/cnn-mop.ini" --ckpt "$D/mop-cnn-mop.0.ckpt" --data "$D/two/two_p0" --epoch 1 \
        --out "$D/aug.1.ckpt" --threads 2 --loss-log "$D/aug.log" >/dev/null
    run ! cmp -s "$D/noaug.log" "$D/aug.log"
}

@test "eval and predict never augment: the same outputs as the model file without augmentation" {
    m=$D/cnn-aug.ini
    sed '/^augment_/d' "$m" >"$D/plain.ini"
    T init --model "$m" --seed 4 --out "$D/pa.0.ckpt"
    T train --model "$m" --ckpt "$D/pa.0.ckpt" --data "$D/two/two_p0" --epoch 1 --out "$D/pa.1.ckpt" >/dev/null
    T export --ckpt "$D/pa.1.ckpt" --out "$D/pa.1"
    T import --model "$D/plain.ini" --from "$D/pa.1" --out "$D/pp.1.ckpt"
    T predict --model "$m" --ckpt "$D/pa.1.ckpt" --data "$D/two/two_p1" --out "$D/pa.npy" >/dev/null
    T predict --model "$D/plain.ini" --ckpt "$D/pp.1.ckpt" --data "$D/two/two_p1" --out "$D/pp.npy" >/dev/null
    cmp "$D/pa.npy" "$D/pp.npy"
    a=$(T eval --model "$m" --ckpt "$D/pa.1.ckpt" --data "$D/two/two_p1" | grep -oE '"(loss|accuracy)":[^,]*')
    b=$(T eval --model "$D/plain.ini" --ckpt "$D/pp.1.ckpt" --data "$D/two/two_p1" | grep -oE '"(loss|accuracy)":[^,]*')
    echo "augmented model file: $a; without augmentation: $b"
    [ -n "$a" ]
    [ "$a" = "$b" ]
}

@test "bad schedule or augmentation keys: an error naming the file and line, exit 1" {
    base='[model]\ninput = 784\nlayers = dense:10\nclasses = 10\n[train]\n'
    printf "$base"'lr_schedule = cosine\nlr_warmup_steps = 10\n' >"$D/bad1.ini"
    run T init --model "$D/bad1.ini" --seed 1 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *'bad1.ini:6: lr_schedule = cosine needs lr_total_steps > 10'* && $output == *HINT:* ]]
    printf "$base"'lr_schedule = exponential\n' >"$D/bad2.ini"
    run T init --model "$D/bad2.ini" --seed 1 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *'bad2.ini:6: invalid value "exponential" for lr_schedule'* ]]
    printf "$base"'augment_hflip = true\n' >"$D/bad3.ini"
    run T init --model "$D/bad3.ini" --seed 1 --out "$D/x.ckpt"
    [ "$status" -eq 1 ]
    [[ $output == *'bad3.ini:6: augment_hflip needs an image input'* ]]
    [ ! -e "$D/x.ckpt" ]
}

@test "the man page names every key of the model file" {
    keys=$(grep -oE '^ +X\((model|train), [a-z_0-9]+' "$REPO/trainer/model.c" | sed 's/.*, //')
    [ "$(echo "$keys" | wc -l)" -ge 27 ]
    man=$(sed 's/\\-/-/g; s/\\f[BIR]//g' "$REPO/docs/cerebro-train.1")
    for k in $keys; do
        grep -qw -- "$k" <<<"$man" || { echo "key $k is not in docs/cerebro-train.1"; false; }
    done
}
