#!/usr/bin/env bats
# cerebro-sched end to end with the real trainer on Fashion-MNIST shards exported from a real
# PostgreSQL (and read through a live cerebro-ds-fuse mount): a grid of 4 configurations over
# 3 shards for 2 epochs, the schedule's invariants, reproducible final checkpoints (another
# policy, a killed trainer, a killed and resumed scheduler, the ssh launcher through a real
# sshd, the mount: all end with the same bytes), shard orders from the model files' cost
# estimates, workers taken out, Hyperband, diverging configurations, and clear errors for
# malformed workloads.

load helpers
source "$REPO/tests/lib/sshd.bash"
source "$REPO/tests/lib/grid.bash"

setup_file() {
    export D=$BATS_FILE_TMPDIR
    grid_data sched "$D"
    workload async >"$D/grid.ini"
    cerebro-sched run "$D/grid.ini" --job "$D/ref" 2>"$D/ref.log"
    # a trainer that starts 0.2 s late, so that the fault tests catch units and jobs running
    # (a unit of this tiny model takes ~10 ms). SLOW_MARK set: only the first train to create
    # the mark (O_EXCL, holding its pid) is late, and it waits up to 10 s for the test to kill
    # it, in short sleeps so that no long sleep outlives it
    printf '#!/bin/bash
if [[ $1 == train && -z $SLOW_MARK ]]; then
    sleep 0.2
elif [[ $1 == train ]] && (set -o noclobber; echo $$ >"$SLOW_MARK") 2>/dev/null; then
    for _ in {1..500}; do sleep 0.02; done
fi
exec %s "$@"
' \
        "$(command -v cerebro-train)" >"$D/slow-train" # the build under test (CD_BIN_DIR)
    chmod +x "$D/slow-train"
    sshd_start "$D/sshd"
}

teardown_file() {
    if mountpoint -q "$D/mnt" 2>/dev/null; then fusermount3 -u -z "$D/mnt" || true; fi
    sshd_stop
    pg_stop_all
}

# workload POLICY [extra [workers] lines...]: the 4-configuration grid
workload() {
    local policy=$1
    shift
    printf '[data]\ntrain = %s\nvalid = %s\n[model]\nfile = %s\n' "$D/train" "$D/valid/part0" "$D/tiny.ini"
    printf '[search]\ntrain.lr = 0.001, 0.003\ntrain.batch_size = 64, 128\n'
    printf '[procedure]\nkind = grid\nepochs = 2\n[scheduler]\npolicy = %s\nretries = 2\n' "$policy"
    printf '[workers]\nthreads = 1\n'
    printf '%s\n' "$@"
}

# same_checkpoints JOB: the final checkpoint of every trial equals the reference run's
same_checkpoints() {
    local t
    for t in t000 t001 t002 t003; do
        cmp "$D/ref/ckpt/$t/e2-3.ckpt" "$1/ckpt/$t/e2-3.ckpt"
    done
}

# slow_run JOB UNITS: cerebro-sched run of the grid into $D/JOB in the background with the
# 0.2 s-late trainer (its pid in sched, its log in $D/JOB.log), once UNITS units are journaled
slow_run() {
    CEREBRO_TRAIN=$D/slow-train cerebro-sched run "$D/grid.ini" --job "$D/$1" 2>"$D/$1.log" 3>&- &
    sched=$!
    local n
    for _ in $(seq 400); do
        n=$(grep -c '^unit' "$D/$1/journal" 2>/dev/null || true)
        ((${n:-0} >= $2)) && break
        sleep 0.05
    done
}

@test "run: 4 configurations x 3 shards x 2 epochs, invariants hold, reports written" {
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/ref" 3 2
    [ "$(grep -c '^unit' "$D/ref/journal")" -eq 24 ]
    [ "$(grep -c '^valid' "$D/ref/journal")" -eq 8 ]
    [ "$(wc -l <"$D/ref/results.csv")" -eq 9 ]
    head -1 "$D/ref/results.csv" | grep -q '^trial,train.lr,train.batch_size,epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,seconds$'
    [ "$(wc -l <"$D/ref/leaderboard.txt")" -eq 4 ]
    run cerebro-train eval --model "$D/ref/best.ini" --ckpt "$D/ref/best.ckpt" --data "$D/valid/part0"
    [ "$status" -eq 0 ]
    # the leaderboard shows the accuracy to 4 places (0.7100), eval as %.9g (0.71)
    best=$(awk 'NR == 1 {print $4}' "$D/ref/leaderboard.txt")
    acc=$(grep -o '"accuracy":[0-9.e-]*' <<<"$output" | cut -d: -f2)
    echo "leaderboard $best, eval $acc"
    awk -v a="$acc" -v b="$best" 'BEGIN { exit !(a != "" && a - b < 5e-5 && b - a < 5e-5) }'
    "$PYTHON" "$REPO/tests/lib/check_png.py" "$D/ref" --models 4 # the plots: see 93-report
    run cerebro-sched status "$D/ref"
    [ "$status" -eq 0 ]
    [[ $output == *"finished"* && $output == *"24 done, 0 to go"* ]]
}

@test "the sync policy visits shards in the same order: identical final checkpoints" {
    workload sync >"$D/sync.ini"
    cerebro-sched run "$D/sync.ini" --job "$D/sync"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/sync" 3 2
    same_checkpoints "$D/sync"
}

@test "kill -9 of a trainer mid-unit: the unit is retried, the result is identical" {
    CEREBRO_TRAIN=$D/slow-train SLOW_MARK=$D/k9.mark cerebro-sched run "$D/grid.ini" --job "$D/k9" \
        2>"$D/k9.log" 3>&- &
    sched=$!
    victim= # the trainer that made the mark; it waits to be killed
    for _ in $(seq 500); do
        victim=$(cat "$D/k9.mark" 2>/dev/null) && [ -n "$victim" ] && break
        sleep 0.02
    done
    kill -9 "$victim"
    wait "$sched"
    grep -q 'killed by signal 9' "$D/k9/journal"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/k9" 3 2
    same_checkpoints "$D/k9"
}

