#!/usr/bin/env bats
# cerebro-ds-fuse: real mounts of a real cluster. The tree and its files (byte-identical to
# `cerebro-ds export` of the same snapshot), NumPy and a PyTorch DataLoader reading the
# mount, parallel readers, snapshots and refresh (a file held open keeps its snapshot),
# privileges, read-only, the data directory untouched, a corrupt page, kill -9 and SIGTERM,
# the memory bound of the cache, the command line and configuration errors.

load helpers

setup_file() {
    pg_start fuse autovacuum=off # nothing takes an xid behind the tests' back
    pg_psql fuse -c "CREATE TABLE t (id int, x real[], s text, n float8)" \
        -c "INSERT INTO t SELECT g, ARRAY[g, g * 2]::real[], repeat('s', g % 30),
                CASE WHEN g % 7 = 0 THEN NULL ELSE g / 4.0 END FROM generate_series(1, 5000) g" \
        -c "CREATE TABLE p (id int, v float8) PARTITION BY HASH (id)" \
        -c "CREATE TABLE p0 PARTITION OF p FOR VALUES WITH (MODULUS 3, REMAINDER 0)" \
        -c "CREATE TABLE p1 PARTITION OF p FOR VALUES WITH (MODULUS 3, REMAINDER 1)" \
        -c "CREATE TABLE p2 PARTITION OF p FOR VALUES WITH (MODULUS 3, REMAINDER 2)" \
        -c "INSERT INTO p SELECT g, g / 3.0 FROM generate_series(1, 3000) g" \
        -c "CREATE TABLE plain (id int, t text)" \
        -c "INSERT INTO plain SELECT g, 'row ' || g FROM generate_series(1, 3000) g" \
        -c "CREATE TABLE big (id int, x real[])" \
        -c "INSERT INTO big SELECT g, ARRAY(SELECT (random() + g * 0)::real FROM generate_series(1, 256))
                FROM generate_series(1, 60000) g" \
        -c "CREATE SCHEMA training" \
        -c "CREATE TABLE training.a (id int)" -c "CREATE TABLE training.b (id int)" \
        -c "CREATE TABLE training.pp (id int) PARTITION BY HASH (id)" \
        -c "CREATE TABLE training.pp0 PARTITION OF training.pp FOR VALUES WITH (MODULUS 1, REMAINDER 0)" \
        -c "CREATE VIEW training.v AS SELECT 1 AS one" \
        -c "CREATE DATABASE other" \
        -c "VACUUM" -c "CHECKPOINT"
    pg_psql fuse -d "$(pg_conninfo fuse other)" -c "CREATE TABLE public.t (id int)" \
        -c "INSERT INTO public.t SELECT generate_series(1, 10)"
    export CONN=$(pg_conninfo fuse)
    export DATA=$(pg_datadir fuse)
    # mount points live where other users can reach them (the privilege test)
    BASE=$(mktemp -d /tmp/cd-fuse.XXXXXX)
    chmod 755 "$BASE"
    export BASE
}

teardown_file() {
    if [[ -f $BASE/created-user ]]; then userdel cdreader 2>/dev/null || true; fi
    pg_stop_all
    rm -rf "$BASE"
}

setup() {
    MNT=$BASE/m$BATS_TEST_NUMBER
    FS_LOG=$BATS_TEST_TMPDIR/fuse.log
    mkdir -p "$MNT"
}

teardown() {
    local m pid
    for m in $(awk -v b="$BASE/" 'index($2, b) == 1 { print $2 }' /proc/mounts); do
        fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    for pid in $(cat "$BASE/pids" 2>/dev/null); do
        kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in $(cat "$BASE/pids" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -f "$BASE/pids"
    if [[ -f $FS_LOG ]]; then sed 's/^/  fuse.log: /' "$FS_LOG" | tail -n 30; fi
}

# start_fs MOUNT [ARGS...]: cerebro-ds-fuse in the foreground, in the background (FS_PID).
start_fs() {
    local mnt=$1
    shift
    cerebro-ds-fuse -f --conninfo "$CONN" "$@" "$mnt" </dev/null >>"$FS_LOG" 2>&1 3>&- &
    FS_PID=$!
    echo "$FS_PID" >>"$BASE/pids"
    wait_mounted "$mnt"
}

wait_mounted() {
    local i
    for ((i = 0; i < 150; i++)); do
        if mountpoint -q "$1" && [[ -r $1/.cerebro-ds/version ]]; then return 0; fi
        kill -0 "$FS_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "cerebro-ds-fuse did not mount $1" >&2
    return 1
}

# wait_exit PID: wait (20 s at most, then kill -9 and fail) for a daemon of this shell to
# exit; its status in FS_STATUS.
wait_exit() {
    local i state
    for ((i = 0; i < 200; i++)); do
        state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null || true)
        [[ -z $state || $state == Z ]] && break
        sleep 0.1
    done
    if [[ -n $state && $state != Z ]]; then
        echo "daemon $1 did not exit" >&2
        kill -KILL "$1"
    fi
    FS_STATUS=0
    wait "$1" || FS_STATUS=$?
    [[ -z $state || $state == Z ]]
}

# stop_fs MOUNT: unmount and wait for the daemon to exit; its status in FS_STATUS.
stop_fs() {
    fusermount3 -u "$1"
    wait_exit "$FS_PID"
}

stat_of() { # NAME: a counter of .cerebro-ds/stats
    awk -v k="$1" '$1 == k { print $2 }' "$MNT/.cerebro-ds/stats"
}

# read_sum FILE: the SHA-256 of FILE read through the daemon (the kernel's pages of the file
# dropped first)
read_sum() {
    "$PYTHON" - "$1" <<'EOF'
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
h = hashlib.sha256()
while True:
    b = os.read(fd, 1 << 20)
    if not b:
        break
    h.update(b)
print(h.hexdigest())
EOF
}

