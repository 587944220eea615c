#!/usr/bin/env bats
# make demo's script (tests/lib/demo.sh) end to end on a reduced workload in a temporary
# STATE: PostgreSQL 15 -> Fashion-MNIST tables -> cerebro-ds-fuse -> cerebro-sched (the real
# conf/workloads/fashion-demo.ini, 2 epochs over 2750 rows) -> cerebro-train eval on the test
# table through the mount. Then: a second run reuses the cluster, the tables (their comment
# records how they were loaded) and the finished job; a test accuracy below MIN_ACC fails; a
# job cerebro-sched cannot read is moved aside and trained again;
# Ctrl-C (SIGINT to the script's process group) during the scheduler run exits 130 and the
# next run resumes the job; kill -9 of the script leaves the clean-up to its watchdogs;
# make demo-clean removes the state. After every run nothing is mounted under STATE and no
# process of it (server, daemon, scheduler, trainer, watchdog) is left.

load helpers

setup_file() {
    # short (the server's socket path) and reachable by the postgres user when root
    STATE=$(mktemp -d /tmp/cd-demo.XXXXXX)
    chmod 755 "$STATE"
    export STATE
    export DEMO=$REPO/tests/lib/demo.sh
    export ROWS=3000 TEST_ROWS=1000 EPOCHS=2 MIN_ACC=0.5 SHARDS=2 THREADS=1
    unset MOUNT VALID_ROWS WORKLOAD RERUN
}

# needs_first_run: the tests below reuse the first test's finished job; without it they fail
# (a skip would hide that they did not run)
needs_first_run() {
    [ -f "$STATE/job/leaderboard.txt" ] || {
        echo "no finished demo job in $STATE: the first test did not complete" >&2
        return 1
    }
}

teardown_file() {
    if [[ -d $STATE ]]; then
        if [[ -f $STATE/.cerebro-ds-demo ]]; then "$DEMO" clean || true; fi
        rm -rf --one-file-system "$STATE"
    fi
}

# nothing_left: no mount under STATE, no process whose command line names STATE
nothing_left() {
    local i
    for ((i = 0; i < 50; i++)); do # pg.bash's watchdog and ours exit just after the script
        if [[ -z $(findmnt -rn -o TARGET | grep -F "$STATE") ]] && ! pgrep -f -- "$STATE" >/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    findmnt -rn -o TARGET | grep -F "$STATE" | sed 's/^/still mounted: /' >&2
    pgrep -af -- "$STATE" | sed 's/^/still running: /' >&2
    return 1
}

# start_demo [VAR=value...]: the script in the background in a process group of its own (as
# a terminal's foreground job is: Ctrl-C is SIGINT to that group); DEMO_PID is the group
start_demo() {
    set -m
    env "$@" "$DEMO" >"$BATS_TEST_TMPDIR/out" 2>&1 3>&- &
    DEMO_PID=$!
    set +m
}

# signal_demo SIG TARGET: send SIG to TARGET (a pid, or -pgid for the demo's process group),
# wait for the demo script and show its output; st: its exit status
signal_demo() {
    kill -"$1" -- "$2"
    st=0
    wait "$DEMO_PID" || st=$?
    cat "$BATS_TEST_TMPDIR/out"
}

# wait_training: until a trainer of the demo's job runs (the scheduler has started units)
wait_training() {
    local i
    for ((i = 0; i < 600; i++)); do
        pgrep -f -- "train --model $STATE/jobs/" >/dev/null && return 0
        sleep 0.1
    done
    cat "$BATS_TEST_TMPDIR/out" >&2
    return 1
}

@test "the demo end to end: tables, mount, scheduler, eval on the test table, plots; nothing left" {
    run "$DEMO"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"started a new PostgreSQL 15 cluster in $STATE/pg/demo/data (initdb -k"* ]]
    [[ $output == *"loaded: fashion_train 2750 rows in 2 shards, fashion_valid 250 rows, fashion_test 1000 rows in 2 shards"* ]]
    [[ $output == *"mounted the tables on $STATE/mnt"* ]]
    [[ $output == *"cerebro-sched run $STATE/workload.ini --job $STATE/jobs/"* ]]
    [[ $output == *"Leaderboard (validation accuracy on fashion_valid"* ]]
    [[ $output == *"  1  t00"*"model.file=fashion-"*".ini  train.lr="* ]]
    [[ $output == *"Test accuracy of the best configuration: 0."*"(1000 rows of fashion_test, through the mount)"* ]]
    [[ $output == *"Plots: $STATE/jobs/"*"/curves.png $STATE/jobs/"*"/schedule.png"* ]]
    # the 4 configurations of fashion-demo.ini, 2 epochs each
    [ "$(wc -l <"$STATE/job/leaderboard.txt")" -eq 4 ]
    grep -q '^epochs = 2$' "$STATE/workload.ini"
    grep -q "^train = $STATE/mnt/postgres/public.fashion_train\$" "$STATE/workload.ini"
    grep -q "^model.file = $REPO/conf/models/fashion-mlp.ini, $REPO/conf/models/fashion-cnn.ini\$" "$STATE/workload.ini"
    [ -s "$STATE/job/curves.png" ]
    [ -s "$STATE/job/schedule.png" ]
    [ -s "$STATE/job/best.ckpt" ]
    [ -s "$STATE/job/best.ini" ]
    # the accuracy printed is the one cerebro-train eval printed
    acc=$(sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p' <<<"$output")
    [[ $output == *"Test accuracy $acc >= MIN_ACC 0.5: ok"* ]]
    [[ $output == *"unmounted $STATE/mnt and stopped PostgreSQL"* ]]
    nothing_left
}