@test "kill -9 of the scheduler, then resume: nothing lost, identical result" {
    slow_run res 6
    kill -9 "$sched"
    wait "$sched" || true
    run cerebro-sched status "$D/res"
    [[ $output == *"stopped"* ]]
    cerebro-sched resume "$D/res"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/res" 3 2
    same_checkpoints "$D/res"
    # the resumed run numbers its processes after the first run's: no log is overwritten
    [ -z "$(ls "$D/res/logs" | grep '\.json$' | cut -c1-6 | sort | uniq -d)" ]
    run cerebro-sched resume "$D/res" # a finished job: nothing to do
    [ "$status" -eq 0 ]
}

@test "SIGTERM stops the trainers and exits 143; resume finishes with an identical result" {
    slow_run term 3
    kill -TERM "$sched"
    st=0
    wait "$sched" || st=$?
    [ "$st" -eq 143 ]
    grep -q "resume $D/term" "$D/term.log"
    ! pgrep -af " train --model .*$D/term/" || false # prints any left
    cerebro-sched resume "$D/term"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/term" 3 2
    same_checkpoints "$D/term"
}

@test "a configuration that diverges is stopped; the others finish and no worker is blamed" {
    # a linear regression of the label on the pixels: plain SGD diverges with lr 1
    printf '[model]\ninput = 784\nlayers = dense:1\nloss = mse\nscale = 0.00392156862745098\n[train]\noptimizer = sgd\nlr = 0.001\nbatch_size = 128\n' \
        >"$D/linear.ini"
    workload async | sed "s|^file = .*|file = $D/linear.ini|; s/^train.lr = .*/train.lr = 0.001, 1/" |
        sed 's/^train.batch_size = .*/train.batch_size = 128/' >"$D/nan.ini"
    cerebro-sched run "$D/nan.ini" --job "$D/nan" 2>"$D/nan.log"
    grep -q 'trial t001 diverged in epoch 1' "$D/nan.log"
    grep -q '^diverged' "$D/nan/journal"
    run ! grep -q '^out' "$D/nan/journal"
    grep -q 't001 .*(diverged in epoch 1)' "$D/nan/leaderboard.txt"
    [ "$(grep -c '^t000,' "$D/nan/results.csv")" -eq 2 ] # the other trains both epochs
    run cerebro-train train --model "$D/nan/models/t001.ini" --ckpt "$D/nan/ckpt/t001/init.ckpt" \
        --data "$D/train/fm_p0" --data "$D/train/fm_p1" --data "$D/train/fm_p2" --epoch 1 \
        --out "$D/nan/x.ckpt"
    [ "$status" -eq 3 ]
    [[ $output == *"the loss became"*"HINT: the model diverged"* ]]
}

@test "a worker that always fails is taken out; its shard is trained by a worker that reaches it" {
    workload async "worker = localhost:$D/train/fm_p0" "worker = localhost:$D/train/fm_p1:cuda" \
        "worker = localhost:$D/train/fm_p2" >"$D/bad.ini"
    cerebro-sched run "$D/bad.ini" --job "$D/bad" 2>"$D/bad.log"
    grep -q 'worker 1 .* taken out' "$D/bad.log"
    [ "$(grep -c '^fail' "$D/bad/journal")" -eq 2 ]
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/bad" 3 2
    same_checkpoints "$D/bad"
    # status counts each worker taken out once, however many runs took it out (a resumed
    # job gives every worker a new chance: one taken out again is journaled again)
    cp -r "$D/bad" "$D/bad2"
    sed -i "/^done\$/i out\t1\ttaken out again after a resume" "$D/bad2/journal"
    [ "$(grep -c '^out' "$D/bad2/journal")" -eq 2 ]
    run cerebro-sched status "$D/bad2"
    [ "$status" -eq 0 ]
    [[ $output == *"3 workers (1 taken out)"* ]]
}

# ssh_config HOST_PORT: 127.0.0.1 is the test sshd; "flaky" too when HOST_PORT is its port
ssh_config() {
    local opts="  BatchMode yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  IdentityFile $CD_SSHD_DIR/client_key\n"
    printf "Host flaky\n  HostName 127.0.0.1\n  Port %s\n$opts" "$1"
    printf "Host 127.0.0.1\n  Port %s\n$opts" "$CD_SSHD_PORT"
}

@test "a shard no live worker reaches stops the job with a clear error; resume after the fix" {
    ssh_config 1 >"$D/ssh_config" # flaky: nothing listens on port 1
    workload async "launcher = ssh" "ssh_command = ssh -F $D/ssh_config {host} {command}" \
        "worker = 127.0.0.1:$D/train/fm_p0" "worker = flaky:$D/train/fm_p1" \
        "worker = 127.0.0.1:$D/train/fm_p2" >"$D/lost.ini"
    run cerebro-sched run "$D/lost.ini" --job "$D/lost"
    [ "$status" -eq 1 ]
    [[ $output == *'shard "fm_p1" cannot be trained: every worker that reaches it was taken out'* ]]
    [[ $output == *"HINT: "*"resume"* ]]
    ssh_config "$CD_SSHD_PORT" >"$D/ssh_config" # the host is back
    cerebro-sched resume "$D/lost"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/lost" 3 2
    same_checkpoints "$D/lost"
}

@test "the ssh launcher through a real sshd on 127.0.0.1 gives the same result" {
    workload async "launcher = ssh" "ssh_command = $(sshd_command)" \
        "worker = 127.0.0.1:$D/train/fm_p0" "worker = 127.0.0.1:$D/train/fm_p1" \
        "worker = 127.0.0.1:$D/train/fm_p2" >"$D/ssh.ini"
    cerebro-sched run "$D/ssh.ini" --job "$D/ssh"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/ssh" 3 2
    same_checkpoints "$D/ssh"
    grep -q 'Accepted publickey' "$D/sshd/sshd.log"
}

