#!/usr/bin/env bash
# bench/fuse.sh: the mount against its peers, one run.
#
# Fashion-MNIST train (60000 rows) in a throwaway PostgreSQL 15, VACUUMed. Then:
#   export     cerebro-ds export of the table (1 job), into tmpfs
#   cold       a fresh mount: first access (the row index) and a read of every file of every
#              shard (cat to /dev/null), decoded through the daemon
#   warm       the same read again (kernel page cache kept across opens)
#   tmpfs      a read of the same bytes from tmpfs (a copy of the export)
# Both the export and the cold read start with the page cache dropped (heap files read from
# disk); the export's output and its tmpfs copy are in memory. Each drop is checked: the
# table's heap and TOAST files must then have no page in memory (fincore). When a drop fails
# (not root, a read-only /proc/sys) or leaves pages cached, page_cache_dropped=no says why,
# and the export and cold figures, warm without that, are marked invalid.
# Figures: cold ratio = export / cold (target >= 0.8); warm ratio = tmpfs / warm (target
# >= 0.8); the daemon's peak RSS (VmHWM) against cache_mb. Best of REPEAT rounds (default
# 5), each round measuring every figure once.
# Then many readers at once (see below).
# A/B: with BIN_B=DIR (another build's bin directory, e.g. a change under test), every
# many-readers round also times a cold read through that build's daemon, the two builds in
# alternating order (A first in odd rounds, B first in even ones); the figures compare the two
# on the same table, page cache state and machine, best and mean of the rounds.
# Last line: ratio=<warm ratio>.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/tests/lib/pg.bash"
source "$REPO/tests/lib/fashion.bash"
pg_cleanup_on_exit
REPEAT=${REPEAT:-5}
CACHE_MB=${CACHE_MB:-512}
BIN=$REPO/build/bin
BIN_B=${BIN_B:-}
if [[ -n $BIN_B && ! -x $BIN_B/cerebro-ds-fuse ]]; then
    echo "bench/fuse.sh: BIN_B=$BIN_B has no cerebro-ds-fuse; give another build's bin directory" >&2
    exit 2
fi

pg_start benchfuse shared_buffers=256MB >/dev/null
CONN=$(pg_conninfo benchfuse)
load_fashion benchfuse fashion --split train >/dev/null
pg_psql benchfuse -c "VACUUM ANALYZE fashion" -c "CHECKPOINT"
WORK=$(mktemp -d /dev/shm/cd-benchfuse.XXXXXX)
MNT=$(mktemp -d)
cleanup() {
    fusermount3 -u "$MNT" 2>/dev/null || true
    [[ -n ${DPID:-} ]] && kill "$DPID" 2>/dev/null || true
    rm -rf "$WORK"
    rmdir "$MNT" 2>/dev/null || true
    pg_stop_all
}
trap cleanup EXIT
printf '[database]\nconninfo = %s\n\n[mount]\ntables = public.fashion\ncache_mb = %s\n' \
    "$CONN" "$CACHE_MB" >"$WORK/bench.conf"

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
read_all() { find "$1" -type f ! -name meta -print0 | xargs -0 cat >/dev/null; }
mount_it() { # [BINDIR]: the daemon of that build (default $BIN)
    "${1:-$BIN}/cerebro-ds-fuse" -f -c "$WORK/bench.conf" "$MNT" 2>>"$WORK/daemon.log" 3>&- &
    DPID=$!
    for _ in $(seq 100); do [[ -r $MNT/.cerebro-ds/version ]] && return 0; sleep 0.1; done
    echo "bench/fuse.sh: the mount did not come up; daemon log:" >&2
    cat "$WORK/daemon.log" >&2
    return 1
}
unmount_it() {
    fusermount3 -u "$MNT"
    wait "$DPID" || true
    DPID=
}
min() { printf '%s\n' "$@" | sort -g | head -1; }

