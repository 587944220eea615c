#!/bin/bash
#
# tests/lib/demo.sh: the end-to-end demo behind `make demo` and `make demo-clean`.
#
#     tests/lib/demo.sh [run]     PostgreSQL -> tables -> cerebro-ds-fuse -> cerebro-sched -> eval
#     tests/lib/demo.sh clean     unmount and stop what is left, then remove the state directory
#
# run: starts a PostgreSQL 15 cluster of tests/lib/pg.bash in $STATE/pg (initdb -k the first
# time, a unix socket in $STATE/pg/demo/sock, the postgres OS user when run as root); loads
# Fashion-MNIST (Debian's dataset-fashion-mnist, tests/lib/load-fashion.py) into
# fashion_train (the first ROWS images of the train split less the last VALID_ROWS, hash-
# partitioned into SHARDS), fashion_valid (those last VALID_ROWS images, one shard) and
# fashion_test (the first TEST_ROWS images of the test split, SHARDS partitions); mounts them
# with cerebro-ds-fuse ($STATE/cerebro-ds.conf) on $MOUNT; runs cerebro-sched on the workload
# (conf/workloads/fashion-demo.ini, rewritten into $STATE/workload.ini with the mount's paths,
# absolute model paths and the EPOCHS / THREADS knobs); evaluates the job's best.ckpt +
# best.ini on fashion_test through the mount with `cerebro-train eval`; prints the
# leaderboard, the test accuracy (below MIN_ACC: exit 1) and the plots. Whatever happens
# (success, failure, Ctrl-C, SIGTERM) it unmounts and stops the server before it exits; if the
# script itself is killed with SIGKILL, watchdogs do it (pg.bash's for the server, ours for
# the scheduler and the mount).
#
# A second run reuses the state: the cluster, the tables when they were loaded with the same
# ROWS / VALID_ROWS / TEST_ROWS / SHARDS (recorded as a comment on each table; the run prints
# "reusing loaded tables"), and the job: jobs are keyed by a hash of the rewritten workload,
# the model files and the data knobs ($STATE/jobs/<key>, $STATE/job is the latest). A
# finished job with the same key is reused, not retrained (training is deterministic: MOP
# gives the same checkpoints for the same threads, so a rerun would only reproduce it); it is
# evaluated again on a fresh mount. A stopped job (Ctrl-C) is resumed. A job that
# `cerebro-sched status` cannot read (killed before it was complete, or written by an older
# cerebro-sched) is moved aside to jobs/<key>.unreadable-<time>, never deleted, and trained
# again. RERUN=1 discards the job of that key and trains it again.
#
# Knobs (environment; `make demo` passes its make variables of the same names):
#     STATE=DIR       state directory (default .demo under the repository)
#     MOUNT=DIR       mount point (default $STATE/mnt)
#     SHARDS=K        hash partitions of the train and test tables = workers (default 2)
#     ROWS=N          images of the train split to load (default 60000)
#     VALID_ROWS=N    of those, held out as fashion_valid (default ROWS/12: 5000 of 60000)
#     TEST_ROWS=N     images of the test split (default 10000)
#     EPOCHS=E        epochs of every configuration (default: the workload's)
#     THREADS=T       trainer threads per worker (default: CPUs / SHARDS, at least 1)
#     MIN_ACC=A       fail when the best model's test accuracy is below A (default 0.90)
#     WORKLOAD=FILE   the workload (default conf/workloads/fashion-demo.ini)
#     RERUN=1         train again even if a finished job of the same workload is there
#     CD_BIN_DIR=DIR  the binaries (default build/bin)
#
# Exit status: 0 success, 1 failure (test accuracy below MIN_ACC included), 2 usage,
# 130 / 143 interrupted by SIGINT / SIGTERM.

set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3} # the system Python has NumPy (a pyenv shim may not)

say() { printf 'demo: %s\n' "$*"; }
die() {
    printf 'demo: error: %s\n' "$*" >&2
    exit 1
}

