#!/usr/bin/env bash
# bench/trainer.sh: cerebro-train's training throughput and peak memory against PyTorch on the
# same threads.
#
# Fashion-MNIST train exported by cerebro-ds; one epoch of `cerebro-train train`
# (samples_per_s from its JSON line) and the same epoch in PyTorch 1.13 (Debian's, oneDNN,
# OpenBLAS GEMMs; bench/trainer_torch.py: the same architecture and optimizer, built by
# tests/lib/torch_model.py) reading the same shard, for fashion-mlp (batch 256), fashion-cnn,
# fashion-resnet and fashion-vgg (batch 128), 1 and 2 threads, both bounded to those threads,
# back to back. The MLP and the CNN train on LIMIT rows (default 60000), the slower ResNet and
# VGG on LIMIT_LARGE rows (default 10000) so that each repetition stays near 5 minutes.
# Each pair runs REPEAT times (default 2), alternating, so that a slow spell of a shared
# machine falls on both alike: a rate is the best of its runs, a peak RSS the highest.
# Each line: model, threads, rows, both rates and their ratio, both peak RSS (KiB, the
# process's maximum resident set from /usr/bin/time) and their ratio (ours / PyTorch's).
# MODELS, LIMIT, LIMIT_LARGE, REPEAT and CD_BIN_DIR (default build/bin) may be set in the
# environment.
# Last lines: rss_ratio=<highest RSS ratio> (target <= 1.0), ratio=<lowest samples/s ratio>.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/tests/lib/pg.bash"
source "$REPO/tests/lib/fashion.bash"
pg_cleanup_on_exit
LIMIT=${LIMIT:-60000}
LIMIT_LARGE=${LIMIT_LARGE:-10000}
REPEAT=${REPEAT:-2}
MODELS=${MODELS:-fashion-mlp fashion-cnn fashion-resnet fashion-vgg}
BIN=${CD_BIN_DIR:-$REPO/build/bin} # the binaries measured (as the tests' CD_BIN_DIR)
pg_start benchtrain >/dev/null
load_fashion benchtrain fashion --split train --limit "$LIMIT" >/dev/null
load_fashion benchtrain fashion_large --split train --limit "$LIMIT_LARGE" >/dev/null
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; pg_stop_all' EXIT
for t in fashion fashion_large; do
    "$BIN/cerebro-ds" -q --conninfo "$(pg_conninfo benchtrain)" export "$t" "$WORK/$t"
done
T=$BIN/cerebro-train

# ours MODEL.ini SHARD THREADS: prints "samples_per_s peak_rss_kib"
ours() {
    local rate
    rate=$(/usr/bin/time -f %M -o "$WORK/rss" "$T" train --model "$1" --ckpt "$WORK/c0.ckpt" \
        --data "$2" --epoch 1 --out "$WORK/c1.ckpt" --threads "$3" |
        sed -n 's/.*"samples_per_s":\([0-9.]*\).*/\1/p')
    echo "$rate $(tail -n 1 "$WORK/rss")"
}

# theirs MODEL.ini SHARD THREADS: the same for PyTorch. Debian's PyTorch does its GEMMs in
# OpenBLAS, whose threads torch.set_num_threads does not bound: without these variables the
# peer of "1 thread" uses every core.
theirs() {
    local rate
    rate=$(OPENBLAS_NUM_THREADS=$3 OMP_NUM_THREADS=$3 /usr/bin/time -f %M -o "$WORK/rss" \
        /usr/bin/python3 "$REPO/bench/trainer_torch.py" "$1" "$2" "$3" |
        sed -n 's/samples_per_s=//p')
    echo "$rate $(tail -n 1 "$WORK/rss")"
}

higher() { # a b -> the larger
    if (($(echo "$2 > $1" | bc -l))); then echo "$2"; else echo "$1"; fi
}

lowest="" highest=""
for model in $MODELS; do
    m=$REPO/conf/models/$model.ini
    case $model in
    fashion-mlp | fashion-cnn) shard=$WORK/fashion/part0 rows=$LIMIT ;;
    *) shard=$WORK/fashion_large/part0 rows=$LIMIT_LARGE ;;
    esac
    "$T" init --model "$m" --seed 1 --out "$WORK/c0.ckpt"
    for threads in 1 2; do
        o_rate=0 o_rss=0 p_rate=0 p_rss=0
        for _ in $(seq "$REPEAT"); do
            read -r rate rss < <(ours "$m" "$shard" "$threads")
            o_rate=$(higher "$o_rate" "$rate") o_rss=$(higher "$o_rss" "$rss")
            read -r rate rss < <(theirs "$m" "$shard" "$threads")
            p_rate=$(higher "$p_rate" "$rate") p_rss=$(higher "$p_rss" "$rss")
        done
        r=$(echo "$o_rate / $p_rate" | bc -l)
        rr=$(echo "$o_rss / $p_rss" | bc -l)
        printf '%s threads=%s rows=%s cerebro_train=%.1f pytorch=%.1f ratio=%.2f' "$model" \
            "$threads" "$rows" "$o_rate" "$p_rate" "$r"
        printf ' rss_cerebro_train=%s rss_pytorch=%s rss_ratio=%.2f\n' "$o_rss" "$p_rss" "$rr"
        if [[ -z $lowest ]] || (($(echo "$r < $lowest" | bc -l))); then lowest=$r; fi
        if [[ -z $highest ]] || (($(echo "$rr > $highest" | bc -l))); then highest=$rr; fi
    done
done
printf 'rss_ratio=%.2f\n' "$highest"
printf 'ratio=%.2f\n' "$lowest"
