#!/usr/bin/env bash
# bench/trainer.sh: cerebro-train's training throughput against PyTorch on the same threads.
#
# Fashion-MNIST train (60000 rows) exported by cerebro-ds; one epoch of `cerebro-train
# train` (samples_per_s from its JSON line) and the same epoch in PyTorch 1.13 (Debian's,
# oneDNN, OpenBLAS GEMMs) reading the same shard, for fashion-mlp (batch 256) and fashion-cnn
# (batch 128), 1 and 2 threads, both bounded to those threads. Each line: model, threads,
# both rates and their ratio; last line ratio=<lowest of the four> (target >= 1.0).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/tests/lib/pg.bash"
source "$REPO/tests/lib/fashion.bash"
pg_cleanup_on_exit
LIMIT=${LIMIT:-60000}
pg_start benchtrain >/dev/null
load_fashion benchtrain fashion --split train --limit "$LIMIT" >/dev/null
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; pg_stop_all' EXIT
"$REPO/build/bin/cerebro-ds" -q --conninfo "$(pg_conninfo benchtrain)" export fashion "$WORK/fm"
T=$REPO/build/bin/cerebro-train
lowest=""
for model in fashion-mlp fashion-cnn; do
    m=$REPO/conf/models/$model.ini
    "$T" init --model "$m" --seed 1 --out "$WORK/c0.ckpt"
    for threads in 1 2; do
        ours=$("$T" train --model "$m" --ckpt "$WORK/c0.ckpt" --data "$WORK/fm/part0" --epoch 1 \
            --out "$WORK/c1.ckpt" --threads "$threads" |
            sed -n 's/.*"samples_per_s":\([0-9.]*\).*/\1/p')
        # Debian's PyTorch does its GEMMs in OpenBLAS, whose threads torch.set_num_threads does
        # not bound: without these the peer of "1 thread" uses every core.
        theirs=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads \
            /usr/bin/python3 "$REPO/bench/trainer_torch.py" "$m" "$WORK/fm/part0" "$threads" |
            sed -n 's/samples_per_s=//p')
        r=$(echo "$ours / $theirs" | bc -l)
        printf '%s threads=%s cerebro_train=%.1f pytorch=%.1f ratio=%.2f\n' "$model" "$threads" \
            "$ours" "$theirs" "$r"
        if [[ -z $lowest ]] || (($(echo "$r < $lowest" | bc -l))); then lowest=$r; fi
    done
done
printf 'ratio=%.2f\n' "$lowest"
