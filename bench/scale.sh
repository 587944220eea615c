#!/usr/bin/env bash
# bench/scale.sh: is the cost linear in the table's size? (issue 13)
#
# A generated Criteo-like table (label int, 13 int features, 26 hashed categorical ints:
# ~190 bytes a row on disk, 160 decoded) grown to each size of SIZES (GB on disk, default
# "1 4 16"), in a throwaway PostgreSQL 15. At each size, with the page cache dropped first:
#   export   cerebro-ds export (1 job) into a directory on disk (OUT_DIR, default under
#            /var/tmp), removed after
#   mount    a fresh cerebro-ds-fuse mount: first access (pin, count(*), index) and a read
#            of every file (cat to /dev/null)
# Per size and path: seconds per GB of table, CPU seconds per GB (user + system: the export's;
# the daemon's and its readers'), the peak RSS (the export's; the daemon's VmHWM), and the disk
# reads (/proc/vmstat pgpgin over the run, which counts the server's count(*) too) per table
# byte. Last lines: the spread of seconds per GB over the sizes (max / min, target <= 1.15
# each path), of CPU seconds per GB (what the work costs, whatever else the machine runs at
# the time), of peak RSS, and the largest reads/size.
# A size that does not fit on the disk (table + export + 10% margin) is skipped, said so.
# The data generation lives here, not in make check.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/tests/lib/pg.bash"
pg_cleanup_on_exit
SIZES=${SIZES:-1 4 16}
BIN=$REPO/build/bin
OUT_DIR=${OUT_DIR:-/var/tmp}

((EUID == 0)) || {
    echo "bench/scale.sh: needs root (drops the page cache)" >&2
    exit 1
}
pg_start scale shared_buffers=256MB wal_level=minimal max_wal_senders=0 max_wal_size=8GB >/dev/null
CONN=$(pg_conninfo scale)
WORK=$(mktemp -d "$OUT_DIR/cd-scale.XXXXXX")
MNT=$(mktemp -d)
cleanup() {
    fusermount3 -u "$MNT" 2>/dev/null || true
    [[ -n ${DPID:-} ]] && kill "$DPID" 2>/dev/null || true
    rm -rf "$WORK"
    rmdir "$MNT" 2>/dev/null || true
    pg_stop_all
}
trap cleanup EXIT

now() { date +%s.%N; }
pgpgin() { awk '$1 == "pgpgin" {printf "%.0f\n", $2 * 1024}' /proc/vmstat; } # bytes read from disk
proc_cpu() { # PID -> its user + system CPU seconds so far
    awk -v hz="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat"
}
drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}
table_bytes() { pg_psql scale -At -c "SELECT pg_total_relation_size('crit')"; }

pg_psql scale -q -c "CREATE TABLE crit (label int, $(seq -s, -f 'i%g int' 1 13),
    $(seq -s, -f 'c%g int' 1 26))"
# grow the table to $1 GB (at most 2 M rows an INSERT); columns from hashes of the row number
grow_to() {
    local want rows have base
    want=$(echo "$1 * 1000000000 / 1" | bc)
    have=$(table_bytes)
    while ((have < want)); do
        rows=$(((want - have) / 180 + 1000))
        ((rows > 2000000)) && rows=2000000
        base=$(pg_psql scale -At -c "SELECT count(*) FROM crit")
        pg_psql scale -q -c "INSERT INTO crit SELECT (h & 1),
            $(for k in $(seq 13); do printf '(h >> %d) & 1023,' "$k"; done)
            $(for k in $(seq 26); do printf 'hashint4(g + %d),' "$k"; done | sed 's/,$//')
            FROM (SELECT g, hashint4(g) AS h FROM generate_series($base + 1, $base + $rows) g) s"
        have=$(table_bytes)
    done
    pg_psql scale -q -c "VACUUM (FREEZE, ANALYZE) crit" -c "CHECKPOINT"
}

printf '[database]\nconninfo = %s\n\n[mount]\ntables = public.crit\ncache_mb = 512\n' "$CONN" \
    >"$WORK/scale.conf"
mount_it() {
    "$BIN/cerebro-ds-fuse" -f -c "$WORK/scale.conf" "$MNT" 2>>"$WORK/daemon.log" 3>&- &
    DPID=$!
    for _ in $(seq 300); do [[ -r $MNT/.cerebro-ds/version ]] && return 0; sleep 0.1; done
    cat "$WORK/daemon.log" >&2
    return 1
}

