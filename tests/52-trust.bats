#!/usr/bin/env bats
#
# What another user of the host can do to the tools run as root (issue 14): symlinks and
# directories planted where `cerebro-ds export` writes are refused and left alone, never
# written through; an output directory another user can change is refused; exported files
# are not world-readable unless --mode says so (the other user is `nobody`). Names that
# would break the layout or its text (a column "x.valid" beside x, newlines in a name) get
# distinct files and escaped meta and log lines.

load helpers

setup_file() {
    pg_start trust
    pg_psql trust -c "CREATE TABLE t (id int, x real[]);
        INSERT INTO t SELECT i, ARRAY[i, i + 1]::real[] FROM generate_series(1, 200) i"
    export CONN
    CONN=$(pg_conninfo trust)
}

teardown_file() {
    pg_stop_all
}

setup() {
    ((EUID == 0)) || cd_skip "needs root: another user plants files for root's export"
    T=$(mktemp -d)
    chmod 0755 "$T"
    mkdir -m 1777 "$T/pub" # like /tmp: anyone may create, nobody may replace another's entry
    mkdir -m 0700 "$T/private"
    printf 'secret\n' >"$T/private/secret"
    chmod 0600 "$T/private/secret"
}

teardown() {
    # a test that failed half-way may have left its daemon: unmount it, then stop it
    if mountpoint -q "$T/mnt" 2>/dev/null; then fusermount3 -u -z "$T/mnt" || true; fi
    pkill -f "cerebro-ds-fuse .*$T/mnt" 2>/dev/null || true
    rm -rf "$T"
}

as_nobody() {
    runuser -u nobody -- "$@"
}

# mount_t CMD...: CMD... $T/mnt (a cerebro-ds-fuse -f command line) in the background, its
# log in $T/fuse.log, its pid in DPID; fails with the log unless it serves within 10 s.
mount_t() {
    mkdir -p "$T/mnt"
    "$@" "$T/mnt" </dev/null >"$T/fuse.log" 2>&1 3>&- &
    DPID=$!
    for _ in $(seq 100); do
        [[ -r $T/mnt/.cerebro-ds/version ]] && return 0
        sleep 0.1
    done
    cat "$T/fuse.log" >&2
    return 1
}

@test "export refuses a planted partial directory with symlinks in it, and writes through none" {
    as_nobody mkdir -p "$T/pub/out/.part0.partial"
    as_nobody chmod 0777 "$T/pub/out" "$T/pub/out/.part0.partial"
    as_nobody ln -s "$T/private/secret" "$T/pub/out/.part0.partial/meta"
    as_nobody ln -s "$T/private/secret" "$T/pub/out/.part0.partial/id.npy.tmp"
    # the output directory belongs to nobody: refused before anything is written
    run cerebro-ds -q --conninfo "$CONN" export t "$T/pub/out"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *"output directory \"$T/pub/out\" belongs to another user"* ]]
    [ "$(cat "$T/private/secret")" = secret ]
    # in a directory of root's that others can write into but not replace in (sticky): the
    # planted partial directory is someone else's, refused and left as it is
    mkdir -m 1777 "$T/pub/mine"
    as_nobody mkdir "$T/pub/mine/.part0.partial"
    as_nobody ln -s "$T/private/secret" "$T/pub/mine/.part0.partial/meta"
    run cerebro-ds -q --conninfo "$CONN" export t "$T/pub/mine"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *".part0.partial\" exists and is not a directory of ours"* ]]
    [[ $output == *"a directory owned by uid $(id -u nobody)"* ]]
    [ "$(cat "$T/private/secret")" = secret ]
    [ -L "$T/pub/mine/.part0.partial/meta" ]
    [ ! -e "$T/pub/mine/part0" ]
}

