#!/usr/bin/env bats
#
# The access log in a file only the daemon writes ([mount] log_file), and passwords kept out
# of the command line ps shows. Backgrounded, the daemon logs every pin and open to log_file
# (by default /var/log/cerebro-ds/cerebro-ds-fuse.log for root, under $XDG_STATE_HOME for
# another user), mode 0600, its own; with log_file = syslog, to syslog as it used to. A log
# file that another user could write or replace (a symbolic link, another user's file, a
# directory others may write) or that cannot be written is refused before anything is
# mounted: non-zero exit, a message naming the path and what to do, no mount left. The
# other user is `nobody`. Nothing here writes to the host's /var/log: the default path is
# tested in a mount namespace whose /var/log is a directory of the test.

load helpers

setup_file() {
    pg_start audit
    pg_psql audit -c "CREATE TABLE t (id int, x real);
        INSERT INTO t SELECT i, i FROM generate_series(1, 100) i" -c "CHECKPOINT"
    export CONN
    CONN=$(pg_conninfo audit)
}

teardown_file() {
    pg_stop_all
}

setup() {
    ((EUID == 0)) || cd_skip "needs root: another user (nobody) owns files the daemon must refuse"
    T=$(mktemp -d)
    chmod 0755 "$T"
    mkdir "$T/mnt"
}

teardown() {
    # a test that failed half-way may have left a mount: unmounting ends its daemon
    if mountpoint -q "$T/mnt" 2>/dev/null; then fusermount3 -u -z "$T/mnt" || true; fi
    if mountpoint -q "$T/ro" 2>/dev/null; then umount "$T/ro" || true; fi
    rm -rf "$T"
}

# start_bg ARGS...: cerebro-ds-fuse backgrounded (no -f) on $T/mnt, serving t; it returns
# once mounted, or fails. $status, $output (what it printed before it daemonized).
start_bg() {
    run timeout 60 cerebro-ds-fuse --conninfo "$CONN" -o tables=t "$@" "$T/mnt" 3>&-
    echo "$output"
}

# daemon_pid: the pid of the daemon serving $T/mnt (from its control file).
daemon_pid() {
    sed -E 's/^cerebro-ds-fuse-([0-9]+)-.*/\1/' "$T/mnt/.cerebro-ds/control"
}

# stop_bg PID: unmount $T/mnt and wait until the daemon PID is gone.
stop_bg() {
    fusermount3 -u "$T/mnt"
    for _ in $(seq 100); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "cerebro-ds-fuse $1 still runs after the unmount" >&2
    return 1
}

# refused ARGS...: started backgrounded with ARGS, the daemon refuses to start: a non-zero
# exit, its message in $output, and no mount at $T/mnt.
refused() {
    start_bg "$@"
    [ "$status" -ne 0 ]
    [[ $output == *"error: "* ]]
    local said=$output
    run ! mountpoint -q "$T/mnt"
    run ! grep -qF " $T/mnt " /proc/self/mountinfo
    output=$said
}

# in_namespace SCRIPT ARGS...: bash -e SCRIPT in a mount namespace of its own whose /var/log
# is $T/varlog ($1 in SCRIPT is $T, $2 the conninfo, then ARGS); $status and $output. A mount
# on $T/mnt left there is unmounted when SCRIPT ends (teardown cannot see it).
in_namespace() {
    local script=$1
    shift
    mkdir -m 0755 "$T/varlog"
    run timeout 60 unshare -m --propagation private bash -ec "
        trap 'fusermount3 -u -z \"\$1/mnt\" 2>/dev/null || true' EXIT
        mount --bind \"\$1/varlog\" /var/log
        $script" _ "$T" "$CONN" "$@" 3>&-
    echo "$output"
}

@test "backgrounded, the daemon writes its pin and open lines to log_file: mode 0600, its own" {
    start_bg -o log_file="$T/log/access.log"
    [ "$status" -eq 0 ]
    mountpoint -q "$T/mnt"
    pid=$(daemon_pid)
    [[ $pid =~ ^[0-9]+$ ]]
    cat "$T/mnt/postgres/public.t/part0/id.npy" >/dev/null
    stop_bg "$pid"
    log=$T/log/access.log
    cat "$log"
    stamp='[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}'
    grep -qE "^$stamp cerebro-ds-fuse\[$pid\]: info: mounted at $T/mnt" "$log"
    grep -qE "^$stamp cerebro-ds-fuse\[$pid\]: info: pinned [a-z/]*public\.t: snapshot " "$log"
    grep -qE "^$stamp cerebro-ds-fuse\[$pid\]: info: access allowed: uid=0 user=root .*shard=part0 file=id\.npy " "$log"
    grep -qE "^$stamp cerebro-ds-fuse\[$pid\]: info: unmounted $T/mnt" "$log"
    [ "$(stat -c '%a %u %F' "$log")" = "600 0 regular file" ]
    [ "$(stat -c '%a %u' "$T/log")" = "700 0" ] # the missing directory, made private
    # a second start appends to the same file
    before=$(wc -l <"$log")
    start_bg -o log_file="$log"
    [ "$status" -eq 0 ]
    stop_bg "$(daemon_pid)"
    [ "$(wc -l <"$log")" -gt "$before" ]
}

