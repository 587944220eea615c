#!/usr/bin/env bash
# bench/decode.sh: decoding throughput of cerebro-ds export against its peers, one run.
#
# Loads Fashion-MNIST's train table (60000 rows, x real[784], y int) into a throwaway
# PostgreSQL 15, VACUUMs it (hint bits set, as on a table at rest), then times:
#   export_1job     cerebro-ds export, one shard, one job (one decoding thread; when a CPU
#                   is left, its full buffers are written by a thread of its own)
#   export_all      cerebro-ds export --shards N --jobs N, N = all cores
#   copy            COPY (SELECT x ...) TO STDOUT (FORMAT binary) through libpq, every row
#                   parsed into a float32 array (bench/copybench.c)
#   detoast         SELECT sum(array_length(x, 1)): the server's own decompression of x
# Exports write to tmpfs (/dev/shm) so the figure is decoding, not the disk.
# Each timing is the best of REPEAT rounds (default 5); a round runs each of the four once,
# so a slow spell of a shared machine falls on all four alike instead of on one of them.
# export_1job_cpu_s is the export's least CPU time (user + system of both threads).
# Last line: ratio=COPY/export_1job.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/tests/lib/pg.bash"
source "$REPO/tests/lib/fashion.bash"
pg_cleanup_on_exit
REPEAT=${REPEAT:-5}
CORES=$(nproc)
BIN=$REPO/build/bin
TOOLS=$REPO/build/tools

pg_start bench shared_buffers=256MB >/dev/null
CONN=$(pg_conninfo bench)
load_fashion bench fashion --split train >/dev/null
pg_psql bench -c "VACUUM ANALYZE fashion" -c "CHECKPOINT"
OUT=$(mktemp -d /dev/shm/cd-bench.XXXXXX)
trap 'rm -rf "$OUT"; pg_stop_all' EXIT

now() { date +%s.%N; }
wall() { # command... -> wall seconds of one run
    local t0 t1
    rm -rf "${OUT:?}"/*
    t0=$(now)
    "$@" >/dev/null
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}
field() { # command... -> the "seconds=" copybench reports
    "$@" | sed -n 's/^seconds=\([0-9.]*\).*/\1/p'
}
lower() { # a b -> the smaller
    if [[ -z $1 ]] || (($(echo "$2 < $1" | bc -l))); then echo "$2"; else echo "$1"; fi
}

best_cpu() { # command... -> least user + system CPU seconds over REPEAT runs
    local b="" s
    for _ in $(seq "$REPEAT"); do
        rm -rf "$OUT"/*
        s=$({ /usr/bin/time -f '%U %S' "$@" >/dev/null; } 2>&1 | tail -1 | awk '{print $1 + $2}')
        b=$(lower "$b" "$s")
    done
    printf '%.2f\n' "$b"
}

e1="" en="" cp="" dt=""
for _ in $(seq "$REPEAT"); do
    e1=$(lower "$e1" "$(wall "$BIN/cerebro-ds" -q --conninfo "$CONN" export fashion "$OUT/e1")")
    en=$(lower "$en" "$(wall "$BIN/cerebro-ds" -q --conninfo "$CONN" export --shards "$CORES" \
        --jobs "$CORES" fashion "$OUT/en")")
    cp=$(lower "$cp" "$(field "$TOOLS/copybench" copy "$CONN" fashion x)")
    dt=$(lower "$dt" "$(field "$TOOLS/copybench" detoast "$CONN" fashion x)")
done
printf -v e1 '%.3f' "$e1"
printf -v en '%.3f' "$en"
printf -v cp '%.3f' "$cp"
printf -v dt '%.3f' "$dt"
c1=$(best_cpu "$BIN/cerebro-ds" -q --conninfo "$CONN" export fashion "$OUT/e1")
rows=$(pg_psql bench -At -c "SELECT count(*) FROM fashion")
echo "rows=$rows cores=$CORES repeat=$REPEAT"
echo "export_1job_s=$e1 export_all_cores_s=$en copy_binary_s=$cp server_detoast_s=$dt"
echo "export_1job_cpu_s=$c1 (user + system, both threads)"
echo "copy_over_export_1job=$(printf '%.2f' "$(echo "$cp / $e1" | bc -l)") (target >= 6)"
echo "copy_over_export_all=$(printf '%.2f' "$(echo "$cp / $en" | bc -l)") (target >= 10)"
echo "export_1job_over_detoast=$(printf '%.2f' "$(echo "$e1 / $dt" | bc -l)") (target <= 0.7, issue 13)"
echo "ratio=$(printf '%.2f' "$(echo "$cp / $e1" | bc -l)")"
