#!/usr/bin/python3
"""Compare an exported shard directory with PostgreSQL's own output.

usage: oracle.py CONNINFO RELATION SHARD_DIR [WHERE]

Reads every column file of SHARD_DIR with numpy (np.load, mmap_mode='r') and compares it,
row by row in ctid order, with `SELECT row_to_json(...)` of the same relation. Floats are
compared exactly (PostgreSQL prints shortest round-trip digits), NaN equals NaN, numeric is
compared as float(text). Prints the first differences and `rows=N mismatches=M`; exit 1 on
any mismatch.
"""
import json, math, os, subprocess, sys
from urllib.parse import unquote
import numpy as np

def rows(conninfo, rel, cols, where):
    sel = ", ".join('"%s"' % c.replace('"', '""') for c in cols)
    sql = ("COPY (SELECT row_to_json(q) FROM (SELECT %s FROM ONLY %s %s ORDER BY ctid) q) "
           "TO STDOUT" % (sel, rel, where))
    out = subprocess.run(["psql", "-X", "-q", "-At", "-d", conninfo, "-c", sql],
                         check=True, capture_output=True).stdout
    for line in out.decode().splitlines():
        # COPY text escapes backslashes; row_to_json output has none besides escapes
        yield json.loads(line.replace("\\\\", "\\"),
                         parse_int=lambda s: float(s) if s == "-0" else int(s))

def pgfloat(v, dt):
    if isinstance(v, str):
        v = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}[v]
    return dt(v)

def same_float(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)

def flat(v):
    if isinstance(v, list):
        for x in v:
            yield from flat(x)
    else:
        yield v

def load_col(d, c):
    p = os.path.join(d, c)
    valid = np.load(p + ".valid.npy") if os.path.exists(p + ".valid.npy") else None
    if os.path.exists(p + ".npy"):
        return ("npy", np.load(p + ".npy", mmap_mode="r"), valid)
    data = open(p + ".bin", "rb").read()
    return ("bin", (data, np.load(p + ".offsets.npy")), valid)

def check(kind, arr, valid, i, v, typ):
    if v is None:
        if valid is None or valid[i]:
            return "NULL expected"
        if kind == "bin":
            data, off = arr
            return None if off[i] == off[i + 1] else "NULL row has a payload"
        return None
    if valid is not None and not valid[i]:
        return "value marked NULL"
    if kind == "bin":
        data, off = arr
        got = data[off[i]:off[i + 1]]
        if typ == "bytea":
            want = bytes.fromhex(v[2:])
        elif isinstance(v, list):
            fill = float("nan") if typ[1] == "f" else 0
            want = np.array([fill if x is None else x for x in flat(v)]).astype(typ).tobytes()
        else:
            want = v.encode()
        return None if got == want else "bytes differ"
    row = arr[i]
    dt = arr.dtype
    if dt == np.bool_:
        return None if bool(row) == v else "bool differs"
    vals = list(flat(v)) if isinstance(v, list) else [v]
    got = np.asarray(row).reshape(-1)
    if len(vals) != got.size:
        return "size differs"
    for g, w in zip(got, vals):
        if dt.kind == "f":
            w = float("nan") if w is None else w
            if not same_float(float(g), float(pgfloat(w, dt.type))):
                return "float differs: %r vs %r" % (g, w)
        elif int(g) != (0 if w is None else int(w)):
            return "int differs: %r vs %r" % (g, w)
    return None

def main():
    conninfo, rel, d = sys.argv[1:4]
    where = sys.argv[4] if len(sys.argv) > 4 else ""
    meta = open(os.path.join(d, "meta")).read()
    cols, types, fnames = [], {}, {}
    cur = None
    for line in meta.splitlines():
        if line.startswith("[column "):
            cur = unquote(line[8:-1])  # names in meta are %XX-escaped (fsname.h)
            cols.append(cur)
        elif cur and line.startswith("type = "):
            types[cur] = unquote(line[7:])
        elif cur and line.startswith("file = "):
            fnames[cur] = line[7:].rsplit(".", 1)[0]
    files = {c: load_col(d, fnames[c]) for c in cols}
    n = mism = 0
    for i, r in enumerate(rows(conninfo, rel, cols, where)):
        n += 1
        for c in cols:
            kind, arr, valid = files[c]
            typ = types[c]
            t = {"real[]": "<f4", "double precision[]": "<f8", "smallint[]": "<i2",
                 "integer[]": "<i4", "bigint[]": "<i8"}.get(typ, typ)
            try:
                why = check(kind, arr, valid, i, r[c], t)
            except IndexError:
                why = "row missing in export"
            if why:
                mism += 1
                if mism <= 20:
                    print("row %d column %s: %s (pg: %r)" % (i, c, why, r[c])[:300])
    for c in cols:
        kind, arr, valid = files[c]
        total = len(arr[1]) - 1 if kind == "bin" else arr.shape[0]
        if total != n:
            mism += 1
            print("column %s has %d rows, the database %d" % (c, total, n))
    print("rows=%d mismatches=%d" % (n, mism))
    sys.exit(1 if mism else 0)

main()
