#!/usr/bin/env bash
# bench/scale.sh: is the cost linear in the table's size? (issue 13)
#
# A generated Criteo-like table (label int, 13 int features, 26 hashed categorical ints:
# ~190 bytes a row on disk, 160 decoded) of each size of SIZES (GB on disk, default "1 4 16"),
# one table a size (crit_<size>; each larger one starts as a copy of the one before, so they
# share their first rows), in a throwaway PostgreSQL 15. Then REPEAT rounds (default 3), each
# measuring every size once, in turn, with the page cache dropped first:
#   export   cerebro-ds export (1 job) into a directory on disk (OUT_DIR, default under
#            /var/tmp), removed after
#   mount    a fresh cerebro-ds-fuse mount of that table: first access (pin, count(*), index)
#            and a read of every file (cat to /dev/null)
# The rounds interleave the sizes, so that a slow spell of the machine (this kind of VM has
# them, minutes long) falls on one round of every size rather than on every round of one.
# Per round, size and path a line: seconds per GB of table, CPU seconds per GB (user + system:
# the export's; the daemon's and its readers'), the peak RSS (the export's; the daemon's
# VmHWM), and the disk reads (/proc/vmstat pgpgin over the run, which counts the server's
# count(*) too) per table byte. Then per size the best round (least seconds per GB; least CPU
# seconds per GB; the largest peak RSS and reads of any round), and last the spread of these
# over the sizes: seconds per GB (max / min, target <= 1.15 each path), CPU seconds per GB,
# peak RSS, and the largest reads/size.
# A size that does not fit on the disk (its table + its export + 10% margin, beside the
# smaller tables) is skipped, said so. The data generation lives here, not in make check.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO/tests/lib/pg.bash"
pg_cleanup_on_exit
read -ra SIZES <<<"${SIZES:-1 4 16}"
mapfile -t SIZES < <(printf '%s\n' "${SIZES[@]}" | sort -gu) # a size given twice is one table
REPEAT=${REPEAT:-3}
for v in "${SIZES[@]}"; do
    [[ $v =~ ^[0-9]*\.?[0-9]+$ && ! $v =~ ^[0.]+$ ]] || {
        echo "bench/scale.sh: SIZES holds '$v': sizes are GB, positive numbers (e.g. SIZES=\"1 4 16\")" >&2
        exit 2
    }
done
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || {
    echo "bench/scale.sh: REPEAT is '$REPEAT': the rounds are a whole number, at least 1" >&2
    exit 2
}
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
table_bytes() { pg_psql scale -At -c "SELECT pg_total_relation_size('$1')"; } # TABLE
table_of() { echo "crit_${1//./_}"; }                                           # GB -> its table

# grow table $1 to $2 GB (at most 2 M rows an INSERT); columns from hashes of the row number
grow_to() {
    local want rows have base
    want=$(echo "$2 * 1000000000 / 1" | bc)
    have=$(table_bytes "$1")
    while ((have < want)); do
        rows=$(((want - have) / 180 + 1000))
        ((rows > 2000000)) && rows=2000000
        base=$(pg_psql scale -At -c "SELECT count(*) FROM $1")
        pg_psql scale -q -c "INSERT INTO $1 SELECT (h & 1),
            $(for k in $(seq 13); do printf '(h >> %d) & 1023,' "$k"; done)
            $(for k in $(seq 26); do printf 'hashint4(g + %d),' "$k"; done | sed 's/,$//')
            FROM (SELECT g, hashint4(g) AS h FROM generate_series($base + 1, $base + $rows) g) s"
        have=$(table_bytes "$1")
    done
    pg_psql scale -q -c "VACUUM (FREEZE, ANALYZE) $1" -c "CHECKPOINT"
}

mount_it() { # CONF
    "$BIN/cerebro-ds-fuse" -f -c "$1" "$MNT" 2>>"$WORK/daemon.log" 3>&- &
    DPID=$!
    for _ in $(seq 300); do [[ -r $MNT/.cerebro-ds/version ]] && return 0; sleep 0.1; done
    cat "$WORK/daemon.log" >&2
    return 1
}

# the tables, smallest first; each larger one starts as a copy of the one before
sizes=() prev=
for gb in "${SIZES[@]}"; do
    t=$(table_of "$gb")
    free=$(df --output=avail -B1 "$OUT_DIR" | tail -1)
    need=$(echo "$gb * 1000000000 * 21 / 10 / 1" | bc) # the table, and its export + 10%
    if ((free < need)); then
        echo "size=${gb}GB skipped: $free bytes free in $OUT_DIR, its table and export need ~$need"
        continue
    fi
    if [[ -n $prev ]]; then
        pg_psql scale -q -c "CREATE TABLE $t AS SELECT * FROM $prev"
    else
        pg_psql scale -q -c "CREATE TABLE $t (label int, $(seq -s, -f 'i%g int' 1 13),
            $(seq -s, -f 'c%g int' 1 26))"
    fi
    grow_to "$t" "$gb"
    printf '[database]\nconninfo = %s\n\n[mount]\ntables = public.%s\ncache_mb = 512\n' "$CONN" \
        "$t" >"$WORK/$t.conf"
    sizes+=("$gb") prev=$t
done

