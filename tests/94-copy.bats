#!/usr/bin/env bats
# cerebro-sched with [scheduler] model_store = copy: models hop between hosts that share no
# file system with the scheduler. Two ssh hosts, 127.0.0.1 and 127.0.0.2, each a real sshd in
# a mount namespace of its own where an empty tmpfs hides the directory of the jobs (model
# files and checkpoints), train the 4-configuration grid of 92-sched over 3 Fashion-MNIST
# shards; the model files and checkpoints travel framed and checksummed over each unit's own
# ssh connection. The final checkpoints equal those of model_store = shared with the local
# launcher; schedule.csv counts the bytes of every hop; a flipped byte or a cut stream is
# caught by checksum, fails its unit with the reason and is retried; nothing is left on the
# remote hosts.

load helpers
source "$REPO/tests/lib/sshd.bash"
source "$REPO/tests/lib/grid.bash"

setup_file() {
    export D=$BATS_FILE_TMPDIR J=$BATS_FILE_TMPDIR/jobs
    grid_data copy "$D"
    mkdir -p "$J"
    workload shared >"$D/ref.ini"
    cerebro-sched run "$D/ref.ini" --job "$J/ref" 2>"$D/ref.log"
    # a host's sshd: in a mount namespace of its own, where an empty tmpfs covers $J (the jobs)
    # and holds only the host's TMPDIR; the shards and the binaries stay visible
    printf '#!/bin/sh\nexec unshare -m --propagation private -- sh -c %s sh "$@"\n' \
        "'mount -t tmpfs -o size=64m,mode=0755 hidden \"$J\" && mkdir \"$J/tmp\" && exec \"\$@\"'" \
        >"$D/hide-jobs"
    chmod +x "$D/hide-jobs"
    CD_SSHD_PREFIX=$D/hide-jobs sshd_start "$D/sshd" "SetEnv TMPDIR=$J/tmp"
    CD_SSHD_PREFIX=$D/hide-jobs sshd_start_host "$D/host2" 127.0.0.2 "SetEnv TMPDIR=$J/tmp"
    local opts="  BatchMode yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  IdentityFile $CD_SSHD_DIR/client_key\n"
    printf "Host 127.0.0.1\n  Port %s\n$opts" "$CD_SSHD_PORT" >"$D/ssh_config"
    printf "Host 127.0.0.2\n  Port %s\n$opts" "$(cat "$D/host2/port")" >>"$D/ssh_config"
}

teardown_file() {
    sshd_stop
    pg_stop_all
}

# workload STORE [[workers] lines...]: the 4-configuration grid, 3 shards, 2 epochs
workload() {
    local store=$1
    shift
    printf '[data]\ntrain = %s\nvalid = %s\n[model]\nfile = %s\n' "$D/train" "$D/valid/part0" "$D/tiny.ini"
    printf '[search]\ntrain.lr = 0.001, 0.003\ntrain.batch_size = 64, 128\n'
    printf '[procedure]\nkind = grid\nepochs = 2\n'
    printf '[scheduler]\npolicy = async\nretries = 5\nmodel_store = %s\n' "$store"
    printf '[workers]\nthreads = 1\n'
    printf '%s\n' "$@"
}

# ssh_workload TEMPLATE: copy over ssh; fm_p0 and fm_p2 on 127.0.0.1, fm_p1 on 127.0.0.2
ssh_workload() {
    workload copy "launcher = ssh" "ssh_command = $1" \
        "worker = 127.0.0.1:$D/train/fm_p0" "worker = 127.0.0.2:$D/train/fm_p1" \
        "worker = 127.0.0.1:$D/train/fm_p2"
}

# same_checkpoints JOB: the final checkpoint of every trial equals the shared, local run's
same_checkpoints() {
    local t
    for t in t000 t001 t002 t003; do
        cmp "$J/ref/ckpt/$t/e2-3.ckpt" "$1/ckpt/$t/e2-3.ckpt"
    done
}

# on_host PIDFILE CMD...: CMD in the mount namespace of the sshd whose pid PIDFILE holds
on_host() {
    local pid
    pid=$(head -1 "$1")
    shift
    nsenter -t "$pid" -m -- "$@"
}

@test "the hosts cannot see the job directory: model_store = shared could not work there" {
    [ -e "$J/ref/models/t000.ini" ]
    [ -e "$J/ref/ckpt/t000/init.ckpt" ]
    for h in 127.0.0.1 127.0.0.2; do
        run ssh -F "$D/ssh_config" "$h" ls -A "$J"
        [ "$status" -eq 0 ]
        [ "$output" = tmp ]
        run ssh -F "$D/ssh_config" "$h" cat "$J/ref/models/t000.ini"
        [ "$status" -ne 0 ]
        ssh -F "$D/ssh_config" "$h" test -d "$D/train/fm_p0" # the shards are there
    done
    # the reference run moved nothing
    [ "$(awk -F, 'NR > 1 && ($12 != 0 || $13 != 0)' "$J/ref/schedule.csv" | wc -l)" -eq 0 ]
}

