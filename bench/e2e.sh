#!/usr/bin/env bash
# bench/e2e.sh: the paper's Table 6 on this product: one model-selection workload trained by
# cerebro-sched through the three data paths of the Cerebro-DS paper, in one run.
#
#   mount    Direct Access: cerebro-ds-fuse serves the table's heap files as .npy columns,
#            the trainers read the mount (no ETL; the first epoch decodes, later ones hit
#            the daemon's cache and the page cache)
#   indbms   the query engine: every unit reads its shard with COPY ... (FORMAT binary)
#            through libpq ([data] train = pg:...), one snapshot per unit
#   export   Cerebro-Spark's path: cerebro-ds export to local files first (ETL, timed), then
#            the trainers read the files
#
# Workload: Fashion-MNIST (ROWS train rows, default 20000, hash-partitioned into 2 shards = 2 workers, the
# 10000-row test split as validation), a grid of MLP and CNN configurations (4), EPOCHS
# epochs (default 3), THREADS per worker (default 1). The page cache is dropped before each
# path (as root). Per path: ETL seconds, execution seconds (cerebro-sched run), seconds per
# epoch, CPU utilisation ((user + system of the scheduler, trainers, daemon and the
# database's processes) / (wall x CPUs)), the largest peak RSS of one process (scheduler or
# trainer; and the daemon's), bytes read from disk (/proc/vmstat pgpgin), the trainers'
# summed data_wait_s, the best validation accuracy, and whether the final checkpoints are
# byte-identical to the mount path's (same batches on every path).
# Ratios (targets): data_wait mount / indbms <= 0.1; total mount / (export ETL + execution)
# <= 1.0.
#
# Then a heterogeneous workload (fashion-mlp and fashion-resnet, 3 learning rates each,
# HROWS rows, 2 epochs) under sync and async: the measured speed-up sync/async next to
# Proposition 1's prediction from the measured mean unit times of the two kinds.
# Last line: ratio=<data_wait mount/indbms> total_ratio=<mount/export> speedup=<sync/async>.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/tests/lib/pg.bash"
source "$REPO/tests/lib/fashion.bash"
pg_cleanup_on_exit
ROWS=${ROWS:-20000}
HROWS=${HROWS:-4000}
EPOCHS=${EPOCHS:-3}
THREADS=${THREADS:-1}
BIN=$REPO/build/bin
PY=/usr/bin/python3
NCPU=$(nproc)

pg_start benche2e shared_buffers=256MB >/dev/null
CONN=$(pg_conninfo benche2e)
load_fashion benche2e fm --split train --limit "$ROWS" --partitions 2 >/dev/null
load_fashion benche2e fv --split test >/dev/null
load_fashion benche2e hm --split train --limit "$HROWS" --partitions 2 >/dev/null
pg_psql benche2e -qc "VACUUM ANALYZE" -c "CHECKPOINT"
PGPID=$(head -1 "$(pg_datadir benche2e)/postmaster.pid")
W=$(mktemp -d)
MNT=$W/mnt
mkdir -p "$MNT"
cleanup() {
    fusermount3 -u "$MNT" 2>/dev/null || true
    [[ -n ${DPID:-} ]] && kill "$DPID" 2>/dev/null || true
    rm -rf "$W"
    pg_stop_all
}
trap cleanup EXIT

now() { date +%s.%N; }
drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || DROPPED="no (not root)"
}
DROPPED=yes
pgpgin() { awk '$1 == "pgpgin" {printf "%.0f\n", $2 * 1024}' /proc/vmstat; }
# CPU seconds of a process and of its reaped children: utime stime cutime cstime
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13 + $14 + $15) / hz}' "/proc/$1/stat"; }
# CPU seconds of the database: the postmaster, its live children and the reaped ones
pg_cpu() {
    local total c
    total=$(proc_cpu "$PGPID")
    for c in $(pgrep -P "$PGPID"); do
        total=$(echo "$total + $(proc_cpu "$c" 2>/dev/null || echo 0)" | bc -l)
    done
    echo "$total"
}