declare -A ex_spg mnt_spg ex_cpg mnt_cpg ex_rss mnt_rss reads
done_sizes=()
for gb in $SIZES; do
    grow_to "$gb"
    bytes=$(table_bytes)
    free=$(df --output=avail -B1 "$OUT_DIR" | tail -1)
    if ((free < bytes * 11 / 10)); then
        echo "size=${gb}GB skipped: $free bytes free in $OUT_DIR, the export needs ~$bytes"
        continue
    fi
    g=$(echo "$bytes / 1000000000" | bc -l)
    # export
    rm -rf "$WORK/ex"
    drop_caches
    r0=$(pgpgin)
    t0=$(now)
    # an assignment, so that a failed export stops the script (set -e, pipefail)
    usage=$({ /usr/bin/time -f '%M %U %S' "$BIN/cerebro-ds" -q --conninfo "$CONN" \
        export crit "$WORK/ex"; } 2>&1 | tail -1)
    read -r rss cpu <<<"$(awk '{print $1, $2 + $3}' <<<"$usage")"
    t1=$(now)
    r1=$(pgpgin)
    out=$(du -sb "$WORK/ex" | cut -f1)
    rm -rf "$WORK/ex"
    ex_spg[$gb]=$(echo "($t1 - $t0) / $g" | bc -l)
    ex_cpg[$gb]=$(echo "$cpu / $g" | bc -l)
    ex_rss[$gb]=$rss
    exr=$(echo "($r1 - $r0) / $bytes" | bc -l)
    # the mount, cold
    drop_caches
    r0=$(pgpgin)
    t0=$(now)
    mount_it
    # shellcheck disable=SC2016 # expanded by the inner bash
    rcpu=$({ /usr/bin/time -f '%U %S' bash -o pipefail -c 'find "$1" -type f ! -name meta \
        -print0 | xargs -0 cat >/dev/null' bash "$MNT"; } 2>&1 | tail -1 | awk '{print $1 + $2}')
    t1=$(now)
    r1=$(pgpgin)
    mnt_cpg[$gb]=$(echo "($(proc_cpu "$DPID") + $rcpu) / $g" | bc -l)
    mnt_rss[$gb]=$(awk '/VmHWM/ {print $2}' "/proc/$DPID/status")
    fusermount3 -u "$MNT"
    wait "$DPID" || true
    DPID=
    mnt_spg[$gb]=$(echo "($t1 - $t0) / $g" | bc -l)
    mr=$(echo "($r1 - $r0) / $bytes" | bc -l)
    reads[$gb]=$(printf '%s\n' "$exr" "$mr" | sort -g | tail -1)
    printf 'size=%sGB table_bytes=%s export_bytes=%s export_s_per_gb=%.3f export_cpu_s_per_gb=%.3f export_peak_rss_kb=%s export_reads_per_byte=%.2f mount_s_per_gb=%.3f mount_cpu_s_per_gb=%.3f daemon_peak_rss_kb=%s mount_reads_per_byte=%.2f\n' \
        "$gb" "$bytes" "$out" "${ex_spg[$gb]}" "${ex_cpg[$gb]}" "$rss" "$exr" "${mnt_spg[$gb]}" \
        "${mnt_cpg[$gb]}" "${mnt_rss[$gb]}" "$mr"
    done_sizes+=("$gb")
done
spread() { # values...: max / min
    printf '%s\n' "$@" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f", hi / lo}'
}
if ((${#done_sizes[@]} < 2)); then
    echo "scale: fewer than two sizes measured, no spread"
    exit 0
fi
e=() m=() ec=() mc=() er=() mr=() rd=()
for gb in "${done_sizes[@]}"; do
    e+=("${ex_spg[$gb]}") m+=("${mnt_spg[$gb]}") ec+=("${ex_cpg[$gb]}") mc+=("${mnt_cpg[$gb]}")
    er+=("${ex_rss[$gb]}") mr+=("${mnt_rss[$gb]}") rd+=("${reads[$gb]}")
done
echo "sizes=${done_sizes[*]}GB export_s_per_gb_spread=$(spread "${e[@]}") mount_s_per_gb_spread=$(spread "${m[@]}") (max/min, target <= 1.15)"
echo "export_cpu_s_per_gb_spread=$(spread "${ec[@]}") mount_cpu_s_per_gb_spread=$(spread "${mc[@]}") (max/min)"
echo "export_peak_rss_spread=$(spread "${er[@]}") daemon_peak_rss_spread=$(spread "${mr[@]}") worst_reads_per_byte=$(printf '%s\n' "${rd[@]}" | sort -g | tail -1 | xargs printf '%.2f')"