# Knobs, checked before anything is touched.
knobs() {
    local v
    STATE=$(realpath -m -- "${STATE:-$REPO/.demo}")
    MOUNT=$(realpath -m -- "${MOUNT:-$STATE/mnt}")
    SHARDS=${SHARDS:-2}
    ROWS=${ROWS:-60000}
    TEST_ROWS=${TEST_ROWS:-10000}
    EPOCHS=${EPOCHS:-}
    MIN_ACC=${MIN_ACC:-0.90}
    WORKLOAD=$(realpath -m -- "${WORKLOAD:-$REPO/conf/workloads/fashion-demo.ini}")
    RERUN=${RERUN:-0}
    BIN=${CD_BIN_DIR:-$REPO/build/bin}
    for v in SHARDS ROWS TEST_ROWS; do
        [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
    done
    VALID_ROWS=${VALID_ROWS:-$((ROWS / 12 > 0 ? ROWS / 12 : 1))}
    [[ $VALID_ROWS =~ ^[1-9][0-9]*$ ]] || die "VALID_ROWS must be a positive integer, not '$VALID_ROWS'"
    ((ROWS <= 60000)) || die "ROWS=$ROWS: the train split has 60000 images"
    ((TEST_ROWS <= 10000)) || die "TEST_ROWS=$TEST_ROWS: the test split has 10000 images"
    ((ROWS - VALID_ROWS >= SHARDS)) ||
        die "ROWS=$ROWS less VALID_ROWS=$VALID_ROWS leaves fewer training rows than SHARDS=$SHARDS"
    THREADS=${THREADS:-$(($(nproc) / SHARDS > 0 ? $(nproc) / SHARDS : 1))}
    [[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, not '$THREADS'"
    [[ -z $EPOCHS || $EPOCHS =~ ^[1-9][0-9]*$ ]] || die "EPOCHS must be a positive integer, not '$EPOCHS'"
    [[ $MIN_ACC =~ ^(0|1)?(\.[0-9]+)?$ && $MIN_ACC != . && -n $MIN_ACC ]] ||
        die "MIN_ACC must be a number from 0 to 1, not '$MIN_ACC'"
    [[ $STATE != / && $STATE != "$REPO" && $STATE != "${HOME:-/}" ]] || die "STATE=$STATE: not a state directory"
    export CD_PG_ROOT=$STATE/pg
    export PGOPTIONS='-c client_min_messages=warning' # no "does not exist, skipping"
    PGC=$CD_PG_ROOT/demo # the cluster's directory (pg.bash: cluster "demo")
}

elapsed() { printf '%4ds' $((SECONDS - T0)); }
step() { printf 'demo: [%s] %s\n' "$(elapsed)" "$*"; }

# True when process $1 is alive and its command line contains $2.
alive_with() {
    local cmd
    [[ $1 =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null || return 1
    cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$2"* ]]
}

# Wait up to $2 seconds for process $1 to end.
wait_gone() {
    local deadline=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null; do
        [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]] && return 0
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# --- stopping (cleanup, clean, the watchdog) --------------------------------------------------

# Stop the scheduler recorded in $STATE/sched.pid, if it still runs.
stop_sched() {
    local pid
    pid=$(cat "$STATE/sched.pid" 2>/dev/null) || return 0
    if alive_with "$pid" cerebro-sched; then
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" 30 || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/sched.pid"
}

# Unmount the recorded mount point and make sure the daemon is gone.
stop_mount() {
    local mnt pid i
    mnt=$(cat "$STATE/mountpoint" 2>/dev/null) || mnt=$MOUNT
    pid=$(cat "$STATE/fuse.pid" 2>/dev/null) || pid=
    if mountpoint -q "$mnt" 2>/dev/null; then
        for ((i = 0; i < 50; i++)); do # busy while a trainer still closes its files
            fusermount3 -u "$mnt" 2>/dev/null && break
            sleep 0.1
        done
    fi
    if alive_with "$pid" cerebro-ds-fuse; then
        kill -TERM "$pid" 2>/dev/null || true # SIGTERM: unmount, release the snapshots
        wait_gone "$pid" 20 || kill -KILL "$pid" 2>/dev/null || true
    fi
    if mountpoint -q "$mnt" 2>/dev/null; then
        fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
    fi
    rm -f "$STATE/fuse.pid"
    ! mountpoint -q "$mnt" 2>/dev/null
}

stop_watchdog() {
    local pid
    pid=$(cat "$STATE/watchdog.pid" 2>/dev/null) || return 0
    if alive_with "$pid" "$SELF"; then kill -TERM -- "-$pid" 2>/dev/null || true; fi
    rm -f "$STATE/watchdog.pid"
}

stop_pg() {
    [[ -d $PGC/data ]] || return 0
    pg_stop demo
}

# Everything, in order: the scheduler (it stops its trainers), the mount, the server.
stop_all() {
    local rc=0
    stop_sched || rc=1
    stop_mount || {
        echo "demo: $(cat "$STATE/mountpoint" 2>/dev/null) is still mounted" >&2
        rc=1
    }
    stop_pg || rc=1
    stop_watchdog
    return $rc
}

# EXIT trap of a run.
cleanup() {
    local rc=$?
    trap '' INT TERM # let the cleanup finish
    trap - EXIT
    set +e
    if [[ -n ${SCHED_PID:-} ]] && kill -0 "$SCHED_PID" 2>/dev/null; then
        kill -TERM "$SCHED_PID" 2>/dev/null
        wait "$SCHED_PID" 2>/dev/null
    fi
    if stop_all; then
        step "unmounted $MOUNT and stopped PostgreSQL; state kept in $STATE (make demo-clean removes it)"
    else
        rc=1
    fi
    exit $rc
}

# INT / TERM: pass the signal on to the scheduler (Ctrl-C reached it already; a SIGTERM sent
# to this script alone did not), let it stop its trainers, then exit 128 + signal.
on_signal() {
    local sig=$1 code=$2
    trap '' INT TERM
    echo >&2
    say "interrupted (SIG$sig): stopping" >&2
    if [[ -n ${SCHED_PID:-} ]] && kill -0 "$SCHED_PID" 2>/dev/null; then
        kill -s "$sig" "$SCHED_PID" 2>/dev/null || true
        wait "$SCHED_PID" 2>/dev/null || true
        [[ -n ${JOB:-} ]] && say "the job stopped; the next run resumes it ($JOB)" >&2
    fi
    exit "$code"
}

# The watchdog (its own session, so Ctrl-C does not reach it): once the run's shell is gone
# (SIGKILL gave it no chance to clean up), stop the scheduler and unmount. pg.bash's own
# watchdog stops the server.
watchdog() {
    local owner=$1
    echo $$ >"$STATE/watchdog.pid"
    cd / || exit 1
    tail --pid="$owner" -f /dev/null
    stop_sched
    stop_mount || true
    if [[ $(cat "$STATE/watchdog.pid" 2>/dev/null) == "$$" ]]; then rm -f "$STATE/watchdog.pid"; fi
}

start_watchdog() {
    (
        _pg_close_fds
        MOUNT=$MOUNT exec setsid bash "$SELF" __watchdog "$$" "$STATE" </dev/null \
            >>"$STATE/watchdog.log" 2>&1
    ) &
    local i
    for ((i = 0; i < 100; i++)); do # the watchdog writes its pid once it runs
        [[ -s $STATE/watchdog.pid ]] && return 0
        sleep 0.05
    done
    die "the watchdog did not start ($STATE/watchdog.log)"
}

# --- the run ----------------------------------------------------------------------------------

preflight() {
    local b
    for b in cerebro-ds-fuse cerebro-sched cerebro-train; do
        [[ -x $BIN/$b ]] || die "no $BIN/$b: build first (make demo builds)"
    done
    [[ -f $WORKLOAD ]] || die "no workload $WORKLOAD"
    [[ -x /usr/lib/postgresql/15/bin/initdb || -n ${CD_PG_BINDIR:-} ]] ||
        die "no PostgreSQL 15 server (make deps)"
    [[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]] ||
        die "no Fashion-MNIST in /usr/share/datasets/fashion-mnist (make deps: dataset-fashion-mnist)"
    command -v fusermount3 >/dev/null || die "no fusermount3 (make deps: fuse3)"
    [[ -c /dev/fuse ]] || die "no /dev/fuse: this machine cannot mount FUSE file systems"
    [[ -r /dev/fuse && -w /dev/fuse ]] ||
        die "$(id -un) may not open /dev/fuse ($(stat -c %A /dev/fuse)): run as root, or as root chmod 666 /dev/fuse (Debian's default)"
    if ((${#STATE} > 72)); then
        die "STATE=$STATE is too long for the server's unix socket path (at most 72 characters)"
    fi
}

# Make the state directory (ours: a marker file; git ignores it) and lock it.
open_state() {
    if [[ -e $STATE && ! -f $STATE/.cerebro-ds-demo ]]; then
        [[ -d $STATE && -z $(ls -A "$STATE") ]] ||
            die "$STATE exists and is not a demo state directory (choose another STATE=)"
    fi
    mkdir -p "$STATE/pg" "$STATE/jobs"
    touch "$STATE/.cerebro-ds-demo"
    echo '*' >"$STATE/.gitignore"
    if ((EUID == 0)); then chmod 755 "$STATE" "$STATE/pg"; fi
    exec 9>>"$STATE/.lock"
    flock -n 9 || die "another demo is running on $STATE"
}

start_pg() {
    if [[ -d $PGC/data ]]; then
        pg_stop demo >/dev/null 2>&1 || true # a server left by a killed run
        pg_start demo
        step "reusing PostgreSQL 15 cluster $PGC/data (port $(<"$PGC/port"), socket in $PGC/sock)"
    else
        pg_start demo
        step "started a new PostgreSQL 15 cluster in $PGC/data (initdb -k, port $(<"$PGC/port"), socket in $PGC/sock)"
    fi
}

# The comment on a table recording how it was loaded.
table_tag() { echo "cerebro-ds demo: $1"; }

comment_of() {
    pg_psql demo -Atc "SELECT coalesce(obj_description(to_regclass('public.$1'), 'pg_class'), '')"
}

rows_of() { pg_psql demo -Atc "SELECT count(*) FROM public.$1"; }

load_tables() {
    local tag_train tag_test ntrain
    ntrain=$((ROWS - VALID_ROWS))
    tag_train=$(table_tag "train split, rows $ROWS, valid $VALID_ROWS, shards $SHARDS")
    tag_test=$(table_tag "test split, rows $TEST_ROWS, shards $SHARDS")
    if [[ $(comment_of fashion_train) == "$tag_train" && $(comment_of fashion_valid) == "$tag_train" ]]; then
        REUSED_TRAIN=1
    else
        step "loading $ROWS images of the train split into fashion_train ($SHARDS hash partitions) and fashion_valid (the last $VALID_ROWS)"
        load_fashion demo fashion_train --split train --limit "$ROWS" --partitions "$SHARDS" --replace
        pg_psql demo -c "DROP TABLE IF EXISTS fashion_valid" \
            -c "CREATE TABLE fashion_valid AS SELECT id, x, y FROM fashion_train WHERE id >= $ntrain ORDER BY id" \
            -c "DELETE FROM fashion_train WHERE id >= $ntrain" \
            -c "VACUUM ANALYZE fashion_train" -c "VACUUM ANALYZE fashion_valid" \
            -c "COMMENT ON TABLE fashion_train IS '$tag_train'" \
            -c "COMMENT ON TABLE fashion_valid IS '$tag_train'"
        REUSED_TRAIN=0
    fi
    if [[ $(comment_of fashion_test) == "$tag_test" ]]; then
        REUSED_TEST=1
    else
        step "loading $TEST_ROWS images of the test split into fashion_test ($SHARDS hash partitions)"
        load_fashion demo fashion_test --split test --limit "$TEST_ROWS" --partitions "$SHARDS" --replace
        pg_psql demo -c "VACUUM ANALYZE fashion_test" -c "COMMENT ON TABLE fashion_test IS '$tag_test'"
        REUSED_TEST=0
    fi
    local counts
    counts="fashion_train $(rows_of fashion_train) rows in $SHARDS shards, fashion_valid $(rows_of fashion_valid) rows, fashion_test $(rows_of fashion_test) rows in $SHARDS shards"
    if ((REUSED_TRAIN && REUSED_TEST)); then
        step "reusing loaded tables: $counts"
    else
        step "loaded: $counts"
    fi
}

mount_tables() {
    local conf=$STATE/cerebro-ds.conf i shards
    {
        echo "# written by tests/lib/demo.sh at every run; see cerebro-ds.conf(5)"
        echo "[database]"
        echo "conninfo = $(pg_conninfo demo)"
        echo "[mount]"
        echo "mountpoint = $MOUNT"
        echo "tables = public.fashion_train, public.fashion_valid, public.fashion_test"
        echo "cache_mb = 1024"
        echo "log_level = info"
    } >"$conf"
    mkdir -p "$MOUNT"
    echo "$MOUNT" >"$STATE/mountpoint"
    (
        _pg_close_fds
        exec setsid "$BIN/cerebro-ds-fuse" -f -c "$conf" "$MOUNT" </dev/null >"$STATE/fuse.log" 2>&1
    ) &
    echo $! >"$STATE/fuse.pid"
    for ((i = 0; i < 300; i++)); do
        [[ -r $MOUNT/.cerebro-ds/version ]] && break
        kill -0 "$(<"$STATE/fuse.pid")" 2>/dev/null ||
            die "cerebro-ds-fuse did not mount $MOUNT; $STATE/fuse.log says: $(tail -n 5 "$STATE/fuse.log")"
        sleep 0.1
    done
    [[ -r $MOUNT/.cerebro-ds/version ]] || die "cerebro-ds-fuse did not mount $MOUNT within 30 s"
    TRAIN_DIR=$MOUNT/postgres/public.fashion_train
    VALID_DIR=$MOUNT/postgres/public.fashion_valid/part0
    TEST_DIR=$MOUNT/postgres/public.fashion_test
    shards=$(find "$TRAIN_DIR" -mindepth 1 -maxdepth 1 -type d -printf '%f ')
    step "mounted the tables on $MOUNT (cerebro-ds-fuse, $conf): $TRAIN_DIR: ${shards% }"
}

# The workload with the mount's paths, absolute model paths and the knobs, into $1.
derive_workload() {
    "$PY" - "$WORKLOAD" "$1" "$TRAIN_DIR" "$VALID_DIR" "$EPOCHS" "$THREADS" <<'PY'
import os, re, sys
src, dst, train, valid, epochs, threads = sys.argv[1:7]
base = os.path.dirname(os.path.abspath(src))
over = {("data", "train"): train, ("data", "valid"): valid, ("workers", "threads"): threads}
if epochs:
    over[("procedure", "epochs")] = epochs
def absolute(value):  # model files, also inside choice(...)
    return re.sub(r"[^\s,()]+\.ini", lambda m: os.path.normpath(os.path.join(base, m.group(0))), value)
out, done, sec = [f"# derived from {src} by tests/lib/demo.sh"], set(), ""
def flush(section):
    for (s, k), v in over.items():
        if s == section and (s, k) not in done:
            out.append(f"{k} = {v}")
            done.add((s, k))
for line in open(src):
    line = line.rstrip("\n")
    m = re.match(r"\s*\[([^\]]+)\]\s*$", line)
    if m:
        flush(sec)
        sec = m.group(1).strip()
        out.append(line)
        continue
    m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$", line)
    if m:
        key = m.group(1)
        if (sec, key) in over:
            if (sec, key) not in done:
                out.append(f"{key} = {over[(sec, key)]}")
                done.add((sec, key))
            continue
        if (sec, key) in (("model", "file"), ("search", "model.file")):
            line = f"{key} = {absolute(m.group(2))}"
    out.append(line)
flush(sec)
for s in dict.fromkeys(s for s, _ in over):
    if any(ss == s and (ss, k) not in done for ss, k in over):
        out.append(f"[{s}]")
        flush(s)
with open(dst + ".tmp", "w") as f:
    f.write("\n".join(out) + "\n")
os.replace(dst + ".tmp", dst)
PY
}

# The job's key: the rewritten workload, the model files it names (comments and blank
# lines left out), the data knobs.
job_key() {
    local wl=$1 f
    {
        grep -Ev '^[[:space:]]*([#;]|$)' "$wl"
        echo "rows $ROWS valid $VALID_ROWS shards $SHARDS"
        grep -oE '/[^ ,()]+\.ini' "$wl" | sort -u | while read -r f; do
            if [[ -f $f ]]; then grep -Ev '^[[:space:]]*([#;]|$)' "$f"; fi
        done
    } | sha256sum | cut -c1-12
}

run_job() {
    local wl=$STATE/workload.ini key state='' st=0
    derive_workload "$wl"
    key=$(job_key "$wl")
    JOB=$STATE/jobs/$key
    ln -sfn "jobs/$key" "$STATE/job"
    if [[ -d $JOB && $RERUN == 1 ]]; then
        step "RERUN=1: discarding job $JOB"
        rm -rf "$JOB"
    fi
    local out='' aside
    if [[ -d $JOB ]]; then
        if out=$("$BIN/cerebro-sched" status "$JOB" 2>&1); then
            state=$(sed -n '1s/^job [^:]*: //p' <<<"$out")
        else
            state=unreadable
        fi
    fi
    local -a cmd=(run "$wl" --job "$JOB")
    if [[ -d $JOB && $state == finished ]]; then
        step "reusing finished job $JOB (same workload, models and data; RERUN=1 trains again)"
        return 0
    elif [[ -d $JOB && $state == stopped* ]]; then
        step "resuming stopped job $JOB"
        cmd=(resume "$JOB")
    elif [[ -d $JOB && $state == running* ]]; then
        die "job $JOB is $state"
    elif [[ -d $JOB ]]; then
        # killed before it was complete, or written by a cerebro-sched that reads it no more:
        # kept for a look, never deleted
        aside=$JOB.unreadable-$(date +%Y%m%d-%H%M%S)
        mv "$JOB" "$aside"
        say "warning: cerebro-sched cannot read job $JOB ($(grep -m1 . <<<"$out" || true)); moved it to $aside and training again" >&2
    fi
    if [[ ${cmd[0]} == run ]]; then
        step "cerebro-sched run $wl --job $JOB ($SHARDS workers x $THREADS threads)"
    fi
    "$BIN/cerebro-sched" "${cmd[@]}" &
    SCHED_PID=$!
    echo "$SCHED_PID" >"$STATE/sched.pid"
    wait "$SCHED_PID" || st=$?
    SCHED_PID=
    rm -f "$STATE/sched.pid"
    # SIGINT / SIGTERM reached it, and our trap did not run: it was sent to it alone, or bash
    # left the trap out because the scheduler handled the signal (a Ctrl-C racing the wait)
    if ((st == 130 || st == 143)); then
        say "interrupted (SIG$( ((st == 130)) && echo INT || echo TERM)): stopping" >&2
        say "the job stopped; the next run resumes it ($JOB)" >&2
        exit $st
    fi
    ((st == 0)) || die "cerebro-sched exited with status $st (the job is in $JOB; the next run resumes it)"
    step "the job finished: $JOB"
}

evaluate() {
    local -a data=()
    local d out acc rows best
    for d in "$TEST_DIR"/*/; do
        [[ -d $d ]] && data+=(--data "${d%/}")
    done
    ((${#data[@]})) || die "no shards in $TEST_DIR"
    [[ -s $JOB/best.ckpt && -s $JOB/best.ini ]] || die "the job has no best.ckpt / best.ini"
    echo
    echo "Leaderboard (validation accuracy on fashion_valid; $JOB/leaderboard.txt):"
    sed -E 's#(model\.file=)[^ ]*/#\1#' "$JOB/leaderboard.txt"
    echo
    step "cerebro-train eval --model $JOB/best.ini --ckpt $JOB/best.ckpt ${data[*]}"
    out=$("$BIN/cerebro-train" eval --model "$JOB/best.ini" --ckpt "$JOB/best.ckpt" "${data[@]}")
    echo "$out"
    acc=$(sed -n 's/.*"accuracy":\([-0-9.eE+]*\).*/\1/p' <<<"$out")
    rows=$(sed -n 's/.*"rows":\([0-9]*\).*/\1/p' <<<"$out")
    [[ -n $acc && -n $rows ]] || die "cerebro-train eval printed no accuracy"
    best=$(head -n 1 "$JOB/leaderboard.txt" | sed -E 's/^ *1 +//; s#(model\.file=)[^ ]*/#\1#; s/  +/ /g')
    echo
    echo "Best configuration: $best"
    printf 'Test accuracy of the best configuration: %.4f (%s rows of fashion_test, through the mount)\n' "$acc" "$rows"
    echo "Plots: $JOB/curves.png $JOB/schedule.png"
    local p
    for p in curves.png schedule.png; do
        [[ -s $JOB/$p ]] || say "warning: $JOB/$p is missing or empty (gnuplot installed? $JOB/logs/gnuplot.log)" >&2
    done
    if awk -v a="$acc" -v m="$MIN_ACC" 'BEGIN { exit !(a + 0 < m + 0) }'; then
        die "test accuracy $acc is below MIN_ACC=$MIN_ACC"
    fi
    echo "Test accuracy $acc >= MIN_ACC $MIN_ACC: ok"
}

run() {
    T0=$SECONDS
    preflight
    open_state
    # leftovers of a run killed with SIGKILL whose watchdogs have not finished yet
    stop_sched
    stop_mount >/dev/null || true
    stop_watchdog
    trap cleanup EXIT
    trap 'on_signal INT 130' INT
    trap 'on_signal TERM 143' TERM
    step "state in $STATE; SHARDS=$SHARDS ROWS=$ROWS VALID_ROWS=$VALID_ROWS TEST_ROWS=$TEST_ROWS EPOCHS=${EPOCHS:-(workload)} THREADS=$THREADS MIN_ACC=$MIN_ACC"
    start_pg
    start_watchdog
    load_tables
    mount_tables
    run_job
    evaluate
    step "done"
}

clean() {
    local mnt
    if [[ ! -e $STATE ]]; then
        say "nothing to clean: no $STATE"
        return 0
    fi
    [[ -f $STATE/.cerebro-ds-demo ]] || die "$STATE is not a demo state directory (no .cerebro-ds-demo): not removing it"
    exec 9>>"$STATE/.lock"
    flock -n 9 || die "a demo is running on $STATE: stop it first (Ctrl-C)"
    mnt=$(cat "$STATE/mountpoint" 2>/dev/null) || mnt=$MOUNT
    stop_all || die "could not stop everything in $STATE"
    # a mount point outside the state directory: removed only when empty
    if [[ $mnt != "$STATE"/* ]]; then rmdir "$mnt" 2>/dev/null || true; fi
    rm -rf --one-file-system "$STATE"
    say "removed $STATE"
}

# shellcheck source=tests/lib/pg.bash
source "$REPO/tests/lib/pg.bash"
# shellcheck source=tests/lib/fashion.bash
source "$REPO/tests/lib/fashion.bash"

case ${1:-run} in
run) knobs && run ;;
clean) knobs && clean ;;
__watchdog)
    STATE=$3
    knobs
    watchdog "$2"
    ;;
-h | --help) sed -n '3,/^$/s/^# \{0,1\}//p' "$SELF" ;;
*)
    echo "usage: $0 [run|clean]" >&2
    exit 2
    ;;
esac
