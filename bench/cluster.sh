#!/usr/bin/env bash
# bench/cluster.sh: the product on a Citus cluster of worker hosts (tests/lib/citus.bash: a
# coordinator on 127.0.0.1, workers on 127.0.0.2 and 127.0.0.3, each with its own
# PostgreSQL, sshd, mount namespace and cerebro-ds-fuse), against the same work on one host.
#
# 1. What writers see of a cluster cut: a writer on the coordinator moves value between two
#    workers in two-phase-committed transactions for WRITER_S seconds, first alone, then
#    while `cerebro-ds refresh --cluster` cuts every CUT_EVERY seconds. Figures: the
#    writer's transactions per second and its statement latency (median, p99, max) in both
#    phases, the cuts' lock hold times (the longest statement with cuts is about the longest
#    hold); ratio = the writer's transactions per second with cuts / without.
# 2. One model-selection workload (Fashion-MNIST, ROWS rows in a table distributed into 4
#    shards, a grid of 4 configurations of the paper's MLP (1000-500), EPOCHS epochs, 1
#    thread per unit), run four ways: local (the 4 shards exported to this host, local
#    launcher, shared model store: no ssh, no copying), 2 hosts (2 shards on each worker:
#    ssh launcher, model_store = copy), 2 hosts with ssh multiplexing (each host's
#    connection opened once and reused: ControlMaster), and 1 host (every shard moved to
#    worker 1). Per run: makespan, units, mean wall
#    time of a unit and of its trainer (its own "seconds"), the scheduler's overhead per
#    unit (wall - trainer: launch, ssh, moving the checkpoint), the trainers' mean data
#    wait per unit, bytes moved per hop, and whether the final checkpoints equal the local
#    run's. Ratios: overhead per unit against the local run's unit time.
# Last line: writer_tps_ratio=... overhead_1host=... overhead_2hosts=... overhead_2hosts_mux=...
# WRITER_ONLY=1: part 1 only.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/tests/lib/pg.bash"
source "$REPO/tests/lib/fashion.bash"
source "$REPO/tests/lib/sshd.bash"
source "$REPO/tests/lib/citus.bash"
ROWS=${ROWS:-24000}
EPOCHS=${EPOCHS:-2}
WRITER_S=${WRITER_S:-10}
CUT_EVERY=${CUT_EVERY:-2}
BIN=$REPO/build/bin
PY=/usr/bin/python3
export PATH=$BIN:$PATH
MNT=/mnt/cerebro-ds/postgres
W=$(mktemp -d)
cleanup() {
    hosts_stop 2>/dev/null || true
    sshd_stop 2>/dev/null || true
    pg_stop_all 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

echo "setting up: a coordinator and 2 worker hosts, $ROWS Fashion-MNIST rows in 4 shards"
citus_start 2 >/dev/null
sshd_start "$W/sshd"
load_fashion coord fm_src --split train --limit "$ROWS" >/dev/null
load_fashion coord fv --split test --limit 1000 >/dev/null
citus_psql coord <<'SQL' >/dev/null
CREATE TABLE fm (id int, x real[], y int);
SELECT create_distributed_table('fm', 'id', shard_count := 4);
INSERT INTO fm SELECT * FROM fm_src;
CREATE TABLE acct (id int PRIMARY KEY, bal int8 NOT NULL);
SELECT create_distributed_table('acct', 'id', shard_count := 4);
INSERT INTO acct SELECT i, 1000 FROM generate_series(1, 16) i;
SQL
mkdir -p "$W/jobs"
for w in w1 w2; do
    host_start "$w" "$W/$w" "$W/jobs"
    host_mount "$w" "tables = public.fm, public.acct"
done
cluster_conf "$W" "public.fm, public.acct"

# ---- 1. what writers see of a cut ----

IFS=, read -ra A <<<"$(citus_keys_on w1 acct id)"
IFS=, read -ra B <<<"$(citus_keys_on w2 acct id)"
{
    echo '\timing on'
    for ((i = 0; i < 200000; i++)); do
        printf 'BEGIN; UPDATE acct SET bal = bal - 1 WHERE id = %d; ' "${A[i % ${#A[@]}]}"
        printf 'UPDATE acct SET bal = bal + 1 WHERE id = %d; COMMIT;\n' "${B[i % ${#B[@]}]}"
    done
} >"$W/writer.sql"

# writer PHASE: run the writer for WRITER_S seconds (cutting every CUT_EVERY s when PHASE is
# "cuts"); its statement times in W/PHASE.times, the cuts' hold times in W/PHASE.held
writer() {
    local phase=$1 pid end
    citus_psql coord -f "$W/writer.sql" </dev/null >"$W/$phase.out" 2>&1 &
    pid=$!
    : >"$W/$phase.held"
    end=$((SECONDS + WRITER_S))
    while ((SECONDS < end)); do
        if [[ $phase == cuts ]]; then
            cerebro-ds -c "$W/cluster.conf" refresh --cluster public.acct |
                sed -n 's/.*held \([0-9.]*\) s.*/\1/p' >>"$W/$phase.held"
        fi
        sleep "$CUT_EVERY"
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$W/$phase.out" >"$W/$phase.times"
}
writer alone
writer cuts
"$PY" - "$W" "$WRITER_S" <<'PY' | tee "$W/writer.summary"
import sys
import numpy as np
w, secs = sys.argv[1], float(sys.argv[2])
res = {}
for phase in ("alone", "cuts"):
    t = np.loadtxt(f"{w}/{phase}.times", ndmin=1)
    tx = len(t) / 4  # BEGIN, UPDATE, UPDATE, COMMIT
    res[phase] = tx / secs
    print(f"writer {phase:5s}: {tx / secs:7.1f} transactions/s, statement latency median "
          f"{np.median(t):.2f} ms, p99 {np.percentile(t, 99):.2f} ms, max {t.max():.1f} ms")
held = np.loadtxt(f"{w}/cuts.held", ndmin=1)
print(f"cuts: {len(held)}, lock held mean {held.mean() * 1000:.0f} ms, max {held.max() * 1000:.0f} ms")
print(f"writer_tps_ratio={res['cuts'] / res['alone']:.2f}")
PY

# ---- 2. one workload: local, 1 host, 2 hosts ----
if [[ -n ${WRITER_ONLY:-} ]]; then exit 0; fi

cp "$REPO/conf/models/fashion-mlp.ini" "$W/mlp.ini" # the paper's MLP: 1000-500
# workload NAME TRAIN SCHEDULER_LINES WORKERS_LINES: the grid over TRAIN
workload() {
    {
        printf '[data]\ntrain = %s\nfeature = x\nlabel = y\n' "$2"
        printf '[model]\nfile = %s\n' "$W/mlp.ini"
        printf '[search]\ntrain.lr = 0.001, 0.003\ntrain.batch_size = 32, 64\n'
        printf '[procedure]\nkind = grid\nepochs = %d\n' "$EPOCHS"
        printf '[scheduler]\npolicy = async\n%b\n[workers]\nthreads = 1\n%b\n' "$3" "$4"
    } >"$W/$1.ini"
}
run_job() { # NAME: cerebro-sched run, its wall time in W/NAME.makespan
    local t0
    t0=$(date +%s.%N)
    cerebro-sched run "$W/$1.ini" --job "$W/jobs/$1" >"$W/$1.log" 2>&1 ||
        { tail -n 20 "$W/$1.log"; exit 1; }
    echo "$(date +%s.%N) - $t0" | bc >"$W/$1.makespan"
}
cerebro-ds -c "$W/cluster.conf" refresh --cluster public.fm >/dev/null
mkdir -p "$W/local"
for w in w1 w2; do
    for s in $(citus_shards_on "$w" fm); do host_run "$w" cp -r "$MNT/public.fm/$s" "$W/local/"; done
done
SSH="launcher = ssh\nssh_command = ssh -F $W/ssh_config {host} {command}"
# the same, each host's connection kept open and reused by every unit (OpenSSH multiplexing)
MUX="launcher = ssh\nssh_command = ssh -F $W/ssh_config -o ControlMaster=auto -o ControlPersist=120 -o ControlPath=$W/cm-%h-%p {host} {command}"
workload local "$W/local" "" ""
run_job local
workload twohosts "citus:$(pg_conninfo coord)#public.fm" "model_store = copy" "$SSH"
run_job twohosts
workload twohosts_mux "citus:$(pg_conninfo coord)#public.fm" "model_store = copy" "$MUX"
run_job twohosts_mux
# every shard on worker 1
for s in $(citus_shards_on w2 fm); do
    citus_psql coord -qAtc "SELECT citus_move_shard_placement(${s#s}, '127.0.0.3', $(citus_port w2),
        '127.0.0.2', $(citus_port w1), shard_transfer_mode := 'block_writes')" >/dev/null