# workload NAME TRAIN VALID: the grid over TRAIN
workload() {
    cat <<INI
[data]
train = $2
valid = $3
[model]
file = $REPO/conf/models/fashion-mlp.ini
[search]
model.file = $REPO/conf/models/fashion-mlp.ini, $REPO/conf/models/fashion-cnn.ini
train.lr = 0.001, 0.003
[procedure]
kind = grid
epochs = $EPOCHS
[scheduler]
policy = async
[workers]
threads = $THREADS
INI
}

mount_it() {
    printf '[database]\nconninfo = %s\n[mount]\ntables = public.fm, public.fv, public.hm\ncache_mb = 1024\n' \
        "$CONN" >"$W/fuse.conf"
    "$BIN/cerebro-ds-fuse" -f -c "$W/fuse.conf" "$MNT" 2>>"$W/daemon.log" 3>&- &
    DPID=$!
    for _ in $(seq 100); do [[ -r $MNT/.cerebro-ds/version ]] && return 0; sleep 0.1; done
    echo "bench/e2e.sh: the mount did not come up:" >&2
    cat "$W/daemon.log" >&2
    return 1
}

# run_path NAME ETL_SECONDS TRAIN VALID [DAEMON_PID]: run the grid, print the path's row
declare -A WAIT TOTAL
run_path() {
    local name=$1 etl=$2 dpid=${5:-} t0 t1 io0 io1 pg0 pg1 d0=0 d1=0 dhwm=-
    workload "$name" "$3" "$4" >"$W/$name.ini"
    [[ -n $dpid ]] && d0=$(proc_cpu "$dpid")
    pg0=$(pg_cpu)
    io0=$(pgpgin)
    t0=$(now)
    /usr/bin/time -f '%U %S %M' -o "$W/$name.time" \
        "$BIN/cerebro-sched" run "$W/$name.ini" --job "$W/$name" 2>"$W/$name.log"
    t1=$(now)
    io1=$(pgpgin)
    pg1=$(pg_cpu)
    if [[ -n $dpid ]]; then
        d1=$(proc_cpu "$dpid")
        dhwm=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$dpid/status")
    fi
    read -r u s rss <"$W/$name.time"
    local exec cpu wait acc same
    exec=$(echo "$t1 - $t0" | bc -l)
    cpu=$(echo "($u + $s + $d1 - $d0 + $pg1 - $pg0) / ($exec * $NCPU)" | bc -l)
    wait=$(cat "$W/$name"/logs/*-t*-e*-s*.json | sed -n 's/.*"data_wait_s":\([0-9.]*\).*/\1/p' |
        awk '{s += $1} END {printf "%.3f", s}')
    acc=$(awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "valid_accuracy") c = i}
        NR > 1 && $c > best {best = $c} END {printf "%.4f", best}' "$W/$name/results.csv")
    same=yes
    for c in "$W"/mount/ckpt/t*/e"$EPOCHS"-2.ckpt; do
        cmp -s "$c" "$W/$name/ckpt/${c#"$W"/mount/ckpt/}" || same=no
    done
    WAIT[$name]=$wait
    TOTAL[$name]=$(echo "$etl + $exec" | bc -l)
    printf '| %s | %.2f | %.2f | %.2f | %.2f | %.0f / %s | %.1f | %s | %s | %s |\n' "$name" "$etl" \
        "$exec" "$(echo "$exec / $EPOCHS" | bc -l)" "$cpu" "$((rss / 1024))" "$dhwm" \
        "$(echo "($io1 - $io0) / 1048576" | bc -l)" "$wait" "$acc" "$same"
}

echo "bench/e2e: ROWS=$ROWS EPOCHS=$EPOCHS THREADS=$THREADS, 2 shards, 4 configurations (MLP, CNN)"
drop_caches
echo "page cache dropped before each path: $DROPPED"
echo
echo "| path | ETL s | execution s | s / epoch | CPU util | peak RSS MiB (largest process / daemon) | disk read MiB | data_wait_s (sum) | best valid acc | checkpoints = mount's |"
echo "|---|---|---|---|---|---|---|---|---|---|"