@test "in the foreground: standard error without log_file, only the file with it" {
    cerebro-ds-fuse -f --conninfo "$CONN" -o tables=t "$T/mnt" </dev/null 2>"$T/stderr" 3>&- &
    pid=$!
    for _ in $(seq 100); do [[ -r $T/mnt/.cerebro-ds/version ]] && break; sleep 0.1; done
    fusermount3 -u "$T/mnt"
    wait "$pid"
    grep -q "info: mounted at $T/mnt" "$T/stderr"
    cerebro-ds-fuse -f --conninfo "$CONN" -o tables=t,log_file="$T/fg.log" "$T/mnt" \
        </dev/null 2>"$T/stderr" 3>&- &
    pid=$!
    for _ in $(seq 100); do [[ -r $T/mnt/.cerebro-ds/version ]] && break; sleep 0.1; done
    fusermount3 -u "$T/mnt"
    wait "$pid"
    grep -q "cerebro-ds-fuse\[$pid\]: info: mounted at $T/mnt" "$T/fg.log"
    run ! grep -q "mounted at" "$T/stderr"
}

@test "a symbolic link as log_file is refused, and nothing is written through it" {
    printf 'keep\n' >"$T/victim"
    ln -s "$T/victim" "$T/link.log"
    ln -s "$T/nothing-here" "$T/dangling.log"
    refused -o log_file="$T/link.log"
    [[ $output == *"log file \"$T/link.log\" is a symbolic link"* ]]
    [[ $output == *"HINT: remove the link"* ]]
    [ "$(cat "$T/victim")" = keep ]
    refused -o log_file="$T/dangling.log"
    [[ $output == *"\"$T/dangling.log\" is a symbolic link"* ]]
    [ ! -e "$T/nothing-here" ]
}

@test "a log_file in a directory another user can change is refused: others may write it, or it is theirs" {
    mkdir -m 0777 "$T/pub"
    refused -o log_file="$T/pub/access.log"
    [[ $output == *"log directory \"$T/pub\" is writable by other users (and not sticky)"* ]]
    [[ $output == *"chmod go-w \"$T/pub\""* ]]
    [ ! -e "$T/pub/access.log" ]
    mkdir -m 0770 "$T/grp" # its group may write it
    refused -o log_file="$T/grp/access.log"
    [[ $output == *"\"$T/grp\" is writable by other users"* ]]
    mkdir -m 0755 "$T/nob"
    chown nobody "$T/nob"
    refused -o log_file="$T/nob/access.log"
    [[ $output == *"log directory \"$T/nob\" belongs to another user"* ]]
    [[ $output == *"chown 0 \"$T/nob\""* ]]
    # above the directory too: nobody's directory on the way, and nothing created in it
    refused -o log_file="$T/nob/sub/access.log"
    [[ $output == *"directory \"$T/nob\" belongs to another user"* ]]
    [ ! -e "$T/nob/sub" ]
    # sticky, like /tmp: others may create files but not replace ours, so it is accepted
    mkdir -m 1777 "$T/sticky"
    start_bg -o log_file="$T/sticky/access.log"
    [ "$status" -eq 0 ]
    stop_bg "$(daemon_pid)"
    grep -q "mounted at $T/mnt" "$T/sticky/access.log"
}

@test "a log_file of another user, one others may write, or not a regular file, is refused" {
    install -m 0600 -o nobody /dev/null "$T/nobody.log"
    refused -o log_file="$T/nobody.log"
    [[ $output == *"log file \"$T/nobody.log\" belongs to another user"* ]]
    [[ $output == *"chown 0 \"$T/nobody.log\""* ]]
    [ ! -s "$T/nobody.log" ]
    install -m 0666 /dev/null "$T/open.log"
    refused -o log_file="$T/open.log"
    [[ $output == *"log file \"$T/open.log\" is writable by other users"* ]]
    [[ $output == *"chmod go-w \"$T/open.log\""* ]]
    [ ! -s "$T/open.log" ]
    mkfifo -m 0600 "$T/fifo.log" # no reader: the start must not hang on it
    refused -o log_file="$T/fifo.log"
    [[ $output == *"log file \"$T/fifo.log\" is not a regular file"* ]]
    mkdir "$T/dir.log"
    refused -o log_file="$T/dir.log"
    [[ $output == *"$T/dir.log"* ]]
}