done
cerebro-ds -c "$W/cluster.conf" refresh --cluster public.fm >/dev/null
workload onehost "citus:$(pg_conninfo coord)#public.fm" "model_store = copy" "$SSH"
run_job onehost

"$PY" - "$W" <<'PY'
import csv, glob, json, os, sys, filecmp
w = sys.argv[1]
def figures(name):
    job = f"{w}/jobs/{name}"
    rows = [r for r in csv.DictReader(open(f"{job}/schedule.csv")) if r["outcome"] == "ok"]
    wall = [float(r["end"]) - float(r["start"]) for r in rows]
    res = []
    for f in sorted(glob.glob(f"{job}/logs/*-t*-e*-s*.json")):
        try:
            res.append(json.loads(open(f).read().strip().splitlines()[-1]))
        except (ValueError, IndexError):
            pass
    sec = [r["seconds"] for r in res]
    wait = [r.get("data_wait_s", 0.0) for r in res]
    bi = [int(r["bytes_in"]) for r in rows]
    bo = [int(r["bytes_out"]) for r in rows]
    n = len(rows)
    return dict(makespan=float(open(f"{w}/{name}.makespan").read()), units=n,
                wall=sum(wall) / n, trainer=sum(sec) / max(len(sec), 1),
                wait=sum(wait) / max(len(wait), 1), bin=sum(bi) / n, bout=sum(bo) / n)
