#!/usr/bin/env bats
# cerebro-sched over a Citus table on a real multi-host cluster (tests/lib/citus.bash): a
# coordinator and two worker hosts, each in a mount namespace of its own with its own sshd and
# cerebro-ds-fuse mount, none of which can see the jobs directory. [data] train = citus:...
# finds the shards and their placements on the coordinator and trains each shard on its host
# through the ssh launcher with model_store = copy; validation runs on the hosts too. The
# faults of issue 12 item 5, each ending in final checkpoints equal to one host's local run
# over the same shards: a daemon killed mid-job (and the table changed meanwhile), a host that
# stops answering, a shard moved between a stop and a resume; and the cut every host must
# show before the first unit.

load helpers
source "$REPO/tests/lib/sshd.bash"
source "$REPO/tests/lib/citus.bash"

MNT=/mnt/cerebro-ds/postgres/public.fm

setup_file() {
    export D=$BATS_FILE_TMPDIR J=$BATS_FILE_TMPDIR/jobs
    mkdir -p "$J"
    citus_start 2
    load_fashion coord fm_src --split train --limit 2000
    load_fashion coord fv_src --split test --limit 500
    citus_psql coord -c "CREATE TABLE fm (LIKE fm_src); INSERT INTO fm SELECT * FROM fm_src ORDER BY id;
        SELECT create_distributed_table('fm', 'id', shard_count := 4);
        CREATE TABLE fv (LIKE fv_src); INSERT INTO fv SELECT * FROM fv_src ORDER BY id;
        SELECT create_distributed_table('fv', 'id', shard_count := 2)" >/dev/null
    # A move copies a shard's rows in their physical order into a new heap, whose pages fill
    # otherwise than the first load's did: move every shard once, so that the move of the
    # last test keeps each row where it is (and so the batches).
    local id node port
    while read -r id node port; do
        move_shard "$id" "$node" "$port"
    done < <(citus_psql coord -Atc "SELECT shardid, nodename, nodeport FROM citus_shards
        WHERE table_name = 'fm'::regclass ORDER BY shardid" | tr '|' ' ')
    sshd_start "$D/sshd"
    for node in w1 w2; do
        host_start "$node" "$D/$node" "$J"
        host_mount "$node" "tables = public.fm, public.fv"
    done
    cluster_conf "$D" "public.fm, public.fv"
    cut
    printf '[model]\ninput = 784\nlayers = dense:32, relu, dense:10\nclasses = 10\nscale = 0.00392156862745098\n[train]\noptimizer = adam\nlr = 0.001\nbatch_size = 128\nseed = 1\n' \
        >"$D/tiny.ini"
    # the reference: every worker's shards exported to one directory here, the local launcher
    for node in w1 w2; do
        cerebro-ds -q --conninfo "$(pg_conninfo "$node")" export public.fm "$D/local/train"
        cerebro-ds -q --conninfo "$(pg_conninfo "$node")" export public.fv "$D/local/valid"
    done
    printf '[data]\ntrain = %s\n[model]\nfile = %s\n' "$D/local/train" "$D/tiny.ini" >"$D/ref.ini"
    grid >>"$D/ref.ini"
    cerebro-sched run "$D/ref.ini" --job "$J/ref" 2>"$D/ref.log"
}

teardown_file() {
    hosts_stop
    sshd_stop
    pg_stop_all
}

# move_shard ID NODE PORT: to the other worker node
move_shard() {
    local to=w1
    [[ $2 == "$(citus_addr w1)" ]] && to=w2
    citus_psql coord -c "SELECT citus_move_shard_placement($1, '$2', $3, '$(citus_addr $to)',
        $(citus_port $to), shard_transfer_mode := 'block_writes')" >/dev/null
}

# cut: every host's mount takes one snapshot of both tables
cut() {
    cerebro-ds -c "$D/cluster.conf" refresh --cluster public.fm public.fv >"$D/cut.log"
}

grid() {
    printf '[search]\ntrain.lr = 0.001, 0.003\ntrain.batch_size = 64, 128\n'
    printf '[procedure]\nkind = grid\nepochs = 2\n'
}

