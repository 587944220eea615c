# shellcheck shell=bash
#
# tests/helpers.bash: loaded by every bats file with `load helpers`.
#
# Sets REPO (the top of the work tree), puts build/bin first in PATH, and loads the
# PostgreSQL harness (tests/lib/pg.bash: pg_start, pg_psql, pg_bg_psql, pg_stop_all, ...) and
# the Fashion-MNIST loader (tests/lib/fashion.bash: load_fashion).
#
# A bats file starts its clusters once and always stops them:
#
#     load helpers
#     setup_file()    { pg_start seg0; load_fashion seg0 fm --limit 1000; }
#     teardown_file() { pg_stop_all; }
#
# Start daemons of your own with 3>&- (bats waits for fd 3 to close), and use cd_skip rather
# than skip: a skip is a failure under CI.
#
# Every line of a test must be able to fail it. bats runs the test under set -e, which
# ignores a failure anywhere in `a && b` but in b, and the status of `! cmd`: write one
# assertion a line ([ "$status" -eq 1 ], then [[ $output == ... ]]), and `run ! cmd` for a
# command that must fail (`! cmd || false` when cmd prints what went wrong). A value taken
# with $(...) ignores the errors inside: check that it is what it should be (not empty).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export REPO
PATH=${CD_BIN_DIR:-$REPO/build/bin}:$PATH
# The system Python has NumPy and PyTorch (Debian packages); a pyenv shim may not.
PYTHON=${PYTHON:-/usr/bin/python3}

bats_require_minimum_version 1.5.0 # run !
source "$REPO/tests/lib/pg.bash"
source "$REPO/tests/lib/fashion.bash"

# max_rel_diff OURS THEIRS STEPS: the largest |ours - theirs| / |theirs| over the first STEPS
# lines of two files of per-step losses (cerebro-train --loss-log, tests/lib/torch_oracle.py).
# Fails, saying why, unless STEPS > 0 and both files hold at least STEPS finite numbers:
# two empty files (both sides failed) would otherwise differ by 0.
max_rel_diff() {
    local f
    for f in "$1" "$2"; do
        head -n "$3" "$f" | awk -v f="$f" -v n="$3" '
            $1 !~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ {
                printf "max_rel_diff: %s line %d is not a finite number: %s\n", f, NR, $0; bad = 1; exit 1 }
            END { if (!bad && (n < 1 || NR < n)) {
                printf "max_rel_diff: %s has %d lines, not %s\n", f, NR, n; exit 1 } }
        ' >&2 || return 1
    done
    paste <(head -n "$3" "$1") <(head -n "$3" "$2") | awk '{d = $1 - $2; if (d < 0) d = -d;
        r = d / ($2 < 0 ? -$2 : $2); if (r > m) m = r} END {printf "%.3g\n", m}'
}

# cd_skip REASON: skip the test; under CI (CI set) fail instead.
cd_skip() {
    if [[ -n ${CI:-} ]]; then
        echo "skipped under CI, which counts as a failure: $*" >&2
        return 1
    fi
    skip "$@"
}