# own_core: the OpenBLAS kernel this host's trainers ran in the reference run (numerics)
own_core() {
    sed -n 's/.*"numerics":"[^"]*core=\([^ "]*\).*/\1/p' "$D"/ref/logs/*-t000-e1-s*.json | head -1
}

# other_core: an OpenBLAS kernel that every x86-64 CPU of the last decade runs, not this one's
other_core() {
    local own
    own=$(own_core)
    [[ ${own,,} == sandybridge ]] && echo Nehalem || echo Sandybridge
}

# ssh_workers FILE NUMERICS: the grid over ssh -F FILE; fm_p1's worker on host "odd"
ssh_workers() {
    workload async "launcher = ssh" "ssh_command = ssh -F $1 {host} {command}" \
        "worker = 127.0.0.1:$D/train/fm_p0" "worker = odd:$D/train/fm_p1" \
        "worker = 127.0.0.1:$D/train/fm_p2" | sed "s/^retries = 2$/retries = 2\nnumerics = $2/"
}

@test "every unit records its numeric fingerprint; all units of a run on one host agree" {
    own=$(own_core)
    [ -n "$own" ]
    head -1 "$D/ref/schedule.csv" | grep -q ',outcome,numerics_check,numerics,bytes_in,bytes_out$'
    [ "$(grep -c ',same,version=.* backend=cpu blas=OpenBLAS-.* core='"$own"' threads=1,0,0$' "$D/ref/schedule.csv")" -eq 24 ]
    [ "$(awk -F '\t' '$1 == "unit" && $12 == "same" && $13 ~ /core=/' "$D/ref/journal" | wc -l)" -eq 24 ]
    grep -q '"input_numerics":""' "$D"/ref/logs/*-t000-e1-s*.json
}

@test "the scheduler's OpenBLAS kernel reaches ssh workers: the same bytes as local workers" {
    # the product problem behind a failure seen with OPENBLAS_CORETYPE set on the scheduler's
    # host: the local launcher passes the environment on, sshd does not
    alt=$(other_core)
    OPENBLAS_CORETYPE=$alt cerebro-sched run "$D/grid.ini" --job "$D/alt-local" 2>"$D/alt-local.log"
    workload async "launcher = ssh" "ssh_command = $(sshd_command)" \
        "worker = 127.0.0.1:$D/train/fm_p0" "worker = 127.0.0.1:$D/train/fm_p1" \
        "worker = 127.0.0.1:$D/train/fm_p2" >"$D/alt-ssh.ini"
    OPENBLAS_CORETYPE=$alt cerebro-sched run "$D/alt-ssh.ini" --job "$D/alt-ssh" 2>"$D/alt-ssh.log"
    for t in t000 t001 t002 t003; do
        cmp "$D/alt-local/ckpt/$t/e2-3.ckpt" "$D/alt-ssh/ckpt/$t/e2-3.ckpt"
    done
    [ "$(grep -c ",same,.*core=$alt " "$D/alt-ssh/schedule.csv")" -eq 24 ]
    run ! grep -q 'other numerics' "$D/alt-ssh.log"
}

@test "a host that sets another OpenBLAS kernel: its units are reported; numerics = strict fails them" {
    odd=$(other_core)
    sshd_start_host "$D/odd" 127.0.0.2 "SetEnv OPENBLAS_CORETYPE=$odd"
    {
        ssh_config "$CD_SSHD_PORT"
        printf "Host odd\n  HostName 127.0.0.2\n  Port %s\n" "$(cat "$D/odd/port")"
        printf "  BatchMode yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
        printf "  LogLevel ERROR\n  IdentityFile %s\n" "$CD_SSHD_DIR/client_key"
    } >"$D/odd_config"
    ssh_workers "$D/odd_config" report >"$D/odd.ini"
    cerebro-sched run "$D/odd.ini" --job "$D/oddrep" 2>"$D/oddrep.log"
    grep -q 'shard fm_p1 on worker 1 (odd) ran with other numerics than .*: .*core='"$odd" "$D/oddrep.log"
    # every unit of the odd host differs and says its kernel; the others ran this host's
    [ "$(awk -F, '$5 == 1 && $10 == "differs" && $11 ~ /core='"$odd"' /' "$D/oddrep/schedule.csv" | wc -l)" -eq 8 ]
    [ "$(awk -F, '$5 != 1 && $11 ~ /core='"$odd"' /' "$D/oddrep/schedule.csv" | wc -l)" -eq 0 ]
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/oddrep" 3 2

    # strict: the odd host's units fail, it is taken out, fm_p1 is then out of reach
    ssh_workers "$D/odd_config" strict >"$D/strict.ini"
    run cerebro-sched run "$D/strict.ini" --job "$D/strict"
    [ "$status" -eq 1 ]
    [[ $output == *"numerics = strict: failed"* ]]
    [[ $output == *'shard "fm_p1" cannot be trained'* ]]
    [ "$(grep -c '^fail.*numerics differ from the expected' "$D/strict/journal")" -eq 2 ]
    # the host gets this one's kernel (here: another sshd): resume ends with the reference bytes
    sed -i "s/^  HostName 127.0.0.2$/  HostName 127.0.0.1/; s/^  Port $(cat "$D/odd/port")$/  Port $CD_SSHD_PORT/" "$D/odd_config"
    cerebro-sched resume "$D/strict"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/strict" 3 2
    same_checkpoints "$D/strict"
}

@test "a unit that hangs is killed at unit_timeout and retried: identical result" {
    # a cerebro-train that hangs the first time it trains, then behaves
    printf '#!/bin/bash\nif [[ $1 == train && ! -e %s/hung ]]; then touch %s/hung; exec sleep 600; fi\nexec %s "$@"\n' \
        "$D" "$D" "$(command -v cerebro-train)" >"$D/hang-once"
    chmod +x "$D/hang-once"
    workload async | sed 's/^retries = 2$/retries = 2\nunit_timeout = 3/' >"$D/hang.ini"
    CEREBRO_TRAIN=$D/hang-once cerebro-sched run "$D/hang.ini" --job "$D/hang"
    grep -q 'timed out' "$D/hang/journal"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/hang" 3 2
    same_checkpoints "$D/hang"
}

@test "hyperband: rungs stop the worse trials and promote the best, scored on validation" {
    printf '[data]\ntrain = %s\nvalid = %s\n[model]\nfile = %s\n' "$D/train" "$D/valid/part0" "$D/tiny.ini" >"$D/hb.ini"
    printf '[search]\ntrain.lr = loguniform(0.0003, 0.01)\n[procedure]\nkind = hyperband\nR = 3\neta = 3\nseed = 2\n' >>"$D/hb.ini"
    printf '[workers]\nthreads = 1\n' >>"$D/hb.ini"
    cerebro-sched run "$D/hb.ini" --job "$D/hb"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/hb" 3 -
    # R = 3, eta = 3: bracket 0 trains 3 trials 1 epoch and promotes the best to 3 epochs;
    # bracket 1 trains 2 trials 3 epochs: (3 + 2 + 2 x 3) epochs x 3 shards = 33 units
    "$PYTHON" "$REPO/tests/lib/check_hyperband.py" "$D/hb"
    [ "$(grep -c '^unit' "$D/hb/journal")" -eq 33 ]
}

@test "over a live cerebro-ds-fuse mount of the table: the same final checkpoints as over its export" {
    mkdir -p "$D/mnt"
    cerebro-ds-fuse -f --conninfo "$(pg_conninfo sched)" -o tables=fm "$D/mnt" </dev/null \
        >"$D/fuse.log" 2>&1 3>&- &
    fs=$!
    for _ in $(seq 150); do
        [[ -r $D/mnt/.cerebro-ds/version ]] && break
        sleep 0.1
    done
    [ "$(ls "$D/mnt/postgres/public.fm")" = $'fm_p0\nfm_p1\nfm_p2\nmeta' ]
    workload async | sed "s|^train = .*|train = $D/mnt/postgres/public.fm|" >"$D/mount.ini"
    st=0
    cerebro-sched run "$D/mount.ini" --job "$D/mount" || st=$?
    fusermount3 -u "$D/mnt"
    wait "$fs"
    [ "$st" -eq 0 ]
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/mount" 3 2
    same_checkpoints "$D/mount"
}

@test "status of a running job: running, its pid, the units done so far; then finished" {
    slow_run st 3
    run cerebro-sched status "$D/st"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "job $D/st: running (pid $sched)" ]
    [[ ${lines[1]} == "workload $D/grid.ini: policy async, 4 trials, 3 shards, 3 workers (0 taken out)" ]]
    read -r done left < <(sed -n 's/^units \([0-9]*\) done, \([0-9]*\) to go$/\1 \2/p' <<<"$output")
    [ "$done" -ge 3 ]
    [ "$left" -ge 1 ]
    [ $((done + left)) -eq 24 ]
    [[ $output == *$'\n  t000  epochs '[012]'/2'* ]]
    wait "$sched"
    run cerebro-sched status "$D/st"
    [ "${lines[0]}" = "job $D/st: finished" ]
    [[ $output == *"units 24 done, 0 to go"* ]]
    same_checkpoints "$D/st"
}

@test "policy = random: every model visits every shard once an epoch, every model's epoch ends before any starts the next" {
    workload random >"$D/random.ini"
    cerebro-sched run "$D/random.ini" --job "$D/random"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/random" 3 2
    [ "$(grep -c '^unit' "$D/random/journal")" -eq 24 ]
    run cerebro-sched status "$D/random"
    [[ ${lines[1]} == *": policy random, 4 trials, 3 shards, 3 workers (0 taken out)" ]]
    # Cerebro's barrier: the first unit of epoch 2 starts after the last of epoch 1 ended
    awk -F, 'NR > 1 && $9 == "ok" {
        if ($3 == 1 && $7 > end1) end1 = $7
        if ($3 == 2 && (start2 == "" || $6 < start2)) start2 = $6 }
        END { print "epoch 1 ends " end1 ", epoch 2 starts " start2; exit !(start2 != "" && start2 >= end1) }' \
        "$D/random/schedule.csv"
}

@test "kind = random: n configurations drawn with the seed, the same ones again from the same seed" {
    for job in rnd rnd2; do
        printf '[data]\ntrain = %s\nvalid = %s\n[model]\nfile = %s\n' "$D/train" "$D/valid/part0" "$D/tiny.ini" >"$D/$job.ini"
        printf '[search]\ntrain.lr = loguniform(0.0003, 0.01)\ntrain.batch_size = choice(64, 128)\n' >>"$D/$job.ini"
        printf '[procedure]\nkind = random\nn = 3\nepochs = 1\nseed = 4\n[workers]\nthreads = 1\n' >>"$D/$job.ini"
        cerebro-sched run "$D/$job.ini" --job "$D/$job"
    done
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/rnd" 3 1
    [ "$(ls "$D/rnd/models")" = $'t000.ini\nt001.ini\nt002.ini' ]
    diff -r "$D/rnd/models" "$D/rnd2/models"
    "$PYTHON" - "$D/rnd/models" <<'PY'
import configparser, glob, sys
lrs = []
for f in sorted(glob.glob(sys.argv[1] + "/t*.ini")):
    cp = configparser.ConfigParser()
    cp.read(f)
    lr, bs = float(cp["train"]["lr"]), cp["train"]["batch_size"]
    print(f, lr, bs)
    assert 0.0003 <= lr <= 0.01 and bs in ("64", "128"), (lr, bs)
    lrs.append(lr)
assert len(set(lrs)) == 3, lrs
PY
}

# orders JOB: every trial's shards in the order it visited them, one line a trial
orders() {
    awk -F, 'NR > 1 && $9 == "ok" { o[$2] = o[$2] " " $4 } END { for (t in o) print t o[t] }' \
        "$1/schedule.csv" | sort
}

@test "the shard orders come from the model files' cost estimates: the CNNs in rows of their own, the same orders and bytes under another policy" {
    printf '[model]\ninput = 1,28,28\nlayers = conv2d:8:3:1:1, relu, maxpool:2, flatten, dense:10\nclasses = 10\nscale = 0.00392156862745098\n[train]\noptimizer = adam\nlr = 0.001\nbatch_size = 128\nseed = 1\n' \
        >"$D/cnn.ini"
    sed 's/dense:32/dense:16/' "$D/tiny.ini" >"$D/tiny16.ini"
    # 6 trials on 3 shards; model.file varies fastest: the CNNs are t000 and t003, which rows
    # i mod 3 would put together
    for policy in async sync; do
        printf '[data]\ntrain = %s\n[search]\ntrain.lr = 0.001, 0.003\nmodel.file = %s, %s, %s\n[procedure]\nkind = grid\nepochs = 2\n[scheduler]\npolicy = %s\n[workers]\nthreads = 1\n' \
            "$D/train" "$D/cnn.ini" "$D/tiny.ini" "$D/tiny16.ini" "$policy" >"$D/mixed-$policy.ini"
        cerebro-sched run "$D/mixed-$policy.ini" --job "$D/mixed-$policy" 2>"$D/mixed-$policy.log"
        "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/mixed-$policy" 3 2
    done
    J=$D/mixed-async
    cat "$J/estimates"
    # one estimate a trial, from its model file (the learning rate costs nothing), fixed when
    # the job started: CNN > 784-32-10 > 784-16-10
    [ "$(grep -c '^t00[0-5] [0-9.e+]*$' "$J/estimates")" -eq 6 ]
    est() { awk -v t="$1" '$1 == t { print $2 }' "$J/estimates"; }
    [ "$(est t000)" = "$(est t003)" ] && [ "$(est t001)" = "$(est t004)" ]
    awk -v c="$(est t000)" -v m="$(est t001)" -v s="$(est t002)" 'BEGIN { exit !(c > m && m > s) }'
    orders "$J" | tee "$D/mixed.orders"
    first() { awk -v t="$1" '$1 == t { print $2 }' "$D/mixed.orders"; }
    [ "$(first t000)" != "$(first t003)" ]
    # the orders depend on the estimates, not on timing: sync runs the same, to the byte
    diff "$D/mixed.orders" <(orders "$D/mixed-sync")
    for t in t000 t001 t002 t003 t004 t005; do
        cmp "$J/ckpt/$t/e2-3.ckpt" "$D/mixed-sync/ckpt/$t/e2-3.ckpt"
    done
    diff "$J/estimates" "$D/mixed-sync/estimates"
    # killed after 7 units and resumed, the job keeps the estimates it started with: the same
    # orders, the same bytes
    CEREBRO_TRAIN=$D/slow-train cerebro-sched run "$D/mixed-async.ini" --job "$D/mixed-k" \
        2>"$D/mixed-k.log" 3>&- &
    sched=$!
    local n
    for _ in $(seq 400); do
        n=$(grep -c '^unit' "$D/mixed-k/journal" 2>/dev/null || true)
        ((${n:-0} >= 7)) && break
        sleep 0.05
    done
    kill -9 "$sched"
    wait "$sched" || true
    cerebro-sched resume "$D/mixed-k" 2>>"$D/mixed-k.log"
    diff "$D/mixed.orders" <(orders "$D/mixed-k")
    for t in t000 t001 t002 t003 t004 t005; do
        cmp "$J/ckpt/$t/e2-3.ckpt" "$D/mixed-k/ckpt/$t/e2-3.ckpt"
    done
    # status: the schedule against the bound of its measured unit times
    run cerebro-sched status "$J"
    [ "$status" -eq 0 ]
    [[ $output =~ schedule:\ makespan\ [0-9.]+\ s,\ lower\ bound\ [0-9.]+\ s\ from\ the\ measured\ unit\ times,\ ratio\ [0-9.]+ ]]
    awk -v r="${output##*ratio }" 'BEGIN { exit !(r >= 1) }'
}

@test "model_dir: checkpoints go there, not to DIR/ckpt, with the same bytes" {
    workload async "model_dir = $D/md" >"$D/md.ini"
    cerebro-sched run "$D/md.ini" --job "$D/mdjob"
    for t in t000 t001 t002 t003; do
        cmp "$D/ref/ckpt/$t/e2-3.ckpt" "$D/md/$t/e2-3.ckpt"
    done
    [ -z "$(find "$D/mdjob/ckpt" -name '*.ckpt' 2>/dev/null)" ]
    cerebro-train eval --model "$D/mdjob/best.ini" --ckpt "$D/mdjob/best.ckpt" --data "$D/valid/part0" >/dev/null
}

@test "malformed workloads and bad command lines: clear errors, non-zero exits" {
    workload async >"$D/w.ini"
    sed 's/^epochs = 2$/epochs = 2\nepochz = 3/' "$D/w.ini" >"$D/unknown.ini"
    run cerebro-sched run "$D/unknown.ini" --job "$D/x1"
    [ "$status" -ne 0 ]
    [[ $output == *"unknown.ini:"*"epochz"* ]]
    sed 's/^train.lr = .*/train.lr =/' "$D/w.ini" >"$D/empty.ini"
    run cerebro-sched run "$D/empty.ini" --job "$D/x2"
    [ "$status" -ne 0 ]
    [[ $output == *"empty.ini:"*"train.lr"* ]]
    sed "s|^train = .*|train = $D/nosuch|" "$D/w.ini" >"$D/nodata.ini"
    run cerebro-sched run "$D/nodata.ini" --job "$D/x3"
    [ "$status" -ne 0 ]
    [[ $output == *"$D/nosuch"* ]]
    run cerebro-sched run "$D/grid.ini" --job "$D/ref"
    [ "$status" -eq 1 ]
    [[ $output == *"already holds a job"* ]]
    run cerebro-sched resume "$D/nosuchjob"
    [ "$status" -eq 1 ]
    [[ $output == *"not a cerebro-sched job directory"* ]]
    workload async "launcher = ssh" "ssh_command = ssh root@{host} {command}" >"$D/userat.ini"
    run cerebro-sched run "$D/userat.ini" --job "$D/x4"
    [ "$status" -ne 0 ]
    [[ $output == *"userat.ini:"*"ssh_command"*"{host} and {command} as words of their own"* ]]
    # a [search] value the model file refuses: the error names the workload's lines too
    sed 's/^train.lr = .*/train.lr = 0.001, -1/' "$D/w.ini" >"$D/badlr.ini"
    run cerebro-sched run "$D/badlr.ini" --job "$D/x5"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *"invalid value \"-1\" for lr"* ]]
    line=$(grep -n '^train.lr' "$D/badlr.ini" | cut -d: -f1)
    [[ $output == *"[search] values of \"$D/badlr.ini\": train.lr = -1 (line $line), train.batch_size = 64 (line $((line + 1)))"* ]]
    [[ $output == *"HINT: expected a number"* ]]
    run cerebro-sched frobnicate
    [ "$status" -eq 2 ]
    run cerebro-sched run
    [ "$status" -eq 2 ]
}