declare -A ex_spg mnt_spg ex_cpg mnt_cpg ex_rss mnt_rss reads
keep() { # least|most ARRAY KEY VALUE: ARRAY[KEY] becomes the least (most) of it and VALUE
    local -n arr=$2
    local v=$4
    if [[ -n ${arr[$3]:-} ]]; then
        v=$(printf '%s\n' "$v" "${arr[$3]}" | sort -g | if [[ $1 == least ]]; then head -1; else tail -1; fi)
    fi
    arr[$3]=$v
}
# measure GB ROUND: one export and one cold mount read of the size's table; its line, and
# the size's best figures so far
measure() {
    local gb=$1 t bytes g usage rss cpu out r0 r1 t0 t1 exr rcpu mr espg ecpg mspg mcpg mrss
    t=$(table_of "$gb")
    bytes=$(table_bytes "$t")
    g=$(echo "$bytes / 1000000000" | bc -l)
    # export
    rm -rf "$WORK/ex"
    drop_caches
    r0=$(pgpgin)
    t0=$(now)
    # an assignment, so that a failed export stops the script (set -e, pipefail)
    usage=$({ /usr/bin/time -f '%M %U %S' "$BIN/cerebro-ds" -q --conninfo "$CONN" \
        export "$t" "$WORK/ex"; } 2>&1 | tail -1)
    read -r rss cpu <<<"$(awk '{print $1, $2 + $3}' <<<"$usage")"
    t1=$(now)
    r1=$(pgpgin)
    out=$(du -sb "$WORK/ex" | cut -f1)
    rm -rf "$WORK/ex"
    espg=$(echo "($t1 - $t0) / $g" | bc -l)
    ecpg=$(echo "$cpu / $g" | bc -l)
    exr=$(echo "($r1 - $r0) / $bytes" | bc -l)
    # the mount, cold
    drop_caches
    r0=$(pgpgin)
    t0=$(now)
    mount_it "$WORK/$t.conf"
    # shellcheck disable=SC2016 # expanded by the inner bash
    rcpu=$({ /usr/bin/time -f '%U %S' bash -o pipefail -c 'find "$1" -type f ! -name meta \
        -print0 | xargs -0 cat >/dev/null' bash "$MNT"; } 2>&1 | tail -1 | awk '{print $1 + $2}')
    t1=$(now)
    r1=$(pgpgin)
    mcpg=$(echo "($(proc_cpu "$DPID") + $rcpu) / $g" | bc -l)
    mrss=$(awk '/VmHWM/ {print $2}' "/proc/$DPID/status")
    fusermount3 -u "$MNT"
    wait "$DPID" || true
    DPID=
    mspg=$(echo "($t1 - $t0) / $g" | bc -l)
    mr=$(echo "($r1 - $r0) / $bytes" | bc -l)
    printf 'round=%s size=%sGB table_bytes=%s export_bytes=%s export_s_per_gb=%.3f export_cpu_s_per_gb=%.3f export_peak_rss_kb=%s export_reads_per_byte=%.2f mount_s_per_gb=%.3f mount_cpu_s_per_gb=%.3f daemon_peak_rss_kb=%s mount_reads_per_byte=%.2f\n' \
        "$2" "$gb" "$bytes" "$out" "$espg" "$ecpg" "$rss" "$exr" "$mspg" "$mcpg" "$mrss" "$mr"
    keep least ex_spg "$gb" "$espg"
    keep least ex_cpg "$gb" "$ecpg"
    keep most ex_rss "$gb" "$rss"
    keep least mnt_spg "$gb" "$mspg"
    keep least mnt_cpg "$gb" "$mcpg"
    keep most mnt_rss "$gb" "$mrss"
    keep most reads "$gb" "$exr"
    keep most reads "$gb" "$mr"
}

for ((round = 1; round <= REPEAT; round++)); do
    for gb in "${sizes[@]}"; do
        measure "$gb" "$round"
    done
done
for gb in "${sizes[@]}"; do
    printf 'best of %s: size=%sGB export_s_per_gb=%.3f export_cpu_s_per_gb=%.3f export_peak_rss_kb=%s mount_s_per_gb=%.3f mount_cpu_s_per_gb=%.3f daemon_peak_rss_kb=%s reads_per_byte=%.2f\n' \
        "$REPEAT" "$gb" "${ex_spg[$gb]}" "${ex_cpg[$gb]}" "${ex_rss[$gb]}" "${mnt_spg[$gb]}" \
        "${mnt_cpg[$gb]}" "${mnt_rss[$gb]}" "${reads[$gb]}"
done
spread() { # values...: max / min
    printf '%s\n' "$@" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f", hi / lo}'
}
if ((${#sizes[@]} < 2)); then
    echo "scale: fewer than two sizes measured, no spread"
    exit 0
fi
e=() m=() ec=() mc=() er=() mr=() rd=()
for gb in "${sizes[@]}"; do
    e+=("${ex_spg[$gb]}") m+=("${mnt_spg[$gb]}") ec+=("${ex_cpg[$gb]}") mc+=("${mnt_cpg[$gb]}")
    er+=("${ex_rss[$gb]}") mr+=("${mnt_rss[$gb]}") rd+=("${reads[$gb]}")
done
echo "sizes=${sizes[*]}GB repeat=$REPEAT export_s_per_gb_spread=$(spread "${e[@]}") mount_s_per_gb_spread=$(spread "${m[@]}") (max/min, target <= 1.15)"
echo "export_cpu_s_per_gb_spread=$(spread "${ec[@]}") mount_cpu_s_per_gb_spread=$(spread "${mc[@]}") (max/min)"
echo "export_peak_rss_spread=$(spread "${er[@]}") daemon_peak_rss_spread=$(spread "${mr[@]}") worst_reads_per_byte=$(printf '%s\n' "${rd[@]}" | sort -g | tail -1 | xargs printf '%.2f')"