# workload [[scheduler] lines...]: the grid over citus:...#public.fm on the hosts, copy, ssh
workload() {
    local ci
    ci=$(pg_conninfo coord)
    printf '[data]\ntrain = citus:%s#public.fm\nvalid = citus:%s#public.fv\n' "$ci" "$ci"
    printf '[model]\nfile = %s\n' "$D/tiny.ini"
    grid
    printf '[scheduler]\nmodel_store = copy\n'
    printf '%s\n' "$@"
    printf '[workers]\nlauncher = ssh\nssh_command = ssh -F %s {host} {command}\n' "$D/ssh_config"
}

# same_checkpoints JOB: the final checkpoint of every trial equals the local reference's
same_checkpoints() {
    local t
    for t in t000 t001 t002 t003; do
        cmp "$J/ref/ckpt/$t/e2-4.ckpt" "$1/ckpt/$t/e2-4.ckpt"
    done
}

# units_done JOB N: wait (at most 60 s) until JOB has journaled N units
units_done() {
    for _ in $(seq 600); do
        [ "$(grep -c '^unit' "$1/journal" 2>/dev/null || true)" -ge "$2" ] 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# kill_daemon NODE: kill -9 of the host's cerebro-ds-fuse
kill_daemon() {
    kill -9 "$(cat "$D/$1/fuse.pid")"
    for _ in $(seq 50); do
        run host_run "$1" ls /mnt/cerebro-ds
        [ "$status" -ne 0 ] && return 0
        sleep 0.1
    done
}

# start_job NAME [[scheduler] lines...]: the workload's job $J/NAME in the background (its pid
# in sched, its stderr in $D/NAME.log), once it has journaled 6 units
start_job() {
    workload "${@:2}" >"$D/$1.ini"
    cerebro-sched run "$D/$1.ini" --job "$J/$1" 2>"$D/$1.log" 3>&- &
    sched=$!
    units_done "$J/$1" 6
}

# change_mid_job NODE: NODE's daemon killed, every row of fm updated (new versions, same
# values), the daemon mounted again and the hosts cut again
change_mid_job() {
    kill_daemon "$1"
    citus_psql coord -c 'UPDATE fm SET y = y' >/dev/null
    host_umount "$1"
    host_mount "$1" "tables = public.fm, public.fv"
    cut
}

@test "workload errors: worker lines with citus:, a table that is not distributed" {
    { workload; echo "worker = 127.0.0.2:$MNT/s1"; } >"$D/bad.ini"
    run cerebro-sched run "$D/bad.ini" --job "$J/bad"
    [ "$status" -ne 0 ]
    [[ $output == *"worker lines with a citus: [data] train"* ]]
    workload | sed 's/#public.fm$/#public.fm_src/' >"$D/bad2.ini"
    run cerebro-sched run "$D/bad2.ini" --job "$J/bad2"
    [ "$status" -ne 0 ]
    [[ $output == *"public.fm_src is not a distributed Citus table"* ]]
}

@test "the hosts must show one cut before the first unit: an error names each host's" {
    host_umount w2
    host_mount w2 "tables = public.fm, public.fv" # pins on first access: no cut
    workload >"$D/a.ini"
    run cerebro-sched run "$D/a.ini" --job "$J/nocut"
    [ "$status" -ne 0 ]
    [[ $output == *"the worker hosts do not show one cluster cut of public.fm"* ]]
    [[ $output == *"127.0.0.2 shows cut "* && $output == *"127.0.0.3 shows no cut"* ]]
    [[ $output == *"cerebro-ds refresh --cluster"* ]]
    [ "$(grep -c '^unit' "$J/nocut/journal")" -eq 0 ]
    cut
    cerebro-sched resume "$J/nocut" 2>"$D/nocut.log" # after the cut, the job runs
    same_checkpoints "$J/nocut"
    [ "$(grep -c '^cut' "$J/nocut/journal")" -eq 1 ]
}

@test "copy over ssh to the shards' hosts: the local run's checkpoints, exact validation" {
    workload >"$D/a.ini"
    cerebro-sched run "$D/a.ini" --job "$J/a" 2>"$D/a.log"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$J/a" 4 2
    same_checkpoints "$J/a"
    # one worker per shard placement, on the host the coordinator names
    [ "$(grep -c '^worker' "$J/a/workers")" -eq 4 ]
    for node in w1 w2; do
        for s in $(citus_shards_on "$node" fm); do
            grep -q $'^worker\t'"$(citus_addr "$node")"$'\t[0-3]\t'"$MNT/$s"'$' "$J/a/workers"
        done
    done
    run "$PYTHON" "$REPO/tests/lib/check_hops.py" "$J/a"
    echo "# $output" >&3
    [ "$status" -eq 0 ]
    # every unit ran on the host of its shard, and read the cut journaled before the first
    cut_id=$(awk -F'\t' '$1 == "cut" {print $2}' "$J/a/journal")
    [ -n "$cut_id" ]
    [ "$(awk -F'\t' -v c="$cut_id" '$1 == "unit" && $16 == c' "$J/a/journal" | wc -l)" -eq 32 ]
    # validation: an eval on each host over its fv shards, weighted by rows = one eval of all
    local_eval=$(cerebro-train eval --model "$J/a/models/t000.ini" --ckpt "$J/a/ckpt/t000/e2-4.ckpt" \
        --data "$D/local/valid/$(ls "$D/local/valid" | grep '^s' | head -1)" \
        --data "$D/local/valid/$(ls "$D/local/valid" | grep '^s' | tail -1)" --threads 1)
    want=$(echo "$local_eval" | sed 's/.*"loss":\([^,]*\),"accuracy":\([^,]*\),.*/\1 \2/')
    got=$(awk -F'\t' '$1 == "valid" && $2 == 0 && $3 == 2 {print $4, $5}' "$J/a/journal")
    echo "# validation of t000 epoch 2: hosts combined $got, one eval $want" >&3
    awk -v w="$want" -v g="$got" 'BEGIN {split(w, a, " "); split(g, b, " ");
        d = (a[1] - b[1]) / a[1]; e = a[2] - b[2]; exit !(d * d < 1e-12 && e * e < 1e-12)}'
    [ "$(ls "$J/a/logs" | grep -c 'valid-[01]\.json$')" -eq 16 ] # fv: a shard on each host
    [ -z "$(ls -A "$J/a/xfer")" ]
    # per-unit ssh overhead: units here against the same units on the local launcher
    echo "# mean unit seconds: ssh + copy $(awk -F, 'NR > 1 {s += $7 - $6; n++} END {printf "%.3f", s / n}' "$J/a/schedule.csv")," \
        "local $(awk -F, 'NR > 1 {s += $7 - $6; n++} END {printf "%.3f", s / n}' "$J/ref/schedule.csv")" >&3
    # status needs no coordinator: the shards and workers are the job's (DIR/workers)
    cerebro-sched status "$J/a" >"$D/a.status"
    pg_stop coord
    run cerebro-sched status "$J/a"
    _citus_node coord
    echo "$output" >&3
    [ "$status" -eq 0 ]
    [ "$output" == "$(cat "$D/a.status")" ]
    [[ $output == *"policy async, 4 trials, 4 shards, 4 workers (0 taken out)"* ]]
    [[ $output == *"(shards and workers as the job's last run found them, $J/a/workers: the coordinator is not asked)"* ]]
    [[ $output == *"units 32 done, 0 to go"* ]]
}