@test "a log_file that cannot be written is refused: a missing parent directory, a read-only place" {
    refused -o log_file="$T/no/such/access.log"
    [[ $output == *"could not examine directory \"$T/no\": No such file or directory"* ]]
    [[ $output == *"HINT: create it"* ]]
    [ ! -e "$T/no" ]
    install -d -m 0555 "$T/ro" # not even root may create in a read-only place
    mount -t tmpfs -o ro,mode=0755 none "$T/ro"
    refused -o log_file="$T/ro/log/access.log"
    [[ $output == *"could not create log directory \"$T/ro/log\": Read-only file system"* ]]
    refused -o log_file=/proc/cerebro-ds-fuse.log
    [[ $output == *"could not open log file \"/proc/cerebro-ds-fuse.log\""* ]]
    [[ $output == *"HINT: "* ]]
}

@test "backgrounded without log_file: root's default, /var/log/cerebro-ds/cerebro-ds-fuse.log" {
    in_namespace '
        cerebro-ds-fuse --conninfo "$2" -o tables=t "$1/mnt"
        cat "$1/mnt/postgres/public.t/part0/id.npy" >/dev/null
        sed -E "s/^cerebro-ds-fuse-([0-9]+)-.*/\1/" "$1/mnt/.cerebro-ds/control" >"$1/pid"
        fusermount3 -u "$1/mnt"'
    [ "$status" -eq 0 ]
    pid=$(cat "$T/pid")
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log=$T/varlog/cerebro-ds/cerebro-ds-fuse.log
    cat "$log"
    grep -q "cerebro-ds-fuse\[$pid\]: info: access allowed: uid=0 .*file=id\.npy " "$log"
    [ "$(stat -c '%a %u' "$log")" = "600 0" ]
    [ "$(stat -c '%a %u' "$T/varlog/cerebro-ds")" = "700 0" ]
}

@test "another user's default: \$XDG_STATE_HOME/cerebro-ds/cerebro-ds-fuse.log, else under ~/.local/state" {
    install -d -m 0755 -o nobody "$T/home"
    fuse=$(command -v cerebro-ds-fuse)
    # the log is opened first: the start gets as far as the (missing) mount point
    run runuser -u nobody -- env HOME="$T/home" XDG_STATE_HOME="$T/home/state" \
        "$fuse" --conninfo "$CONN" -o tables=t "$T/nonexistent"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *"mount point $T/nonexistent"* ]]
    [ -f "$T/home/state/cerebro-ds/cerebro-ds-fuse.log" ]
    [ "$(stat -c '%a %U' "$T/home/state/cerebro-ds/cerebro-ds-fuse.log")" = "600 nobody" ]
    [ "$(stat -c '%a %U' "$T/home/state/cerebro-ds")" = "700 nobody" ]
    run runuser -u nobody -- env -u XDG_STATE_HOME HOME="$T/home" \
        "$fuse" --conninfo "$CONN" -o tables=t "$T/nonexistent"
    [ "$status" -eq 1 ]
    [ "$(stat -c '%a %U' "$T/home/.local/state/cerebro-ds/cerebro-ds-fuse.log")" = "600 nobody" ]
}

@test "log_file = syslog: accepted (the syslog log, which any local user can imitate), no file" {
    in_namespace '
        cerebro-ds-fuse --conninfo "$2" -o tables=t,log_file=syslog "$1/mnt"
        cat "$1/mnt/postgres/public.t/part0/id.npy" >/dev/null
        fusermount3 -u "$1/mnt"'
    [ "$status" -eq 0 ]
    [ ! -e "$T/varlog/cerebro-ds" ]
}

@test "a password of --conninfo or -o conninfo= is not in the daemon's command line (ps)" {
    start_bg --conninfo "$CONN password=sekret" -o log_file="$T/d.log"
    [ "$status" -eq 0 ]
    pid=$(daemon_pid)
    [[ $pid =~ ^[0-9]+$ ]]
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    echo "$cmdline"
    [[ $cmdline == *"password=xxxxxx"* ]]
    [[ $cmdline != *sekret* ]]
    ls "$T/mnt/postgres/public.t" # the password was read before it was scrubbed: it serves
    stop_bg "$pid"
    # a URI's user:password@, and a conninfo of -o
    host=$(sed -E 's/.*host=([^ ]+).*/\1/' <<<"$CONN")
    port=$(sed -E 's/.*port=([^ ]+).*/\1/' <<<"$CONN")
    [ -n "$host" ]
    [ -n "$port" ]
    start_bg --conninfo "postgresql://postgres:sekret@/postgres?host=$host&port=$port" \
        -o log_file="$T/d.log"
    [ "$status" -eq 0 ]
    pid=$(daemon_pid)
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    [[ $cmdline == *"postgresql://postgres:xxxxxx@/postgres"* ]]
    [[ $cmdline != *sekret* ]]
    stop_bg "$pid"
    run timeout 60 cerebro-ds-fuse -o "conninfo=$CONN password=sekret,tables=t" \
        -o log_file="$T/d.log" "$T/mnt" 3>&-
    [ "$status" -eq 0 ]
    pid=$(daemon_pid)
    run ! grep -q sekret "/proc/$pid/cmdline"
    stop_bg "$pid"
}
