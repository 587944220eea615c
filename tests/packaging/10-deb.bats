#!/usr/bin/env bats
# The Debian packages (make check-packaging builds them into build/packages first, as root):
# lintian; installed with apt-get into a clean Debian 12 root made by mmdebstrap from
# Debian's archive (missing dependencies show up there); the binaries, `cerebro-ds doctor`
# against a throwaway cluster, the fstab type fuse.cerebro-ds through mount(8), the unit's
# command lines, upgrades that keep an edited configuration. The root lives in
# build/packages/root; each test works in a private mount namespace (unshare -m), so its
# /proc, /dev and cluster binds vanish with it. The unit runs the daemon as postgres: the
# root's postgres has the uid and gid of this host's, which owns the test cluster's data
# directory (bound in at the same path), and /dev/fuse is a node of our own with mode 0666,
# as a Debian host's udev makes it (a non-root daemon opens it; this host's may be 0600).

load ../helpers

PKG=$REPO/build/packages
ROOT=$PKG/root

setup_file() {
    VERSION=$(sed -n '1s/^cerebro-ds (\([^)]*\)).*/\1/p' "$REPO/packaging/debian/changelog")
    export VERSION
    ls "$PKG"/cerebro-ds-fuse_"$VERSION"_*.deb >/dev/null
    make_root
    root_postgres
    export FUSE_NODE=$BATS_FILE_TMPDIR/fuse
    mknod -m 0666 "$FUSE_NODE" c 10 229
    : <>"$FUSE_NODE" # opens (not on a nodev file system)
    pg_start pkg autovacuum=off
    pg_psql pkg -c "CREATE TABLE t (id int, v float8)" \
        -c "INSERT INTO t SELECT g, g / 2.0 FROM generate_series(1, 500) g" -c "CHECKPOINT"
    export CONN=$(pg_conninfo pkg)
    export DATA=$(pg_datadir pkg)
    export PGDIR=$(dirname "$DATA")
}

teardown_file() {
    pg_stop_all
}

# The clean root, once: Debian 12's apt variant plus mount (mount(8) for the fstab test) and
# systemd (booted by systemd-nspawn for the unit's test); its package lists fetched again
# (mmdebstrap removes them), so that apt-get resolves the packages' dependencies.
make_root() {
    if [[ ! -f $ROOT/.cerebro-ds-root ]]; then
        rm -rf "$ROOT"
        mmdebstrap --variant=apt --include=mount,systemd,systemd-sysv bookworm "$ROOT" \
            "deb http://deb.debian.org/debian bookworm main" \
            "deb http://deb.debian.org/debian bookworm-updates main" \
            "deb http://deb.debian.org/debian-security bookworm-security main"
        touch "$ROOT/.cerebro-ds-root"
    fi
    rm -rf "$ROOT/tmp/debs"
    chroot "$ROOT" apt-get update -q
}

# root_postgres: the root's postgres user and group with this host's uid and gid (created
# before postgresql-common, a dependency of cerebro-ds-fuse, would create them with others).
root_postgres() {
    local uid gid
    uid=$(id -u postgres)
    gid=$(id -g postgres)
    if ! chroot "$ROOT" getent group postgres >/dev/null; then
        groupadd -R "$ROOT" --system -o -g "$gid" postgres
    elif [[ $(chroot "$ROOT" getent group postgres | cut -d: -f3) != "$gid" ]]; then
        groupmod -R "$ROOT" -o -g "$gid" postgres
    fi
    if ! chroot "$ROOT" getent passwd postgres >/dev/null; then
        useradd -R "$ROOT" --system -o -u "$uid" -g postgres -M -d /var/lib/postgresql \
            -s /bin/bash -c "PostgreSQL administrator" postgres
    elif [[ $(chroot "$ROOT" id -u postgres) != "$uid" ]]; then
        usermod -R "$ROOT" -o -u "$uid" -g postgres postgres
    fi
    [[ $(chroot "$ROOT" id -u postgres):$(chroot "$ROOT" id -g postgres) == "$uid:$gid" ]]
}

