# shellcheck shell=bash
#
# tests/lib/citus.bash: a Citus cluster of "hosts" on this one machine, for the multi-host
# tests and bench/cluster.sh. Needs tests/lib/pg.bash and tests/lib/sshd.bash loaded, root
# (mount namespaces), and Citus built by make deps.
#
#     citus_start N              a coordinator "coord" on 127.0.0.1 and N workers w1..wN on
#                                127.0.0.2 ... 127.0.0.(N+1), each its own PostgreSQL 15 with
#                                citus in shared_preload_libraries, listening on its own
#                                address only; extension created, workers added
#     citus_psql NODE [args...]  psql on a node (coord, w1, ...), database postgres
#     citus_addr NODE            its loopback address
#     citus_shards_on NODE TABLE TABLE's shards with a placement on NODE, as the mount names
#                                them (s<shardid>), in shard order
#     citus_keys_on NODE TABLE COLUMN
#                                the values of TABLE's distribution column COLUMN in its rows
#                                on NODE, sorted, comma-separated
#     host_start NODE DIR [HIDE...]
#                                the node's host: a mount namespace of its own (private
#                                propagation) with an empty tmpfs on /mnt (so its
#                                /mnt/cerebro-ds is its own) and on every HIDE path (so the
#                                host cannot see them: the scheduler's job directory), and an
#                                sshd on the node's address inside it (sshd_start must have
#                                run: same keys). DIR keeps the host's state: config, logs.
#     host_run NODE CMD...       run CMD inside the host's mount namespace
#     host_ssh_port NODE         the port of the host's sshd
#     hosts_ssh_config FILE NODE...
#                                an ssh_config reaching each NODE's host by its address
#                                (ssh -F FILE ADDR) with the test key
#     cluster_conf DIR TABLES    DIR/ssh_config (the worker hosts w1 w2) and DIR/cluster.conf
#                                for `cerebro-ds -c DIR/cluster.conf refresh --cluster`:
#                                the coordinator, [mount] tables = TABLES, the ssh_command
#                                and remote_command (the cerebro-ds of PATH)
#     host_sshd_stop NODE / host_sshd_start NODE
#                                stop / start the host's sshd again, on the same port (a
#                                host that stops answering, and comes back)
#     host_mount NODE [CONFIG LINE...]
#                                cerebro-ds-fuse in the host's namespace on /mnt/cerebro-ds,
#                                serving the node's database with the config lines given
#                                (e.g. "tables = public.t"); waits until it serves
#     host_umount NODE           unmount and wait for the daemon to exit
#     host_daemon_pid NODE       the pid of the host's cerebro-ds-fuse
#     hosts_stop                 every host: daemons, sshd, namespace
#
# Each host's daemon reads the node's heap files through the node's own unix socket and data
# directory; nothing else is shared between hosts except what the test shares on purpose.

CITUS_NODES=()

citus_addr() {
    case $1 in
    coord) echo 127.0.0.1 ;;
    w[0-9]*) echo "127.0.0.$((${1#w} + 1))" ;;
    *) echo "citus.bash: unknown node '$1'" >&2 && return 1 ;;
    esac
}

citus_shards_on() {
    citus_psql coord -Atc "SELECT 's' || p.shardid FROM pg_dist_placement p
        JOIN pg_dist_shard s ON s.shardid = p.shardid JOIN pg_dist_node n ON n.groupid = p.groupid
        WHERE s.logicalrelid = '$2'::regclass AND n.nodename = '$(citus_addr "$1")'
        ORDER BY p.shardid"
}

citus_keys_on() {
    citus_psql coord -Atc "SELECT $3 FROM $2 WHERE get_shard_id_for_distribution_column('$2', $3)
        IN ($(citus_shards_on "$1" "$2" | sed 's/^s//' | paste -sd,)) ORDER BY $3" | paste -sd,
}

citus_psql() {
    local node=$1
    shift
    pg_psql "$node" "$@"
}

citus_port() {
    cat "$CD_PG_ROOT/$1/port"
}

# _citus_node NAME: start one node with citus, TCP on its address, trust from loopback.
_citus_node() {
    local name=$1 addr
    addr=$(citus_addr "$name") || return 1
    pg_start "$name" shared_preload_libraries=citus "listen_addresses=$addr" \
        max_prepared_transactions=20 wal_level=logical max_connections=60 || return 1
    if ! grep -q '^host all all 127.0.0.0/8 trust' "$(pg_datadir "$name")/pg_hba.conf"; then
        echo 'host all all 127.0.0.0/8 trust' >>"$(pg_datadir "$name")/pg_hba.conf"
        citus_psql "$name" -c 'SELECT pg_reload_conf()' >/dev/null || return 1
    fi
    citus_psql "$name" -c 'CREATE EXTENSION IF NOT EXISTS citus' >/dev/null
}

citus_start() {
    local n=$1 i
    # TCP ports are shared by every test run on this machine: start at a random one
    export CD_PG_PORT_BASE=${CD_PG_PORT_BASE:-$((20000 + RANDOM % 30000))}
    CITUS_NODES=(coord)
    for ((i = 1; i <= n; i++)); do CITUS_NODES+=("w$i"); done
    for i in "${CITUS_NODES[@]}"; do _citus_node "$i" || return 1; done
    citus_psql coord -c "SELECT citus_set_coordinator_host('127.0.0.1', $(citus_port coord))" \
        >/dev/null || return 1
    for ((i = 1; i <= n; i++)); do
        citus_psql coord -c \
            "SELECT citus_add_node('$(citus_addr "w$i")', $(citus_port "w$i"))" >/dev/null ||
            return 1
    done
}

