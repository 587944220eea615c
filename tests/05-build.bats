#!/usr/bin/env bats
#
# 05-build: the build as a newcomer meets it. `make` with no target is `make all` (DESIGN 2):
# every binary of build/bin, whatever the included makefiles (mk/cuda.mk) define first.

load helpers

@test "make with no target builds what make all builds" {
    local b=$BATS_TEST_TMPDIR/build
    run make -C "$REPO" --no-print-directory -n BUILD="$b"
    [ "$status" -eq 0 ]
    local bin
    for bin in cerebro-ds cerebro-ds-fuse cerebro-train cerebro-sched; do
        [[ $output == *"-o $b/bin/$bin "* ]] || {
            echo "make (no target) does not build $bin:" >&2
            echo "$output" | tail -5 >&2
            return 1
        }
    done
    run make -C "$REPO" --no-print-directory -n BUILD="$b" all
    [ "$status" -eq 0 ]
    local all=$output
    run make -C "$REPO" --no-print-directory -n BUILD="$b"
    [ "$output" = "$all" ]
}

@test "make install honours DESTDIR, PREFIX, SYSCONFDIR, MANDIR, UNITDIR; uninstall keeps an edited config" {
    local d=$BATS_TEST_TMPDIR/dest
    local vars=(DESTDIR="$d" PREFIX=/opt/cd SYSCONFDIR=/opt/etc MANDIR=/opt/man UNITDIR=/opt/units
        TMPFILESDIR=/opt/tmpfiles SBINDIR=/opt/sbin)
    run make -C "$REPO" --no-print-directory install "${vars[@]}"
    echo "$output"
    [ "$status" -eq 0 ]
    local f
    for f in /opt/cd/bin/cerebro-ds-fuse /opt/cd/bin/cerebro-ds /opt/cd/bin/cerebro-train \
        /opt/cd/bin/cerebro-sched /opt/etc/cerebro-ds/cerebro-ds.conf /opt/man/man8/cerebro-ds-fuse.8 \
        /opt/man/man5/cerebro-ds.conf.5 /opt/man/man1/cerebro-sched.1 /opt/tmpfiles/cerebro-ds.conf \
        /opt/units/cerebro-ds-fuse@.service /opt/cd/share/cerebro-ds/models/fashion-cnn.ini; do
        [ -f "$d$f" ] || { echo "missing $f" >&2; return 1; }
    done
    # the mount helper resolves to the daemon; the unit names the installed paths
    [ "$(readlink -f "$d/opt/sbin/mount.fuse.cerebro-ds")" = "$d/opt/cd/bin/cerebro-ds-fuse" ]
    grep -qx 'ExecStart=/opt/cd/bin/cerebro-ds-fuse --foreground --config /opt/etc/cerebro-ds/%i.conf' \
        "$d/opt/units/cerebro-ds-fuse@.service"
    run ! grep -q '@[A-Z]*@' "$d/opt/units/cerebro-ds-fuse@.service"
    "$d/opt/cd/bin/cerebro-ds" --version | grep -qx "cerebro-ds $(make -s --no-print-directory -C "$REPO" print-VERSION | tail -n 1)"
    # a second install keeps the edited configuration; uninstall removes everything else
    echo "# edited" >>"$d/opt/etc/cerebro-ds/cerebro-ds.conf"
    run make -C "$REPO" --no-print-directory install "${vars[@]}"
    [ "$status" -eq 0 ]
    grep -q "install: keeping $d/opt/etc/cerebro-ds/cerebro-ds.conf" <<<"$output"
    grep -q '^# edited' "$d/opt/etc/cerebro-ds/cerebro-ds.conf"
    run make -C "$REPO" --no-print-directory uninstall "${vars[@]}"
    [ "$status" -eq 0 ]
    [ "$(find "$d" -type f -o -type l)" = "$d/opt/etc/cerebro-ds/cerebro-ds.conf" ]
    # an unedited configuration goes too
    make -C "$REPO" --no-print-directory install "${vars[@]}" DESTDIR="$d.2" >/dev/null
    [ -x "$d.2/opt/cd/bin/cerebro-ds" ]
    make -C "$REPO" --no-print-directory uninstall "${vars[@]}" DESTDIR="$d.2" >/dev/null
    [ -d "$d.2/opt" ]
    [ -z "$(find "$d.2" -type f -o -type l)" ]
}