@test "export refuses a partial directory that is a symlink into a private directory" {
    mkdir -m 1777 "$T/pub/mine"
    as_nobody ln -s "$T/private" "$T/pub/mine/.part0.partial"
    run cerebro-ds -q --conninfo "$CONN" export t "$T/pub/mine"
    [ "$status" -eq 1 ]
    [[ $output == *"exists and is not a directory of ours"* ]]
    [[ $output == *"a symbolic link owned by uid $(id -u nobody)"* ]]
    [ "$(ls "$T/private")" = secret ]
    [ -L "$T/pub/mine/.part0.partial" ]
}

@test "export refuses an output directory others can write into, or a symlink of another user" {
    mkdir -m 0777 "$T/open"
    run cerebro-ds -q --conninfo "$CONN" export t "$T/open"
    [ "$status" -eq 1 ]
    [[ $output == *"is writable by other users (and not sticky)"* ]]
    as_nobody ln -s "$T/private" "$T/pub/link"
    run cerebro-ds -q --conninfo "$CONN" export t "$T/pub/link"
    [ "$status" -eq 1 ]
    [[ $output == *"is a symbolic link of another user"* ]]
    [ "$(ls "$T/private")" = secret ]
}

@test "export: a leftover partial directory of our own is replaced; files 0640, --mode to choose" {
    mkdir -p "$T/out/.part0.partial"
    echo junk >"$T/out/.part0.partial/junk"
    cerebro-ds -q --conninfo "$CONN" export t "$T/out"
    [ ! -e "$T/out/.part0.partial" ]
    [ "$(stat -c %a "$T/out/part0")" = 750 ]
    [ "$(stat -c %a "$T/out/part0/id.npy")" = 640 ]
    [ "$(stat -c %a "$T/out/part0/meta")" = 640 ]
    [ "$(stat -c %a "$T/out/meta")" = 640 ]
    [ ! -e "$T/out/part0/junk" ]
    run as_nobody cat "$T/out/part0/id.npy"
    [ "$status" -ne 0 ]
    cerebro-ds -q --conninfo "$CONN" --mode 0644 export t "$T/out2"
    [ "$(stat -c %a "$T/out2/part0")" = 755 ]
    [ "$(stat -c %a "$T/out2/part0/x.npy")" = 644 ]
    run as_nobody cat "$T/out2/part0/id.npy"
    [ "$status" -eq 0 ]
    run cerebro-ds --conninfo "$CONN" --mode 0044 export t "$T/out3"
    [ "$status" -eq 2 ]
    [[ $output == *"invalid --mode 0044"* ]]
    run cerebro-ds --conninfo "$CONN" --mode rw export t "$T/out3"
    [ "$status" -eq 2 ]
}

# The layout of names that would break it: a column "x.valid" beside x (whose NULLs make
# x.valid.npy), and a column whose name holds newlines, a section header and a comment.
names_table() {
    pg_psql trust -c 'DROP TABLE IF EXISTS n' -c "CREATE TABLE n (x int, \"x.valid\" int,
        \"y
[column evil]
#\" float8);
        INSERT INTO n SELECT CASE WHEN i % 3 = 0 THEN NULL ELSE i END, 1000 + i, i / 2.0
        FROM generate_series(1, 30) i"
}

# check_names DIR: DIR/part0 holds x's and "x.valid"'s own values, meta parses with three
# column sections and the odd name escaped
check_names() {
    "$PYTHON" - "$1" <<'PY'
import configparser, os, sys
import numpy as np
d = sys.argv[1]
x = np.load(f"{d}/part0/x.npy")
valid = np.load(f"{d}/part0/x.valid.npy")
other = np.load(f"{d}/part0/x%2Evalid.npy")
i = np.arange(1, 31)
assert valid.dtype == np.bool_ and list(valid) == list(i % 3 != 0), valid
assert list(other) == list(1000 + i), other
assert list(x[valid]) == list(i[i % 3 != 0])
assert np.allclose(np.load(f"{d}/part0/y%0A[column evil]%0A#.npy"), i / 2.0)
for meta in (f"{d}/meta", f"{d}/part0/meta"):
    c = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"))
    c.read_string(open(meta).read())
    cols = [s for s in c.sections() if s.startswith("column ")]
    assert cols == ["column x", "column x.valid", "column y%0A%5Bcolumn evil%5D%0A%23"], cols
print("ok", sorted(os.listdir(f"{d}/part0")))
PY
}