@test "a host's daemon killed mid-job: its unit fails, is retried after the remount, same result" {
    start_job b "retries = 40"
    kill_daemon w2
    sleep 0.5
    host_umount w2
    host_mount w2 "tables = public.fm, public.fv"
    wait "$sched"
    grep -q $'^fail\t' "$J/b/journal"
    same_checkpoints "$J/b"
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$J/b" 4 2
    [ "$(grep -c '^changed' "$J/b/journal")" -eq 0 ]
    cut # the hosts again in one cut
}

@test "a host that stops answering: its workers go, every shard it had is named; resume" {
    start_job c "retries = 3"
    host_sshd_stop w2
    rc=0
    wait "$sched" || rc=$?
    host_sshd_start w2
    [ "$rc" -eq 1 ]
    mapfile -t lost < <(citus_shards_on w2 fm)
    [ "${#lost[@]}" -eq 2 ]
    grep -q "shards \"${lost[0]}\", \"${lost[1]}\" cannot be trained: every worker that reaches them was taken out" "$D/c.log"
    grep -q 'workers taken out on 127.0.0.3;' "$D/c.log"
    [ "$(grep -c $'^out\t' "$J/c/journal")" -eq 2 ]
    cerebro-sched resume "$J/c" 2>>"$D/c.log"
    same_checkpoints "$J/c"
}

