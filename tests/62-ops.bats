#!/usr/bin/env bats
# Operating cerebro-ds-fuse on a segment host (issue 10), with the binaries of build/bin:
# `cerebro-ds doctor` against a real cluster (every check passing, and failing checks that
# name themselves with what to do), the daemon under systemd's protocols (READY=1 and
# STOPPING=1 on $NOTIFY_SOCKET, priority-prefixed lines without time stamps on the journal
# stream), mount(8)'s helper call with fstab's options, and refresh through the
# configuration file (the unit's ExecReload). The packages, the unit under systemd and
# `mount -T fstab` are tests/packaging/ (make check-packaging).

load helpers

setup_file() {
    pg_start ops autovacuum=off
    pg_psql ops -c "CREATE TABLE t (id int, v float8)" \
        -c "INSERT INTO t SELECT g, g / 2.0 FROM generate_series(1, 1000) g" \
        -c "CREATE TABLE secret (id int)" \
        -c "CREATE ROLE nopriv LOGIN" -c "GRANT SELECT ON t TO nopriv" -c "CHECKPOINT"
    export CONN=$(pg_conninfo ops)
    export DATA=$(pg_datadir ops)
    BASE=$(mktemp -d /tmp/cd-ops.XXXXXX)
    export BASE
}

teardown_file() {
    pg_stop_all
    rm -rf "$BASE"
}

setup() {
    MNT=$BASE/m$BATS_TEST_NUMBER
    FS_LOG=$BATS_TEST_TMPDIR/fuse.log
    CONF=$BATS_TEST_TMPDIR/ops.conf
    mkdir -p "$MNT"
    write_conf "$CONN" "public.t"
}

