#!/usr/bin/env bats
#
# A real Citus cluster on this machine: a coordinator on 127.0.0.1 and two worker hosts on
# 127.0.0.2 and 127.0.0.3, each with its own PostgreSQL 15 worker, its own sshd, and its own
# mount namespace with its own /mnt/cerebro-ds served by its own cerebro-ds-fuse
# (tests/lib/citus.bash). A worker's mount shows its placements as s<shardid> with the whole
# map in meta; every shard's files equal SELECT on its worker; reference and local tables
# are plain; cerebro-ds refresh --cluster gives one consistent cut under a writer that moves
# value between workers in two-phase-committed transactions; a moved shard is found at its
# new host.

load helpers
source "$REPO/tests/lib/sshd.bash"
source "$REPO/tests/lib/citus.bash"

MNT=/mnt/cerebro-ds/postgres

setup_file() {
    export D=$BATS_FILE_TMPDIR
    citus_start 2
    sshd_start "$D/sshd"
    citus_psql coord <<'SQL'
CREATE TABLE t (id int PRIMARY KEY, v float4, x real[], s text);
SELECT create_distributed_table('t', 'id', shard_count := 4);
INSERT INTO t SELECT i, i * 0.25, ARRAY[i, -i, i / 3.0]::real[], 'row ' || i
    FROM generate_series(1, 3000) i;
DELETE FROM t WHERE id % 10 = 3;
UPDATE t SET s = NULL WHERE id % 17 = 0;
CREATE TABLE r (id int, name text);
SELECT create_reference_table('r');
INSERT INTO r SELECT i, 'name ' || i FROM generate_series(1, 50) i;
CREATE TABLE acct (id int PRIMARY KEY, bal int8 NOT NULL);
SELECT create_distributed_table('acct', 'id', shard_count := 4);
INSERT INTO acct SELECT i, 1000 FROM generate_series(1, 16) i;
SQL
    citus_psql w1 -c "CREATE TABLE loc (a int, b float8); INSERT INTO loc VALUES (1, 0.5), (2, NULL)"
    local w
    for w in w1 w2; do
        host_start "$w" "$D/$w"
        host_mount "$w" "tables = public.t, public.r, public.acct"
    done
    cluster_conf "$D" "public.t, public.acct"
}

teardown_file() {
    hosts_stop
    sshd_stop
    pg_stop_all
}

# sum_on NODE: the sum of acct.bal over the shards of NODE's mount.
sum_on() {
    host_run "$1" "$PYTHON" -c 'import glob, sys, numpy
print(int(sum(numpy.load(f).sum() for f in glob.glob(sys.argv[1] + "/s*/bal.npy"))))' \
        "$MNT/public.acct"
}

@test "a worker host's mount: its placements as s<shardid>, the whole map in meta" {
    local w all=""
    for w in w1 w2; do
        run host_run "$w" ls "$MNT/public.t"
        [ "$status" -eq 0 ]
        [ "$output" = "$(printf 'meta\n%s' "$(citus_shards_on "$w" t)")" ]
        all+="$(citus_shards_on "$w" t) "
        run host_run "$w" cat "$MNT/public.t/meta"
        [ "$status" -eq 0 ]
        [[ $output == *"kind = distributed"* ]]
        [[ $output == *"column = id"* ]]
        [ "$(grep -c '^\[citus shard s' <<<"$output")" -eq 4 ]
        [ "$(grep -c '^local = yes' <<<"$output")" -eq 2 ]
    done
    # the two hosts hold the four shards between them, and agree on where each one is
    [ "$(tr ' ' '\n' <<<"$all" | grep -c .)" -eq 4 ]
    [ "$(tr ' ' '\n' <<<"$all" | sort -u | grep -c .)" -eq 4 ]
    diff <(host_run w1 grep -E '^(\[citus shard|range|hosts)' "$MNT/public.t/meta") \
        <(host_run w2 grep -E '^(\[citus shard|range|hosts)' "$MNT/public.t/meta")
    # the shard meta: which shard, its hash range, its host
    local s
    s=$(citus_shards_on w2 t | head -n 1)
    run host_run w2 cat "$MNT/public.t/$s/meta"
    [ "$status" -eq 0 ]
    [[ $output == *"citus_shard = ${s#s}"* ]]
    [[ $output == *"host = 127.0.0.3:$(citus_port w2)"* ]]
    [[ $output == *"range = "*..* ]]
    # the other host's mount namespace is not this one's; the test's own has none
    run mountpoint -q /mnt/cerebro-ds
    [ "$status" -ne 0 ]
}

