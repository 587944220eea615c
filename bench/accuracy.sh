#!/usr/bin/env bash
# bench/accuracy.sh: fashion-cnn's test accuracy per epoch when trained as MOP units by
# cerebro-sched over the Fashion-MNIST train table exported as 3 block-range shards, each
# epoch validated on the 10000-row test split (target: >= 0.91 within 10 epochs).
#
# One line per epoch (epoch, train loss, test accuracy); last line accuracy=<epoch 10>
# best=<best> best_epoch=<its epoch>. EPOCHS (default 10) and THREADS (default 2) override.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/tests/lib/pg.bash"
source "$REPO/tests/lib/fashion.bash"
pg_cleanup_on_exit
EPOCHS=${EPOCHS:-10}
THREADS=${THREADS:-2}
B=$REPO/build/bin
pg_start benchacc >/dev/null
load_fashion benchacc fm --split train >/dev/null
load_fashion benchacc ft --split test >/dev/null
W=$(mktemp -d)
trap 'rm -rf "$W"; pg_stop_all' EXIT
"$B/cerebro-ds" -q --conninfo "$(pg_conninfo benchacc)" export fm "$W/train" --shards 3
"$B/cerebro-ds" -q --conninfo "$(pg_conninfo benchacc)" export ft "$W/test"
cat >"$W/acc.ini" <<INI
[data]
train = $W/train
valid = $W/test/part0
[model]
file = $REPO/conf/models/fashion-cnn.ini
[search]
model.file = $REPO/conf/models/fashion-cnn.ini
[procedure]
kind = grid
epochs = $EPOCHS
[workers]
threads = $THREADS
INI
"$B/cerebro-sched" run "$W/acc.ini" --job "$W/job" 2>/dev/null
awk -F, 'NR > 1 {
        printf "epoch=%d train_loss=%.4f test_accuracy=%.4f\n", $3, $4, $7
        if ($7 > best) { best = $7; be = $3 }
        last = $7
    }
    END { printf "accuracy=%.4f best=%.4f best_epoch=%d\n", last, best, be }' "$W/job/results.csv"
