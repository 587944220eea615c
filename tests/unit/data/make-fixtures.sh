#!/usr/bin/env bash
# make-fixtures.sh: regenerate the unit-test fixtures in tests/unit/data/ from a real
# PostgreSQL 15 server. The unit tests only read the committed files; they never need a server.
#
# Usage (from the repository root): tests/unit/data/make-fixtures.sh
#   PGBIN=/usr/lib/postgresql/15/bin  server binaries (default shown)
# Starts a throwaway cluster with data checksums (initdb -k) in a temporary directory,
# running as the postgres OS user when invoked as root, writes the files below, then stops
# the server and deletes the cluster. Needs pageinspect (in the server package) and xxd.
#
# Files written:
#   page_<name>.bin          raw 8 KB pages read from the relation files after CHECKPOINT
#   checksum_pages.txt       "<file> <blkno> <page_checksum()>" for each page
#   pglz_<name>.cmp          an inline pglz-compressed varlena (4-byte header, va_tcinfo, stream)
#   pglz_<name>.raw          the same value uncompressed (the varlena's bytes after its header)
#   numeric_disk.txt         "<id>\t<varlena hex>\t<value text, cut>\t<float8send hex | error>"
#   numeric_copy.bin         COPY (SELECT v FROM nt ORDER BY id) TO STDOUT (FORMAT binary)
# Also writes fuzz seeds tests/fuzz/seeds/fuzz_pglz/<name>: 2-byte little-endian raw size + stream.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
OUT=$(cd "$(dirname "$0")" && pwd)
SEEDS=$OUT/../../fuzz/seeds/fuzz_pglz
TMP=$(mktemp -d)
DB=$TMP/db

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
    as_pg "$PGBIN/pg_ctl" -D "$DB" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] && chown postgres "$TMP"
as_pg "$PGBIN/initdb" -k -A trust -U postgres -D "$DB" >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$DB" -o "-k $TMP -c listen_addresses=''" -w start >/dev/null

q() { psql -h "$TMP" -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 "$@"; }
hex_to() { xxd -r -p >"$1"; }

# ---- (a) pages with checksums -------------------------------------------------------------
q >/dev/null <<'SQL'
CREATE EXTENSION pageinspect;
CREATE TABLE ck_t (id int PRIMARY KEY, t text);
INSERT INTO ck_t SELECT i, md5(i::text) || repeat(chr(65 + i % 26), i % 40)
  FROM generate_series(1, 400) i;
DELETE FROM ck_t WHERE id % 7 = 0;

CHECKPOINT;
SQL
: >"$OUT/checksum_pages.txt"
save_page() { # relation block name
    local path
    path=$(q -c "SELECT pg_relation_filepath('$1')")
    dd if="$DB/$path" of="$OUT/page_$3.bin" bs=8192 skip="$2" count=1 status=none
    local sum
    sum=$(q -c "SELECT page_checksum(decode('$(xxd -p "$OUT/page_$3.bin" | tr -d '\n')', 'hex'),
                                     $2)::int & 65535")
    echo "page_$3.bin $2 $sum" >>"$OUT/checksum_pages.txt"
}
save_page ck_t 0 heap0
save_page ck_t 2 heap2
save_page ck_t_pkey 1 btree1

# ---- (b) pglz-compressed inline values ----------------------------------------------------
q >/dev/null <<'SQL'
SET default_toast_compression = 'pglz';
CREATE TABLE zt_c (id int, v text);  ALTER TABLE zt_c ALTER v SET STORAGE MAIN;
CREATE TABLE zt_p (id int, v text);  ALTER TABLE zt_p ALTER v SET STORAGE PLAIN;
CREATE TABLE za_c (id int, v real[]); ALTER TABLE za_c ALTER v SET STORAGE MAIN;
CREATE TABLE za_p (id int, v real[]); ALTER TABLE za_p ALTER v SET STORAGE PLAIN;
-- views, so both copies start uncompressed in memory (copying a stored value would keep
-- its compressed form even in a PLAIN column)
CREATE TEMP VIEW src_t (id, v) AS VALUES
  (1, repeat('x', 3000)),
  (2, (SELECT string_agg(md5((i % 20)::text), '') FROM generate_series(1, 200) i)),
  (3, (SELECT string_agg('row ' || i || ' value ' || (i * i) % 97, ', ')
       FROM generate_series(1, 400) i));
CREATE TEMP VIEW src_a (id, v) AS VALUES
  (1, ARRAY(SELECT CASE WHEN i % 50 = 0 THEN i::real / 7 ELSE 0 END
            FROM generate_series(1, 750) i)),
  (2, ARRAY(SELECT (i % 17)::real FROM generate_series(1, 800) i)),
  (3, ARRAY(SELECT 0::real FROM generate_series(1, 750) i));