@test "a workload edited, grown past a NUL byte or removed since the job started: resume refuses it" {
    cp "$D/grid.ini" "$D/chg.ini"
    cerebro-sched run "$D/chg.ini" --job "$D/chg" 2>"$D/chg.log"
    refused() {
        run cerebro-sched resume "$D/chg"
        [ "$status" -eq 1 ]
        [[ $output == *"workload \"$D/chg.ini\" changed or vanished since the job started"* ]]
        [[ $output == *"restore it from \"$D/chg/workload.ini\""* ]]
    }
    printf '; edited\n' >>"$D/chg.ini"
    refused
    cp "$D/chg/workload.ini" "$D/chg.ini"
    cerebro-sched resume "$D/chg" # restored: finished, nothing to do
    printf '\0; more\n' >>"$D/chg.ini" # the same text up to the NUL byte
    refused
    rm "$D/chg.ini"
    refused
}

@test "status of a finished job whose workload changed and whose data is gone: the job's copy and shard list; resume refuses other shards" {
    mkdir "$D/gone"
    cp -r "$D/train" "$D/valid" "$D/tiny.ini" "$D/gone/"
    # relative paths: the copy must resolve them against the workload file's directory
    printf '[data]\ntrain = train\nvalid = valid/part0\n[model]\nfile = tiny.ini\n[search]\ntrain.lr = 0.001, 0.003\n[procedure]\nkind = grid\nepochs = 1\n[workers]\nthreads = 1\n' >"$D/gone/w.ini"
    cerebro-sched run "$D/gone/w.ini" --job "$D/gone/job" 2>"$D/gone/run.log"
    [ "$(sed -n 1p "$D/gone/job/shards")" = "cerebro-sched shards 1" ]
    [ "$(sed 1d "$D/gone/job/shards" | tr '\n' ' ')" = "fm_p0 fm_p1 fm_p2 " ]
    shown() {
        run cerebro-sched status "$D/gone/job"
        echo "$output"
        [ "$status" -eq 0 ]
        [[ $output == *"job $D/gone/job: finished"* ]]
        [[ $output == *"workload $D/gone/w.ini: policy async, 2 trials, 3 shards, 3 workers (0 taken out)"* ]]
        [[ $output == *"units 6 done, 0 to go"* ]]
        [[ $output == *"t001  epochs 1/1  best"* ]]
    }
    shown
    [[ $output != *"job's copy"* ]]
    printf '[search]\ntrain.lr = 0.1, 0.2, 0.3\n' >>"$D/gone/w.ini" # edited for the next job
    shown
    [[ $output == *"this is the job's copy, $D/gone/job/workload.ini"* ]]
    rm -r "$D/gone/w.ini" "$D/gone/train" "$D/gone/valid" "$D/gone/tiny.ini" # all gone
    shown
    # resume still needs the workload as it was and refuses a table whose shards changed
    run cerebro-sched resume "$D/gone/job"
    [ "$status" -eq 1 ]
    [[ $output == *"changed or vanished since the job started"* ]]
    cp "$D/gone/job/workload.ini" "$D/gone/w.ini"
    cp -r "$D/train" "$D/valid" "$D/tiny.ini" "$D/gone/"
    cp -r "$D/gone/train/fm_p2" "$D/gone/train/fm_p3"
    run cerebro-sched resume "$D/gone/job"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *"the shards of [data] train changed since job \"$D/gone/job\" started"* ]]
    [[ $output == *"shard 3 \"fm_p3\" is new"* ]]
    [ "$(grep -c '^unit' "$D/gone/job/journal")" -eq 6 ] # nothing ran
    rm -r "$D/gone/train/fm_p3"
    run cerebro-sched resume "$D/gone/job"
    [ "$status" -eq 0 ]
    [[ $output == *"finished"* ]]
}

