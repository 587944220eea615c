-- Every supported type, NULLs in every column, dropped columns, columns added with
-- defaults, every varlena storage form. Loaded by tests/10-types.bats.
CREATE TABLE types (
    id int,
    b bool, i2 int2, i4 int4, i8 int8, f4 real, f8 float8, n numeric,
    t text, vc varchar(20), bp char(5), by bytea,
    gone int,
    a4 real[], a8 float8[], ai2 int2[], ai4 int4[], ai8 int8[], m2 real[]
);
INSERT INTO types VALUES
 (1, true, 1, 2, 3, 1.5, 2.25, 3.125, 'short', 'vc', 'ab', '\x00ff10', 7,
  '{1.5,2.5}', '{1.5,2.5}', '{1,2}', '{3,4}', '{5,6}', '{{1,2},{3,4}}'),
 (2, false, -32768, -2147483648, -9223372036854775808, '-Infinity', 'NaN', -0.000001, '', '', '', '', 8,
  '{-1,0}', '{1e300,-1e-300}', '{32767,-32768}', '{2147483647,0}', '{9223372036854775807,1}', '{{5,6},{7,8}}'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL),
 (4, true, 32767, 2147483647, 9223372036854775807, 'NaN', '-0', 'NaN', 'üñíçødé ☃', 'x', 'abcde', '\x', 9,
  '{NaN,Infinity}', '{0,-0}', '{0,0}', '{0,0}', '{0,0}', '{{0,0},{0,0}}'),
 (5, false, 0, 0, 0, 3.4028235e38, 1.7976931348623157e308, 123456789012345678901234567890.123456789, 'tab	and
newline', 'y', 'z', '\xdeadbeef', 10,
  '{1,NULL}', '{NULL,2}', '{NULL,1}', '{1,NULL}', '{NULL,NULL}', '{{1,NULL},{3,4}}'),
 (6, true, 5, 5, 5, 1.17549435e-38, 5e-324, 'Infinity', repeat('abc', 1000), 'z', 'q', decode(repeat('00', 3000), 'hex'), 11,
  '{}', '{}', '{}', '{}', '{}', '{}'),
 (7, true, 6, 6, 6, 1e-45, 1e-310, '-Infinity', md5('a') || md5('b') || md5('c') || md5('d') || md5('e') || md5('f'), 'w', 'v', '\x01', 12,
  '{1,2,3}', '{1,2,3}', '{1,2,3}', '{1,2,3}', '{1,2,3}', '{{1,2,3},{4,5,6}}');
ALTER TABLE types DROP COLUMN gone;
INSERT INTO types (id, b, i4, t, a4)
SELECT g, g % 2 = 0, g, 'row ' || g, ARRAY[g, g + 0.5]::real[] FROM generate_series(8, 300) g;
ALTER TABLE types ADD COLUMN d_int int DEFAULT 42;
ALTER TABLE types ADD COLUMN d_text text DEFAULT 'default text';
ALTER TABLE types ADD COLUMN d_arr real[] DEFAULT '{1,2}';
ALTER TABLE types ADD COLUMN d_num numeric DEFAULT 2.5;
ALTER TABLE types ADD COLUMN d_null int;
INSERT INTO types (id, d_int, d_text, d_arr, d_num, d_null) VALUES (301, 7, 'set', '{3,4}', 1, 1), (302, NULL, NULL, NULL, NULL, NULL);

-- Varlena storage forms.
CREATE TABLE storage (id int, pglz_inline text, lz4_inline text COMPRESSION lz4,
                      ext_plain text, ext_pglz text, ext_lz4 text COMPRESSION lz4,
                      big_arr real[], small_arr real[], ragged int4[]);
ALTER TABLE storage ALTER COLUMN ext_plain SET STORAGE EXTERNAL;
INSERT INTO storage
SELECT g,
       repeat('pglz' || g, 800),
       repeat('lz4-' || g, 800),
       (SELECT string_agg(md5((g * 1000 + k)::text), '') FROM generate_series(1, 150) k),
       (SELECT string_agg(repeat(md5((g * 1000 + k)::text), 3), '') FROM generate_series(1, 400) k),
       (SELECT string_agg(repeat(md5((g * 1000 + k)::text), 3), '') FROM generate_series(1, 400) k),
       (SELECT array_agg(CASE WHEN k % 7 = 0 THEN k::real ELSE 0 END) FROM generate_series(1, 784) k),
       ARRAY[g::real, 0.5],
       (SELECT array_agg(k) FROM generate_series(1, g % 5) k)
FROM generate_series(1, 40) g;

-- Fixed-shape arrays (N, 2, 3) with NULL rows and NULL elements.
CREATE TABLE grid (id int, g real[], h int8[]);
INSERT INTO grid
SELECT k, CASE WHEN k % 5 = 0 THEN NULL ELSE ARRAY[[k, k + 1, k + 2], [k + 3, NULL, k + 5]]::real[] END,
       ARRAY[k, -k]
FROM generate_series(1, 50) k;

-- Only fixed-width columns: the export's fast path (every attribute at a fixed offset in a
-- tuple without NULL), beside tuples it must leave to the full deform: NULLs, tuples from
-- before a column was added (its default), a dropped column's bytes.
CREATE TABLE fixedw (a int4, e float8, f bool, gone int2, h int8, s int2);
INSERT INTO fixedw SELECT g, g * 0.5, g % 2 = 0, g % 7, g::int8 << 33, (g % 300)::int2
FROM generate_series(1, 400) g;
INSERT INTO fixedw VALUES (NULL, 1.5, true, 1, 7, 3), (5, NULL, NULL, NULL, 9, NULL);
ALTER TABLE fixedw DROP COLUMN gone;
ALTER TABLE fixedw ADD COLUMN d int4 DEFAULT -42;
INSERT INTO fixedw SELECT -g, -g * 0.25, true, -g, -1, g FROM generate_series(1, 300) g;