@test "a second run reuses the cluster, the loaded tables and the finished job" {
    needs_first_run
    before=$(cat "$STATE/job/journal")
    run "$DEMO"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"reusing PostgreSQL 15 cluster $STATE/pg/demo/data"* ]]
    [[ $output == *"reusing loaded tables: fashion_train 2750 rows in 2 shards, fashion_valid 250 rows, fashion_test 1000 rows in 2 shards"* ]]
    [[ $output != *"loading "* ]]
    [[ $output == *"reusing finished job $STATE/jobs/"* ]]
    [[ $output == *"Test accuracy of the best configuration: 0."* ]]
    [ "$(cat "$STATE/job/journal")" = "$before" ] # nothing trained again
    nothing_left
}

@test "a test accuracy below MIN_ACC fails the demo, and it still cleans up" {
    needs_first_run
    run env MIN_ACC=0.999 "$DEMO"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *"is below MIN_ACC=0.999"* ]]
    [[ $output == *"unmounted $STATE/mnt and stopped PostgreSQL"* ]]
    nothing_left
}

@test "a job cerebro-sched cannot read is moved aside, not deleted, and trained again" {
    needs_first_run
    job=$(readlink -f "$STATE/job")
    echo garbage >"$job/journal"
    run "$DEMO"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"warning: cerebro-sched cannot read job $job ("*"); moved it to $job.unreadable-"*" and training again"* ]]
    [ "$(cat "$job".unreadable-*/journal)" = garbage ]
    [[ $output == *"cerebro-sched run $STATE/workload.ini --job $job ("* ]]
    [ "$(grep -c '^unit' "$job/journal")" -eq 16 ] # 4 configurations x 2 epochs x 2 shards
    nothing_left
}

@test "Ctrl-C during the scheduler run: exit 130, nothing mounted or running; the next run resumes" {
    start_demo EPOCHS=3
    wait_training
    signal_demo INT "-$DEMO_PID"
    [ "$st" -eq 130 ]
    grep -q 'interrupted (SIGINT): stopping' "$BATS_TEST_TMPDIR/out"
    grep -q 'stopped by signal 2' "$BATS_TEST_TMPDIR/out"
    nothing_left
    run env EPOCHS=3 "$DEMO"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"resuming stopped job $STATE/jobs/"* ]]
    [ "$(grep -c '^unit' "$STATE/job/journal")" -eq 24 ] # 4 configurations x 3 epochs x 2 shards
    nothing_left
}

@test "SIGINT to the scheduler alone: the script says it was interrupted, exit 130, nothing left" {
    start_demo EPOCHS=5 # a workload of its own: the EPOCHS=3 job above is finished
    wait_training
    signal_demo INT "$(cat "$STATE/sched.pid")"
    [ "$st" -eq 130 ]
    grep -q 'interrupted (SIGINT): stopping' "$BATS_TEST_TMPDIR/out"
    grep -q 'the job stopped; the next run resumes it' "$BATS_TEST_TMPDIR/out"
    nothing_left
}

@test "SIGTERM to the script alone: the scheduler is stopped too, exit 143, nothing left" {
    start_demo EPOCHS=4
    wait_training
    signal_demo TERM "$DEMO_PID"
    [ "$st" -eq 143 ]
    nothing_left
}

@test "kill -9 of the script: its watchdogs stop the scheduler, unmount and stop the server" {
    start_demo EPOCHS=4
    wait_training
    kill -KILL "$DEMO_PID"
    wait "$DEMO_PID" || true
    nothing_left
}

@test "bad knobs are refused before anything starts" {
    run env ROWS=lots "$DEMO"
    [ "$status" -eq 1 ]
    [[ $output == *"ROWS must be a positive integer"* ]]
    run env MIN_ACC=high "$DEMO"
    [ "$status" -eq 1 ]
    [[ $output == *"MIN_ACC must be a number"* ]]
    run env STATE=/ "$DEMO"
    [ "$status" -eq 1 ]
    [[ $output == *"not a state directory"* ]]
    other=$(mktemp -d "$BATS_TEST_TMPDIR/other.XXXXXX")
    touch "$other/precious"
    run env STATE="$other" "$DEMO" clean
    [ "$status" -eq 1 ]
    [[ $output == *"not a demo state directory"* ]]
    [ -f "$other/precious" ]
    nothing_left
}

@test "make demo-clean stops what is left and removes the state" {
    [ -d "$STATE" ]
    run make -s -C "$REPO" demo-clean STATE="$STATE"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"removed $STATE"* ]]
    [ ! -e "$STATE" ]
    run make -s -C "$REPO" demo-clean STATE="$STATE"
    [ "$status" -eq 0 ]
    [[ $output == *"nothing to clean"* ]]
}