@test "the tree: databases, tables, shards, column files, meta, .cerebro-ds" {
    start_fs "$MNT" -o tables=t,p,databases=other
    run ls -A "$MNT"
    [ "$output" = $'.cerebro-ds\nother\npostgres' ]
    run ls "$MNT/postgres"
    [ "$output" = $'public.p\npublic.t' ]
    run ls "$MNT/postgres/public.p"
    [ "$output" = $'meta\np0\np1\np2' ]
    run ls "$MNT/postgres/public.t/part0"
    [ "$output" = $'id.npy\nmeta\nn.npy\nn.valid.npy\ns.bin\ns.offsets.npy\nx.npy' ]
    grep -qx 'rows = 5000' "$MNT/postgres/public.t/meta"
    [ "$(cat "$MNT/.cerebro-ds/version")" = "cerebro-ds-fuse $(cerebro-ds --version | cut -d' ' -f2)" ]
    [[ $(cat "$MNT/.cerebro-ds/control") =~ ^cerebro-ds-fuse-$FS_PID-[0-9a-f]{16}$ ]]
    run ls "$MNT/other" # the same table names in every database
    [ "$output" = $'public.p\npublic.t' ]
    [ "$(stat -c %s "$MNT/other/public.t/part0/id.npy")" -eq $((128 + 40)) ]
    # sizes are known before any byte is read
    [ "$(stat -c %s "$MNT/postgres/public.t/part0/id.npy")" -eq $((128 + 4 * 5000)) ]
    for k in bytes_decoded cache_hits cache_misses cache_evictions cache_bytes snapshots_held open_files; do
        grep -q "^$k [0-9]*$" "$MNT/.cerebro-ds/stats"
    done
    stop_fs "$MNT"
    [ "$FS_STATUS" -eq 0 ]
}

@test "schemas serves every ordinary and partitioned table of the schema, not partitions or views" {
    start_fs "$MNT" -o schemas=training
    run ls "$MNT/postgres"
    [ "$output" = $'training.a\ntraining.b\ntraining.pp' ]
    ls "$MNT/postgres/training.pp/pp0" >/dev/null
}

@test "a configured table that does not exist fails its lookup with ENOENT and a log line" {
    start_fs "$MNT" -o tables=t,nosuch
    run ls "$MNT/postgres"
    [ "$output" = $'public.nosuch\npublic.t' ]
    run ls "$MNT/postgres/public.nosuch"
    [ "$status" -ne 0 ]
    [[ $output == *"No such file or directory"* ]]
    grep -q 'could not pin postgres/public.nosuch: table "public.nosuch" does not exist' "$FS_LOG"
    ls "$MNT/postgres/public.t/part0" >/dev/null
}

@test "every file is byte-identical to cerebro-ds export of the same snapshot" {
    start_fs "$MNT" -o tables=t,p
    ls "$MNT/postgres/public.t" "$MNT/postgres/public.p" >/dev/null # pins both
    cerebro-ds -q --conninfo "$CONN" export t "$BATS_TEST_TMPDIR/t"
    cerebro-ds -q --conninfo "$CONN" export p "$BATS_TEST_TMPDIR/p"
    diff -r "$BATS_TEST_TMPDIR/t" "$MNT/postgres/public.t"
    diff -r "$BATS_TEST_TMPDIR/p" "$MNT/postgres/public.p"
    [ "$(stat_of cache_misses)" -gt 0 ]
}

@test "numpy reads the mount with mmap and gets PostgreSQL's values" {
    start_fs "$MNT" -o tables=t
    pg_psql fuse -AtF'|' -c "SELECT id, x[1], x[2], n, s FROM t ORDER BY ctid" >"$BATS_TEST_TMPDIR/sql"
    run "$PYTHON" - "$MNT/postgres/public.t/part0" "$BATS_TEST_TMPDIR/sql" <<'EOF'
import math, sys
import numpy as np
d, sql = sys.argv[1], sys.argv[2]
ids = np.load(d + '/id.npy', mmap_mode='r')
x = np.load(d + '/x.npy', mmap_mode='r')
n = np.load(d + '/n.npy', mmap_mode='r')
valid = np.load(d + '/n.valid.npy', mmap_mode='r')
offs = np.load(d + '/s.offsets.npy', mmap_mode='r')
sbin = open(d + '/s.bin', 'rb').read()
rows = [line.split('|') for line in open(sql).read().splitlines()]
assert len(rows) == len(ids) == x.shape[0] == 5000, (len(rows), ids.shape, x.shape)
for i, (a, b, c, nv, s) in enumerate(rows):
    assert ids[i] == int(a) and x[i, 0] == np.float32(b) and x[i, 1] == np.float32(c), i
    assert bool(valid[i]) == (nv != ''), i
    assert (n[i] == float(nv)) if nv != '' else math.isnan(n[i]), i
    assert sbin[offs[i]:offs[i + 1]].decode() == s, i
print('rows', len(rows))
EOF
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$output" = "rows 5000" ]
}

@test "a PyTorch DataLoader with two workers sees every row of a shard exactly once" {
    start_fs "$MNT" -o tables=t
    run "$PYTHON" - "$MNT/postgres/public.t/part0/id.npy" <<'EOF'
import sys
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

class Ids(Dataset):
    def __init__(self, path):
        self.path, self.a = path, None
        self.n = len(np.load(path, mmap_mode='r'))
    def __len__(self):
        return self.n
    def __getitem__(self, i):
        if self.a is None:  # opened in each worker
            self.a = np.load(self.path, mmap_mode='r')
        return int(self.a[i])

torch.manual_seed(1)
ids = []
for batch in DataLoader(Ids(sys.argv[1]), batch_size=64, shuffle=True, num_workers=2):
    ids.extend(batch.tolist())
print(len(ids), len(set(ids)), min(ids), max(ids))
EOF
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[-1]}" = "5000 5000 1 5000" ]
}