teardown() {
    local m pid
    for m in $(awk -v b="$BASE/" 'index($2, b) == 1 { print $2 }' /proc/mounts); do
        fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    for pid in $(cat "$BASE/pids" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    rm -f "$BASE/pids"
    if [[ -f $FS_LOG ]]; then sed 's/^/  fuse.log: /' "$FS_LOG" | tail -n 20; fi
}

# write_conf CONNINFO TABLES [more lines of [mount]...]: the test's configuration file.
write_conf() {
    local conninfo=$1 tables=$2
    shift 2
    printf '[database]\nconninfo = %s\n[mount]\nmountpoint = %s\ntables = %s\ncache_mb = 16\n' \
        "$conninfo" "$MNT" "$tables" >"$CONF"
    printf '%s\n' "$@" >>"$CONF"
}

# check_line STATUS NAME: the doctor's line of check NAME in $output has STATUS.
check_line() {
    grep -E "^$1 +$2: " <<<"$output" || {
        echo "no '$1 $2' line in:" >&2
        echo "$output" >&2
        return 1
    }
}

wait_mounted() {
    local i
    for ((i = 0; i < 150; i++)); do
        if mountpoint -q "$1" && [[ -r $1/.cerebro-ds/version ]]; then return 0; fi
        sleep 0.1
    done
    echo "cerebro-ds-fuse did not mount $1" >&2
    return 1
}

@test "doctor: every check passes on a ready host, one line each, exit 0" {
    run cerebro-ds doctor --config "$CONF"
    echo "$output"
    [ "$status" -eq 0 ]
    for c in fuse-device fusermount3 config "database postgres" "select postgres" \
        checkpoint pg-control datadir geometry mountpoint memory; do
        check_line ok "$c"
    done
    # initdb -k: checksums on; the data directory is the server's own
    grep -q "block size 8192, data checksums on" <<<"$output"
    grep -q "$DATA is readable" <<<"$output"
    [[ ${lines[-1]} == "doctor: 11 checks, 11 ok, 0 warn, 0 failed, 0 skipped: ready" ]]
    run ! grep -qE '^(FAIL|skip|warn) ' <<<"$output"
}

@test "doctor: failing checks name themselves and say what to do, exit 1" {
    # a role without SELECT on one table, a table that does not exist, a data directory of
    # another cluster, a missing mount point, a cache larger than the memory
    other=$BATS_TEST_TMPDIR/other
    mkdir -p "$other/global"
    head -c 8192 /dev/urandom >"$other/global/pg_control"
    write_conf "${CONN/user=postgres/user=nopriv}" "public.t, public.secret, public.nosuch" \
        "cache_mb = 100000000" "[database]" "datadir = $other"
    sed -i "s|^mountpoint = .*|mountpoint = $BASE/missing|" "$CONF"
    run cerebro-ds doctor --config "$CONF"
    echo "$output"
    [ "$status" -eq 1 ]
    check_line FAIL "select postgres" | grep -q "public.secret: no SELECT, public.nosuch: does not exist; fix: GRANT SELECT"
    check_line FAIL checkpoint | grep -q "role nopriv may not run CHECKPOINT.*; fix: GRANT pg_checkpoint TO"
    check_line FAIL datadir | grep -q "$other belongs to another cluster"
    check_line FAIL mountpoint | grep -q "$BASE/missing: No such file or directory; fix: create it"
    check_line FAIL memory | grep -q "fix: lower \[mount\] cache_mb to at most"
    check_line ok fuse-device
    check_line ok pg-control
    [[ ${lines[-1]} == "doctor: 11 checks, 6 ok, 0 warn, 5 failed, 0 skipped: NOT ready" ]]
}

@test "doctor: an unreachable database and a configuration that does not load" {
    # a port nobody listens on
    write_conf "host=127.0.0.1 port=1 user=postgres dbname=postgres" "public.t"
    SECONDS=0
    run cerebro-ds doctor --config "$CONF"
    echo "$output"
    [ "$status" -eq 1 ]
    check_line FAIL "database postgres" | grep -q "could not connect.*; fix: start the server"
    for c in select checkpoint pg-control datadir geometry; do check_line skip "$c"; done
    [[ ${lines[-1]} == "doctor: 11 checks, 5 ok, 0 warn, 1 failed, 5 skipped: NOT ready" ]]
    ((SECONDS < 30))
    # a syntax error: the file and line, and nothing that needs the configuration is checked
    printf '[mount]\ncache_mb = lots\n' >"$CONF"
    run cerebro-ds doctor --config "$CONF"
    echo "$output"
    [ "$status" -eq 1 ]
    check_line FAIL config | grep -q "$CONF"
    check_line skip database
    # a file that names nothing to serve
    printf '[database]\nconninfo = %s\n' "$CONN" >"$CONF"
    run cerebro-ds doctor --config "$CONF"
    [ "$status" -eq 1 ]
    check_line FAIL config | grep -q "names nothing to serve; fix: set \[mount\] tables"
    run cerebro-ds doctor --config "$BATS_TEST_TMPDIR/none.conf"
    [ "$status" -eq 1 ]
    check_line FAIL config | grep -q "none.conf"
    run cerebro-ds doctor extra
    [ "$status" -eq 2 ]
}

@test "doctor: --conninfo and --datadir override the file's; the other commands' options are refused" {
    # they were accepted and ignored: the file's unreachable server, the right data directory
    write_conf "host=127.0.0.1 port=1 user=postgres dbname=postgres" "public.t"
    run cerebro-ds doctor --config "$CONF" --conninfo "$CONN"
    echo "$output"
    [ "$status" -eq 0 ]
    check_line ok "database postgres"
    other=$BATS_TEST_TMPDIR/other
    mkdir -p "$other/global"
    head -c 8192 /dev/urandom >"$other/global/pg_control"
    run cerebro-ds doctor --config "$CONF" --conninfo "$CONN" --datadir "$other"
    echo "$output"
    [ "$status" -eq 1 ]
    check_line FAIL datadir | grep -q "$other belongs to another cluster"
    for opt in "--shards 2" "-j 2" "--columns x" "--verify none" "--cluster" "--no-unpack"; do
        run cerebro-ds doctor --config "$CONF" $opt
        [ "$status" -eq 2 ]
        [[ $output == *"doctor takes -c, --conninfo and --datadir, not --"* ]]
    done
}

@test "under systemd: READY=1 once the mount serves, STOPPING=1 at SIGTERM, journal lines with priorities" {
    sock=$BATS_TEST_TMPDIR/notify.sock
    got=$BATS_TEST_TMPDIR/notify.txt
    # the notification socket systemd would hold: every datagram, one per line
    "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2], "w", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg.replace("\n", " ") + "\n")
        if "STOPPING=1" in msg:
            break
' "$sock" "$got" 3>&- &
    listener=$!
    echo "$listener" >>"$BASE/pids"
    for ((i = 0; i < 100; i++)); do [[ -e $got.ready ]] && break; sleep 0.1; done
    # the journal stream: stderr is a file here; JOURNAL_STREAM names its device and inode
    : >"$FS_LOG"
    js=$(stat -c '%d:%i' "$FS_LOG")
    NOTIFY_SOCKET=$sock JOURNAL_STREAM=$js cerebro-ds-fuse -f --config "$CONF" \
        </dev/null 2>>"$FS_LOG" 3>&- &
    pid=$!
    echo "$pid" >>"$BASE/pids"
    wait_mounted "$MNT"
    for ((i = 0; i < 50; i++)); do grep -q READY=1 "$got" && break; sleep 0.1; done
    grep -q "^MAINPID=$pid READY=1 STATUS=serving" "$got"
    ls "$MNT/postgres/public.t/part0" | grep -q v.npy
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    wait "$pid"
    wait "$listener"
    grep -q "^MAINPID=$pid STOPPING=1" "$got"
    run ! mountpoint -q "$MNT"
    # every line: <priority>level: message, and no time stamp (the journal adds its own)
    cat "$FS_LOG"
    grep -q '^<6>info: mounted at ' "$FS_LOG"
    run ! grep -vqE '^<[3467]>(error|warning|info|debug): ' "$FS_LOG"
    run ! grep -qE '[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:' "$FS_LOG"
    # without the journal stream: the usual time-stamped lines on stderr
    : >"$FS_LOG"
    JOURNAL_STREAM=1:2 cerebro-ds-fuse -f --config "$CONF" </dev/null 2>>"$FS_LOG" 3>&- &
    pid=$!
    echo "$pid" >>"$BASE/pids"
    wait_mounted "$MNT"
    fusermount3 -u "$MNT"
    wait "$pid"
    grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} cerebro-ds-fuse\[[0-9]+\]: info: mounted at' "$FS_LOG"
}

