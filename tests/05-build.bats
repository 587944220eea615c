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