@test "a search slow to prepare says how far it is; its init checkpoints are made several at once" {
    # the first trial's initial checkpoint takes 2.5 s, every other one's 0.3 s: the line
    # comes when the first is done, whatever the number of CPUs; each init records how many
    # ran at once: one a CPU this process may use, at most 8
    printf '#!/bin/bash\nif [[ $1 == init ]]; then\n  mkdir %s/init.$$; ls -d %s/init.* | wc -l >>%s/width\n  if [[ $* == */t000.ini* ]]; then sleep 2.5; else sleep 0.3; fi\n  rmdir %s/init.$$\nfi\nexec %s "$@"\n' \
        "$D" "$D" "$D" "$D" "$(command -v cerebro-train)" >"$D/slow-init"
    chmod +x "$D/slow-init"
    workload async | sed 's/^train.lr = .*/train.lr = 0.001, 0.002, 0.003, 0.004, 0.005, 0.006/; s/^epochs = 2$/epochs = 1/' >"$D/prep.ini"
    CEREBRO_TRAIN=$D/slow-init run cerebro-sched run "$D/prep.ini" --job "$D/prep"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output =~ "cerebro-sched: preparing trials: "([0-9]+)" of 12 have their model file and initial checkpoint" ]]
    ((BASH_REMATCH[1] >= 1 && BASH_REMATCH[1] < 12))
    cpus=$("$PYTHON" -c 'import os; print(len(os.sched_getaffinity(0)))')
    [ "$(sort -n "$D/width" | tail -1)" -eq $((cpus < 8 ? cpus : 8)) ]
    [ "$(wc -l <"$D/width")" -eq 12 ]
    # a resume prepares nothing new: no such line
    run cerebro-sched resume "$D/prep"
    [ "$status" -eq 0 ]
    [[ $output != *"preparing trials"* ]]
}

