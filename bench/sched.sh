#!/usr/bin/env bash
# bench/sched.sh: makespans of the MOP scheduling policies against the lower bound, simulated
# by `cerebro-sched simulate` (the scheduler code `run` uses, zero-cost units, W = 8 workers
# each holding one shard, E = 10 epochs), then measured on a real `cerebro-sched run`.
#
# Issue 5 suites: homogeneous (M = 32, every unit 1 s); two-mode costs (a model is fast, 1 s,
# with probability p = 0.85, else slow, l_m = 8 or 20 s) with M ~= W (M = 8, 10) and M >> W
# (M = 200); homogeneous M ~= W (M = 8, 10), where Cerebro's random scheduler suffers.
# Issue 13 suites (every regime): M = 8, 16, 32, 64, 200 (W..25W) x slow fraction 0.1, 0.3,
# 0.5 (p = 0.9, 0.7, 0.5) x l_m / l_s = 4, 20. Each suite runs seeds 1..SEEDS (default 10;
# the seed draws the costs, the shard orders and the random choices). A line per suite: the
# mean of makespan / lower bound per policy, async's worst seed, the seeds where async took
# longer than random (async_losses) and, M ~= W, how far async's mean is below random's.
# Then `summary:` (the worst suite mean, the worst seed and the losses to random over the
# issue 13 suites; targets: <= 1.05, <= 1.10, 0), `run:` (a real run, see below), `launch:`
# and last `ratio=<async's worst seed over every target suite>`.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIM=${SIM:-$REPO/build/bin/cerebro-sched}
SEEDS=${SEEDS:-10}
EPOCHS=${EPOCHS:-10}

# suite NAME M L_M P: prints the suite's line; its per-seed figures go to $SEEDS_FILE
suite() {
    local name=$1 m=$2 lm=$3 p=$4 seed
    for ((seed = 1; seed <= SEEDS; seed++)); do
        echo "seed $seed"
        "$SIM" simulate --models "$m" --workers 8 --epochs "$EPOCHS" --fast 1 --slow "$lm" \
            --p "$p" --seed "$seed" --policy all
    done | awk -v name="$name" -v m="$m" -v lm="$lm" -v p="$p" -v seeds_file="$SEEDS_FILE" '
        /^seed / { seed = $2 }
        /^policy=/ {
            split($1, a, "="); split($4, r, "=")
            sum[a[2]] += r[2]; n[a[2]]++; ratio[a[2]] = r[2]; mk[a[2]] = $2
            if (a[2] == "async" && r[2] > worst) worst = r[2]
        }
        /^policy=sync/ {
            split(mk["async"], x, "="); split(mk["random"], y, "=")
            loss = x[2] > y[2] ? 1 : 0
            lost += loss
            if (seeds_file != "")
                printf "%s %d %s %d\n", name, seed, ratio["async"], loss >> seeds_file
        }
        END {
            as = sum["async"] / n["async"]; ra = sum["random"] / n["random"]
            printf "suite=%s M=%d W=8 l_m/l_s=%g p=%g async=%.4f async_worst=%.4f random=%.4f sync=%.4f async_losses=%d",
                name, m, lm, p, as, worst, ra, sum["sync"] / n["sync"], lost
            if (m <= 10) printf " async_below_random=%.1f%%", 100 * (1 - as / ra)
            printf "\n"
        }'
}

[[ -x $SIM ]] || {
    echo "bench/sched.sh: $SIM not built (make)" >&2
    exit 1
}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SEEDS_FILE=$WORK/issue5
echo "# mean of makespan / lower bound over seeds 1..$SEEDS, E=$EPOCHS; async_worst: the worst seed"
suite homogeneous 32 1 1
suite homogeneous-M~W 8 1 1
suite homogeneous-M~W 10 1 1
for lm in 8 20; do
    suite "bimodal-$lm-M~W" 8 "$lm" 0.85
    suite "bimodal-$lm-M~W" 10 "$lm" 0.85
    suite "bimodal-$lm-M>>W" 200 "$lm" 0.85
done
echo "# issue 13: every regime, M = W..25W, slow fraction f = 1 - p, l_m / l_s = 4 and 20"
SEEDS_FILE=$WORK/issue13
for m in 8 16 32 64 200; do
    for f in 0.1 0.3 0.5; do
        for lm in 4 20; do
            suite "M$m-f$f-r$lm" "$m" "$lm" "$(awk -v f="$f" 'BEGIN { print 1 - f }')"
        done
    done