def same_ckpts(a, b):
    fa = sorted(glob.glob(f"{w}/jobs/{a}/ckpt/*/e*-*.ckpt"))
    fb = sorted(glob.glob(f"{w}/jobs/{b}/ckpt/*/e*-*.ckpt"))
    return len(fa) == len(fb) > 0 and all(
        filecmp.cmp(x, y, shallow=False) for x, y in zip(fa, fb))
loc = figures("local")
out = {}
for name in ("local", "onehost", "twohosts", "twohosts_mux"):
    f = figures(name)
    over = f["wall"] - f["trainer"]
    out[name] = over / loc["wall"]
    same = "" if name == "local" else f", checkpoints {'identical' if same_ckpts('local', name) else 'DIFFER'}"
    print(f"{name:12s}: makespan {f['makespan']:6.1f} s, {f['units']} units, unit wall {f['wall']:.3f} s, "
          f"trainer {f['trainer']:.3f} s, overhead {over * 1000:.0f} ms/unit "
          f"({over / loc['wall']:.2f} of a local unit), data wait {f['wait'] * 1000:.0f} ms/unit, "
          f"bytes per hop {f['bin']:.0f} in + {f['bout']:.0f} out{same}")
ratio = open(f"{w}/writer.summary").read().split("writer_tps_ratio=")[1].strip()
print(f"writer_tps_ratio={ratio} overhead_1host={out['onehost']:.3f} "
      f"overhead_2hosts={out['twohosts']:.3f} overhead_2hosts_mux={out['twohosts_mux']:.3f}")
PY