@test "run --job into a directory where a job appears before the lock is taken: refused under the lock" {
    # the run stops (SIGSTOP injected by strace) right after it took DIR/lock; meanwhile a job
    # appears in DIR (another run's journal). Before, it ran on and appended to that journal
    strace -o "$D/race.trace" -e trace=flock -e inject=flock:signal=STOP:when=1 \
        cerebro-sched run "$D/grid.ini" --job "$D/race" 2>"$D/race.log" 3>&- &
    local pid=$!
    for _ in $(seq 400); do
        grep -q 'stopped by SIGSTOP' "$D/race.trace" 2>/dev/null && break
        sleep 0.05
    done
    if ! grep -q 'stopped by SIGSTOP' "$D/race.trace"; then # never left stopped behind
        pkill -CONT -P "$pid" -x cerebro-sched || true
        kill "$pid" || true
        false
    fi
    cp "$D/ref/journal" "$D/race/journal"
    pkill -CONT -P "$pid" -x cerebro-sched
    local rc=0
    wait "$pid" || rc=$?
    cat "$D/race.log"
    [ "$rc" -eq 1 ]
    grep -q "job directory \"$D/race\" already holds a job" "$D/race.log"
    cmp "$D/ref/journal" "$D/race/journal"
    [ ! -e "$D/race/workload.ini" ]
}

