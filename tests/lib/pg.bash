# shellcheck shell=bash
#
# tests/lib/pg.bash: throwaway PostgreSQL 15 clusters for the bats tests and the benchmarks.
#
# Does: initdb -k (data checksums) a named cluster, start it on a unix socket of its own, run
# psql against it, hold a transaction open in a background psql session, stop it, and stop
# and remove every cluster at the end (also when a test fails or the run is killed).
# Does not: TCP (listen_addresses is empty), replication, or anything Greenplum-specific;
# several clusters at once stand in for segments.
#
# Functions (NAME is a cluster name, ID a background session):
#     pg_start NAME [key=value...]    initdb -k (first time) and start; waits until ready
#     pg_stop NAME                    fast shutdown; the data directory stays
#     pg_stop_all                     stop everything under $CD_PG_ROOT, then remove it
#     pg_cleanup_on_exit              EXIT trap running pg_stop_all (plain scripts)
#     pg_conninfo NAME [DB]           "host=<sockdir> port=<port> user=postgres dbname=..."
#     pg_datadir NAME, pg_logfile NAME
#     pg_psql NAME [psql args...]     psql -X -v ON_ERROR_STOP=1 -q
#     pg_bg_psql NAME [SQL...]        background session (prints ID) holding e.g. a transaction
#     pg_bg_send [--nowait] ID SQL... run more SQL in it (waits until done unless --nowait)
#     pg_bg_wait ID, pg_bg_output ID, pg_bg_close ID
#
# In a bats file (tests/helpers.bash sources this file):
#
#     load helpers
#     setup_file()    { pg_start seg0; pg_start seg1; }      # once per file
#     teardown_file() { pg_stop_all; }                        # runs even when a test failed
#     @test "..." { run pg_psql seg0 -Atc 'SELECT 1'; [ "$output" = 1 ]; }
#
# or once per suite with setup_suite/teardown_suite in tests/setup_suite.bash. CD_PG_ROOT is
# exported by the first pg_start, so the tests (separate processes) see the clusters.
#
# In a plain script (a benchmark):
#
#     source tests/lib/pg.bash
#     pg_cleanup_on_exit            # EXIT trap: pg_stop_all
#     pg_start bench shared_buffers=128MB
#
# A killed run: pg_start leaves a watchdog per cluster (its own session, so Ctrl-C does not
# reach it) that waits for the owner process ($$ of the shell that called pg_start, i.e. the
# bats file runner or the script) and, once the owner is gone, stops the cluster with an
# immediate shutdown and removes the harness-made directories. A cluster first started inside
# a @test therefore lives only as long as that test (a restart keeps the first owner). Set
# CD_PG_OWNER_PID=0 to start clusters that outlive their script (then pg_stop_all yourself).
#
# State is on disk, so every process of a bats run sees it:
#
#     $CD_PG_ROOT/.harness-created   marker: pg_stop_all removes the root
#     $CD_PG_ROOT/.ports/<port>/     port reservations (mkdir is atomic)
#     $CD_PG_ROOT/<NAME>/            owned by postgres when we run as root
#         data/                      PGDATA (mode 0700, postgres; root reads it anyway)
#         sock/                      unix_socket_directories
#         harness.conf               settings of the last pg_start (included by postgresql.conf)
#         server.log initdb.log pg_ctl.log watchdog.log
#         port pid                   port, postmaster pid
#         owner watchdog.pid         pid the watchdog waits for, pid of the watchdog
#         bg/<n>/                    background psql session n: in (fifo), out, pid, seq
#
# Environment:
#     CD_PG_ROOT        root of the clusters (default: mktemp -d under ${TMPDIR:-/tmp})
#     CD_PG_BINDIR      server binaries (default /usr/lib/postgresql/15/bin)
#     CD_PG_PORT_BASE   first port tried (default 54321)
#     CD_PG_TIMEOUT     seconds to wait for a start, a stop or background SQL (default 60)
#     CD_PG_KEEP=1      pg_stop_all and the watchdog keep $CD_PG_ROOT for a post-mortem
#     CD_PG_OWNER_PID   process whose exit stops the clusters (default $$; 0: no watchdog)
#
# Every function returns non-zero with a message on stderr instead of exiting, and is safe
# under set -euo pipefail (bats runs tests with set -e).