drop_caches
mount_it
run_path mount 0 "$MNT/postgres/public.fm" "$MNT/postgres/public.fv/part0" "$DPID"
fusermount3 -u "$MNT"
wait "$DPID" || true
DPID=

drop_caches
run_path indbms 0 "pg:$CONN#public.fm" "pg:$CONN#public.fv#part0"

drop_caches
e0=$(now)
"$BIN/cerebro-ds" -q --conninfo "$CONN" export fm "$W/exp/fm" --jobs 2
"$BIN/cerebro-ds" -q --conninfo "$CONN" export fv "$W/exp/fv"
sync
etl=$(echo "$(now) - $e0" | bc -l)
run_path export "$etl" "$W/exp/fm" "$W/exp/fv/part0"

wait_ratio=$(echo "${WAIT[mount]} / ${WAIT[indbms]}" | bc -l)
total_ratio=$(echo "${TOTAL[mount]} / ${TOTAL[export]}" | bc -l)
echo
printf 'data_wait mount / indbms = %.4f (target <= 0.1)\n' "$wait_ratio"
printf 'total mount / export (ETL + execution) = %.3f (target <= 1.0)\n' "$total_ratio"

# ---- heterogeneous workload: sync vs async, against Proposition 1 ----
mount_it
hetero() {
    cat <<INI
[data]
train = $MNT/postgres/public.hm
[model]
file = $REPO/conf/models/fashion-mlp.ini
[search]
model.file = $REPO/conf/models/fashion-mlp.ini, $REPO/conf/models/fashion-resnet.ini
train.lr = 0.001, 0.002, 0.003
[procedure]
kind = grid
epochs = 2
[scheduler]
policy = $1
[workers]
threads = $THREADS
INI
}
makespan() { awk -F, 'NR > 1 && $9 == "ok" {if ($7 > m) m = $7} END {print m}' "$1/schedule.csv"; }
for p in sync async; do
    hetero $p >"$W/h-$p.ini"
    "$BIN/cerebro-sched" run "$W/h-$p.ini" --job "$W/h-$p" 2>"$W/h-$p.log"
done
# fast (MLP) and slow (ResNet) trials from results.csv, mean unit seconds of each kind
read -r p ls lm < <("$PY" - "$W/h-async" <<'PY'
import csv, sys
job = sys.argv[1]
kind = {}
for r in csv.DictReader(open(job + "/results.csv")):
    kind[r["trial"]] = "resnet" in r["model.file"]
secs = {False: [], True: []}
for r in csv.DictReader(open(job + "/schedule.csv")):
    if r["outcome"] == "ok":
        secs[kind[r["model"]]].append(float(r["end"]) - float(r["start"]))
fast = sum(1 for v in kind.values() if not v) / len(kind)
print(fast, sum(secs[False]) / len(secs[False]), sum(secs[True]) / len(secs[True]))
PY
)
ms=$(makespan "$W/h-sync")
ma=$(makespan "$W/h-async")
speedup=$(echo "$ms / $ma" | bc -l)
pred=$(echo "p = $p; w = 2; pw = p ^ w; (pw * $ls + (1 - pw) * $lm) / (p * $ls + (1 - p) * $lm)" | bc -l)
echo
printf 'heterogeneous (3 fashion-mlp + 3 fashion-resnet, %s rows, 2 epochs, 2 workers):\n' "$HROWS"
printf '  mean unit seconds: MLP %.3f, ResNet %.3f (p = %.2f fast)\n' "$ls" "$lm" "$p"
printf '  makespan sync %.2f s, async %.2f s: speed-up %.3f; Proposition 1 predicts %.3f\n' \
    "$ms" "$ma" "$speedup" "$pred"
printf 'ratio=%.4f total_ratio=%.3f speedup=%.3f\n' "$wait_ratio" "$total_ratio" "$speedup"
