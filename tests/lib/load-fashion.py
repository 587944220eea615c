#!/usr/bin/python3
"""load-fashion.py: load Fashion-MNIST into a PostgreSQL table (id int, x real[], y int).

Reads the idx files of the Debian package dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz) with
NumPy and sends one transaction (CREATE TABLE, then COPY ... FROM STDIN in text format)
through psql. Without --conninfo the same SQL script is written to stdout instead, for
`load-fashion.py ... | psql`.

Rows: id is the 0-based index of the image in the split, x the 784 pixel values (row-major
28x28, 0..255) as real, y the label 0..9. --partitions K makes the table
PARTITION BY HASH (id) with partitions NAME_p0 .. NAME_p{K-1}.

Does not: normalise pixels, shuffle, or load anything but Fashion-MNIST.
"""

import argparse
import gzip
import os
import re
import subprocess
import sys

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {"train": "train", "test": "t10k"}
BATCH = 2000  # rows per write to psql


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", choices=sorted(FILES), default="train")
    p.add_argument("--table", default="fashion", help="table name (default fashion)")
    p.add_argument("--partitions", type=int, default=0, metavar="K",
                   help="hash-partition on id into K partitions (0: plain table)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="first N rows only")
    p.add_argument("--conninfo", help="libpq conninfo; without it the SQL goes to stdout")
    p.add_argument("--replace", action="store_true", help="drop the table first")
    p.add_argument("--compression", choices=["pglz", "lz4"],
                   help="default_toast_compression for the load")
    p.add_argument("--data-dir", default=DATA_DIR)
    p.add_argument("--psql", default=os.path.join(
        os.environ.get("CD_PG_BINDIR", "/usr/lib/postgresql/15/bin"), "psql"))
    a = p.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", a.table):
        p.error("--table must be a plain (optionally schema-qualified) identifier")
    if a.partitions < 0 or (a.limit is not None and a.limit < 0):
        p.error("--partitions and --limit must not be negative")
    return a


def read_idx(path, ndim):
    """An idx file of unsigned bytes as a NumPy array with ndim dimensions."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0:2] != b"\0\0" or data[2] != 0x08 or data[3] != ndim:
        raise ValueError(f"{path}: not an idx file of {ndim}-d unsigned bytes")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {arr.size} bytes of data, header says {dims}")
    return arr.reshape(dims)


def load_split(a):
    stem = FILES[a.split]
    x = read_idx(os.path.join(a.data_dir, f"{stem}-images-idx3-ubyte.gz"), 3)
    y = read_idx(os.path.join(a.data_dir, f"{stem}-labels-idx1-ubyte.gz"), 1)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    n = len(x) if a.limit is None else min(a.limit, len(x))
    return x[:n].reshape(n, -1), y[:n]


def ddl(a):
    """The statements before the COPY."""
    t = a.table
    out = ["BEGIN;"]
    if a.compression:
        out.append(f"SET LOCAL default_toast_compression = {a.compression};")
    if a.replace:
        out.append(f"DROP TABLE IF EXISTS {t};")
    if a.partitions > 0:
        out.append(f"CREATE TABLE {t} (id int, x real[], y int) PARTITION BY HASH (id);")
        for i in range(a.partitions):
            out.append(f"CREATE TABLE {t}_p{i} PARTITION OF {t} "
                       f"FOR VALUES WITH (MODULUS {a.partitions}, REMAINDER {i});")
    else:
        out.append(f"CREATE TABLE {t} (id int, x real[], y int);")
    out.append(f"COPY {t} (id, x, y) FROM STDIN;")
    return "\n".join(out) + "\n"


def copy_rows(x, y, write):
    """COPY text rows: id TAB {p0,p1,...} TAB label, BATCH rows per write."""
    num = [str(i) for i in range(256)]
    lookup = num.__getitem__
    for start in range(0, len(x), BATCH):
        lines = []
        for i in range(start, min(start + BATCH, len(x))):
            pixels = ",".join(map(lookup, x[i].tobytes()))
            lines.append(f"{i}\t{{{pixels}}}\t{y[i]}\n")
        write("".join(lines).encode())


def main(argv):
    a = parse_args(argv)
    x, y = load_split(a)
    if a.conninfo:
        psql = subprocess.Popen([a.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                 "-d", a.conninfo, "-f", "-"], stdin=subprocess.PIPE)
        out = psql.stdin
    else:
        psql, out = None, sys.stdout.buffer
    try:
        out.write(ddl(a).encode())
        copy_rows(x, y, out.write)
        out.write(b"\\.\nCOMMIT;\n")
        out.close()
    except BrokenPipeError:
        pass  # psql stopped reading: it has reported the error
    if psql is not None and psql.wait() != 0:
        print(f"load-fashion.py: psql failed loading {a.table}", file=sys.stderr)
        return 1
    if psql is not None:
        print(f"load-fashion.py: {len(x)} rows of {a.split} into {a.table}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