@test "mount helper: mount(8)'s call with fstab's options mounts in the background; umount ends it" {
    write_conf "$CONN" "public.t" "log_file = $BATS_TEST_TMPDIR/daemon.log" # not /var/log
    ln -sf "$(command -v cerebro-ds-fuse)" "$BATS_TEST_TMPDIR/mount.fuse.cerebro-ds"
    helper=$BATS_TEST_TMPDIR/mount.fuse.cerebro-ds
    # -f (fake): nothing is mounted
    run "$helper" "$CONF" "$MNT" -f -o ro,_netdev,nofail
    [ "$status" -eq 0 ]
    run ! mountpoint -q "$MNT"
    # what mount(8) passes for the fstab line "CONF MNT fuse.cerebro-ds <options> 0 0"
    run "$helper" "$CONF" "$MNT" -n -o "ro,nosuid,nodev,_netdev,nofail,noauto,x-systemd.automount,x-systemd.requires=postgresql.service,comment=cerebro,cache_mb=8" -t fuse.cerebro-ds
    echo "$output"
    [ "$status" -eq 0 ]
    mountpoint -q "$MNT" # mounted when the helper returns
    pid=$(pgrep -f "^$helper $CONF")
    echo "$pid" >>"$BASE/pids"
    "$PYTHON" -c "import numpy; a = numpy.load('$MNT/postgres/public.t/part0/v.npy'); assert len(a) == 1000"
    umount "$MNT"
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    run ! kill -0 "$pid"
    grep -q "cerebro-ds-fuse\[$pid\]: info: unmounted $MNT" "$BATS_TEST_TMPDIR/daemon.log"
    # a wrong call says what mount(8) should have passed
    run "$helper" "$CONF"
    [ "$status" -eq 2 ]
    grep -q "SOURCE MOUNTPOINT" <<<"$output"
    run "$helper" "$CONF" "$MNT" -o x-systemd.automount,nosuchkey=1
    [ "$status" -eq 2 ]
    grep -q "nosuchkey" <<<"$output"
}

@test "refresh through the configuration file (the unit's ExecReload): a new snapshot" {
    cerebro-ds-fuse -f --config "$CONF" </dev/null >>"$FS_LOG" 2>&1 3>&- &
    pid=$!
    echo "$pid" >>"$BASE/pids"
    wait_mounted "$MNT"
    [ "$(grep -c . <(cat "$MNT/postgres/public.t/meta"))" -gt 0 ]
    rows() { "$PYTHON" -c "import numpy; print(len(numpy.load('$MNT/postgres/public.t/part0/id.npy')))"; }
    [ "$(rows)" -eq 1000 ]
    pg_psql ops -c "INSERT INTO t VALUES (1001, 0)"
    [ "$(rows)" -eq 1000 ]
    run cerebro-ds --config "$CONF" refresh
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == "$MNT: 1 table(s) refreshed" ]]
    [ "$(rows)" -eq 1001 ]
    pg_psql ops -c "DELETE FROM t WHERE id = 1001"
    fusermount3 -u "$MNT"
    wait "$pid"
}
