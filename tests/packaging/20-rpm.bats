#!/usr/bin/env bats
# The RPM packages (make check-packaging builds them into build/packages first): what
# rpm -qlp lists, the dependencies rpm found, the scriptlets, rpmlint, and upgrades that keep
# an edited %config(noreplace) file, in an rpm database of a scratch root (rpm --root,
# --nodeps --noscripts: this Debian host has neither the dependencies nor a shell there).

load ../helpers

PKG=$REPO/build/packages

setup_file() {
    VERSION=$(sed -n '1s/^cerebro-ds (\([^)]*\)).*/\1/p' "$REPO/packaging/debian/changelog")
    export VERSION
    ls "$PKG"/cerebro-ds-fuse-"$VERSION"-1*.rpm >/dev/null
}

rpm_of() { # NAME VERSION
    ls "$PKG/$1-$2"-1*.rpm
}

@test "rpm -qlp: binaries, unit, tmpfiles entry, configuration and man pages, split by role" {
    run rpm -qlp "$(rpm_of cerebro-ds-fuse "$VERSION")"
    echo "$output"
    for f in /usr/bin/cerebro-ds-fuse /usr/bin/cerebro-ds /usr/sbin/mount.fuse.cerebro-ds \
        /etc/cerebro-ds/cerebro-ds.conf /usr/lib/systemd/system/cerebro-ds-fuse@.service \
        /usr/lib/tmpfiles.d/cerebro-ds.conf /usr/share/man/man8/cerebro-ds-fuse.8 \
        /usr/share/man/man5/cerebro-ds.conf.5 /usr/share/man/man1/cerebro-ds.1; do
        grep -q "^$f" <<<"$output" || { echo "missing $f" >&2; false; }
    done
    rpm -qp --configfiles "$(rpm_of cerebro-ds-fuse "$VERSION")" | grep -qx /etc/cerebro-ds/cerebro-ds.conf
    rpm -qlp "$(rpm_of cerebro-train "$VERSION")" | grep -qx /usr/bin/cerebro-train
    rpm -qlp "$(rpm_of cerebro-train "$VERSION")" | grep -qE '^/usr/share/man/man1/cerebro-train\.1(\.gz)?$'
    rpm -qlp "$(rpm_of cerebro-sched "$VERSION")" | grep -qx /usr/bin/cerebro-sched
    # dependencies found in the binaries, and fusermount3's package
    rpm -qp --requires "$(rpm_of cerebro-ds-fuse "$VERSION")" | grep -q 'libfuse3.so.3()(64bit)'
    rpm -qp --requires "$(rpm_of cerebro-ds-fuse "$VERSION")" | grep -qx 'fuse3'
    # the package that creates the unit's user, postgres (before the tmpfiles entry applies)
    rpm -qp --requires "$(rpm_of cerebro-ds-fuse "$VERSION")" | grep -qx 'postgresql-server'
    rpm -qp --requires "$(rpm_of cerebro-train "$VERSION")" | grep -q 'libopenblas'
    # the systemd scriptlets
    rpm -qp --scripts "$(rpm_of cerebro-ds-fuse "$VERSION")" | grep -q 'daemon-reload'
    rpm -qp --scripts "$(rpm_of cerebro-ds-fuse "$VERSION")" | grep -q 'systemd-tmpfiles --create'
    if [[ $(make -s --no-print-directory -C "$REPO" print-CUDA_ENABLED | tail -n 1) == 1 ]]; then
        rpm -qlp "$(rpm_of cerebro-train-cuda "$VERSION")" | grep -qx /usr/lib/cerebro-ds/libcerebro-cuda.so
    fi
}

@test "rpmlint: no errors" {
    run rpmlint -r "$REPO/packaging/rpm/rpmlintrc" "$PKG"/*-"$VERSION"-1*.rpm
    echo "$output"
    grep -qE '[0-9]+ packages and 0 specfiles checked; 0 errors' <<<"$output"
}

@test "upgrades keep an edited %config(noreplace) file: the same version again, then a newer one" {
    root=$BATS_TEST_TMPDIR/root
    mkdir -p "$root"
    rpm --root "$root" --initdb
    r() { rpm --root "$root" --nodeps --noscripts "$@"; }
    r -i "$(rpm_of cerebro-ds-fuse "$VERSION")"
    echo "# edited by the operator" >>"$root/etc/cerebro-ds/cerebro-ds.conf"
    r -U --replacepkgs "$(rpm_of cerebro-ds-fuse "$VERSION")"
    grep -q '^# edited by the operator' "$root/etc/cerebro-ds/cerebro-ds.conf"
    r -U "$(rpm_of cerebro-ds-fuse "$VERSION.1")"
    [[ $(rpm --root "$root" -q --qf '%{VERSION}' cerebro-ds-fuse) == "$VERSION.1" ]]
    grep -q '^# edited by the operator' "$root/etc/cerebro-ds/cerebro-ds.conf"
    [ ! -e "$root/etc/cerebro-ds/cerebro-ds.conf.rpmnew" ]
    test -x "$root/usr/bin/cerebro-ds-fuse"
}