@test "names: x.valid beside x and a column named with newlines: distinct files, meta not forged" {
    names_table
    cerebro-ds -q --conninfo "$CONN" export n "$T/out"
    run check_names "$T/out"
    echo "$output"
    [ "$status" -eq 0 ]
    # the mount serves the same files
    mount_t cerebro-ds-fuse -f --conninfo "$CONN" -o tables=n
    local pid=$DPID
    run check_names "$T/mnt/postgres/public.n"
    echo "$output"
    [ "$status" -eq 0 ]
    run ls "$T/mnt/postgres/public.n/part0"
    [ "$(grep -c '^x\.valid\.npy$' <<<"$output")" -eq 1 ]
    fusermount3 -u "$T/mnt"
    wait "$pid" || true
    # the opens were logged, and no log line was made by the name
    grep -q 'column evil' "$T/fuse.log"
    run grep -c -e '^\[column evil\]' -e '^#' "$T/fuse.log"
    [ "$output" = 0 ]
}

@test "a configuration file others can write, or another user's, is refused (it decides who reads what)" {
    printf '[database]\nconninfo = %s\n[mount]\ntables = t\nrole_map = nobody:postgres\n' "$CONN" >"$T/c.conf"
    chmod 0644 "$T/c.conf"
    run cerebro-ds-fuse -c "$T/c.conf" --print-config
    [ "$status" -eq 0 ]
    chmod 0666 "$T/c.conf"
    run cerebro-ds-fuse -c "$T/c.conf" --print-config
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *"configuration file \"$T/c.conf\" is writable by other users"* ]]
    [[ $output == *"chmod go-w"* ]]
    run cerebro-ds -c "$T/c.conf" inspect t
    [ "$status" -eq 1 ]
    [[ $output == *"is writable by other users"* ]]
    chmod 0644 "$T/c.conf"
    chown nobody "$T/c.conf"
    run cerebro-ds-fuse -c "$T/c.conf" --print-config
    [ "$status" -ne 0 ]
    [[ $output == *"belongs to another user"* ]]
}

@test ".cerebro-ds/stats (every user's opens and bytes) is for the daemon's user and root only" {
    mount_t cerebro-ds-fuse -f --conninfo "$CONN" -o tables=t,allow_other
    local pid=$DPID
    run cat "$T/mnt/.cerebro-ds/stats"
    [ "$status" -eq 0 ]
    [[ $output == *"opens "* ]]
    [ "$(stat -c %a "$T/mnt/.cerebro-ds/stats")" = 400 ]
    run as_nobody cat "$T/mnt/.cerebro-ds/stats"
    local st=$status out=$output
    run as_nobody cat "$T/mnt/.cerebro-ds/version"
    fusermount3 -u "$T/mnt"
    wait "$pid" || true
    echo "$out"
    [ "$st" -ne 0 ]
    [[ $out == *"Permission denied"* ]]
    [ "$status" -eq 0 ]
    grep -q "uid $(id -u nobody) may not read .cerebro-ds/stats" "$T/fuse.log"
}

