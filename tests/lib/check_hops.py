#!/usr/bin/python3
"""Check the bytes every hop of a model_store = copy job moved (schedule.csv bytes_in,
bytes_out) against the files it moved.

usage: check_hops.py JOB_DIR

For every successful unit, with OVERHEAD = 56 bytes of framing per stream (common/xfer.h:
magic, three frame headers and CRCs, the end frame):
  bytes_in  = OVERHEAD + the trial's model file (models/tNNN.ini) + its input checkpoint
              (init.ckpt for the trial's first unit, else a trained checkpoint, all of which
              have the size of the trial's last one)
  bytes_out = OVERHEAD + the unit's result line (its logs/*.json) + its output checkpoint
A failed unit still counts the request it was sent. Prints the sizes seen; exits 1 with the
first mismatch.
"""
import csv
import glob
import os
import re
import sys
from collections import defaultdict

OVERHEAD = 56
job = sys.argv[1]


def fail(msg):
    print("mismatch: " + msg)
    sys.exit(1)


def size(path):
    return os.path.getsize(os.path.join(job, path))


rows = list(csv.DictReader(open(os.path.join(job, "schedule.csv"))))
shards = sorted({r["shard"] for r in rows}, key=lambda s: [int(t) if t.isdigit() else t
                                                           for t in re.split(r"(\d+)", s)])
ok = sorted((r for r in rows if r["outcome"] == "ok"), key=lambda r: float(r["start"]))
first = {}
trained = {}
for t in {r["model"] for r in rows}:
    last = sorted(glob.glob(os.path.join(job, "ckpt", t, "e*-*.ckpt")))
    trained[t] = os.path.getsize(last[-1])
seen_in, seen_out = defaultdict(int), defaultdict(int)
for r in ok:
    t, e, s = r["model"], int(r["epoch"]), shards.index(r["shard"])
    ckpt_in = size("ckpt/%s/init.ckpt" % t) if t not in first else trained[t]
    first[t] = True
    logs = glob.glob(os.path.join(job, "logs", "*-%s-e%d-s%d.json" % (t, e, s)))
    if len(logs) != 1:
        fail("unit %s: %d result logs for %s epoch %d shard %d" % (r["unit"], len(logs), t, e, s))
    want_in = OVERHEAD + size("models/%s.ini" % t) + ckpt_in
    want_out = OVERHEAD + os.path.getsize(logs[0]) + trained[t]
    got_in, got_out = int(r["bytes_in"]), int(r["bytes_out"])
    if (got_in, got_out) != (want_in, want_out):
        fail("unit %s (%s epoch %d shard %s): bytes_in %d bytes_out %d, expected %d and %d" % (
            r["unit"], t, e, r["shard"], got_in, got_out, want_in, want_out))
    seen_in[got_in] += 1
    seen_out[got_out] += 1
for r in rows:
    if r["outcome"] != "ok" and int(r["bytes_in"]) <= OVERHEAD:
        fail("failed unit %s sent no request (bytes_in %s)" % (r["unit"], r["bytes_in"]))
print("ok: %d hops; bytes_in %s; bytes_out %s" % (
    len(ok), dict(sorted(seen_in.items())), "%d..%d" % (min(seen_out), max(seen_out))))