@test "parallel readers get identical bytes" {
    start_fs "$MNT" -o tables=t,big
    ls "$MNT/postgres/public.t" "$MNT/postgres/public.big" >/dev/null # pins both
    cerebro-ds -q --conninfo "$CONN" export t "$BATS_TEST_TMPDIR/t"
    cerebro-ds -q --conninfo "$CONN" export --columns x big "$BATS_TEST_TMPDIR/big"
    want=$(cat "$BATS_TEST_TMPDIR"/t/part0/* | sha256sum)
    want_big=$(sha256sum <"$BATS_TEST_TMPDIR/big/part0/x.npy")
    readers=()
    for i in 1 2 3 4; do
        (cat "$MNT"/postgres/public.t/part0/* | sha256sum >"$BATS_TEST_TMPDIR/sum$i") &
        readers+=($!)
        (dd if="$MNT/postgres/public.big/part0/x.npy" bs=64k status=none | sha256sum >"$BATS_TEST_TMPDIR/big$i") &
        readers+=($!)
    done
    wait "${readers[@]}" # not the daemon, a job of this shell too
    for i in 1 2 3 4; do
        [ "$(cat "$BATS_TEST_TMPDIR/sum$i")" = "$want" ]
        [ "$(cat "$BATS_TEST_TMPDIR/big$i")" = "$want_big" ]
    done
}

@test "changes are invisible until refresh; a file held open keeps its snapshot; SIGHUP refreshes" {
    pg_psql fuse -c "CREATE TABLE d (id int, v float8)" \
        -c "INSERT INTO d SELECT g, g FROM generate_series(1, 1000) g"
    start_fs "$MNT" -o tables=d
    dir=$MNT/postgres/public.d/part0
    rows() { "$PYTHON" -c "import numpy as np; print(len(np.load('$dir/v.npy')))"; }
    [ "$(rows)" -eq 1000 ]
    ino=$(stat -c %i "$dir/v.npy")
    # a reader opens id.npy now and reads it after the refresh
    "$PYTHON" - "$dir/id.npy" "$BATS_TEST_TMPDIR/go" "$BATS_TEST_TMPDIR/held" <<'EOF' &
import os, sys, time
import numpy as np
path, go, out = sys.argv[1:4]
f = open(path, 'rb')
open(out + '.ready', 'w').close()
while not os.path.exists(go):
    time.sleep(0.05)
a = np.load(f)
open(out, 'w').write('%d %d\n' % (len(a), int(a.sum())))
EOF
    reader=$!
    for ((i = 0; i < 100; i++)); do [[ -e $BATS_TEST_TMPDIR/held.ready ]] && break; sleep 0.1; done
    pg_psql fuse -c "INSERT INTO d SELECT g, g FROM generate_series(1001, 1100) g" \
        -c "DELETE FROM d WHERE id <= 10"
    [ "$(rows)" -eq 1000 ] # same snapshot
    run cerebro-ds refresh "$MNT"
    [ "$status" -eq 0 ]
    [ "$output" = "$MNT: 1 table(s) refreshed" ]
    [ "$(rows)" -eq 1090 ]
    [ "$(stat -c %i "$dir/v.npy")" != "$ino" ]
    [ "$(stat_of snapshots_held)" -eq 2 ] # the open file holds the old one
    touch "$BATS_TEST_TMPDIR/go"
    wait "$reader" # python, not the daemon
    [ "$(cat "$BATS_TEST_TMPDIR/held")" = "1000 500500" ]
    for ((i = 0; i < 50; i++)); do [ "$(stat_of snapshots_held)" -eq 1 ] && break; sleep 0.1; done
    [ "$(stat_of snapshots_held)" -eq 1 ] # released after the last close
    grep -q "released snapshot .* of postgres/public.d (generation 1)" "$FS_LOG"
    # the new snapshot's values are PostgreSQL's
    want=$(pg_psql fuse -At -c "SELECT sum(id) FROM d")
    [ "$("$PYTHON" -c "import numpy as np; print(int(np.load('$dir/id.npy').sum()))")" = "$want" ]
    # SIGHUP takes a new snapshot too
    pg_psql fuse -c "DELETE FROM d WHERE id <= 100"
    kill -HUP "$FS_PID"
    for ((i = 0; i < 50; i++)); do [ "$(rows)" -eq 1000 ] && break; sleep 0.1; done
    [ "$(rows)" -eq 1000 ]
    run cerebro-ds refresh "$MNT" public.d
    [ "$output" = "$MNT: 1 table(s) refreshed" ]
    run cerebro-ds refresh "$MNT" postgres/d
    [ "$status" -eq 0 ]
    run cerebro-ds refresh "$MNT" nosuch
    [ "$status" -eq 1 ]
    [[ $output == *"error: no table public.nosuch is served"* ]]
    run cerebro-ds refresh /tmp
    [ "$status" -eq 1 ]
    [[ $output == *"is /tmp a cerebro-ds-fuse mount point?"* ]]
}

@test "a user whose role lacks SELECT gets EACCES; GRANT and refresh make the table readable" {
    if ! id cdreader >/dev/null 2>&1; then
        useradd -M -s /usr/sbin/nologin cdreader
        touch "$BASE/created-user"
    fi
    pg_psql fuse -c "DROP ROLE IF EXISTS cdreader" -c "CREATE ROLE cdreader LOGIN" \
        -c "CREATE TABLE g (id int)" -c "INSERT INTO g SELECT generate_series(1, 100)"
    start_fs "$MNT" -o tables=g,allow_other
    f=$MNT/postgres/public.g/part0/id.npy
    cerebro-ds -q --conninfo "$CONN" export g "$BATS_TEST_TMPDIR/g"
    want=$BATS_TEST_TMPDIR/g/part0/id.npy
    cmp "$f" "$want" # root reads as the daemon's own role
    run runuser -u cdreader -- cat "$f"
    [ "$status" -ne 0 ]
    [[ $output == *"Permission denied"* ]]
    grep -q "access denied: uid=$(id -u cdreader) user=cdreader role=cdreader table=postgres/public.g shard=part0 file=id.npy" "$FS_LOG"
    grep -q "GRANT SELECT ON public.g TO cdreader" "$FS_LOG"
    pg_psql fuse -c "GRANT SELECT ON g TO cdreader"
    cerebro-ds refresh "$MNT" public.g
    runuser -u cdreader -- cat "$f" | cmp - "$want"
    grep -q "access allowed: uid=$(id -u cdreader) user=cdreader role=cdreader table=postgres/public.g" "$FS_LOG"
    # role_map: the OS user reads as another role
    pg_psql fuse -c "REVOKE SELECT ON g FROM cdreader"
    stop_fs "$MNT"
    start_fs "$MNT" -o tables=g,allow_other,role_map=cdreader:postgres
    runuser -u cdreader -- cat "$f" | cmp - "$want"
}

@test "every kind of write fails with EROFS" {
    start_fs "$MNT" -o tables=t
    dir=$MNT/postgres/public.t/part0
    ls "$dir" >/dev/null
    for cmd in "touch $dir/new" "touch $dir/id.npy" "rm $dir/id.npy" "mv $dir/id.npy $dir/x" \
        "mkdir $dir/sub" "chmod 600 $dir/id.npy" "truncate -s 0 $dir/id.npy" \
        "ln $dir/id.npy $dir/link" "ln -s id.npy $dir/sym" "rmdir $dir"; do
        run $cmd
        echo "$cmd: $output"
        [ "$status" -ne 0 ]
        [[ $output == *"Read-only file system"* ]]
    done
    run "$PYTHON" -c "import os, sys; os.setxattr(sys.argv[1], 'user.a', b'1')" "$dir/id.npy"
    [[ $output == *"Read-only file system"* ]]
    run bash -c "echo x >$dir/id.npy"
    [[ $output == *"Read-only file system"* ]]
    run bash -c "echo x >>$MNT/.cerebro-ds/stats"
    [[ $output == *"Read-only file system"* ]]
    grep -qw ro <(awk -v m="$MNT" '$2 == m { print $4 }' /proc/mounts | tr , '\n')
}

@test "the data directory is unchanged by a mount, a full read and an unmount; opened read-only" {
    pg_psql fuse -c "VACUUM t" -c "CHECKPOINT"
    rel=$(pg_psql fuse -At -c "SELECT pg_relation_filepath('t')")
    toast=$(pg_psql fuse -At -c "SELECT pg_relation_filepath(reltoastrelid) FROM pg_class WHERE relname = 't'")
    sums() { (cd "$DATA" && sha256sum "$rel"* "$toast"* pg_xact/*); }
    before=$(sums)
    # (LeakSanitizer cannot run under ptrace: a sanitized build checks no leaks here)
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
        strace -f -qq -e trace=open,openat,creat,truncate,unlink,unlinkat,rename,renameat -o "$BATS_TEST_TMPDIR/trace" \
        cerebro-ds-fuse -f --conninfo "$CONN" -o tables=t "$MNT" </dev/null >>"$FS_LOG" 2>&1 3>&- &
    FS_PID=$!
    echo "$FS_PID" >>"$BASE/pids"
    wait_mounted "$MNT"
    cat "$MNT"/postgres/public.t/part0/* >/dev/null
    stop_fs "$MNT"
    [ "$FS_STATUS" -eq 0 ]
    [ "$(sums)" = "$before" ]
    grep -F "$DATA" "$BATS_TEST_TMPDIR/trace" >"$BATS_TEST_TMPDIR/data-access"
    [ -s "$BATS_TEST_TMPDIR/data-access" ]
    ! grep -vE 'open(at)?\(.*O_RDONLY' "$BATS_TEST_TMPDIR/data-access" || false # prints the others
}

@test "a corrupt page gives EIO, logged with file and block; other tables read fine" {
    pg_psql fuse -c "CHECKPOINT"
    copy=$BATS_TEST_TMPDIR/pgdata
    cp -a "$DATA" "$copy"
    rel=$(pg_psql fuse -At -c "SELECT pg_relation_filepath('plain')")
    printf '\xff' | dd of="$copy/$rel" bs=1 seek=$((8192 * 2 + 5000)) conv=notrunc status=none
    start_fs "$MNT" -o tables=plain,t,datadir="$copy"
    run cat "$MNT/postgres/public.plain/part0/t.bin"
    [ "$status" -ne 0 ]
    [[ $output == *"Input/output error"* ]]
    grep -q "page checksum mismatch.*block 2" "$FS_LOG"
    cerebro-ds -q --conninfo "$CONN" export t "$BATS_TEST_TMPDIR/t"
    diff -r "$BATS_TEST_TMPDIR/t" "$MNT/postgres/public.t"
    ls "$MNT/postgres" >/dev/null
}

@test "fixed-width chunks are decoded during the index pass; a column that turns ragged later is served as .bin" {
    # x: 1000 floats a row (262 rows a chunk) until row 500, then 999: ragged after a chunk
    pg_psql fuse -c "CREATE TABLE early (id int, x real[], y real[])" \
        -c "INSERT INTO early SELECT g, ARRAY(SELECT (g * 1000 + i)::real
                FROM generate_series(1, CASE WHEN g <= 500 THEN 1000 ELSE 999 END) i),
            ARRAY(SELECT (g + i)::real FROM generate_series(1, 256) i) FROM generate_series(1, 600) g"
    start_fs "$MNT" -o tables=early
    dir=$MNT/postgres/public.early/part0
    ls "$dir" >/dev/null # the index pass
    want=$((600 * 4 + 600 * 1024)) # id.npy and y.npy data
    for ((i = 0; i < 100; i++)); do (($(stat_of bytes_decoded) >= want)) && break; sleep 0.1; done
    (($(stat_of bytes_decoded) >= want))
    misses=$(stat_of cache_misses)
    cat "$dir/id.npy" "$dir/y.npy" >/dev/null
    [ "$(stat_of cache_misses)" -eq "$misses" ] # no read decoded anything
    [ -e "$dir/x.bin" ]
    cerebro-ds -q --conninfo "$CONN" export early "$BATS_TEST_TMPDIR/early"
    diff -r "$BATS_TEST_TMPDIR/early" "$MNT/postgres/public.early"
    stop_fs "$MNT" # its snapshot holds a lock on the table
    pg_psql fuse -c "DROP TABLE early"
}

@test "scalar columns are taken from the index pass: reading them reads no page again" {
    # v: 131072 float8 a chunk, 3 chunks; id: 2; NULLs in v and n (numeric, served as float8)
    pg_psql fuse -c "CREATE TABLE scal (id int, v float8, n numeric, b bool, s text)" \
        -c "INSERT INTO scal SELECT g, CASE WHEN g % 1000 = 0 THEN NULL ELSE g / 7.0 END,
                CASE WHEN g % 777 = 0 THEN NULL ELSE g / 3.0 END, g % 2 = 0, 'r' || g
            FROM generate_series(1, 270000) g" -c "VACUUM FREEZE scal" -c "CHECKPOINT"
    # frozen and written out first: the first scans of fresh rows (the daemon's own count(*)
    # among them) set hint bits, and a page written meanwhile is a torn read, read again
    blocks=$(pg_psql fuse -At -c "SELECT pg_relation_size('scal') / 8192")
    start_fs "$MNT" -o tables=scal
    dir=$MNT/postgres/public.scal/part0
    ls "$dir" >/dev/null # the index pass: every page read once
    echo "pages_read $(stat_of pages_read) of $blocks blocks"
    [ "$(stat_of pages_read)" -eq "$blocks" ]
    cat "$dir"/{id,v,n,b}.npy "$dir"/{v,n}.valid.npy >/dev/null
    [ "$(stat_of pages_read)" -eq "$blocks" ]
    cat "$dir/s.bin" >/dev/null # text is decoded when read: its pages are read again
    (($(stat_of pages_read) >= 2 * blocks))
    cerebro-ds -q --conninfo "$CONN" export scal "$BATS_TEST_TMPDIR/scal"
    diff -r "$BATS_TEST_TMPDIR/scal" "$MNT/postgres/public.scal"
    stop_fs "$MNT" # its snapshot holds a lock on the table
    pg_psql fuse -c "DROP TABLE scal"
}

@test "scalar columns are captured into the cache by the index pass within half of cache_mb, else decoded when read: same bytes" {
    # 5.4 MB of fixed-width rows: within half of cache_mb 16 (every chunk of every column
    # written into the cache as the index pass goes, no page read twice), over half of 8
    pg_psql fuse -c "CREATE TABLE wide (id int, v float8, w float8)" \
        -c "INSERT INTO wide SELECT g, g / 7.0, g / 9.0 FROM generate_series(1, 270000) g" \
        -c "VACUUM FREEZE wide" -c "CHECKPOINT" # no hint bits left to set: no torn reads
    blocks=$(pg_psql fuse -At -c "SELECT pg_relation_size('wide') / 8192")
    cerebro-ds -q --conninfo "$CONN" export wide "$BATS_TEST_TMPDIR/wide"
    start_fs "$MNT" -o tables=wide,cache_mb=16
    ls "$MNT/postgres/public.wide/part0" >/dev/null
    diff -r "$BATS_TEST_TMPDIR/wide" "$MNT/postgres/public.wide"
    [ "$(stat_of pages_read)" -eq "$blocks" ]
    [ "$(stat_of cache_misses)" -eq 0 ]
    stop_fs "$MNT"
    start_fs "$MNT" -o tables=wide,cache_mb=8
    ls "$MNT/postgres/public.wide/part0" >/dev/null
    diff -r "$BATS_TEST_TMPDIR/wide" "$MNT/postgres/public.wide"
    (($(stat_of pages_read) > blocks)) # the columns' pages were read again
    stop_fs "$MNT" # its snapshot holds a lock on the table
    pg_psql fuse -c "DROP TABLE wide"
}

@test "a chunk reads only the pages of its rows: a page without one, corrupt after indexing, is not read" {
    # about 185 rows a page: ids 741-1110 fill blocks 4 and 5, dead but not vacuumed
    pg_psql fuse -c "CREATE TABLE holes (id int, v float8) WITH (autovacuum_enabled = off)" \
        -c "INSERT INTO holes SELECT g, g / 7.0 FROM generate_series(1, 3000) g" \
        -c "DELETE FROM holes WHERE id BETWEEN 741 AND 1110" -c "CHECKPOINT"
    [ "$(pg_psql fuse -At -c "SELECT count(*) FROM holes WHERE (ctid::text::point)[0] = 4")" -eq 0 ]
    copy=$BATS_TEST_TMPDIR/pgdata
    cp -a "$DATA" "$copy"
    start_fs "$MNT" -o tables=holes,datadir="$copy"
    ls "$MNT/postgres/public.holes/part0" >/dev/null # indexed: every page read and checked
    rel=$(pg_psql fuse -At -c "SELECT pg_relation_filepath('holes')")
    printf '\xff' | dd of="$copy/$rel" bs=1 seek=$((8192 * 4 + 5000)) conv=notrunc status=none
    cerebro-ds -q --conninfo "$CONN" export holes "$BATS_TEST_TMPDIR/holes"
    diff -r "$BATS_TEST_TMPDIR/holes" "$MNT/postgres/public.holes"
    ! grep -q "checksum" "$FS_LOG" || false
    stop_fs "$MNT" # its snapshot holds a lock on the table
    pg_psql fuse -c "DROP TABLE holes"
}

@test "a corrupt page fails only its shard: the other partitions are served" {
    pg_psql fuse -c "CHECKPOINT"
    copy=$BATS_TEST_TMPDIR/pgdata
    cp -a "$DATA" "$copy"
    rel=$(pg_psql fuse -At -c "SELECT pg_relation_filepath('p1')")
    printf '\xff' | dd of="$copy/$rel" bs=1 seek=5000 conv=notrunc status=none
    start_fs "$MNT" -o tables=p,datadir="$copy"
    cerebro-ds -q --conninfo "$CONN" export --columns id,v p "$BATS_TEST_TMPDIR/p"
    diff -r "$BATS_TEST_TMPDIR/p/p0" "$MNT/postgres/public.p/p0"
    diff -r "$BATS_TEST_TMPDIR/p/p2" "$MNT/postgres/public.p/p2"
    run ls "$MNT/postgres/public.p/p1"
    [ "$status" -ne 0 ]
    [[ $output == *"Input/output error"* ]]
    run cat "$MNT/postgres/public.p/p1/v.npy"
    [ "$status" -ne 0 ]
    run cat "$MNT/postgres/public.p/meta"
    [ "$status" -ne 0 ]
    grep -q "shard p1 of postgres/public.p is not served: page checksum mismatch" "$FS_LOG"
}

@test "a lost pinning connection: decoded data is served, new decoding fails with EIO until refresh" {
    start_fs "$MNT" -o tables=t
    dir=$MNT/postgres/public.t/part0
    cerebro-ds -q --conninfo "$CONN" export t "$BATS_TEST_TMPDIR/t"
    cmp "$dir/id.npy" "$BATS_TEST_TMPDIR/t/part0/id.npy" # decoded and cached
    pinners="FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' AND backend_xmin IS NOT NULL"
    pg_psql fuse -Atc "SELECT pg_terminate_backend(pid) $pinners" >/dev/null
    for ((i = 0; i < 50; i++)); do [ "$(pg_psql fuse -Atc "SELECT count(*) $pinners")" -eq 0 ] && break; sleep 0.1; done
    # not from the kernel's page cache: from the daemon's chunk cache
    "$PYTHON" -c "import os, sys; os.posix_fadvise(os.open(sys.argv[1], os.O_RDONLY), 0, 0, os.POSIX_FADV_DONTNEED)" "$dir/id.npy"
    cmp "$dir/id.npy" "$BATS_TEST_TMPDIR/t/part0/id.npy"
    # x.npy was decoded during the index pass, under the pin: served too
    cmp "$dir/x.npy" "$BATS_TEST_TMPDIR/t/part0/x.npy"
    run cat "$dir/s.bin" # text: decoded only when read
    [ "$status" -ne 0 ]
    [[ $output == *"Input/output error"* ]]
    grep -q "error: read of postgres/public.t/part0/s.bin .*refresh" "$FS_LOG"
    cerebro-ds refresh "$MNT"
    cmp "$dir/s.bin" "$BATS_TEST_TMPDIR/t/part0/s.bin"
}

@test "kill -9 leaves a mount that the next start recovers" {
    start_fs "$MNT" -o tables=t
    cat "$MNT/postgres/public.t/part0/id.npy" >/dev/null
    kill -KILL "$FS_PID"
    wait_exit "$FS_PID" || true
    run stat "$MNT"
    [[ $output == *"Transport endpoint is not connected"* ]]
    start_fs "$MNT" -o tables=t
    grep -q "died without unmounting; unmounting it with fusermount3 -u -z" "$FS_LOG"
    cerebro-ds -q --conninfo "$CONN" export --columns id t "$BATS_TEST_TMPDIR/t"
    cmp "$MNT/postgres/public.t/part0/id.npy" "$BATS_TEST_TMPDIR/t/part0/id.npy"
    # a live mount is not mounted over
    run cerebro-ds-fuse -f --conninfo "$CONN" -o tables=t "$MNT"
    [ "$status" -eq 1 ]
    [[ $output == *"is already mounted by cerebro-ds-fuse"* ]]
    stop_fs "$MNT"
    [ "$FS_STATUS" -eq 0 ]
}

@test "SIGTERM and SIGINT unmount cleanly, release the snapshots and exit 0" {
    for sig in TERM INT; do
        start_fs "$MNT" -o tables=t,p
        cat "$MNT"/postgres/public.t/part0/id.npy "$MNT"/postgres/public.p/p1/id.npy >/dev/null
        held=$(pg_psql fuse -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_xmin IS NOT NULL AND state LIKE 'idle in transaction%'")
        [ "$held" -ge 2 ]
        kill -$sig "$FS_PID"
        wait_exit "$FS_PID"
        [ "$FS_STATUS" -eq 0 ]
        run ! mountpoint -q "$MNT"
        run ! grep -q " $MNT " /proc/mounts
        grep -q "every snapshot released" "$FS_LOG"
        sleep 0.2
        held=$(pg_psql fuse -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_xmin IS NOT NULL AND state LIKE 'idle in transaction%'")
        [ "$held" -eq 0 ]
    done
}

@test "the cache stays in its bound: a table 4x larger than cache_mb read twice, same bytes" {
    start_fs "$MNT" -o tables=big,t,cache_mb=16
    f=$MNT/postgres/public.big/part0/x.npy
    [ "$(stat -c %s "$f")" -gt $((56 * 1024 * 1024)) ]
    sleep 1 # nothing decoded during the index pass: it would not fit in half the cache
    [ "$(stat_of bytes_decoded)" -eq 0 ]
    # read through the daemon twice: drop the kernel's pages of the file before each pass
    one=$(read_sum "$f")
    two=$(read_sum "$f")
    [ "$one" = "$two" ]
    hits=$(stat_of cache_hits)
    small=$MNT/postgres/public.t/part0/x.npy
    read_sum "$small" >/dev/null
    misses=$(stat_of cache_misses)
    read_sum "$small" >/dev/null
    [ "$(stat_of cache_misses)" -eq "$misses" ] # the second pass of a small file: all hits
    [ "$(stat_of cache_hits)" -gt "$hits" ]
    [ "$(stat_of cache_bytes)" -le $((16 * 1024 * 1024)) ]
    [ "$(stat_of cache_evictions)" -gt 0 ]
    hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$FS_PID/status")
    echo "VmHWM ${hwm} kB"
    if [[ ${CD_BIN_DIR:-} != */asan/* ]]; then # ASan's shadow memory and quarantine
        [ "$hwm" -lt $(((16 + 64) * 1024)) ]
    fi
    cerebro-ds -q --conninfo "$CONN" export big "$BATS_TEST_TMPDIR/big"
    [ "$one" = "$(sha256sum <"$BATS_TEST_TMPDIR/big/part0/x.npy" | cut -d' ' -f1)" ]
}

@test "--preload pins every table at mount; [table] sections set shards and columns" {
    cat >"$BATS_TEST_TMPDIR/c.conf" <<EOF
[database]
conninfo = $CONN

[mount]
tables = t

[table public.t]
shards = blocks:3
columns = id, x
EOF
    start_fs "$MNT" -c "$BATS_TEST_TMPDIR/c.conf" --preload
    for ((i = 0; i < 50; i++)); do grep -q "preload: 1 of 1 tables" "$FS_LOG" && break; sleep 0.1; done
    grep -q "pinned postgres/public.t" "$FS_LOG"
    [ "$(stat_of tables_pinned)" -eq 1 ]
    run ls "$MNT/postgres/public.t"
    [ "$output" = $'meta\npart0\npart1\npart2' ]
    run ls "$MNT/postgres/public.t/part1"
    [ "$output" = $'id.npy\nmeta\nx.npy' ]
}

@test "-d: in the foreground, with debug messages and libfuse's trace of every request" {
    cerebro-ds-fuse -d --conninfo "$CONN" -o tables=t "$MNT" </dev/null >>"$FS_LOG" 2>&1 3>&- &
    FS_PID=$!
    echo "$FS_PID" >>"$BASE/pids"
    wait_mounted "$MNT"
    cmp "$MNT/postgres/public.t/part0/id.npy" <(cerebro-ds -q --conninfo "$CONN" export --columns id t \
        "$BATS_TEST_TMPDIR/t" && cat "$BATS_TEST_TMPDIR/t/part0/id.npy")
    kill -0 "$FS_PID" # not daemonized: still the process started
    grep -q ' debug: kernel: protocol ' "$FS_LOG"
    grep -qE ' debug: unique: [0-9]+, opcode: LOOKUP ' "$FS_LOG"
    grep -qE ' debug: unique: [0-9]+, opcode: READ ' "$FS_LOG"
    stop_fs "$MNT"
    [ "$FS_STATUS" -eq 0 ]
}

@test "log_level: error leaves out the info lines, debug adds debug lines (without libfuse's trace)" {
    start_fs "$MNT" -o tables=t,log_level=error
    cat "$MNT/postgres/public.t/part0/id.npy" >/dev/null
    stop_fs "$MNT"
    run ! grep -E ' (warning|info|debug): ' "$FS_LOG"
    : >"$FS_LOG"
    start_fs "$MNT" -o tables=t,log_level=debug
    cat "$MNT/postgres/public.t/part0/id.npy" >/dev/null
    stop_fs "$MNT"
    grep -q ' info: mounted at ' "$FS_LOG"
    grep -q ' info: pinned postgres/public.t' "$FS_LOG"
    grep -q ' debug: kernel: protocol ' "$FS_LOG"
    run ! grep -q 'opcode: ' "$FS_LOG"
}

# max_threads PID READER...: the most threads PID had while any READER process ran
max_threads() {
    local pid=$1 n most=0 r running=1
    shift
    while ((running)); do
        n=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
        ((n > most)) && most=$n
        running=0
        for r in "$@"; do kill -0 "$r" 2>/dev/null && running=1; done
        sleep 0.01
    done
    echo "$most"
}

@test "threads: the most FUSE workers serving readers at once" {
    f=$MNT/postgres/public.big/part0/x.npy
    for n in 1 8; do
        start_fs "$MNT" -o tables=big,threads=$n
        ls "$MNT/postgres/public.big/part0" >/dev/null # pinned: its prefetch threads run
        # the threads that are not FUSE workers: those of threads=1 but its one worker
        ((n > 1)) || other=$(($(awk '/^Threads:/ { print $2 }' "/proc/$FS_PID/status") - 1))
        # 8 readers of 7 MiB each, at once, each at its own place in the file
        readers=()
        for i in 0 1 2 3 4 5 6 7; do
            dd if="$f" of=/dev/null bs=1M skip=$((i * 7)) count=7 status=none &
            readers+=($!)
        done
        most[n]=$(max_threads "$FS_PID" "${readers[@]}")
        wait "${readers[@]}" # not the daemon: stop_fs waits for it
        echo "threads=$n: $other threads besides the FUSE workers, $((most[n])) at most"
        stop_fs "$MNT"
        [ "$FS_STATUS" -eq 0 ]
        [ "${most[n]}" -le $((other + n)) ]
    done
    [ "${most[8]}" -gt "${most[1]}" ]
}

@test "cache_dir: chunks evicted from memory are spilled there up to cache_dir_mb, read back, removed at exit" {
    pg_psql fuse -c "CREATE TABLE sp (id int, x real[])" \
        -c "INSERT INTO sp SELECT g, array_fill((g % 100)::real, ARRAY[256]) FROM generate_series(1, 12000) g"
    spill=$BATS_TEST_TMPDIR/spill
    mkdir "$spill"
    start_fs "$MNT" -o tables=sp,cache_mb=1,cache_dir="$spill",cache_dir_mb=1
    f=$MNT/postgres/public.sp/part0/x.npy
    [ "$(stat -c %s "$f")" -gt $((10 * 1024 * 1024)) ]
    cerebro-ds -q --conninfo "$CONN" export --columns x sp "$BATS_TEST_TMPDIR/sp"
    want=$(sha256sum <"$BATS_TEST_TMPDIR/sp/part0/x.npy" | cut -d' ' -f1)
    [ "$(read_sum "$f")" = "$want" ]
    # spilled, LZ4-compressed, within the bound
    [ "$(stat_of cache_spill_bytes)" -gt 0 ]
    [ "$(stat_of cache_spill_bytes)" -le $((1024 * 1024)) ]
    [ "$(du -sb "$spill" | cut -f1)" -le $((1024 * 1024 + 4096)) ]
    ls "$spill" | grep -qE '^c-[0-9]+-[0-9]+\.lz4$'
    # the second pass reads the spilled chunks back
    [ "$(read_sum "$f")" = "$want" ]
    [ "$(stat_of cache_spill_hits)" -gt 0 ]
    stop_fs "$MNT"
    [ "$FS_STATUS" -eq 0 ]
    [ -z "$(ls -A "$spill")" ]
}

@test "[mount] preload = true pins every table at mount" {
    printf '[database]\nconninfo = %s\n\n[mount]\ntables = t, p\npreload = true\n' "$CONN" >"$BATS_TEST_TMPDIR/c.conf"
    start_fs "$MNT" -c "$BATS_TEST_TMPDIR/c.conf"
    for ((i = 0; i < 50; i++)); do grep -q "preload: 2 of 2 tables" "$FS_LOG" && break; sleep 0.1; done
    grep -q "preload: 2 of 2 tables pinned and indexed" "$FS_LOG"
    [ "$(stat_of tables_pinned)" -eq 2 ] # before any lookup
    stop_fs "$MNT"
    : >"$FS_LOG"
    sed -i 's/^preload = true$/preload = false/' "$BATS_TEST_TMPDIR/c.conf"
    start_fs "$MNT" -c "$BATS_TEST_TMPDIR/c.conf"
    [ "$(stat_of tables_pinned)" -eq 0 ]
}

@test "[mount] shards: partitions and segments (on PostgreSQL the same) or blocks:N, a [table] section overrides" {
    cerebro-ds -q --conninfo "$CONN" export --columns id,v p "$BATS_TEST_TMPDIR/p"
    for sh in partitions segments; do
        printf '[database]\nconninfo = %s\n\n[mount]\ntables = p, t\nshards = %s\n' "$CONN" "$sh" >"$BATS_TEST_TMPDIR/$sh.conf"
        start_fs "$MNT" -c "$BATS_TEST_TMPDIR/$sh.conf"
        [ "$(ls "$MNT/postgres/public.p")" = $'meta\np0\np1\np2' ]
        [ "$(ls "$MNT/postgres/public.t")" = $'meta\npart0' ]
        diff -r "$BATS_TEST_TMPDIR/p" "$MNT/postgres/public.p"
        stop_fs "$MNT"
    done
    printf '[database]\nconninfo = %s\n\n[mount]\ntables = t, plain\nshards = blocks:2\n[table public.plain]\nshards = blocks:3\n' \
        "$CONN" >"$BATS_TEST_TMPDIR/blocks.conf"
    start_fs "$MNT" -c "$BATS_TEST_TMPDIR/blocks.conf"
    [ "$(ls "$MNT/postgres/public.t")" = $'meta\npart0\npart1' ]
    [ "$(ls "$MNT/postgres/public.plain")" = $'meta\npart0\npart1\npart2' ]
    grep -qx 'rows = 5000' "$MNT/postgres/public.t/meta"
}

@test "[database] verify: count refuses rows that count(*) does not see, none serves them" {
    pg_psql fuse -c "CREATE TABLE vf (id int)" -c "INSERT INTO vf SELECT generate_series(1, 100)" -c "CHECKPOINT"
    copy=$BATS_TEST_TMPDIR/pgdata
    cp -a "$DATA" "$copy"
    # the copy of the data directory keeps 100 rows; the database now counts 90
    pg_psql fuse -c "DELETE FROM vf WHERE id > 90"
    start_fs "$MNT" -o tables=vf,datadir="$copy"
    run ls "$MNT/postgres/public.vf/part0"
    [ "$status" -ne 0 ]
    [[ $output == *"Input/output error"* ]]
    grep -q "shard part0: decoded 100 rows, the database counts 90" "$FS_LOG"
    stop_fs "$MNT"
    start_fs "$MNT" -o tables=vf,datadir="$copy",database.verify=none
    [ "$("$PYTHON" -c "import numpy as np; print(len(np.load('$MNT/postgres/public.vf/part0/id.npy')))")" -eq 100 ]
}

@test "export checks each shard's rows against count(*), counted while it decodes" {
    pg_psql fuse -c "CREATE TABLE vg (id int)" -c "INSERT INTO vg SELECT generate_series(1, 3000)" -c "CHECKPOINT"
    copy=$BATS_TEST_TMPDIR/pgdata
    cp -a "$DATA" "$copy"
    # the copy keeps 3000 rows; the database now counts 10 fewer, all in the last blocks
    pg_psql fuse -c "DELETE FROM vg WHERE id > 2990"
    run cerebro-ds --conninfo "$CONN" --datadir "$copy" export --shards 3 --jobs 2 vg "$BATS_TEST_TMPDIR/bad"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ $output == *"shard part2: decoded "*" rows, the database counts "* ]]
    [ ! -e "$BATS_TEST_TMPDIR/bad/part2" ]
    run cerebro-ds -q --conninfo "$CONN" --datadir "$copy" export --verify none --shards 3 vg "$BATS_TEST_TMPDIR/none"
    [ "$status" -eq 0 ]
    [ "$("$PYTHON" -c "import numpy as np; print(sum(len(np.load('$BATS_TEST_TMPDIR/none/part%d/id.npy' % k)) for k in range(3)))")" -eq 3000 ]
    # against the live data directory every count agrees, in one query for all shards
    run cerebro-ds -q --conninfo "$CONN" export --shards 3 --jobs 2 vg "$BATS_TEST_TMPDIR/ok"
    [ "$status" -eq 0 ]
    [ "$("$PYTHON" -c "import numpy as np; print(sum(len(np.load('$BATS_TEST_TMPDIR/ok/part%d/id.npy' % k)) for k in range(3)))")" -eq 2990 ]
}

@test "command line: --print-config, -o keys, configuration errors with file:line, help" {
    printf '[database]\nconninfo = dbname=x\n[mount]\ntables = a.b\n[table a.b]\nshards = blocks:2\n' >"$BATS_TEST_TMPDIR/ok.conf"
    run cerebro-ds-fuse -c "$BATS_TEST_TMPDIR/ok.conf" -o cache_mb=32,allow_other,tables=s.t1,s.t2 --print-config /srv/m
    [ "$status" -eq 0 ]
    [[ $output == *$'[database]\nconninfo = dbname=x'* ]]
    [[ $output == *"mountpoint = /srv/m"* ]]
    [[ $output == *"cache_mb = 32"* ]]
    [[ $output == *"allow_other = true"* ]]
    [[ $output == *"tables = s.t1,s.t2"* ]]
    [[ $output == *$'[table a.b]\nshards = blocks:2'* ]]
    run cerebro-ds-fuse -c "$BATS_TEST_TMPDIR/ok.conf" -o table.a.b.columns=x,database.verify=none --print-config
    [[ $output == *$'verify = none'* ]]
    [[ $output == *$'columns = x'* ]]
    printf '[database]\nconninfo = x\n\n[mount]\ncache_mb = lots\n' >"$BATS_TEST_TMPDIR/bad.conf"
    run cerebro-ds-fuse -c "$BATS_TEST_TMPDIR/bad.conf" "$MNT"
    [ "$status" -eq 1 ]
    [[ $output == *"bad.conf:5: invalid value \"lots\" for cache_mb"* ]]
    printf '[mount]\nsize = 3\n' >"$BATS_TEST_TMPDIR/bad2.conf"
    run cerebro-ds-fuse -c "$BATS_TEST_TMPDIR/bad2.conf" "$MNT"
    [[ $output == *"bad2.conf:2: unknown key \"size\" in section mount"* ]]
    run cerebro-ds-fuse -o bogus=1 "$MNT"
    [ "$status" -eq 2 ]
    [[ $output == *'-o bogus: unknown key "bogus"'* ]]
    run cerebro-ds-fuse -o nonsense "$MNT"
    [ "$status" -eq 2 ]
    # a value that --print-config would print as more lines, or one that would be cut: refused
    run cerebro-ds-fuse -o $'tables=a\ncache_mb = 1' --print-config
    [ "$status" -eq 2 ]
    [[ $output == *"-o tables: the value of tables holds a control character (0x0a)"* ]]
    run cerebro-ds-fuse -o "tables=a,$(printf 'b%.0s' {1..4094})" --print-config
    [ "$status" -eq 2 ]
    [[ $output == *"-o tables: value longer than 4095 characters"* ]]
    run cerebro-ds-fuse -o shards=rows --print-config
    [ "$status" -eq 2 ]
    [[ $output == *"partitions, segments or blocks:N"* ]]
    run cerebro-ds-fuse --conninfo "$CONN" "$MNT"
    [ "$status" -eq 1 ]
    [[ $output == *"nothing to serve"* ]]
    # backgrounded (no -f), the daemon opens its log file first: one of the test's own
    bglog=log_file=$BATS_TEST_TMPDIR/daemon.log
    run cerebro-ds-fuse --conninfo "$CONN" -o tables=t,"$bglog" "$BASE/nonexistent"
    [ "$status" -eq 1 ]
    [[ $output == *"HINT: create it: mkdir -p"* ]]
    run cerebro-ds-fuse --conninfo "host=/nonexistent" -o tables=t,"$bglog" "$MNT"
    [ "$status" -eq 1 ]
    [[ $output == *"could not connect to the database"* ]]
    run cerebro-ds-fuse --version
    [[ $output == "cerebro-ds-fuse "* ]]
    run cerebro-ds-fuse --help
    [ "$status" -eq 0 ]
    [[ $output == *"--print-config"* ]]
}

@test "the man pages document every option of --help, every configuration key, refresh and doctor" {
    help=$(cerebro-ds-fuse --help | grep -oE -- '--[a-z-]+' | sort -u)
    man=$(sed 's/\\-/-/g; s/\\f[BIR]//g' "$REPO/docs/cerebro-ds-fuse.8" | grep -oE -- '--[a-z-]+' | sort -u)
    diff <(echo "$help") <(echo "$man")
    keys=$(cerebro-ds-fuse -o tables=x --print-config -o table.x.shards=blocks:1 | grep -oE '^[a-z_]+ =' | cut -d' ' -f1 | sort -u)
    for k in $keys; do
        grep -q "^\.B $k\$" "$REPO/docs/cerebro-ds.conf.5" || { echo "$k is not in cerebro-ds.conf.5"; false; }
    done
    grep -q '^\.B refresh$' "$REPO/docs/cerebro-ds.1"
    grep -q '^\.B doctor$' "$REPO/docs/cerebro-ds.1"
    cerebro-ds --help | grep -q '^  refresh \[MOUNTPOINT \[TABLE\.\.\.\]\]'
    cerebro-ds --help | grep -q '^  refresh --cluster \[TABLE\.\.\.\]'
    grep -q '^\.B refresh \\-\\-cluster$' "$REPO/docs/cerebro-ds.1"
    # every option of cerebro-ds --help is in its page
    help=$(cerebro-ds --help | grep -oE -- '--[a-z-]+' | sort -u)
    man=$(sed 's/\\-/-/g; s/\\f[BIR]//g' "$REPO/docs/cerebro-ds.1" | grep -oE -- '--[a-z-]+' | sort -u)
    diff <(echo "$help") <(comm -12 <(echo "$help") <(echo "$man"))
    cerebro-ds --help | grep -q '^  doctor  '
    # the fstab type and the unit, in the daemon's page
    grep -q '^\.SH FSTAB$' "$REPO/docs/cerebro-ds-fuse.8"
    grep -q '^\.SH SYSTEMD$' "$REPO/docs/cerebro-ds-fuse.8"
}
