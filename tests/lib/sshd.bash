# shellcheck shell=bash
#
# tests/lib/sshd.bash: a throwaway sshd on 127.0.0.1 for the scheduler's ssh launcher.
#
#     sshd_start DIR [CONFIG LINE...]
#                           host and client keys, config and sshd under DIR, on a free port,
#                           with extra sshd_config lines (SetEnv ...)
#     sshd_command          the workload's ssh_command template reaching it
#     sshd_start_host DIR ADDR [CONFIG LINE...]
#                           another host: an sshd of its own on loopback address ADDR
#                           (127.0.0.2, ...), same keys, extra sshd_config lines (SetEnv ...);
#                           its port in DIR/port
#     sshd_stop             stops them all
#
# CD_SSHD_PREFIX (words, e.g. "nsenter -t PID -m --"): sshd_start and sshd_start_host run
# sshd through it, so the host's sshd (and every command it runs) lives in another namespace.
#
# The daemon accepts only the client key made here, for the user running the tests (root:
# PermitRootLogin prohibit-password). It runs with -D in the background (fd 3 closed).

sshd_start() {
    local dir=$1 port
    shift
    mkdir -p "$dir" /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
    cp "$dir/client_key.pub" "$dir/authorized_keys"
    chmod 600 "$dir/authorized_keys"
    port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$dir/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
CFG
    [[ $# -eq 0 ]] || printf '%s\n' "$@" >>"$dir/sshd_config"
    # shellcheck disable=SC2086 # a prefix of words
    ${CD_SSHD_PREFIX:-} /usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log" 3>&- &
    echo $! >"$dir/sshd.bgpid"
    export CD_SSHD_DIR=$dir CD_SSHD_PORT=$port
    for _ in $(seq 50); do
        ssh $(sshd_options) 127.0.0.1 true 2>/dev/null && return 0
        sleep 0.1
    done
    echo "sshd did not start; see $dir/sshd.log" >&2
    return 1
}

sshd_options() {
    echo "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" \
        "-o LogLevel=ERROR -i $CD_SSHD_DIR/client_key -p $CD_SSHD_PORT"
}

sshd_command() {
    echo "ssh $(sshd_options) {host} {command}"
}

sshd_start_host() {
    local dir=$1 addr=$2 port
    shift 2
    mkdir -p "$dir"
    port=$(/usr/bin/python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$addr")
    {
        printf 'ListenAddress %s\nPort %s\nHostKey %s\nAuthorizedKeysFile %s\nPidFile %s\n' \
            "$addr" "$port" "$CD_SSHD_DIR/host_key" "$CD_SSHD_DIR/authorized_keys" "$dir/sshd.pid"
        printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\n'
        printf 'KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n'
        printf '%s\n' "$@"
    } >"$dir/sshd_config"
    # shellcheck disable=SC2086 # a prefix of words
    ${CD_SSHD_PREFIX:-} /usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log" 3>&- &
    echo $! >>"$CD_SSHD_DIR/hosts.bgpid"
    echo "$port" >"$dir/port"
    for _ in $(seq 50); do
        ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
            -o LogLevel=ERROR -i "$CD_SSHD_DIR/client_key" -p "$port" "$addr" true 2>/dev/null &&
            return 0
        sleep 0.1
    done
    echo "sshd on $addr did not start; see $dir/sshd.log" >&2
    return 1
}

sshd_stop() {
    [[ -n ${CD_SSHD_DIR:-} ]] || return 0
    local f pid
    for f in "$CD_SSHD_DIR/sshd.bgpid" "$CD_SSHD_DIR/hosts.bgpid"; do
        [[ -f $f ]] || continue
        while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$f"
        rm -f "$f"
    done
}