@test "every shard's files equal SELECT on its worker" {
    local w s n=0
    for w in w1 w2; do
        for s in $(citus_shards_on "$w" t); do
            citus_psql "$w" -Atc "SET citus.override_table_visibility = off;
                SELECT json_agg(json_build_object('id', id, 'v', v, 'x', x, 's', s) ORDER BY ctid)
                FROM t_${s#s}" >"$D/$s.json"
            run host_run "$w" "$PYTHON" "$REPO/tests/lib/shard_oracle.py" "$MNT/public.t/$s" \
                "$D/$s.json"
            echo "$w $s: $output"
            [ "$status" -eq 0 ]
            [[ $output == rows=*" columns=4" ]]
            n=$((n + $(sed -n 's/^rows=\([0-9]*\).*/\1/p' <<<"$output")))
        done
    done
    [ "$n" -eq "$(citus_psql coord -Atc 'SELECT count(*) FROM t')" ]
    # s is NULL in some rows: valid.npy says which
    run host_run w1 ls "$MNT/public.t/$(citus_shards_on w1 t | head -n 1)"
    [[ $output == *"s.valid.npy"* ]]
}

@test "cerebro-ds export, verify and inspect on a worker; reference and local tables are plain" {
    local ci s
    ci=$(pg_conninfo w1)
    run cerebro-ds --conninfo "$ci" verify public.t
    [ "$status" -eq 0 ]
    [[ ${lines[-1]} == "rows=$(citus_psql coord -Atc "SELECT count(*) FROM t
        WHERE get_shard_id_for_distribution_column('t', id) IN
        ($(citus_shards_on w1 t | sed 's/^s//' | paste -sd,))") mismatches=0" ]]
    run cerebro-ds --conninfo "$ci" inspect public.t
    [ "$status" -eq 0 ]
    for s in $(citus_shards_on w1 t); do [[ $output == *"  $s: relation t_${s#s}"* ]]; done
    cerebro-ds -q --conninfo "$ci" export public.t "$D/export"
    for s in $(citus_shards_on w1 t); do
        run host_run w1 cmp "$D/export/$s/x.npy" "$MNT/public.t/$s/x.npy"
        [ "$status" -eq 0 ]
        run host_run w1 cmp "$D/export/$s/meta" "$MNT/public.t/$s/meta"
        [ "$status" -eq 0 ]
    done
    # a reference table: one shard part0, the local placement, all rows
    run host_run w2 cat "$MNT/public.r/part0/meta"
    [ "$status" -eq 0 ]
    [[ $output == *"rows = 50"* ]]
    run host_run w2 cat "$MNT/public.r/meta"
    [[ $output == *"kind = reference"* ]]
    run cerebro-ds --conninfo "$(pg_conninfo w2)" verify public.r
    [ "$status" -eq 0 ]
    [ "${lines[-1]}" = "rows=50 mismatches=0" ]
    # a table Citus does not know: plain PostgreSQL, no [citus] section
    run cerebro-ds --conninfo "$ci" verify public.loc
    [ "$status" -eq 0 ]
    [ "${lines[-1]}" = "rows=2 mismatches=0" ]
    cerebro-ds -q --conninfo "$ci" export public.loc "$D/loc"
    run grep -c citus "$D/loc/meta"
    [ "$output" = 0 ]
    # a distributed table is not split into block ranges
    run cerebro-ds --conninfo "$ci" --shards 2 inspect public.t
    [ "$status" -eq 1 ]
    [[ $output == *"is a distributed Citus table"* ]]
}

@test "refresh --cluster: 20 cuts under a writer moving value between workers, the sum is constant" {
    # ids of acct on each worker, for transfers that always span both (two-phase commit)
    local a b i k sum1 sum2 cut1 cut2 sums=""
    a=$(citus_keys_on w1 acct id)
    b=$(citus_keys_on w2 acct id)
    [ -n "$a" ]
    [ -n "$b" ]
    IFS=, read -ra A <<<"$a"
    IFS=, read -ra B <<<"$b"
    {
        echo '\timing on'
        for ((i = 0; i < 20000; i++)); do
            k=$((i % 7 + 1))
            printf 'BEGIN; UPDATE acct SET bal = bal - %d WHERE id = %d; ' "$k" "${A[i % ${#A[@]}]}"
            printf 'UPDATE acct SET bal = bal + %d WHERE id = %d; COMMIT;\n' "$k" "${B[i % ${#B[@]}]}"
        done
    } >"$D/writer.sql"
    citus_psql coord -f "$D/writer.sql" </dev/null >"$D/writer.out" 2>&1 3>&- &
    local writer=$!
    sleep 1
    for ((i = 1; i <= 20; i++)); do
        run cerebro-ds -c "$D/cluster.conf" refresh --cluster public.acct
        echo "$output"
        [ "$status" -eq 0 ]
        [[ ${lines[-1]} == "lock: waited "*" held "* ]]
        cut1=$(host_run w1 sed -n 's/^cut = //p' "$MNT/public.acct/meta")
        cut2=$(host_run w2 sed -n 's/^cut = //p' "$MNT/public.acct/meta")
        [ -n "$cut1" ]
        [ "$cut1" = "$cut2" ]
        [[ ${lines[0]} == "cut $cut1: 1 table(s) on 2 host(s)" ]]
        sum1=$(sum_on w1)
        sum2=$(sum_on w2)
        echo "cut $i: w1 $sum1 + w2 $sum2"
        [ $((sum1 + sum2)) -eq 16000 ]
        sums+="$sum1 "
    done
    # the oracle can fail: hosts refreshed one after the other, without the lock, do not
    # agree while the writer runs
    local torn=0
    for ((i = 1; i <= 5; i++)); do
        host_run w1 cerebro-ds refresh /mnt/cerebro-ds postgres/public.acct
        host_run w2 cerebro-ds refresh /mnt/cerebro-ds postgres/public.acct
        sum1=$(sum_on w1)
        sum2=$(sum_on w2)
        echo "unlocked $i: w1 $sum1 + w2 $sum2"
        if ((sum1 + sum2 != 16000)); then torn=$((torn + 1)); fi
    done
    [ "$torn" -gt 0 ]
    kill "$writer"
    wait "$writer" || true
    # the writer committed transactions during the cuts, and the cuts saw different states
    [ "$(grep -c '^Time:' "$D/writer.out")" -gt 100 ]
    [ "$(tr ' ' '\n' <<<"$sums" | sort -u | grep -c .)" -gt 2 ]
    # what a writer waited: the slowest statement of the writer
    grep '^Time:' "$D/writer.out" | awk '{ if ($2 > m) m = $2 } END { printf "writer: slowest statement %.1f ms\n", m }'
}

# contents NODE TABLE: "shard content" of each shard of TABLE on NODE's mount
contents() {
    local s
    for s in $(citus_shards_on "$1" "$2"); do
        echo "$s $(host_run "$1" sed -n 's/^content = //p' "$MNT/public.$2/$s/meta")"
    done
}

@test "shard meta content: the same across cuts of unchanged rows, another after a change" {
    local before after id s1 s2
    cerebro-ds -c "$D/cluster.conf" refresh --cluster public.t
    before=$(contents w1 t)
    cut1=$(host_run w1 sed -n 's/^cut = //p' "$MNT/public.t/meta")
    cerebro-ds -c "$D/cluster.conf" refresh --cluster public.t
    [ "$(contents w1 t)" = "$before" ]
    [ "$(host_run w1 sed -n 's/^cut = //p' "$MNT/public.t/meta")" != "$cut1" ]
    [[ $before =~ ^s[0-9]+\ [0-9a-f]{16} ]]
    # one row of w1's first shard changes: that shard's content changes, the other's does not
    s1=$(citus_shards_on w1 t | head -n 1)
    s2=$(citus_shards_on w1 t | tail -n 1)
    [ -n "$s1" ]
    [ "$s1" != "$s2" ]
    [ -n "$(grep "^$s2 " <<<"$before")" ]
    id=$(citus_psql coord -Atc "SELECT min(id) FROM t WHERE get_shard_id_for_distribution_column('t', id) = ${s1#s}")
    citus_psql coord -c "UPDATE t SET v = v + 1 WHERE id = $id"
    cerebro-ds -c "$D/cluster.conf" refresh --cluster public.t
    after=$(contents w1 t)
    [ "$(grep "^$s1 " <<<"$after")" != "$(grep "^$s1 " <<<"$before")" ]
    [ "$(grep "^$s2 " <<<"$after")" = "$(grep "^$s2 " <<<"$before")" ]
    # export writes the same content line as the mount
    cerebro-ds -q --conninfo "$(pg_conninfo w1)" export public.t "$D/export2"
    [ "$(sed -n 's/^content = //p' "$D/export2/$s1/meta")" = "$(grep "^$s1 " <<<"$after" | cut -d' ' -f2)" ]
}

@test "a shard moved to another host is served there after refresh --cluster" {
    local s
    s=$(citus_shards_on w1 t | head -n 1)
    citus_psql coord -Atc "SELECT citus_move_shard_placement(${s#s}, '127.0.0.2', $(citus_port w1),
        '127.0.0.3', $(citus_port w2), shard_transfer_mode := 'block_writes')"
    run cerebro-ds -c "$D/cluster.conf" refresh --cluster
    [ "$status" -eq 0 ]
    run host_run w2 ls "$MNT/public.t"
    [[ $output == *"$s"* ]]
    run host_run w1 ls "$MNT/public.t"
    [[ $output != *"$s"* ]]
    run host_run w2 cat "$MNT/public.t/$s/meta"
    [[ $output == *"host = 127.0.0.3:$(citus_port w2)"* ]]
    run host_run w1 grep -A3 "^\[citus shard $s\]" "$MNT/public.t/meta"
    [[ $output == *"local = no"* ]]
    [[ $output == *"hosts = 127.0.0.3:"* ]]
}

