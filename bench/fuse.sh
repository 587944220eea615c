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
# >= 0.8); the daemon's peak RSS (VmHWM) against cache_mb. Best of REPEAT (default 3).
# Last line: ratio=<warm ratio>.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/tests/lib/pg.bash"
source "$REPO/tests/lib/fashion.bash"
pg_cleanup_on_exit
REPEAT=${REPEAT:-3}
CACHE_MB=${CACHE_MB:-512}
BIN=$REPO/build/bin

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
mount_it() {
    "$BIN/cerebro-ds-fuse" -f -c "$WORK/bench.conf" "$MNT" 2>>"$WORK/daemon.log" 3>&- &
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
echo "ratio=$(printf '%.2f' "$(echo "$t / $w" | bc -l)")"