@test "a torn last journal line (a crash mid-append) is cut at resume: nothing glued to it, identical result" {
    slow_run torn 4
    kill -9 "$sched"
    wait "$sched" || true
    printf 'unit\t0\t1\t2\t0\t1796' >>"$D/torn/journal" # no newline: the append was cut
    cerebro-sched resume "$D/torn" 2>"$D/torn-resume.log"
    same_checkpoints "$D/torn"
    run cerebro-sched status "$D/torn"
    [ "$status" -eq 0 ]
    [[ $output == *"finished"* ]]
    # every line is one whole record of a known kind, the torn one gone
    run ! grep -Evq '^(cerebro-sched journal 1|(unit|fail|valid|out|diverged|cut|changed)	.*|done)$' "$D/torn/journal"
    run ! grep -q '1796unit' "$D/torn/journal"
}

@test "journal records of a shard out of range or of a shard twice in an epoch are refused; status deletes nothing" {
    corrupt() { # NAME SED-SCRIPT: a copy of the finished reference job, its journal edited
        rm -rf "$D/$1"
        cp -r "$D/ref" "$D/$1"
        sed -i "$2" "$D/$1/journal"
    }
    corrupt badshard "/^done\$/i fail\t0\t1\t99\t0\t1.0\t2.0\t1\tx"
    for cmd in status resume; do
        run cerebro-sched "$cmd" "$D/badshard"
        [ "$status" -eq 1 ] # resume crashed (SIGSEGV) in its reports
        [[ $output == *"journal record names trial 0 / worker 0 / shard 99 of a job with 4 trials, 3 workers and 3 shards"* ]]
    done
    first=$(grep -m1 -n '^unit' "$D/ref/journal" | cut -d: -f1)
    [ -n "$first" ]
    corrupt twice "${first}p" # the first unit journaled twice
    run cerebro-sched status "$D/twice"
    [ "$status" -eq 1 ]
    [[ $output == *"trained shard"*"twice in epoch 1"* ]]
    # status changes nothing: a stale intermediate checkpoint that replay would remove stays
    corrupt stale ""
    cp "$D/ref/ckpt/t000/init.ckpt" "$D/stale/ckpt/t000/e1-1.ckpt"
    cerebro-sched status "$D/stale" >/dev/null
    [ -f "$D/stale/ckpt/t000/e1-1.ckpt" ]
    cerebro-sched resume "$D/stale" # resume does tidy it
    [ ! -e "$D/stale/ckpt/t000/e1-1.ckpt" ]
}

@test "a trainer that exits 0 without its checkpoint: the unit fails, nothing is journaled as done" {
    printf '#!/bin/bash\nif [[ $1 == train ]]; then echo "{\\"rows\\":64,\\"loss\\":1,\\"accuracy\\":0.5}"; exit 0; fi\nexec %s "$@"\n' \
        "$(command -v cerebro-train)" >"$D/nockpt-train"
    chmod +x "$D/nockpt-train"
    run env CEREBRO_TRAIN="$D/nockpt-train" cerebro-sched run "$D/grid.ini" --job "$D/nockpt"
    [ "$status" -eq 1 ]
    run ! grep -q '^unit' "$D/nockpt/journal"
    grep -q '^fail.*wrote no checkpoint.*is model_dir shared' "$D/nockpt/journal"
    cerebro-sched resume "$D/nockpt" # the real trainer: every unit still to train
    same_checkpoints "$D/nockpt"
}

@test "a validation that hangs is killed at unit_timeout and counted as a failure" {
    printf '#!/bin/bash\n[[ $1 == eval ]] && exec sleep 60.4271\nexec %s "$@"\n' \
        "$(command -v cerebro-train)" >"$D/hang-eval"
    chmod +x "$D/hang-eval"
    sed 's/^retries = 2$/retries = 1\nunit_timeout = 1/' "$D/grid.ini" >"$D/vto.ini"
    SECONDS=0
    run env CEREBRO_TRAIN="$D/hang-eval" timeout 60 cerebro-sched run "$D/vto.ini" --job "$D/vto"
    [ "$status" -eq 1 ] # it waited forever (timeout's 124)
    ((SECONDS < 50))
    [[ $output == *"validation of trial "*"failed 2 times"*"timed out"* ]]
    run ! pgrep -f "^sleep 60.4271$"
    cerebro-sched resume "$D/vto"
    same_checkpoints "$D/vto"
}