@test "refresh --cluster: clear errors for a host that does not answer and for a table that is not distributed" {
    run cerebro-ds -c "$D/cluster.conf" refresh --cluster public.r
    [ "$status" -eq 1 ]
    [[ $output == *"public.r"*"is not a distributed Citus table"* ]] || [[ $output == *"r is not a distributed Citus table"* ]]
    host_sshd_stop w2
    run cerebro-ds -c "$D/cluster.conf" refresh --cluster public.acct
    host_sshd_start w2
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *"127.0.0.3: FAILED: "* ]]
    [[ $output == *"is incomplete: 1 of 2 host(s) could not refresh"* ]]
    # the lock was released: a writer is not blocked
    run timeout 10 "$(_pg_bin psql)" -X -d "$(pg_conninfo coord)" -c "UPDATE acct SET bal = bal WHERE id = 1"
    [ "$status" -eq 0 ]
    run cerebro-ds -c "$D/cluster.conf" refresh --cluster public.acct
    [ "$status" -eq 0 ]
    # a cut id goes into meta files and logs: only letters, digits and - : .
    run host_run w1 cerebro-ds refresh --cut 'x
cut = forged' /mnt/cerebro-ds postgres/public.acct
    [ "$status" -eq 2 ]
    [[ $output == *"invalid --cut"* ]]
    # and the daemon itself refuses one, whoever asks
    run host_run w1 "$PYTHON" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect("\0" + open(sys.argv[1]).read().strip())
s.sendall(b"refresh postgres/public.acct cut=a/b\n")
print(s.recv(200).decode().strip())' /mnt/cerebro-ds/.cerebro-ds/control
    [[ $output == "error bad cut"* ]]
    run host_run w1 grep -c '^cut = ' "$MNT/public.acct/meta"
    [ "$output" = 1 ]
    run cerebro-ds -c "$D/cluster.conf" refresh --cluster --cut x public.acct
    [ "$status" -eq 2 ]
}