INSERT INTO zt_c SELECT * FROM src_t; INSERT INTO zt_p SELECT * FROM src_t;
INSERT INTO za_c SELECT * FROM src_a; INSERT INTO za_p SELECT * FROM src_a;
SQL
varlena_hex() { # table id: the varlena after the int4 id column, from the page itself
    q -c "SELECT encode(substring(h.t_data FROM 5), 'hex')
            FROM $1 r, heap_page_items(get_raw_page('$1', (r.ctid::text::point)[0]::int)) h
           WHERE r.id = $2 AND h.lp = (r.ctid::text::point)[1]::int"
}
save_pglz() { # table-prefix id name
    [ "$(q -c "SELECT pg_column_compression(v) FROM ${1}_c WHERE id = $2")" = pglz ] ||
        { echo "value $1/$2 is not pglz-compressed" >&2; exit 1; }
    [ "$(q -c "SELECT pg_column_compression(v) IS NULL FROM ${1}_p WHERE id = $2")" = t ] ||
        { echo "value $1/$2 is compressed in the PLAIN copy" >&2; exit 1; }
    varlena_hex "${1}_c" "$2" | hex_to "$OUT/pglz_$3.cmp"
    varlena_hex "${1}_p" "$2" | cut -c9- | hex_to "$OUT/pglz_$3.raw"
    mkdir -p "$SEEDS" # fuzz input: raw size as 2 little-endian bytes, then the stream
    local raw
    raw=$(stat -c %s "$OUT/pglz_$3.raw")
    printf "%02x%02x" $((raw & 255)) $((raw >> 8)) | xxd -r -p >"$SEEDS/$3"
    tail -c +9 "$OUT/pglz_$3.cmp" >>"$SEEDS/$3"
}
save_pglz zt 1 text_run
save_pglz zt 2 text_md5
save_pglz zt 3 text_words
save_pglz za 1 real_sparse
save_pglz za 2 real_cycle
save_pglz za 3 real_zeros

# ---- (c) numeric values -------------------------------------------------------------------
q >/dev/null <<'SQL'
CREATE TABLE nt (id serial, v numeric);
ALTER TABLE nt ALTER v SET STORAGE PLAIN;
CREATE FUNCTION try_f8(x numeric) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RETURN encode(float8send(x::float8), 'hex');
EXCEPTION WHEN numeric_value_out_of_range THEN
  RETURN 'error';
END $$;
INSERT INTO nt (v) SELECT x::numeric FROM unnest(ARRAY[
  '0', '1', '-1', '0.1', '-0.5', '123.456', '-123.456', '1e-100', '-1e-100', '1e100',
  '1e130', '1e252', '1e256', '1e300', '1e308', '1.7976931348623157e308',
  '1.7976931348623158e308', '1.7976931348623159e308', '1e309', '-1e309', '1e-300',
  '2.2250738585072014e-308', '4.9406564584124654e-324', '2e-324', '3e-324', '1e-400',
  '1e400', 'NaN', 'Infinity', '-Infinity',
  '3.14159265358979323846264338327950288419716939937510582097494459',
  '0.1234567890123456789012345678901234567890', '12345678901234567890123456789',
  '-99999999999999999999.99999', '9007199254740993', '9007199254740995',
  '9007199254740993.000000000000000000001', '0.30000000000000001665', '0.000001',
  '65535.9999', '10000', '9999', '0.0001', '0.00010', '1000000000000000000000',
  '-0.000000000000000000000000000000000000001']) x;
INSERT INTO nt (v) VALUES
  (1.5::numeric(200, 100)), (12.5::numeric(80, 70)), (-7::numeric(40, 30)),
  (repeat('9', 1000)::numeric), (('0.' || repeat('3', 900))::numeric),
  (('9007199254740993.' || repeat('0', 850) || '1')::numeric),
  (('9007199254740993.' || repeat('0', 850))::numeric),
  (('-1.' || repeat('0', 799) || '5')::numeric);
SELECT setseed(0.42);
INSERT INTO nt (v)
  SELECT (trunc(random() * 1e15)::text || 'e' || (trunc(random() * 640) - 320)::int)::numeric
    FROM generate_series(1, 60);
INSERT INTO nt (v)
  SELECT ((CASE WHEN random() < 0.5 THEN '-' ELSE '' END) || trunc(random() * 1e9)::text
          || '.' || lpad(trunc(random() * 1e15)::text, 15, '0')
          || lpad(trunc(random() * 1e15)::text, 15, '0'))::numeric
    FROM generate_series(1, 40);
INSERT INTO nt (v) SELECT (random() * 1000 - 500)::numeric(10, 4) FROM generate_series(1, 20);
CHECKPOINT;
SQL
q -F $'\t' -c "SELECT r.id, encode(substring(h.t_data FROM 5), 'hex'), left(r.v::text, 30), try_f8(r.v)
                 FROM nt r, heap_page_items(get_raw_page('nt', (r.ctid::text::point)[0]::int)) h
                WHERE h.lp = (r.ctid::text::point)[1]::int ORDER BY r.id" \
    >"$OUT/numeric_disk.txt"
q -c "COPY (SELECT v FROM nt ORDER BY id) TO STDOUT (FORMAT binary)" >"$OUT/numeric_copy.bin"

echo "fixtures written to $OUT"
