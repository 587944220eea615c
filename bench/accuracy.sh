#!/usr/bin/env bash
# bench/accuracy.sh: a model selection by cerebro-sched over a cerebro-ds-fuse mount of
# Fashion-MNIST must find a configuration with >= 0.93 test accuracy within 60 minutes on 2
# cores (issue 9). It is the demo pipeline (tests/lib/demo.sh: PostgreSQL 15, the tables,
# the mount, cerebro-sched, the best checkpoint evaluated on fashion_test through the mount)
# on conf/workloads/fashion-accuracy.ini, in a throwaway state directory, with MIN_ACC=0.93.
#
# Prints the demo's output, then one line per epoch of every trial (validation accuracy on
# the 5000 held-out rows) and last: accuracy=<test accuracy of the best configuration>
# seconds=<wall time of the whole pipeline> minutes=<the same in minutes>.
# WORKLOAD, MIN_ACC, THREADS and EPOCHS pass through.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=$(mktemp -d)
trap 'STATE=$STATE "$REPO/tests/lib/demo.sh" clean >/dev/null 2>&1 || true; rm -rf "$STATE"' EXIT
t0=$SECONDS
out=$STATE.out
set +e # the figures are printed whether the target is met or not
STATE=$STATE WORKLOAD=${WORKLOAD:-$REPO/conf/workloads/fashion-accuracy.ini} \
    MIN_ACC=${MIN_ACC:-0.93} "$REPO/tests/lib/demo.sh" run 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e
secs=$((SECONDS - t0))
job=$(readlink -f "$STATE/job")
awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) col[$i] = i; next}
    {printf "trial=%s epoch=%s train_loss=%.4f valid_accuracy=%.4f\n", $1, $col["epoch"],
        $col["train_loss"], $col["valid_accuracy"]}' "$job/results.csv"
acc=$(sed -n 's/^Test accuracy of the best configuration: \([0-9.]*\).*/\1/p' "$out")
rm -f "$out"
printf 'accuracy=%s seconds=%d minutes=%.1f\n' "${acc:-none}" "$secs" "$(echo "$secs / 60" | bc -l)"
exit "$rc"