# --- hosts ---------------------------------------------------------------------------------

_host_dir() {
    cat "$CD_PG_ROOT/$1/host.dir"
}

_host_pid() {
    cat "$(_host_dir "$1")/ns.pid"
}

host_run() {
    local node=$1
    shift
    nsenter -t "$(_host_pid "$node")" -m -- "$@"
}

host_start() {
    local node=$1 dir=$2 hide="" p
    shift 2
    mkdir -p "$dir"
    echo "$dir" >"$CD_PG_ROOT/$node/host.dir"
    for p in "$@"; do hide+=" $(printf '%q' "$p")"; done
    # the holder: its namespace lives as long as it does
    # shellcheck disable=SC2016 # expanded by the holder's shell
    unshare -m --propagation private -- bash -c '
        mount -t tmpfs -o mode=0755 cerebro-host /mnt && mkdir /mnt/cerebro-ds || exit 1
        for p in '"$hide"'; do mount -t tmpfs -o mode=0700 hidden "$p" || exit 1; done
        echo $$ >"$1/ns.pid.new" && mv "$1/ns.pid.new" "$1/ns.pid"
        exec sleep infinity' _ "$dir" </dev/null >"$dir/ns.log" 2>&1 3>&- &
    for _ in $(seq 100); do [[ -s $dir/ns.pid ]] && break; sleep 0.05; done
    [[ -s $dir/ns.pid ]] || { cat "$dir/ns.log" >&2; return 1; }
    host_sshd_start "$node"
}

host_sshd_start() {
    local node=$1 dir port
    dir=$(_host_dir "$node")
    if [[ ! -f $dir/sshd/sshd_config ]]; then
        CD_SSHD_PREFIX="nsenter -t $(_host_pid "$node") -m --" \
            sshd_start_host "$dir/sshd" "$(citus_addr "$node")"
        return
    fi
    # again, on the same address and port
    port=$(cat "$dir/sshd/port")
    nsenter -t "$(_host_pid "$node")" -m -- /usr/sbin/sshd -D -f "$dir/sshd/sshd_config" \
        -E "$dir/sshd/sshd.log" </dev/null >/dev/null 2>&1 3>&- &
    echo $! >>"$CD_SSHD_DIR/hosts.bgpid"
    for _ in $(seq 50); do
        ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
            -o LogLevel=ERROR -i "$CD_SSHD_DIR/client_key" -p "$port" "$(citus_addr "$node")" \
            true 2>/dev/null && return 0
        sleep 0.1
    done
    echo "sshd of $node did not start again; see $dir/sshd/sshd.log" >&2
    return 1
}

host_sshd_stop() {
    local dir pid
    dir=$(_host_dir "$1")
    pid=$(cat "$dir/sshd/sshd.pid" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

host_ssh_port() {
    cat "$(_host_dir "$1")/sshd/port"
}

hosts_ssh_config() {
    local file=$1 node
    shift
    {
        for node in "$@"; do
            printf 'Host %s\n  Port %s\n' "$(citus_addr "$node")" "$(host_ssh_port "$node")"
        done
        printf 'Host *\n  IdentityFile %s\n  BatchMode yes\n  StrictHostKeyChecking no\n' \
            "$CD_SSHD_DIR/client_key"
        printf '  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n'
    } >"$file"
}

cluster_conf() {
    local dir=$1 tables=$2
    hosts_ssh_config "$dir/ssh_config" w1 w2
    printf '[database]\nconninfo = %s\n[mount]\ntables = %s\n[cluster]\n' \
        "$(pg_conninfo coord)" "$tables" >"$dir/cluster.conf"
    printf 'ssh_command = ssh -F %s {host} {command}\nremote_command = %s\n' \
        "$dir/ssh_config" "$(command -v cerebro-ds)" >>"$dir/cluster.conf"
}

host_mount() {
    local node=$1 dir line
    shift
    dir=$(_host_dir "$node")
    {
        echo "[database]"
        echo "conninfo = $(pg_conninfo "$node")"
        echo "[mount]"
        echo "mountpoint = /mnt/cerebro-ds"
        for line in "$@"; do echo "$line"; done
    } >"$dir/cerebro-ds.conf"
    # nsenter execs the daemon: its pid is the daemon's (host_daemon_pid)
    nsenter -t "$(_host_pid "$node")" -m -- "$(command -v cerebro-ds-fuse)" -f \
        -c "$dir/cerebro-ds.conf" </dev/null >>"$dir/fuse.log" 2>&1 3>&- &
    echo $! >"$dir/fuse.pid"
    for _ in $(seq 150); do
        host_run "$node" test -r /mnt/cerebro-ds/.cerebro-ds/version && return 0
        kill -0 "$(cat "$dir/fuse.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "cerebro-ds-fuse of $node did not mount; its log:" >&2
    tail -n 20 "$dir/fuse.log" >&2
    return 1
}

host_daemon_pid() {
    cat "$(_host_dir "$1")/fuse.pid"
}

host_umount() {
    local node=$1 dir pid
    dir=$(_host_dir "$node")
    pid=$(cat "$dir/fuse.pid" 2>/dev/null) || return 0
    host_run "$node" fusermount3 -u /mnt/cerebro-ds 2>/dev/null || kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/fuse.pid"
}

hosts_stop() {
    local f node
    for f in "$CD_PG_ROOT"/*/host.dir; do
        [[ -f $f ]] || continue
        node=$(basename "$(dirname "$f")")
        host_umount "$node"
        host_sshd_stop "$node"
        kill "$(_host_pid "$node")" 2>/dev/null || true
        rm -f "$f"
    done
}
