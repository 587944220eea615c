#!/usr/bin/env bash
# bench/run.sh: every benchmark of bench/, one after the other (make bench).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
for b in decode.sh fuse.sh trainer.sh sched.sh; do
    echo "== bench/$b"
    "./$b"
done