@test "the control socket cannot be taken in advance: binding the next pids' names does not stop a start" {
    # another user binds the abstract names the next few hundred daemons would have had
    runuser -u nobody -- "$PYTHON" -c '
import os, socket, sys, time
base = int(open("/proc/sys/kernel/ns_last_pid").read())
held = []
for pid in range(base, base + 400):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind("\0cerebro-ds-fuse-%d" % pid)
        held.append(s)
    except OSError:
        pass
open(sys.argv[1], "w").write("%d\n" % len(held))
time.sleep(60)' "$T/pub/held" </dev/null >/dev/null 2>&1 3>&- &
    local squatter=$!
    for _ in $(seq 50); do [[ -s $T/pub/held ]] && break; sleep 0.1; done
    [ "$(cat "$T/pub/held")" -gt 300 ]
    mount_t cerebro-ds-fuse -f --conninfo "$CONN" -o tables=t
    local pid=$DPID
    run cerebro-ds refresh "$T/mnt" public.t
    local name
    name=$(cat "$T/mnt/.cerebro-ds/control")
    fusermount3 -u "$T/mnt"
    wait "$pid" || true
    kill "$squatter" 2>/dev/null || true
    cat "$T/fuse.log"
    [ "$status" -eq 0 ]
    [[ $name =~ ^cerebro-ds-fuse-$pid-[0-9a-f]{16}$ ]]
}

@test "passwords are masked: --print-config, a failed connection's error and log" {
    run cerebro-ds-fuse --conninfo "host=/nonexistent port=1 user=x password=s3cret-pw dbname=d" \
        -o tables=t --print-config
    [ "$status" -eq 0 ]
    [[ $output == *"conninfo = host=/nonexistent port=1 user=x password=*** dbname=d"* ]]
    [[ $output != *s3cret-pw* ]]
    run cerebro-ds-fuse --conninfo "postgresql://x:s3cret-pw@/d?host=/nonexistent&port=1" \
        -o tables=t --print-config
    [[ $output == *"postgresql://x:***@/d?host=/nonexistent&port=1"* ]]
    [[ $output != *s3cret-pw* ]]
    mkdir "$T/mnt"
    run timeout 20 cerebro-ds-fuse -f --conninfo "host=/nonexistent port=1 password=s3cret-pw" \
        -o tables=t "$T/mnt"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output == *"could not connect"* ]]
    [[ $output == *"password=***"* ]]
    [[ $output != *s3cret-pw* ]]
}

