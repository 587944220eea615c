#!/bin/sh
# make-copy-fixtures.sh: regenerate the COPY BINARY fixtures of tests/unit/test_pgcopy.c.
#
# Starts a throwaway PostgreSQL cluster (PG_BIN, default /usr/lib/postgresql/15/bin) in a
# temporary directory listening only on a Unix socket, writes copy_types.bin, copy_series.bin
# and copy_empty.bin next to this script, then stops the cluster and deletes it. When run as
# root the server runs as the postgres OS user. The expected values in test_pgcopy.c are
# hard-coded from the SQL below: change both together.
set -eu

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
OUT=$(cd "$(dirname "$0")" && pwd)
d=$(mktemp -d)

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
    as_pg "$PG_BIN/pg_ctl" -D "$d/db" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$d"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" = 0 ]; then chown postgres "$d"; fi
as_pg "$PG_BIN/initdb" -k -A trust -U postgres -D "$d/db" >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$d/db" -l "$d/log" -o "-k $d -c listen_addresses=''" -w start >/dev/null

q() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$d" -U postgres -d postgres "$@"
}

q <<'SQL'
CREATE TABLE t (
    id int4, b bool, i2 int2, i4 int4, i8 int8, f4 real, f8 float8, tx text, by bytea,
    ra real[], da float8[], ia int4[], sa int2[], la int8[]
);
INSERT INTO t VALUES
 (1, true, 32767, 2147483647, 9223372036854775807, 1.5, 2.25, 'hello', '\x00ff10',
  '{1.5,-2.5,3}', '{{1,2,3},{4,5,6}}', '{1,NULL,3}', '{1,-2}', '{10000000000}'),
 (2, false, -32768, -2147483648, -9223372036854775808, '-Infinity', 'NaN', '', '\x',
  '{}', '{}', '{NULL,NULL}', '{}', '{}'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, NULL, 0, 0, 0, 'Infinity', '-0', 'héllo wörld', NULL,
  '{{0.5},{1.5}}', '{{{1}},{{2}}}', '[0:2]={7,8,9}', NULL, '{-1}'),
 (5, true, -1, -1, -1, '1.4e-45', '4.9e-324', repeat('x', 300), '\xdeadbeef',
  '{3.4028235e38}', '{1.7976931348623157e308,-1e-300}', '{2147483647,-2147483648}',
  '{32767,-32768}', '{9223372036854775807,-9223372036854775808}');
SQL

q -c "COPY (SELECT * FROM t ORDER BY id) TO STDOUT (FORMAT binary)" >"$OUT/copy_types.bin"
q -c "COPY (SELECT i, i::float8 / 4, ARRAY[i, -i, i * 2]::real[],
             CASE WHEN i % 7 = 0 THEN NULL ELSE 'row' || i END
           FROM generate_series(1, 500) i) TO STDOUT (FORMAT binary)" >"$OUT/copy_series.bin"
q -c "COPY (SELECT 1::int4 WHERE false) TO STDOUT (FORMAT binary)" >"$OUT/copy_empty.bin"
echo "wrote $OUT/copy_types.bin copy_series.bin copy_empty.bin"