done
awk '
    !($1 in n) { order[++suites] = $1 }
    { sum[$1] += $3; n[$1]++; lost += $4
      if ($3 > worst) { worst = $3; where = $1 " seed " $2 } }
    END {
        for (i = 1; i <= suites; i++)
            if (sum[order[i]] / n[order[i]] > wm) { wm = sum[order[i]] / n[order[i]]; wsuite = order[i] }
        printf "summary: suites=%d worst_mean=%.4f (%s) worst_seed=%.4f (%s) losses_to_random=%d (targets: <= 1.05, <= 1.10, 0)\n",
            suites, wm, wsuite, worst, where, lost
    }' "$WORK/issue13"

# run: a real `cerebro-sched run` of a mixed grid, measured against the lower bound of its own
# measured unit times (`cerebro-sched status`: max(total / W, the longest trial)): 4 learning
# rates x {an MLP 784-1000-500-10, a CNN with two convolutions} = 8 trials (M = 4W) on W = 2
# local workers (1 thread each) over 2 synthetic shards of RUN_ROWS rows (default 2048), 3
# epochs, 48 units, under async and then random. The shard orders come from the estimates of
# the model files (DIR/estimates: FLOPs per row x rows); `estimate:` compares their ratio with
# the measured one.
RUN_ROWS=${RUN_ROWS:-2048}
# model_file INPUT LAYERS: a 10-class model file, Adam, batch 64
model_file() {
    printf '[model]\ninput = %s\nlayers = %s\nclasses = 10\nscale = 0.00392156862745098\n[train]\noptimizer = adam\nbatch_size = 64\n' "$1" "$2"
}
real_run() {
    local w=$WORK/run policy
    /usr/bin/python3 - "$w" "$RUN_ROWS" <<'PY'
import os, sys
import numpy as np
rng = np.random.default_rng(0)
for s in range(2):
    d = os.path.join(sys.argv[1], "train", "s%d" % s)
    os.makedirs(d)
    np.save(os.path.join(d, "x.npy"), rng.integers(0, 255, (int(sys.argv[2]), 784), dtype=np.uint8))
    np.save(os.path.join(d, "y.npy"), rng.integers(0, 10, int(sys.argv[2]), dtype=np.int32))
PY
    model_file 784 'dense:1000, relu, dense:500, relu, dense:10' >"$w/mlp.ini"
    model_file 1,28,28 'conv2d:16:3:1:1, batchnorm, relu, maxpool:2, conv2d:32:3:1:1, batchnorm, relu, maxpool:2, flatten, dense:64, relu, dense:10' >"$w/cnn.ini"
    for policy in async random; do
        printf '[data]\ntrain = %s\n[search]\ntrain.lr = 0.001, 0.002, 0.003, 0.004\nmodel.file = %s, %s\n[procedure]\nkind = grid\nepochs = 3\n[scheduler]\npolicy = %s\n[workers]\nthreads = 1\n' \
            "$w/train" "$w/mlp.ini" "$w/cnn.ini" "$policy" >"$w/$policy.ini"
        "$SIM" run "$w/$policy.ini" --job "$w/$policy" 2>/dev/null
        "$SIM" status "$w/$policy" | awk -v p="$policy" '/^schedule:/ {
            printf "run: policy=%s M=8 W=2 makespan=%s lower_bound=%s ratio=%s\n", p, $3, $7, $NF }'
    done
    /usr/bin/python3 - "$w/async" <<'PY'
import csv, sys
job = sys.argv[1]
est = dict(l.split() for l in open(job + "/estimates") if not l.startswith("#"))
units = [r for r in csv.DictReader(open(job + "/schedule.csv")) if r["outcome"] == "ok"]
secs = {}
for r in units:
    secs.setdefault(r["model"], []).append(float(r["end"]) - float(r["start"]))
mean = lambda ts: sum(ts) / len(ts)
# grid order: train.lr slowest, model.file fastest: even trials MLP, odd CNN
mlp = [t for t in est if int(t[1:]) % 2 == 0]
cnn = [t for t in est if int(t[1:]) % 2 == 1]
e = mean([float(est[t]) for t in cnn]) / mean([float(est[t]) for t in mlp])
m = mean([mean(secs[t]) for t in cnn]) / mean([mean(secs[t]) for t in mlp])
print("estimate: cnn/mlp unit cost estimated=%.3f measured=%.3f (mlp unit %.3f s, cnn unit %.3f s)"
      % (e, m, mean([mean(secs[t]) for t in mlp]), mean([mean(secs[t]) for t in cnn])))
PY
}
real_run

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
printf 'ratio=%.4f\n' "$(cat "$WORK/issue5" "$WORK/issue13" | sort -g -k3 | tail -n 1 | awk '{print $3}')"
