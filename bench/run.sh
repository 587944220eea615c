#!/usr/bin/env bash
# bench/run.sh: every benchmark of bench/, one after the other (make bench), then the latest
# figures into bench/RESULTS.md.
#
# Each script's output is shown as it runs and kept; at the end the part of RESULTS.md
# between the markers "<!-- make bench: begin -->" and "<!-- make bench: end -->" is
# rewritten with the date, the machine (CPU, cores, memory, kernel, PostgreSQL, OpenBLAS
# setting) and every script's output under its command. The rest of the file (analysis,
# profiles, history) is left as it is. BENCHES="decode.sh e2e.sh" runs a subset (the section
# then holds only those). A script that fails stops the run; RESULTS.md is then not touched.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
BENCHES=${BENCHES:-decode.sh fuse.sh scale.sh trainer.sh sched.sh e2e.sh cluster.sh accuracy.sh}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

for b in $BENCHES; do
    echo "== bench/$b"
    "./$b" 2>&1 | tee "$OUT/$b.out"
done

machine() {
    local cpu mem pg
    cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
    pg=$(/usr/lib/postgresql/15/bin/postgres --version 2>/dev/null || echo "PostgreSQL not found")
    printf '%s, %s cores, %s, Linux %s, %s, OPENBLAS_CORETYPE=%s\n' "$cpu" "$(nproc)" "$mem" \
        "$(uname -r)" "$pg" "${OPENBLAS_CORETYPE:-not set}"
}

{
    echo "<!-- make bench: begin -->"
    echo "## Latest \`make bench\` ($(date -u +%Y-%m-%d))"
    echo
    echo "Written by bench/run.sh; everything outside this section is analysis kept by hand."
    echo "Machine: $(machine)."
    for b in $BENCHES; do
        echo
        echo "### bench/$b"
        echo
        echo "Command: \`bench/$b\` (in \`make bench\`)."
        echo
        echo '```'
        cat "$OUT/$b.out"
        echo '```'
    done
    echo "<!-- make bench: end -->"
} >"$OUT/section.md"

/usr/bin/python3 - RESULTS.md "$OUT/section.md" <<'PY'
import re, sys
path, section = sys.argv[1], open(sys.argv[2]).read()
text = open(path).read()
pat = re.compile(r"<!-- make bench: begin -->.*?<!-- make bench: end -->\n?", re.S)
if pat.search(text):
    text = pat.sub(lambda m: section, text, count=1)
else:
    head, sep, rest = text.partition("\n## ")
    text = head + "\n" + section + ("\n## " + rest if sep else "")
open(path + ".tmp", "w").write(text)
import os
os.replace(path + ".tmp", path)
PY
echo "bench/RESULTS.md: the make bench section rewritten"
