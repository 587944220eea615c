#!/usr/bin/env bash
# bench/sched.sh: makespans of the MOP scheduling policies against the lower bound, simulated
# by `cerebro-sched simulate` (the scheduler code `run` uses, zero-cost units, W = 8 workers
# each holding one shard, E = 10 epochs).
#
# Suites: homogeneous (M = 32, every unit 1 s); two-mode costs (a model is fast, 1 s, with
# probability p = 0.85, else slow, l_m = 8 or 20 s) with M ~= W (M = 8, 10) and M >> W
# (M = 200); homogeneous M ~= W (M = 8, 10), where Cerebro's random scheduler suffers. Each
# suite runs seeds 1..SEEDS (default 10; the seed draws the costs, the shard orders and the
# random choices). A line per suite: the mean of makespan / lower bound per policy, async's
# worst seed, and (M ~= W) how far async's mean is below random's. Extra lines show M = 32
# and 64 (4W and 8W, between the regimes; not target suites). Last line: ratio=<async's
# worst makespan / lower bound over every target suite and seed> (target <= 1.05).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIM=${SIM:-$REPO/build/bin/cerebro-sched}
SEEDS=${SEEDS:-10}
EPOCHS=${EPOCHS:-10}

# suite NAME M L_M P: prints the suite's line; its async worst goes to $WORST_FILE
suite() {
    local name=$1 m=$2 lm=$3 p=$4 seed
    for ((seed = 1; seed <= SEEDS; seed++)); do
        "$SIM" simulate --models "$m" --workers 8 --epochs "$EPOCHS" --fast 1 --slow "$lm" \
            --p "$p" --seed "$seed" --policy all
    done | awk -v name="$name" -v m="$m" -v lm="$lm" -v p="$p" -v worst_file="$WORST_FILE" '
        /^policy=/ {
            split($1, a, "="); split($4, r, "=")
            sum[a[2]] += r[2]; n[a[2]]++
            if (a[2] == "async" && r[2] > worst) worst = r[2]
        }
        END {
            as = sum["async"] / n["async"]; ra = sum["random"] / n["random"]
            printf "suite=%s M=%d W=8 l_m/l_s=%g p=%g async=%.4f async_worst=%.4f random=%.4f sync=%.4f",
                name, m, lm, p, as, worst, ra, sum["sync"] / n["sync"]
            if (m <= 10) printf " async_below_random=%.1f%%", 100 * (1 - as / ra)
            printf "\n"
            if (worst_file != "") print worst >> worst_file
        }'
}

[[ -x $SIM ]] || {
    echo "bench/sched.sh: $SIM not built (make)" >&2
    exit 1
}
WORST_FILE=$(mktemp)
trap 'rm -f "$WORST_FILE"' EXIT
echo "# mean of makespan / lower bound over seeds 1..$SEEDS, E=$EPOCHS; async_worst: the worst seed"
suite homogeneous 32 1 1
suite homogeneous-M~W 8 1 1
suite homogeneous-M~W 10 1 1
for lm in 8 20; do
    suite "bimodal-$lm-M~W" 8 "$lm" 0.85
    suite "bimodal-$lm-M~W" 10 "$lm" 0.85
    suite "bimodal-$lm-M>>W" 200 "$lm" 0.85
done
echo "# informational, not target suites: M = 4W and 8W with 15% slow models"
for lm in 8 20; do
    WORST_FILE="" suite "bimodal-$lm-M=4W" 32 "$lm" 0.85
    WORST_FILE="" suite "bimodal-$lm-M=8W" 64 "$lm" 0.85
done

# launch: the local launcher's overhead per unit, from a real run: 4 configurations x 4 synthetic
# shards x 2 epochs of a tiny MLP; per unit, the scheduler's wall time (schedule.csv) minus the
# trainer's own time (its JSON line): process start-up, checkpoint I/O and bookkeeping.
launch() {
    local w
    w=$(mktemp -d)
    /usr/bin/python3 - "$w" <<'PY'
import os, sys
import numpy as np
rng = np.random.default_rng(0)
for s in range(4):
    d = os.path.join(sys.argv[1], "train", "s%d" % s)
    os.makedirs(d)
    np.save(os.path.join(d, "x.npy"), rng.integers(0, 255, (256, 784), dtype=np.uint8))
    np.save(os.path.join(d, "y.npy"), rng.integers(0, 10, 256, dtype=np.int32))
PY
    printf '[model]\ninput = 784\nlayers = dense:16, relu, dense:10\nclasses = 10\n[train]\noptimizer = adam\nbatch_size = 64\n' >"$w/m.ini"
    printf '[data]\ntrain = %s\n[model]\nfile = %s\n[search]\ntrain.lr = 0.001, 0.002\ntrain.batch_size = 32, 64\n[procedure]\nkind = grid\nepochs = 2\n[workers]\nthreads = 1\n' \
        "$w/train" "$w/m.ini" >"$w/w.ini"
    "$SIM" run "$w/w.ini" --job "$w/job" 2>/dev/null
    /usr/bin/python3 - "$w/job" <<'PY'
import csv, glob, json, os, sys
job = sys.argv[1]
units = [r for r in csv.DictReader(open(job + "/schedule.csv")) if r["outcome"] == "ok"]
wall = sum(float(r["end"]) - float(r["start"]) for r in units) / len(units)
own = [json.load(open(f))["seconds"] for f in glob.glob(job + "/logs/*-t*-e*-s*.json")]
own = sum(own) / len(own)
print("launch: units=%d unit_wall=%.4f s trainer_own=%.4f s overhead_per_unit=%.4f s" % (
    len(units), wall, own, wall - own))
PY
    rm -rf "$w"
}
launch
printf 'ratio=%.4f\n' "$(sort -g "$WORST_FILE" | tail -n 1)"