@test "a user whose role may not SELECT a table cannot make the daemon pin it (no snapshot held for them)" {
    pg_psql trust -c "DROP ROLE IF EXISTS nobody" -c "CREATE ROLE nobody"
    mount_t cerebro-ds-fuse -f --conninfo "$CONN" -o tables=t,allow_other
    local pid=$DPID
    run as_nobody ls "$T/mnt/postgres"
    local list=$output
    run as_nobody ls "$T/mnt/postgres/public.t"
    local st=$status out=$output
    local pins
    pins=$(awk '$1 == "pins" { print $2 }' "$T/mnt/.cerebro-ds/stats")
    local held
    held=$(pg_psql trust -Atc "SELECT count(*) FROM pg_stat_activity
        WHERE application_name = 'cerebro-ds' AND xact_start IS NOT NULL")
    # with SELECT granted, the same listing pins and lists
    pg_psql trust -c "GRANT SELECT ON t TO nobody"
    run as_nobody ls "$T/mnt/postgres/public.t"
    local st2=$status out2=$output
    fusermount3 -u "$T/mnt"
    wait "$pid" || true
    pg_psql trust -c "REVOKE SELECT ON t FROM nobody" -c "DROP ROLE nobody"
    echo "list: $list / denied: $st $out / pins $pins, held $held / granted: $st2 $out2"
    [ "$list" = public.t ]
    [ "$st" -ne 0 ]
    [[ $out == *"Permission denied"* ]]
    [ "$pins" = 0 ]
    [ "$held" = 0 ]
    grep -q "not pinning postgres/public.t for uid=$(id -u nobody) user=nobody role=nobody: no SELECT" "$T/fuse.log"
    [ "$st2" -eq 0 ]
    [[ $out2 == *meta*part0* ]]
}

@test "started as root, the daemon keeps only CAP_DAC_READ_SEARCH and CAP_SYS_ADMIN once mounted, and still serves" {
    mount_t cerebro-ds-fuse -f --conninfo "$CONN" -o tables=t
    local pid=$DPID
    local caps
    caps=$(grep -E '^(CapEff|CapPrm|CapBnd|CapInh|NoNewPrivs):' "/proc/$pid/status")
    echo "$caps"
    # the heap files (the postgres user's, 0700) are read; a refresh opens them again
    run "$PYTHON" -c 'import numpy, sys; print(int(numpy.load(sys.argv[1]).sum()))' \
        "$T/mnt/postgres/public.t/part0/id.npy"
    local st=$status sum=$output
    run cerebro-ds refresh "$T/mnt" public.t
    local rst=$status
    # SIGTERM: the daemon unmounts itself (CAP_SYS_ADMIN) and exits 0
    kill -TERM "$pid"
    local ex=0
    wait "$pid" || ex=$?
    [[ $caps == *"CapEff:"*"0000000000200004"* ]]
    [[ $caps == *"CapPrm:"*"0000000000200004"* ]]
    [[ $caps == *"CapBnd:"*"0000000000200004"* ]]
    [[ $caps == *"CapInh:"*"0000000000000000"* ]]
    [[ $caps == *"NoNewPrivs:"*"1"* ]]
    [ "$st" -eq 0 ]
    [ "$sum" = 20100 ]
    [ "$rst" -eq 0 ]
    [ "$ex" -eq 0 ]
    run mountpoint -q "$T/mnt"
    [ "$status" -ne 0 ]
}

@test "capabilities under a bounding set without CAP_SETPCAP (a unit's CapabilityBoundingSet): it starts, keeps the two" {
    mount_t setpriv --bounding-set=-all,+dac_read_search,+sys_admin,+chown --inh-caps=-all \
        "$(command -v cerebro-ds-fuse)" -f --conninfo "$CONN" -o tables=t
    local pid=$DPID
    local caps
    caps=$(grep -E '^(CapEff|CapPrm|CapBnd):' "/proc/$pid/status")
    run cat "$T/mnt/postgres/public.t/meta"
    local st=$status
    fusermount3 -u "$T/mnt"
    wait "$pid" || true
    echo "$caps"
    cat "$T/fuse.log"
    [ "$st" -eq 0 ]
    [[ $caps == *"CapEff:"*"0000000000200004"* ]]
    [[ $caps == *"CapPrm:"*"0000000000200004"* ]]
    [[ $caps == *"CapBnd:"*"0000000000200005"* ]] # chown (bit 0) could not leave it
    grep -q '1 capabilities stay in the bounding set (no CAP_SETPCAP)' "$T/fuse.log"
}

@test "refused control connections: each refused, the log rate-limited (2000 attempts in about a second)" {
    mount_t cerebro-ds-fuse -f --conninfo "$CONN" -o tables=t
    local pid=$DPID
    local name
    name=$(cat "$T/mnt/.cerebro-ds/control")
    run as_nobody "$PYTHON" -c 'import socket, sys
refused = 0
for i in range(2000):
    s = socket.socket(socket.AF_UNIX)
    s.connect("\0" + sys.argv[1])
    try:
        s.sendall(b"refresh\n")
        refused += s.recv(100).startswith(b"error permission denied")
    except OSError:  # closed on us, answer unread: refused too (the daemon lives on: below)
        refused += 1
    s.close()
print(refused)' "$name"
    local st=$status refused=$output
    run cerebro-ds refresh "$T/mnt" public.t
    local ok=$status
    fusermount3 -u "$T/mnt"
    wait "$pid" || true
    echo "refused $refused; log lines $(grep -c 'control: refused' "$T/fuse.log")"
    [ "$st" -eq 0 ]
    [ "$refused" = 2000 ]
    [ "$ok" -eq 0 ]
    [ "$(grep -c 'control: refused a request of uid' "$T/fuse.log")" -ge 1 ]
    [ "$(grep -c 'control: refused a request of uid' "$T/fuse.log")" -le 10 ]
}