@test "run: an init checkpoint a failed run left is made again; a model_dir with another job's checkpoints is refused" {
    # a run that failed before its journal leaves init.ckpt files: the next run into the same
    # directory (another seed, a fixed workload) trained from them
    mkdir -p "$D/reinit/ckpt/t000"
    cp "$D/ref/ckpt/t000/e2-3.ckpt" "$D/reinit/ckpt/t000/init.ckpt"
    cerebro-sched run "$D/grid.ini" --job "$D/reinit" 2>/dev/null
    same_checkpoints "$D/reinit"
    cmp "$D/ref/ckpt/t000/init.ckpt" "$D/reinit/ckpt/t000/init.ckpt"
    # two jobs, one model_dir: the second would overwrite the first's checkpoints
    workload async "model_dir = $D/shared-md" >"$D/smd.ini"
    cerebro-sched run "$D/smd.ini" --job "$D/smd1" 2>/dev/null
    sum=$(cat "$D"/shared-md/t00*/*.ckpt | md5sum)
    run cerebro-sched run "$D/smd.ini" --job "$D/smd2"
    [ "$status" -eq 1 ]
    [[ $output == *"\"$D/shared-md/t000\" already holds checkpoints of another job (e"*"HINT: give each job a model_dir of its own"* ]]
    [ "$(cat "$D"/shared-md/t00*/*.ckpt | md5sum)" = "$sum" ]
}

@test "the man page documents every command and option of --help" {
    for cmd in run resume status simulate; do
        grep -q "^\.B cerebro-sched $cmd\$" "$REPO/docs/cerebro-sched.1"
    done
    help=$( (cerebro-sched --help; cerebro-sched simulate --help; cerebro-sched run --help) |
        grep -oE -- '--[a-z-]+' | sort -u)
    man=$(sed 's/\\-/-/g; s/\\f[BIR]//g' "$REPO/docs/cerebro-sched.1" | grep -oE -- '--[a-z-]+' | sort -u)
    diff <(echo "$help") <(echo "$man")
    # the top-level --help names each command's options too
    cerebro-sched --help | grep -q -- 'resume DIR \[--on-snapshot-change stop|continue\]'
}

@test "a trial that fails on every worker is taken out of the run; the others train; resume retries it" {
    # every unit of t001 fails, wherever it runs (as with a damaged checkpoint). Its retry
    # waits for another worker, or for its worker to train another trial, so each failure
    # lands on a worker that then works: after `retries` (2) such failures the trial is
    # taken out, not the workers (before, the workers were taken out in turn and the job
    # stopped, leaving the good trials unfinished)
    printf '#!/bin/bash\nif [[ $1 == train && $* == */t001/* ]]; then echo "cerebro-train: error: checkpoint damaged" >&2; exit 1; fi\nexec %s "$@"\n' \
        "$(command -v cerebro-train)" >"$D/badtrial-train"
    chmod +x "$D/badtrial-train"
    run env CEREBRO_TRAIN="$D/badtrial-train" cerebro-sched run "$D/grid.ini" --job "$D/badtrial"
    [ "$status" -eq 1 ]
    [[ $output == *"trial t001 taken out of this run: 2 failures, each on a worker that then trained another trial; the last: exit status 1; cerebro-train: error: checkpoint damaged"* ]]
    [[ $output == *"error: trial t001 was taken out of this run: its units kept failing on workers that trained other trials in between"* ]]
    [[ $output == *"DETAIL: the other trials trained as far as they could; t001: 2 failures"* ]]
    [[ $output == *"HINT: fix what makes it fail (the model files are in $D/badtrial/models), then continue with \`cerebro-sched resume $D/badtrial\`"* ]]
    J="$D/badtrial/journal"
    run ! grep -q '^out' "$J"                 # no worker was taken out
    run ! grep -q $'^fail\t[023]\t' "$J"      # no other trial failed
    [ "$(grep -c $'^fail\t1\t' "$J")" -ge 2 ] # each failure after another trial's unit there
    [ "$(grep -c $'^trialout\t1\t2 failures' "$J")" -eq 1 ]
    for t in 0 2 3; do [ "$(grep -c $'^unit\t'$t$'\t' "$J")" -eq 6 ]; done # 3 shards x 2 epochs
    grep -q 't001 .*(taken out in epoch 1: its units kept failing)' "$D/badtrial/leaderboard.txt"
    run cerebro-sched status "$D/badtrial"
    [[ $output == *"t001  epochs 0/2  (taken out of the last run in epoch 1: 2 failures"* ]]
    cerebro-sched resume "$D/badtrial" # the real trainer: the trial trains
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$D/badtrial" 3 2
    same_checkpoints "$D/badtrial"
    run cerebro-sched status "$D/badtrial"
    [[ $output != *"taken out of the last run"* ]]
}

@test "a trainer that leaves no message: the reason says its log is empty; the stop names the last failure" {
    printf '#!/bin/bash\nif [[ $1 == train ]]; then exit 4; fi\nexec %s "$@"\n' \
        "$(command -v cerebro-train)" >"$D/mute-train"
    chmod +x "$D/mute-train"
    run env CEREBRO_TRAIN="$D/mute-train" cerebro-sched run "$D/grid.ini" --job "$D/mute"
    [ "$status" -eq 1 ]
    grep -q $'^fail\t.*\texit status 4; no message: its log ".*" is empty\t' "$D/mute/journal"
    [[ $output == *"DETAIL: workers taken out on localhost; the last failure: unit t0"*"exit status 4; no message: its log"* ]]
}
