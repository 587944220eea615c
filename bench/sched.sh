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
printf 'ratio=%.4f\n' "$(sort -g "$WORST_FILE" | tail -n 1)"