@test "a shard moved between a stop and a resume is trained at its new host" {
    start_job d
    kill -TERM "$sched"
    rc=0
    wait "$sched" || rc=$?
    [ "$rc" -eq 143 ]
    moved=$(citus_shards_on w2 fm | head -1)
    move_shard "${moved#s}" "$(citus_addr w2)" "$(citus_port w2)"
    cut
    # without the mount's content hash every shard's cut differs from the job's: accept that
    opt=()
    if host_run w1 grep -q '^content = ' "$MNT/$moved/meta"; then :; else
        opt=(--on-snapshot-change continue)
    fi
    cerebro-sched resume "$J/d" "${opt[@]}" 2>>"$D/d.log"
    grep -q "is gone: the coordinator no longer places shard $moved on 127.0.0.3" "$D/d.log"
    grep -q "is new: shard $moved is on 127.0.0.2 now" "$D/d.log"
    grep -q $'^worker\t127.0.0.2\t[0-3]\t'"$MNT/$moved"'$' "$J/d/workers"
    same_checkpoints "$J/d"
    # after the resume (the second cut) every unit of the moved shard ran on its new host
    [ "$(grep -c '^cut' "$J/d/journal")" -eq 2 ]
    k=$(awk -F'\t' -v m="$moved" 'NR == 2 {for (i = 2; i <= NF; i++) if ($i == m) print i - 2}' "$J/d/workers")
    awk -F'\t' 'NR > 2 {print NR - 3, $2}' "$J/d/workers" >"$D/d.hosts"
    awk -F'\t' -v k="$k" 'FNR == NR {host[$1] = $2; next} $1 == "cut" {cuts++}
        $1 == "unit" && cuts == 2 && $4 == k {n++; if (host[$5] != "127.0.0.2") bad++}
        END {print n + 0, bad + 0}' FS=' ' "$D/d.hosts" FS='\t' "$J/d/journal" >"$D/d.moved"
    read -r n bad <"$D/d.moved"
    [ "$n" -ge 1 ]
    [ "$bad" -eq 0 ]
}

@test "the table changed while a daemon was down: the job stops naming the shard; continue" {
    start_job e "retries = 40"
    change_mid_job w2
    rc=0
    wait "$sched" || rc=$?
    [ "$rc" -eq 1 ]
    grep -q 'error: shard s[0-9]* changed during the job (read on 127.0.0.[23])' "$D/e.log"
    grep -q 'DETAIL: cut [0-9-]* -> [a-z0-9-]*, content [0-9a-f]* -> [0-9a-f]*; its earlier units read the old rows' "$D/e.log"
    grep -q $'^fail\t.*\tshard s[0-9]* changed: cut ' "$J/e/journal"
    # the same job goes on with the new rows when told so
    cerebro-sched resume "$J/e" --on-snapshot-change continue 2>>"$D/e.log"
    grep -q 'changed during the job: cut .* (on_snapshot_change = continue: going on)' "$D/e.log"
    [ "$(grep -c '^changed' "$J/e/journal")" -ge 1 ]
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$J/e" 4 2
}

@test "on_snapshot_change = continue: a change mid-job is logged and journaled, the job goes on" {
    start_job f "retries = 40" "on_snapshot_change = continue"
    change_mid_job w1
    wait "$sched"
    grep -q 'changed during the job: cut .* (on_snapshot_change = continue: going on)' "$D/f.log"
    [ "$(grep -c '^changed' "$J/f/journal")" -ge 1 ]
    "$PYTHON" "$REPO/tests/lib/check_schedule.py" "$J/f" 4 2
}