# AS_POSTGRES COMMAND: a command run as the unit's user (in the root or the container)
AS_POSTGRES="setpriv --reuid=postgres --regid=postgres --init-groups --"

# in_container COMMAND...: run a shell command in the booted container (boot_container).
in_container() {
    nsenter --target "$CONTAINER_PID" --mount --uts --ipc --net --pid -- /bin/bash -c "$*"
}

# boot_container: systemd-nspawn --boot of the root, with /dev/fuse and the test cluster's
# directory bound in and the host's network; CONTAINER_PID is its systemd (pid 1 inside).
boot_container() {
    systemd-nspawn -D "$ROOT" --boot --register=no --keep-unit -q --console=pipe \
        --bind="$FUSE_NODE:/dev/fuse" --bind="$PGDIR" </dev/null >"$BATS_TEST_TMPDIR/console.log" 2>&1 3>&- &
    NSPAWN_PID=$!
    local i state=
    for ((i = 0; i < 300; i++)); do
        CONTAINER_PID=$(pgrep -P "$NSPAWN_PID" | head -n 1 || true)
        if [[ -n $CONTAINER_PID ]]; then
            state=$(in_container "systemctl is-system-running" 2>/dev/null || true)
            [[ $state == running || $state == degraded ]] && return 0
        fi
        sleep 0.2
    done
    echo "the container did not boot (state '$state'):" >&2
    tail -n 30 "$BATS_TEST_TMPDIR/console.log" >&2
    return 1
}

stop_container() {
    [[ -n ${NSPAWN_PID:-} ]] || return 0
    kill -TERM "$NSPAWN_PID" 2>/dev/null || true # nspawn asks the container to halt
    local i
    for ((i = 0; i < 150; i++)); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$NSPAWN_PID" 2>/dev/null || true
    wait "$NSPAWN_PID" 2>/dev/null || true
    NSPAWN_PID=
}

teardown() {
    stop_container
}

# in_root COMMAND...: run a shell command in the root, in a private mount namespace with
# /proc, /sys, /dev (its fuse: FUSE_NODE) and the test cluster's directory (socket and data)
# bound in.
in_root() {
    unshare --mount --propagation private bash -c '
        set -e
        root=$1 pgdir=$2 fuse=$3
        shift 3
        mount -t proc proc "$root/proc"
        mount --rbind /sys "$root/sys"
        mount --rbind /dev "$root/dev"
        mount --bind "$fuse" "$root/dev/fuse"
        mkdir -p "$root$pgdir"
        mount --bind "$pgdir" "$root$pgdir"
        exec chroot "$root" /bin/bash -c "$*"' in_root "$ROOT" "$PGDIR" "$FUSE_NODE" "$@"
}

# root_conf NAME MOUNTPOINT TABLES: the root's /etc/cerebro-ds/NAME.conf, serving TABLES of
# the test cluster at MOUNTPOINT (which it does not create).
root_conf() {
    printf '[database]\nconninfo = %s\n[mount]\nmountpoint = %s\ntables = %s\ncache_mb = 16\n' \
        "$CONN" "$2" "$3" >"$ROOT/etc/cerebro-ds/$1.conf"
}

# install_debs [DEB...]: copy the packages into the root and install them with apt-get.
# --reinstall: the root outlives a run, and apt-get would keep an installed package of the
# same version (an earlier build) instead of the one under test. --force-confold: a
# configuration the upgrade test edited stays without a prompt when the packaged one changed
# since that build (that test checks the edit is kept; its own reinstall has no option).
install_debs() {
    mkdir -p "$ROOT/tmp/debs"
    cp "$@" "$ROOT/tmp/debs/"
    local names=()
    for d in "$@"; do names+=("/tmp/debs/$(basename "$d")"); done
    in_root "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --reinstall \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ${names[*]}"
}

