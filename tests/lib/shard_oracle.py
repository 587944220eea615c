#!/usr/bin/python3
"""shard_oracle.py SHARD_DIR JSON: compare a shard directory of the mount layout with rows
that PostgreSQL returned, as a JSON array of objects (json_agg(... ORDER BY ctid)) in a
file. Columns compared: every key of the objects; fixed-width columns from <col>.npy,
text/bytea from <col>.bin + <col>.offsets.npy. Prints "rows=N columns=K" and exits 0 when
every value is equal, else prints the first differences and exits 1.
"""
import json
import os
import sys

import numpy as np


def column(shard, name):
    """The column's values, None where <name>.valid.npy says NULL."""
    npy = os.path.join(shard, name + ".npy")
    if os.path.exists(npy):
        values = list(np.load(npy))
    else:
        data = open(os.path.join(shard, name + ".bin"), "rb").read()
        off = np.load(os.path.join(shard, name + ".offsets.npy"))
        values = [data[off[i]:off[i + 1]].decode() for i in range(len(off) - 1)]
    valid = os.path.join(shard, name + ".valid.npy")
    if os.path.exists(valid):
        values = [v if ok else None for v, ok in zip(values, np.load(valid))]
    return values


def main():
    shard, path = sys.argv[1], sys.argv[2]
    rows = json.load(open(path)) or []
    names = list(rows[0].keys()) if rows else []
    bad = 0
    for name in names:
        got = column(shard, name)
        if len(got) != len(rows):
            print(f"{name}: {len(got)} rows in the mount, {len(rows)} in PostgreSQL")
            bad += 1
            continue
        for i, row in enumerate(rows):
            want = row[name]
            have = got[i]
            if have is None or want is None:
                same = have is None and want is None
            elif isinstance(have, np.ndarray):
                same = np.array_equal(have, np.asarray(want, dtype=have.dtype))
            elif isinstance(have, str):
                same = have == want
            else:
                same = have == np.asarray(want, dtype=have.dtype)
            if not same:
                print(f"{name} row {i}: mount {have!r}, PostgreSQL {want!r}")
                bad += 1
                if bad > 10:
                    return 1
    print(f"rows={len(rows)} columns={len(names)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