_PG_LIB=$(readlink -f "${BASH_SOURCE[0]}")

# --- small helpers -------------------------------------------------------------------------

_pg_err() {
    echo "pg.bash: $*" >&2
    return 1
}

_pg_bin() {
    echo "${CD_PG_BINDIR:-/usr/lib/postgresql/15/bin}/$1"
}

_pg_timeout() {
    echo "${CD_PG_TIMEOUT:-60}"
}

# True when process $1 exists and is not a zombie.
_pg_pid_alive() {
    local line
    [[ $1 =~ ^[0-9]+$ ]] || return 1
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    line=${line##*) }
    [[ ${line:0:1} != Z ]]
}

# Run a server program as the postgres OS user when we are root (initdb and postgres refuse
# to run as root), from / so that an unreadable working directory does not matter.
_pg_as_postgres() {
    if ((EUID == 0)); then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# Close every file descriptor above 2 of the current (sub)shell, so that a daemon started
# from it does not hold bats' pipes open (bats waits for fd 3 to close: daemons get 3>&-).
_pg_close_fds() {
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
        fd=${fd##*/}
        if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
            eval "exec $fd>&-" 2>/dev/null || true
        fi
    done
}

# Run "$@" (a command or a function) with the file descriptors above 2 closed.
_pg_nofds() {
    (
        _pg_close_fds
        "$@"
    )
}

# Start command "$@" as a daemon: fds closed, its own session, a child of init rather than a
# job of ours, with no shell left in between.
_pg_daemon() {
    (
        _pg_close_fds
        exec setsid "$@" </dev/null >/dev/null 2>&1 &
    )
}

# First line of pid file $1, or nothing.
_pg_read_pid() {
    local pid=
    if [[ -s $1 ]]; then read -r pid <"$1" || true; fi
    echo "$pid"
}

# Wait up to $1 seconds for file $2 to exist and be non-empty.
_pg_wait_file() {
    local deadline=$((SECONDS + $1))
    until [[ -s $2 ]]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

_pg_check_name() {
    [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$ ]] ||
        _pg_err "bad cluster name '$1' (letters, digits, _ . -; at most 32)"
}

# Directory of cluster $1, which must have been created by pg_start.
_pg_dir() {
    _pg_check_name "${1:-}" || return 1
    [[ -n ${CD_PG_ROOT:-} && -d $CD_PG_ROOT/$1/data ]] ||
        _pg_err "no cluster named '$1' under ${CD_PG_ROOT:-<CD_PG_ROOT unset>} (pg_start it first)" ||
        return 1
    printf '%s\n' "$CD_PG_ROOT/$1"
}

# True when process $1 is the postmaster of cluster dir $2: its command line has -D $2/data
# (as pg_ctl passes it). Guards every kill against a recycled pid.
_pg_is_postmaster() {
    local -a argv
    _pg_pid_alive "$1" || return 1
    { mapfile -d '' -t argv <"/proc/$1/cmdline"; } 2>/dev/null || return 1
    [[ " ${argv[*]} " == *" -D $2/data "* ]]
}

# Postmaster pid of cluster dir $1 (from postmaster.pid, else as recorded at start), or
# nothing when no such postmaster runs.
_pg_pid() {
    local pid f
    for f in "$1/data/postmaster.pid" "$1/pid"; do
        pid=$(_pg_read_pid "$f")
        if _pg_is_postmaster "$pid" "$1"; then
            echo "$pid"
            return 0
        fi
    done
    return 0
}

_pg_alive() {
    [[ -n $(_pg_pid "$1") ]]
}

# --- creating and starting ------------------------------------------------------------------

# Create $CD_PG_ROOT on first use and export it.
_pg_root_init() {
    if [[ -z ${CD_PG_ROOT:-} ]]; then
        CD_PG_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/cd-pg.XXXXXX") || _pg_err "mktemp failed" || return 1
        touch "$CD_PG_ROOT/.harness-created"
        chmod 755 "$CD_PG_ROOT"
    elif [[ ! -d $CD_PG_ROOT ]]; then
        mkdir -p "$CD_PG_ROOT" || return 1
        touch "$CD_PG_ROOT/.harness-created"
        chmod 755 "$CD_PG_ROOT"
    fi
    export CD_PG_ROOT
    mkdir -p "$CD_PG_ROOT/.ports" || return 1
    if ((EUID == 0)) && ! runuser -u postgres -- test -x "$CD_PG_ROOT"; then
        _pg_err "the postgres user cannot enter $CD_PG_ROOT (set TMPDIR or CD_PG_ROOT elsewhere)"
        return 1
    fi
}

# True when something listens on port $1 of any loopback address the tests use (clusters of
# tests/lib/citus.bash listen on 127.0.0.1-127.0.0.4).
_pg_port_used() {
    local a
    for a in 1 2 3 4; do
        (exec 9<>"/dev/tcp/127.0.0.$a/$1") 2>/dev/null && return 0
    done
    return 1
}

# Reserve a port: not listened on by anyone on a test loopback address, not reserved under
# $CD_PG_ROOT. Unix sockets live in distinct directories, so for them this only keeps the
# numbers distinct.
_pg_alloc_port() {
    local port=${CD_PG_PORT_BASE:-54321}
    while ((port < 65536)); do
        if ! _pg_port_used "$port" && mkdir "$CD_PG_ROOT/.ports/$port" 2>/dev/null; then
            echo "$port"
            return 0
        fi
        port=$((port + 1))
    done
    _pg_err "no free port from ${CD_PG_PORT_BASE:-54321} on"
}

# initdb -k into $CD_PG_ROOT/$1/data.
_pg_initdb() {
    local c=$CD_PG_ROOT/$1 port
    mkdir -p "$c/sock" "$c/bg" || return 1
    if ((${#c} > 80)); then
        _pg_err "$c is too long for a unix socket path (set TMPDIR or CD_PG_ROOT shorter)"
        return 1
    fi
    port=$(_pg_alloc_port) || return 1
    echo "$port" >"$c/port"
    if ((EUID == 0)); then
        id -u postgres >/dev/null 2>&1 || _pg_err "no postgres OS user (make deps)" || return 1
        chown -R postgres:postgres "$c"
    fi
    [[ -x $(_pg_bin initdb) ]] || _pg_err "no $(_pg_bin initdb) (make deps)" || return 1
    if ! _pg_as_postgres "$(_pg_bin initdb)" -D "$c/data" -k --auth=trust -U postgres \
        -E UTF8 --locale=C --no-sync --no-instructions >"$c/initdb.log" 2>&1; then
        cat "$c/initdb.log" >&2
        _pg_err "initdb of '$1' failed"
        return 1
    fi
    echo "include '$c/harness.conf'" >>"$c/data/postgresql.conf"
}

# Write $CD_PG_ROOT/$1/harness.conf: the harness settings, then the extra options of
# pg_start (key=value, optionally each preceded by -c).
_pg_write_conf() {
    local name=$1 c=$CD_PG_ROOT/$1 opt key val
    shift
    {
        echo "# written by tests/lib/pg.bash at every pg_start of '$name'"
        echo "listen_addresses = ''"
        echo "port = $(<"$c/port")"
        echo "unix_socket_directories = '$c/sock'"
        echo "shared_buffers = '16MB'"
        echo "fsync = off"
        echo "log_line_prefix = '%m [%p] %q%a '"
        for opt in "$@"; do
            [[ $opt == -c ]] && continue
            opt=${opt#--}
            key=${opt%%=*}
            val=${opt#*=}
            if [[ $opt != *=* || ! $key =~ ^[A-Za-z_][A-Za-z0-9_.]*$ ]]; then
                _pg_err "bad option '$opt' (want key=value)"
                return 1
            fi
            echo "$key = '${val//\'/\'\'}'"
        done
    } >"$c/harness.conf.new" || return 1
    mv "$c/harness.conf.new" "$c/harness.conf"
    chmod 644 "$c/harness.conf"
}

# pg_ctl start -w; on failure print the log tail and make sure nothing is left running.
_pg_launch() {
    local name=$1 c=$CD_PG_ROOT/$1
    if ! _pg_nofds _pg_as_postgres "$(_pg_bin pg_ctl)" -D "$c/data" -l "$c/server.log" \
        -w -t "$(_pg_timeout)" start </dev/null >"$c/pg_ctl.log" 2>&1; then
        {
            echo "pg.bash: cluster '$name' did not start within $(_pg_timeout)s:"
            sed 's/^/  pg_ctl: /' "$c/pg_ctl.log"
            echo "pg.bash: last lines of $c/server.log:"
            tail -n 30 "$c/server.log" 2>/dev/null | sed 's/^/  /'
        } >&2
        _pg_shutdown "$c" immediate >/dev/null 2>&1 || true
        return 1
    fi
    _pg_pid "$c" >"$c/pid"
}

# The watchdog: a daemon that waits for the owner process to exit, then stops the cluster.
# The owner is CD_PG_OWNER_PID, else the owner of an earlier start if it is still alive (a
# cluster restarted inside a @test stays with the bats file), else $$.
_pg_start_watchdog() {
    local name=$1 c=$CD_PG_ROOT/$1 owner=${CD_PG_OWNER_PID:-}
    if [[ -z $owner ]]; then
        owner=$(_pg_read_pid "$c/owner")
        _pg_pid_alive "$owner" || owner=$$
    fi
    echo "$owner" >"$c/owner"
    [[ $owner == 0 ]] && return 0
    rm -f "$c/watchdog.pid"
    # shellcheck disable=SC2016 # expanded by the watchdog's shell
    _pg_daemon bash -c 'echo $$ >"$1/watchdog.pid"; source "$2" && _pg_watch "$3" "$4" "$5" \
        >>"$1/watchdog.log" 2>&1' _ "$c" "$_PG_LIB" "$CD_PG_ROOT" "$name" "$owner"
    _pg_wait_file 10 "$c/watchdog.pid" || _pg_err "the watchdog of '$name' did not start"
}

# Body of the watchdog (runs in its own session).
_pg_watch() {
    local name=$2 owner=$3
    export CD_PG_ROOT=$1
    cd / || return 1
    tail --pid="$owner" -f /dev/null # returns when the owner has exited
    echo "$(date '+%F %T') owner $owner exited: stopping '$name'"
    _pg_reap "$CD_PG_ROOT/$name" immediate
    rm -f "$CD_PG_ROOT/$name/watchdog.pid"
    _pg_remove_root_if_unused
}

# pg_start NAME [key=value ...]: create (first time) and start cluster NAME, wait until it
# accepts connections. The options go to postgresql.conf for this start only.
pg_start() {
    local name=${1:-} c
    shift || true
    _pg_check_name "$name" || return 1
    _pg_root_init || return 1
    c=$CD_PG_ROOT/$name
    if [[ -d $c/data ]] && _pg_alive "$c"; then
        _pg_err "cluster '$name' is already running"
        return 1
    fi
    if [[ ! -f $c/data/PG_VERSION ]]; then
        _pg_initdb "$name" || return 1
    fi
    _pg_write_conf "$name" "$@" || return 1
    _pg_launch "$name" || return 1
    _pg_start_watchdog "$name"
}

# --- using a cluster -------------------------------------------------------------------------

# pg_conninfo NAME [DBNAME]: libpq conninfo of cluster NAME.
pg_conninfo() {
    local c
    c=$(_pg_dir "${1:-}") || return 1
    printf 'host=%s port=%s user=postgres dbname=%s\n' "$c/sock" "$(<"$c/port")" "${2:-postgres}"
}

# pg_datadir NAME: its data directory (PGDATA).
pg_datadir() {
    local c
    c=$(_pg_dir "${1:-}") || return 1
    printf '%s\n' "$c/data"
}

# pg_logfile NAME: its server log.
pg_logfile() {
    local c
    c=$(_pg_dir "${1:-}") || return 1
    printf '%s\n' "$c/server.log"
}

# pg_psql NAME [psql args...]: psql -X -v ON_ERROR_STOP=1 -q as user postgres.
pg_psql() {
    local ci
    ci=$(pg_conninfo "${1:-}") || return 1
    shift
    "$(_pg_bin psql)" -X -v ON_ERROR_STOP=1 -q -d "$ci" "$@"
}

# --- background sessions ---------------------------------------------------------------------
# A background session is psql reading a fifo that a "sleep infinity" keeps open; both share
# one process group (pid file = group leader = psql). Its ID is NAME:n.

_pg_bg_dir() {
    local id=${1:-} c
    [[ $id =~ ^([^:]+):([0-9]+)$ ]] || _pg_err "bad background session id '$id'" || return 1
    c=$(_pg_dir "${BASH_REMATCH[1]}") || return 1
    [[ -d $c/bg/${BASH_REMATCH[2]} ]] || _pg_err "no background session '$id'" || return 1
    printf '%s\n' "$c/bg/${BASH_REMATCH[2]}"
}

_pg_bg_alive() {
    _pg_pid_alive "$(_pg_read_pid "$1/pid")"
}

# pg_bg_psql NAME [SQL...]: start a background psql session on NAME, run the SQL lines (if
# any) and wait until they have run; prints the session ID. The session keeps its
# connection (and an open transaction) until pg_bg_close.
#     id=$(pg_bg_psql seg0 'BEGIN;' 'INSERT INTO t VALUES (1);')
pg_bg_psql() {
    local name=${1:-} c ci n=1 d
    shift || true
    c=$(_pg_dir "$name") || return 1
    _pg_alive "$c" || _pg_err "cluster '$name' is not running" || return 1
    ci=$(pg_conninfo "$name") || return 1
    while ! mkdir "$c/bg/$n" 2>/dev/null; do n=$((n + 1)); done
    d=$c/bg/$n
    mkfifo "$d/in" && : >"$d/out" && echo 0 >"$d/seq" || return 1
    # shellcheck disable=SC2016 # expanded by the session's shell
    _pg_daemon bash -c 'echo $$ >"$1/pid"; sleep infinity >"$1/in" &
        exec "$2" -X -q -v ON_ERROR_STOP=1 -d "$3" <"$1/in" >"$1/out" 2>&1' \
        _ "$d" "$(_pg_bin psql)" "$ci"
    _pg_wait_file 10 "$d/pid" || _pg_err "background psql on '$name' did not start" || return 1
    if (($#)) && ! pg_bg_send "$name:$n" "$@"; then
        pg_bg_close "$name:$n" || true
        return 1
    fi
    echo "$name:$n"
}

# pg_bg_send [--nowait] ID SQL...: send SQL lines (complete statements, ending in ;) to the
# session and, unless --nowait, wait until they have run. Fails, printing the session
# output, when the SQL failed (the session then has ended) or did not finish in time.
pg_bg_send() {
    local wait=1 d seq
    if [[ ${1:-} == --nowait ]]; then
        wait=0
        shift
    fi
    d=$(_pg_bg_dir "${1:-}") || return 1
    shift
    _pg_bg_alive "$d" || _pg_err "background session ${d#"$CD_PG_ROOT"/} has ended" || return 1
    seq=$(($(<"$d/seq") + 1))
    echo "$seq" >"$d/seq"
    # 1<> opens the fifo without blocking even if psql were gone.
    printf '%s\n' "$@" "\\echo READY-$seq" 1<>"$d/in"
    ((wait == 0)) || _pg_bg_wait_dir "$d"
}

# pg_bg_wait ID: wait until everything sent to the session so far has run.
pg_bg_wait() {
    local d
    d=$(_pg_bg_dir "${1:-}") || return 1
    _pg_bg_wait_dir "$d"
}

_pg_bg_wait_dir() {
    local d=$1 seq deadline=$((SECONDS + $(_pg_timeout)))
    seq=$(<"$d/seq")
    until grep -qx "READY-$seq" "$d/out"; do
        if ! _pg_bg_alive "$d"; then
            grep -qx "READY-$seq" "$d/out" && return 0
            {
                echo "pg.bash: background session ${d#"$CD_PG_ROOT"/} ended; its output:"
                sed 's/^/  /' "$d/out"
            } >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            {
                echo "pg.bash: background SQL did not finish in $(_pg_timeout)s; output so far:"
                sed 's/^/  /' "$d/out"
            } >&2
            return 1
        fi
        sleep 0.05
    done
}

# pg_bg_output ID: everything the session printed so far (query results, errors, READY-n).
pg_bg_output() {
    local d
    d=$(_pg_bg_dir "${1:-}") || return 1
    cat "$d/out"
}

# pg_bg_close ID: end the session (\q; an open transaction is rolled back) and wait for it.
pg_bg_close() {
    local d
    d=$(_pg_bg_dir "${1:-}") || return 1
    _pg_bg_kill "$d"
}

# Quit psql, give it a few seconds, then kill its process group (psql and the fifo keeper).
_pg_bg_kill() {
    local d=$1 pid deadline=$((SECONDS + 5))
    pid=$(_pg_read_pid "$d/pid")
    [[ -n $pid ]] || return 0
    if _pg_bg_alive "$d" && [[ -p $d/in ]]; then
        printf '\\q\n' 1<>"$d/in"
        while _pg_bg_alive "$d" && ((SECONDS < deadline)); do sleep 0.05; done
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while _pg_bg_alive "$d" && ((SECONDS < deadline)); do sleep 0.05; done
    rm -f "$d/in" "$d/pid"
    ! _pg_bg_alive "$d" || _pg_err "background psql $pid did not exit"
}

# --- stopping ---------------------------------------------------------------------------------

_pg_kill_watchdog() {
    local pid
    pid=$(_pg_read_pid "$1/watchdog.pid")
    if [[ -n $pid ]]; then kill -TERM -- "-$pid" 2>/dev/null || true; fi
    rm -f "$1/watchdog.pid"
}

# pg_ctl stop -m $2 on cluster dir $1; immediate if that fails; SIGKILL as the last resort.
_pg_shutdown() {
    local c=$1 mode=$2 pid deadline
    pid=$(_pg_pid "$c")
    [[ -n $pid ]] || return 0
    if _pg_nofds _pg_as_postgres "$(_pg_bin pg_ctl)" -D "$c/data" -m "$mode" -w \
        -t "$(_pg_timeout)" stop </dev/null >"$c/pg_ctl.log" 2>&1; then
        return 0
    fi
    if [[ $mode != immediate ]]; then
        echo "pg.bash: $mode shutdown of $c failed, trying immediate" >&2
        _pg_shutdown "$c" immediate
        return
    fi
    # Server children are process group leaders of their own: kill them one by one.
    # shellcheck disable=SC2046 # one pid a word
    kill -KILL "$pid" $(_pg_children "$pid") 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while _pg_pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    ! _pg_pid_alive "$pid" || _pg_err "postmaster $pid of $c survived SIGKILL"
}

# Stop cluster dir $1 and its background sessions (mode $2) without touching the watchdog.
_pg_reap() {
    local d rc=0
    for d in "$1"/bg/*/; do
        [[ -d $d ]] && { _pg_bg_kill "${d%/}" || rc=1; }
    done
    _pg_shutdown "$1" "$2" || rc=1
    return $rc
}

# Children of process $1: one pid a line.
_pg_children() {
    local f line
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        line=${line##*) }
        line=${line#* } # state
        [[ ${line%% *} == "$1" ]] && echo "${f//[^0-9]/}"
    done
    return 0
}

# Postmasters whose command line names a data directory under $CD_PG_ROOT (leftovers that
# lost their postmaster.pid): one pid a line.
_pg_orphans() {
    local f pid
    local -a argv
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}
        pid=${pid%/cmdline}
        { mapfile -d '' -t argv <"$f"; } 2>/dev/null || continue
        [[ " ${argv[*]} " == *postgres*" -D $CD_PG_ROOT/"* ]] && _pg_pid_alive "$pid" && echo "$pid"
    done
    return 0
}

# Remove $CD_PG_ROOT when the harness created it, nothing runs in it and CD_PG_KEEP is unset.
_pg_remove_root_if_unused() {
    local c
    [[ -z ${CD_PG_KEEP:-} && -f $CD_PG_ROOT/.harness-created ]] || return 0
    for c in "$CD_PG_ROOT"/*/; do
        [[ -d $c ]] || continue
        if _pg_alive "${c%/}" || [[ -s ${c}watchdog.pid ]]; then return 0; fi
    done
    [[ -z $(_pg_orphans) ]] || return 0
    rm -rf "$CD_PG_ROOT"
}

# pg_stop NAME: fast shutdown of NAME (and its background sessions), waiting for it. The data
# directory stays, so files can be read with the server down; pg_start NAME starts it again.
pg_stop() {
    local c
    c=$(_pg_dir "${1:-}") || return 1
    _pg_kill_watchdog "$c"
    _pg_reap "$c" fast
}

# pg_stop_all: stop every cluster under $CD_PG_ROOT, kill leftover postmasters there, and
# remove $CD_PG_ROOT if the harness created it. Returns non-zero if something survived.
pg_stop_all() {
    local c pid rc=0
    [[ -n ${CD_PG_ROOT:-} && -d $CD_PG_ROOT ]] || return 0
    for c in "$CD_PG_ROOT"/*/; do
        c=${c%/}
        [[ -d $c/data ]] || continue
        _pg_kill_watchdog "$c"
        _pg_reap "$c" fast || rc=1
    done
    # Orphans: servers started behind the harness' back or whose pid file is gone.
    for pid in $(_pg_orphans); do
        echo "pg.bash: killing leftover postmaster $pid" >&2
        kill -QUIT "$pid" 2>/dev/null || true
        sleep 1
        if _pg_pid_alive "$pid"; then
            # shellcheck disable=SC2046 # one pid a word
    kill -KILL "$pid" $(_pg_children "$pid") 2>/dev/null || true
        fi
    done
    [[ -z $(_pg_orphans) ]] || rc=1
    if ((rc == 0)); then
        _pg_remove_root_if_unused
        [[ -d $CD_PG_ROOT ]] || unset CD_PG_ROOT
    fi
    return $rc
}

# pg_cleanup_on_exit: for plain scripts; pg_stop_all on EXIT (INT and TERM exit first). Keeps
# an EXIT trap that was already set, running it after pg_stop_all.
pg_cleanup_on_exit() {
    local prev
    prev=$(trap -p EXIT)
    if [[ -n $prev ]]; then
        eval "set -- $prev" # trap -- 'command' EXIT
        # shellcheck disable=SC2064 # the old command is meant to be fixed now
        trap "pg_stop_all; $3" EXIT
    else
        trap 'pg_stop_all' EXIT
    fi
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