debs_of() { # VERSION: the packages of that version
    ls "$PKG"/*_"$1"_*.deb
}

@test "lintian: no errors and no warnings on the packages" {
    run lintian --fail-on error,warning --display-info $(debs_of "$VERSION")
    echo "$output"
    [ "$status" -eq 0 ]
    run ! grep -qE '^[EW]: ' <<<"$output"
}

@test "the packages split by role, with their files" {
    dpkg-deb -c "$PKG"/cerebro-ds-fuse_"$VERSION"_*.deb >"$BATS_TEST_TMPDIR/fuse.txt"
    for f in ./usr/bin/cerebro-ds-fuse ./usr/bin/cerebro-ds ./etc/cerebro-ds/cerebro-ds.conf \
        ./usr/lib/systemd/system/cerebro-ds-fuse@.service ./usr/lib/tmpfiles.d/cerebro-ds.conf \
        ./usr/share/man/man8/cerebro-ds-fuse.8.gz ./usr/share/man/man5/cerebro-ds.conf.5.gz \
        ./usr/share/man/man1/cerebro-ds.1.gz "./usr/sbin/mount.fuse.cerebro-ds -> ../bin/cerebro-ds-fuse"; do
        grep -qF "$f" "$BATS_TEST_TMPDIR/fuse.txt" || { echo "missing $f" >&2; false; }
    done
    dpkg-deb -f "$PKG"/cerebro-ds-fuse_"$VERSION"_*.deb Depends | grep -q 'libfuse3-3'
    dpkg-deb -f "$PKG"/cerebro-ds-fuse_"$VERSION"_*.deb Depends | grep -q 'libpq5'
    dpkg-deb -f "$PKG"/cerebro-ds-fuse_"$VERSION"_*.deb Depends | grep -q 'fuse3'
    # the package that creates the unit's user, postgres
    dpkg-deb -f "$PKG"/cerebro-ds-fuse_"$VERSION"_*.deb Depends | grep -q 'postgresql-common'
    dpkg-deb -c "$PKG"/cerebro-train_"$VERSION"_*.deb | grep -q './usr/bin/cerebro-train$'
    dpkg-deb -f "$PKG"/cerebro-train_"$VERSION"_*.deb Depends | grep -q 'libopenblas0'
    dpkg-deb -c "$PKG"/cerebro-sched_"$VERSION"_*.deb | grep -q './usr/bin/cerebro-sched$'
    # the configuration is a conffile
    dpkg-deb -I "$PKG"/cerebro-ds-fuse_"$VERSION"_*.deb conffiles | grep -qx /etc/cerebro-ds/cerebro-ds.conf
    # the CUDA backend is a package of its own, built only with the toolkit
    if [[ $(make -s --no-print-directory -C "$REPO" print-CUDA_ENABLED | tail -n 1) == 1 ]]; then
        dpkg-deb -c "$PKG"/cerebro-train-cuda_"$VERSION"_*.deb | grep -q 'usr/lib/cerebro-ds/libcerebro-cuda.so$'
    else
        run ! ls "$PKG"/cerebro-train-cuda_"$VERSION"_*.deb
    fi
}

@test "apt-get installs them into a clean Debian 12 root: the binaries run" {
    install_debs $(debs_of "$VERSION")
    run in_root "cerebro-ds --version && cerebro-ds-fuse --version && cerebro-train --version && cerebro-sched --help | head -n 3"
    echo "$output"
    [ "$status" -eq 0 ]
    grep -qx "cerebro-ds $VERSION" <<<"$output"
    grep -q "^cerebro-train $VERSION" <<<"$output"
    grep -q "cerebro-sched" <<<"$output"
    in_root "man -w cerebro-ds-fuse 2>/dev/null || test -f /usr/share/man/man8/cerebro-ds-fuse.8.gz"
    in_root "test -L /usr/sbin/mount.fuse.cerebro-ds && test -x /usr/bin/fusermount3"
}

@test "cerebro-ds doctor in the root, against a throwaway cluster: failing checks name themselves" {
    install_debs $(debs_of "$VERSION")
    root_conf doctor /srv/nothing-here "public.t, public.missing"
    run in_root "cerebro-ds doctor --config /etc/cerebro-ds/doctor.conf"
    echo "$output"
    [ "$status" -eq 1 ]
    grep -qE '^ok +database postgres: postgres answers as role postgres' <<<"$output"
    grep -qE '^FAIL +select postgres: 1 problem\(s\) .*public.missing: does not exist' <<<"$output"
    grep -qE '^FAIL +mountpoint: /srv/nothing-here: No such file or directory; fix: ' <<<"$output"
    grep -qE '^ok +datadir: ' <<<"$output"
    grep -qE '^doctor: .* NOT ready$' <<<"$output"
    # the default configuration, as installed, names nothing to serve yet
    run in_root "cerebro-ds doctor"
    [ "$status" -eq 1 ]
    grep -qE '^FAIL +config: /etc/cerebro-ds/cerebro-ds.conf parses, but names nothing to serve' <<<"$output"
}

@test "fstab: mount -T with a fuse.cerebro-ds line mounts the table, umount unmounts it" {
    install_debs $(debs_of "$VERSION")
    root_conf fstab-test /mnt/ignored "public.t"
    mkdir -p "$ROOT/srv/cd"
    printf '%s\n' "# cerebro-ds: the table t of a throwaway cluster" \
        "/etc/cerebro-ds/fstab-test.conf /srv/cd fuse.cerebro-ds ro,_netdev,nofail,x-systemd.requires=postgresql.service,x-systemd.automount 0 0" \
        >"$ROOT/etc/fstab.test"
    run in_root "mount -T /etc/fstab.test /srv/cd && findmnt -n -o FSTYPE /srv/cd &&
        od -A n -t x1 -N 6 /srv/cd/postgres/public.t/part0/v.npy && umount /srv/cd &&
        ! findmnt /srv/cd && echo unmounted"
    echo "$output"
    [ "$status" -eq 0 ]
    grep -qx 'fuse.cerebro-ds' <<<"$output"
    grep -q '93 4e 55 4d 50 59' <<<"$output" # \x93NUMPY
    [[ ${lines[-1]} == unmounted ]]
    # the daemon went with the unmount
    ! pgrep -af 'mount.fuse.cerebro-ds /etc/cerebro-ds/fstab-test.conf' || false # prints it
}

@test "the unit: systemd-analyze verify, and its ExecStart, ExecReload and stop by hand" {
    install_debs $(debs_of "$VERSION")
    unit=$ROOT/usr/lib/systemd/system/cerebro-ds-fuse@.service
    # verify the instance against the installed binaries (the root's, through --root)
    cp "$unit" "$BATS_TEST_TMPDIR/"
    # (--man=no: the host's man(1) does not see the root's pages; checked below)
    run systemd-analyze --root="$ROOT" --man=no verify "cerebro-ds-fuse@cerebro-ds.service"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ -z $output ]]
    for m in man8/cerebro-ds-fuse.8 man5/cerebro-ds.conf.5 man1/cerebro-ds.1; do
        [ -f "$ROOT/usr/share/man/$m.gz" ]
    done
    grep -qx 'Type=notify' "$unit"
    grep -qx 'NotifyAccess=main' "$unit"
    grep -qx 'Restart=on-failure' "$unit"
    grep -q '^Documentation=man:cerebro-ds-fuse(8)' "$unit"
    # the database's OS user, mounting through the setuid fusermount3: nothing may set
    # no_new_privs (NoNewPrivileges=yes, or any seccomp setting, which implies it for a
    # User= service), and the bounding set must leave fusermount3 CAP_SYS_ADMIN
    user=$(sed -n 's/^User=//p' "$unit")
    group=$(sed -n 's/^Group=//p' "$unit")
    [[ $user == postgres ]]
    [[ $group == postgres ]]
    run ! grep -E '^(NoNewPrivileges=yes|SystemCall|RestrictAddressFamilies|RestrictNamespaces|RestrictRealtime|RestrictSUIDSGID|LockPersonality|MemoryDenyWriteExecute|ProtectHostname|ProtectClock|ProtectKernel|PrivateDevices|DynamicUser|SecureBits)' "$unit"
    grep -qx 'CapabilityBoundingSet=CAP_SYS_ADMIN' "$unit"
    # the command lines of the instance "unit" (%i = unit), run as systemd would run them:
    # as the unit's user, on a mount point that user owns
    root_conf unit /srv/unit "public.t"
    mkdir -p "$ROOT/srv/unit"
    in_root "chown $user:$group /srv/unit"
    as="setpriv --reuid=$user --regid=$group --init-groups --"
    start=$(sed -n 's/^ExecStart=//p' "$unit" | sed 's/%i/unit/g')
    reload=$(sed -n 's/^ExecReload=//p' "$unit" | sed 's/%i/unit/g')
    run in_root "
        set -e
        $as $start </dev/null 2>/tmp/unit.log &
        pid=\$!
        for i in \$(seq 100); do $as test -r /srv/unit/.cerebro-ds/version && break; sleep 0.1; done
        $as test -r /srv/unit/postgres/public.t/part0/id.npy
        echo owner=\$(stat -c %U /proc/\$pid)
        findmnt -n -o OPTIONS /srv/unit
        $as $reload
        kill -TERM \$pid
        rc=0
        wait \$pid || rc=\$?
        echo exit=\$rc
        if findmnt /srv/unit; then echo still mounted; exit 1; fi
        cat /tmp/unit.log"
    echo "$output"
    [ "$status" -eq 0 ]
    grep -qx 'owner=postgres' <<<"$output"
    # mounted by postgres through fusermount3
    grep -q "user_id=$(id -u postgres)," <<<"$output"
    grep -q '/srv/unit: 1 table(s) refreshed' <<<"$output"
    grep -qx 'exit=0' <<<"$output"
    grep -q 'unmounted /srv/unit; every snapshot released' <<<"$output"
}

@test "under a real systemd (systemd-nspawn --boot): start is mounted, reload refreshes, a killed daemon restarts, stop unmounts" {
    install_debs $(debs_of "$VERSION")
    root_conf unit /srv/unit "public.t"
    mkdir -p "$ROOT/srv/unit"
    in_root "chown postgres:postgres /srv/unit"
    boot_container
    # the tmpfiles.d entry gives the cache directory and the default mount point to postgres
    run in_container "stat -c '%n %U %G %a' /var/cache/cerebro-ds /mnt/cerebro-ds"
    echo "$output"
    [[ ${lines[0]} == '/var/cache/cerebro-ds postgres postgres 700' ]]
    [[ ${lines[1]} == '/mnt/cerebro-ds postgres postgres 755' ]]
    # Type=notify: start returns once the mount serves, so the file is there at once (for
    # postgres only: without allow_other nobody else, not even root, reaches the mount)
    run in_container "systemctl start cerebro-ds-fuse@unit && $AS_POSTGRES od -A n -t x1 -N 6 /srv/unit/postgres/public.t/part0/id.npy"
    echo "$output"
    [ "$status" -eq 0 ]
    grep -q '93 4e 55 4d 50 59' <<<"$output"
    in_container "systemctl show -p Type,ActiveState,SubState,MainPID cerebro-ds-fuse@unit" >"$BATS_TEST_TMPDIR/show"
    grep -qx 'Type=notify' "$BATS_TEST_TMPDIR/show"
    grep -qx 'SubState=running' "$BATS_TEST_TMPDIR/show"
    # the daemon runs as postgres with no capability, and postgres mounted (fusermount3)
    pid=$(sed -n 's/^MainPID=//p' "$BATS_TEST_TMPDIR/show")
    [[ $pid =~ ^[1-9][0-9]*$ ]]
    in_container "stat -c %U /proc/$pid" | grep -qx postgres
    in_container "grep -E '^(Uid|Gid|CapEff|CapPrm|NoNewPrivs):' /proc/$pid/status" >"$BATS_TEST_TMPDIR/status"
    cat "$BATS_TEST_TMPDIR/status"
    grep -qE "^Uid:\s+$(id -u postgres)\s" "$BATS_TEST_TMPDIR/status"
    grep -qE "^Gid:\s+$(id -g postgres)\s" "$BATS_TEST_TMPDIR/status"
    grep -qE '^CapEff:\s+0+$' "$BATS_TEST_TMPDIR/status"
    grep -qE '^CapPrm:\s+0+$' "$BATS_TEST_TMPDIR/status"
    in_container "findmnt -n -o OPTIONS /srv/unit" | grep -q "user_id=$(id -u postgres),"
    run in_container "od -A n -t x1 -N 6 /srv/unit/postgres/public.t/part0/id.npy"
    [ "$status" -ne 0 ]
    # reload = refresh: a row inserted now shows after it
    pg_psql pkg -c "INSERT INTO t VALUES (501, 0)"
    in_container "systemctl reload cerebro-ds-fuse@unit"
    in_container "$AS_POSTGRES stat -c %s /srv/unit/postgres/public.t/part0/id.npy" | grep -qx $((128 + 501 * 4))
    # the journal: the daemon's lines with their priorities, no second time stamp
    in_container "journalctl -u cerebro-ds-fuse@unit -o json --output-fields=PRIORITY,MESSAGE" \
        >"$BATS_TEST_TMPDIR/journal"
    cat "$BATS_TEST_TMPDIR/journal"
    grep '"MESSAGE":"info: mounted at /srv/unit' "$BATS_TEST_TMPDIR/journal" | grep -q '"PRIORITY":"6"'
    run ! grep -qE '"MESSAGE":"[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$BATS_TEST_TMPDIR/journal"
    # killed: Restart=on-failure starts it again, and the stale mount is unmounted first
    in_container "systemctl kill -s KILL cerebro-ds-fuse@unit"
    for ((i = 0; i < 100; i++)); do
        in_container "systemctl is-active -q cerebro-ds-fuse@unit && $AS_POSTGRES test -r /srv/unit/postgres/public.t/meta" && break
        sleep 0.2
    done
    in_container "$AS_POSTGRES test -r /srv/unit/postgres/public.t/meta"
    in_container "journalctl -u cerebro-ds-fuse@unit -o json --output-fields=PRIORITY,MESSAGE" |
        grep 'warning: mount point /srv/unit: .* died without unmounting' | grep -q '"PRIORITY":"4"'
    # stop: a clean unmount
    in_container "systemctl stop cerebro-ds-fuse@unit"
    run in_container "findmnt /srv/unit"
    [ "$status" -ne 0 ]
    in_container "journalctl -u cerebro-ds-fuse@unit" | grep -q 'unmounted /srv/unit; every snapshot released'
    pg_psql pkg -c "DELETE FROM t WHERE id = 501"
}

@test "upgrades keep an edited configuration: the same version again, then a newer one" {
    install_debs $(debs_of "$VERSION")
    echo "# edited by the operator" >>"$ROOT/etc/cerebro-ds/cerebro-ds.conf"
    in_root "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall /tmp/debs/cerebro-ds-fuse_${VERSION}_*.deb"
    grep -q '^# edited by the operator' "$ROOT/etc/cerebro-ds/cerebro-ds.conf"
    # a newer version: the same package with version VERSION.1 (repacked)
    new=$VERSION.1
    work=$BATS_TEST_TMPDIR/repack
    for d in $(debs_of "$VERSION"); do
        rm -rf "$work" && dpkg-deb -R "$d" "$work"
        sed -i "s/^Version: .*/Version: $new/; s/(= $VERSION)/(= $new)/" "$work/DEBIAN/control"
        b=$(basename "$d")
        dpkg-deb -b "$work" "$BATS_TEST_TMPDIR/${b/_${VERSION}_/_${new}_}" >/dev/null
    done
    install_debs "$BATS_TEST_TMPDIR"/*_"$new"_*.deb
    in_root "dpkg-query -W -f='\${Version}' cerebro-ds-fuse" | grep -qx "$new"
    grep -q '^# edited by the operator' "$ROOT/etc/cerebro-ds/cerebro-ds.conf"
    [ ! -e "$ROOT/etc/cerebro-ds/cerebro-ds.conf.dpkg-new" ]
    # back to the packaged version for the other tests
    in_root "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades $(for d in $(debs_of "$VERSION"); do printf '/tmp/debs/%s ' "$(basename "$d")"; done)"
}