@test "copy over ssh to two hosts: the same final checkpoints, each hop's bytes in schedule.csv" {
    ssh_workload "ssh -F $D/ssh_config {host} {command}" >"$D/copy.ini"
    cerebro-sched run "$D/copy.ini" --job "$J/copy" 2>"$D/copy.log"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$J/copy" 3 2
    same_checkpoints "$J/copy"
    head -1 "$J/copy/schedule.csv" | grep -q ',numerics,bytes_in,bytes_out$'
    run "$PYTHON" "$REPO/tests/lib/check_hops.py" "$J/copy"
    echo "# $output" >&3 # the bytes of the hops
    [ "$status" -eq 0 ]
    # both hosts trained, through their own sshd, with the scheduler's numerics
    grep -q 'Accepted publickey' "$D/sshd/sshd.log"
    grep -q 'Accepted publickey' "$D/host2/sshd.log"
    [ "$(awk -F, '$5 == 1 && $9 == "ok"' "$J/copy/schedule.csv" | wc -l)" -eq 8 ]
    [ "$(grep -c ',ok,same,' "$J/copy/schedule.csv")" -eq 24 ]
    [ -z "$(ls -A "$J/copy/xfer")" ]
}

@test "copy with the local launcher: the same final checkpoints and bytes" {
    workload copy >"$D/local.ini"
    cerebro-sched run "$D/local.ini" --job "$J/local" 2>"$D/local.log"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$J/local" 3 2
    same_checkpoints "$J/local"
    "$PYTHON" "$REPO/tests/lib/check_hops.py" "$J/local"
    [ -z "$(ls -A "$J/local/xfer")" ]
}

@test "kill -9 of the scheduler under copy, then resume: stale streams go, identical result" {
    # trainers that start 0.2 s late, so that units are running when the scheduler dies
    printf '#!/bin/bash\n[[ $1 == train ]] && sleep 0.2\nexec %s "$@"\n' \
        "$(command -v cerebro-train)" >"$D/slow-train"
    chmod +x "$D/slow-train"
    CEREBRO_TRAIN=$D/slow-train cerebro-sched run "$D/local.ini" --job "$J/res" 2>"$D/res.log" 3>&- &
    sched=$!
    for _ in $(seq 400); do
        [ "$(grep -c '^unit' "$J/res/journal" 2>/dev/null)" -ge 4 ] && break
        sleep 0.05
    done
    kill -9 "$sched"
    wait "$sched" || true
    sleep 0.5 # the orphaned trainers answer into xfer/
    [ -n "$(ls -A "$J/res/xfer")" ]
    cerebro-sched resume "$J/res" 2>>"$D/res.log"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$J/res" 3 2
    same_checkpoints "$J/res"
    [ -z "$(ls -A "$J/res/xfer")" ]
}

@test "a flipped byte or a cut stream is caught by checksum, fails its unit and is retried" {
    # an ssh_command that damages the first three units' streams: a byte of the request
    # flipped, the answer cut after 3000 bytes, a byte of the answer flipped
    mkdir -p "$D/evil"
    cat >"$D/evil.sh" <<EOF
#!/bin/bash
flip() { /usr/bin/python3 -c 'import sys; b = bytearray(sys.stdin.buffer.read()); b[5000] ^= 0x20; sys.stdout.buffer.write(b)'; }
ssh=(ssh -F $D/ssh_config "\$1" "\$2")
if mkdir $D/evil/1 2>/dev/null; then
    flip | "\${ssh[@]}"
elif mkdir $D/evil/2 2>/dev/null; then
    "\${ssh[@]}" | { head -c 3000; cat >/dev/null; }
elif mkdir $D/evil/3 2>/dev/null; then
    "\${ssh[@]}" | flip
else
    exec "\${ssh[@]}"
fi
EOF
    chmod +x "$D/evil.sh"
    ssh_workload "$D/evil.sh {host} {command}" >"$D/evil.ini"
    cerebro-sched run "$D/evil.ini" --job "$J/evil" 2>"$D/evil.log"
    [ "$(grep -c '^fail' "$J/evil/journal")" -eq 3 ]
    grep -q $'^fail\t.*exit status 1; cerebro-train: error: checksum mismatch in the request on stdin: frame CKPT' "$J/evil/journal"
    grep -q $'^fail\t.*\tthe answer of worker [0-2] (127.0.0.[12]) is truncated: it ends after 3000 bytes, in frame CKPT' "$J/evil/journal"
    grep -q $'^fail\t.*\tchecksum mismatch in the answer of worker [0-2] (127.0.0.[12]): frame CKPT' "$J/evil/journal"
    grep -q 'failed on worker .*checksum mismatch' "$D/evil.log"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$J/evil" 3 2
    same_checkpoints "$J/evil"
    "$PYTHON" "$REPO/tests/lib/check_hops.py" "$J/evil"
    [ "$(grep -c 'failed: the answer .* is truncated.*,3000$' "$J/evil/schedule.csv")" -eq 1 ]
    [ -z "$(ls -A "$J/evil/xfer")" ]
}

@test "nothing is left on the remote hosts: their view of the jobs holds an empty TMPDIR" {
    [ -d "$J/copy" ] || cd_skip "needs the jobs of the tests before"
    for pidfile in "$D/sshd/sshd.bgpid" "$CD_SSHD_DIR/hosts.bgpid"; do
        run on_host "$pidfile" find "$J" -mindepth 1
        [ "$status" -eq 0 ]
        [ "$output" = "$J/tmp" ]
    done
}