# the table's heap and TOAST files (every segment), whose pages a drop must evict
DATA=$(pg_datadir benchfuse)
HEAP=()
shopt -s nullglob
for rel in $(pg_psql benchfuse -At -c "SELECT pg_relation_filepath(oid) FROM pg_class
        WHERE oid = 'fashion'::regclass OR oid = (SELECT reltoastrelid FROM pg_class
        WHERE oid = 'fashion'::regclass)"); do
    HEAP+=("$DATA/$rel" "$DATA/$rel".[0-9]*)
done
shopt -u nullglob

ex=() cold=() warm=() tmp=()
DROPPED=yes
# drop_caches: evict the page cache; DROPPED says no, and why, when that failed or left
# pages of the table in memory
drop_caches() {
    local f res=0
    sync
    if ! echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
        DROPPED="no (could not write /proc/sys/vm/drop_caches)"
        return 0
    fi
    for f in "${HEAP[@]}"; do
        res=$((res + $(fincore --bytes --noheadings --output RES "$f")))
    done
    if ((res > 0)); then DROPPED="no ($res bytes of the table's files still in memory)"; fi
}
for _ in $(seq "$REPEAT"); do
    rm -rf "$WORK/ex"
    drop_caches # export and cold read both start with the heap files out of the page cache
    t0=$(now); "$BIN/cerebro-ds" -q --conninfo "$CONN" export fashion "$WORK/ex"; t1=$(now)
    ex+=("$(secs "$t0" "$t1")")
    t0=$(now); read_all "$WORK/ex"; t1=$(now)
    tmp+=("$(secs "$t0" "$t1")")
    drop_caches
    mount_it
    t0=$(now); read_all "$MNT"; t1=$(now)
    cold+=("$(secs "$t0" "$t1")")
    t0=$(now); read_all "$MNT"; t1=$(now)
    warm+=("$(secs "$t0" "$t1")")
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$DPID/status")
    cat "$MNT/.cerebro-ds/stats" >"$WORK/stats"
    unmount_it
done
bytes=$(du -sb "$WORK/ex" | cut -f1)
e=$(min "${ex[@]}") c=$(min "${cold[@]}") w=$(min "${warm[@]}") t=$(min "${tmp[@]}")
echo "rows=60000 bytes=$bytes repeat=$REPEAT cache_mb=$CACHE_MB"
echo "page_cache_dropped=$DROPPED"
if [[ $DROPPED == yes ]]; then
    echo "export_s=$e cold_read_s=$c warm_read_s=$w tmpfs_read_s=$t daemon_peak_rss_kb=$hwm"
    echo "cold_ratio=$(printf '%.2f' "$(echo "$e / $c" | bc -l)") (export/cold, target >= 0.8)"
else # the heap files may have been read from memory: neither figure is what it says
    echo "export_s=invalid($e) cold_read_s=invalid($c) warm_read_s=$w tmpfs_read_s=$t daemon_peak_rss_kb=$hwm"
    echo "cold_ratio=invalid (the page cache was not dropped)"
fi
echo "rss_over_cache=$(printf '%.2f' "$(echo "$hwm / 1024 / $CACHE_MB" | bc -l)") (peak RSS / cache_mb)"
# ---- many readers (issue 13): W = all cores ----
# W readers of W different shards at once (the table as blocks:W, one daemon), against the
# parallel export of the same shards (--shards W --jobs W) and W parallel reads of its tmpfs
# copy; then 4 readers of one shard at once (aggregate bytes / seconds) against the one-job
# export of that shard. Cold reads and exports start with the page cache dropped. The
# daemon's peak RSS over both must stay within cache_mb + 64 MiB.
W=$(nproc)
printf '[database]\nconninfo = %s\n\n[mount]\ntables = public.fashion\ncache_mb = %s\nshards = blocks:%s\n' \
    "$CONN" "$CACHE_MB" "$W" >"$WORK/bench.conf"
readers() { # DIR...: one reader (read_all) per argument, all at once
    local d pids=()
    for d in "$@"; do
        read_all "$d" &
        pids+=($!)
    done
    wait "${pids[@]}"
}
par_read() { readers "$1"/part*; } # DIR: one reader per shard directory of DIR
same_read() {                      # DIR N: N readers of the same directory
    local i dirs=()
    for ((i = 0; i < $2; i++)); do dirs+=("$1"); done
    readers "${dirs[@]}"
}
# b_cold BINDIR: one cold W-readers read through that build's daemon, appended to bcold
b_cold() {
    drop_caches
    mount_it "$1"
    t0=$(now); par_read "$MNT/postgres/public.fashion"; t1=$(now)
    bcold+=("$(secs "$t0" "$t1")")
    unmount_it
}
mean() { printf '%s\n' "$@" | awk '{s += $1} END {printf "%.3f", s / NR}'; }
pex=() pcold=() pwarm=() ptmp=() sex=() scold=() bcold=() hwm2=0
for round in $(seq "$REPEAT"); do
    rm -rf "$WORK/pex"
    drop_caches
    t0=$(now); "$BIN/cerebro-ds" -q --conninfo "$CONN" export --shards "$W" --jobs "$W" fashion "$WORK/pex"; t1=$(now)
    pex+=("$(secs "$t0" "$t1")")
    t0=$(now); par_read "$WORK/pex"; t1=$(now)
    ptmp+=("$(secs "$t0" "$t1")")
    if [[ -n $BIN_B ]] && ((round % 2 == 0)); then b_cold "$BIN_B"; fi
    drop_caches
    mount_it
    t0=$(now); par_read "$MNT/postgres/public.fashion"; t1=$(now)
    pcold+=("$(secs "$t0" "$t1")")
    t0=$(now); par_read "$MNT/postgres/public.fashion"; t1=$(now)
    pwarm+=("$(secs "$t0" "$t1")")
    h=$(awk '/VmHWM/ {print $2}' "/proc/$DPID/status")
    ((h > hwm2)) && hwm2=$h
    unmount_it
    if [[ -n $BIN_B ]] && ((round % 2 == 1)); then b_cold "$BIN_B"; fi
    # one shard, 4 readers: against the one-job export of that shard
    rm -rf "$WORK/sex"
    drop_caches
    t0=$(now); "$BIN/cerebro-ds" -q --conninfo "$CONN" export --shards "$W" --jobs 1 fashion "$WORK/sex"; t1=$(now)
    sex+=("$(echo "($t1 - $t0) / $W" | bc -l)") # per shard: the shards are the same size
    drop_caches
    mount_it
    t0=$(now); same_read "$MNT/postgres/public.fashion/part0" 4; t1=$(now)
    scold+=("$(secs "$t0" "$t1")")
    h=$(awk '/VmHWM/ {print $2}' "/proc/$DPID/status")
    ((h > hwm2)) && hwm2=$h
    unmount_it
done
pe=$(min "${pex[@]}") pc=$(min "${pcold[@]}") pw=$(min "${pwarm[@]}") pt=$(min "${ptmp[@]}")
se=$(min "${sex[@]}") sc=$(min "${scold[@]}")
echo "readers=$W (one per shard of blocks:$W, one daemon)"
if [[ $DROPPED == yes ]]; then
    echo "par_export_s=$pe par_cold_read_s=$pc par_warm_read_s=$pw par_tmpfs_read_s=$pt"
    echo "par_cold_ratio=$(printf '%.2f' "$(echo "$pe / $pc" | bc -l)") (parallel export/cold, target >= 0.8)"
    echo "same_shard_readers=4 shard_export_s=$se same_shard_cold_read_s=$sc"
    echo "same_shard_cold_ratio=$(printf '%.2f' "$(echo "4 * $se / $sc" | bc -l)") (aggregate: 4 x shard bytes/cold s against the shard's export, target >= 0.8)"
else
    echo "par_cold_ratio=invalid (the page cache was not dropped) par_warm_read_s=$pw par_tmpfs_read_s=$pt"
fi
echo "par_warm_ratio=$(printf '%.2f' "$(echo "$pt / $pw" | bc -l)") (tmpfs/warm, target >= 0.8)"
echo "many_readers_peak_rss_kb=$hwm2 within_cache_mb_plus_64=$( ((hwm2 <= (CACHE_MB + 64) * 1024)) && echo yes || echo no)"
if [[ -n $BIN_B && $DROPPED == yes ]]; then
    pb=$(min "${bcold[@]}")
    echo "ab_bin_a=$BIN ab_bin_b=$BIN_B rounds=$REPEAT (alternating)"
    echo "ab_par_cold_read_s a_best=$pc b_best=$pb a_mean=$(mean "${pcold[@]}") b_mean=$(mean "${bcold[@]}")"
    echo "ab_par_cold_b_over_a=$(printf '%.3f' "$(echo "$(mean "${bcold[@]}") / $(mean "${pcold[@]}")" | bc -l)") (mean cold read of B / of A: < 1, B is faster)"
elif [[ -n $BIN_B ]]; then
    echo "ab_par_cold=invalid (the page cache was not dropped)"
fi

echo "ratio=$(printf '%.2f' "$(echo "$t / $w" | bc -l)")"
