#!/usr/bin/python3
"""Check the invariants of a cerebro-sched job from its schedule.csv and journal.

usage: check_schedule.py JOB_DIR NSHARDS EPOCHS_PER_TRIAL|-

  - a model trains on at most one worker at a time (its units, failed ones too, never overlap)
  - a worker runs at most one unit at a time
  - in every epoch each model visits each shard exactly once (successful units)
  - a model's epochs are in order (epoch e + 1 starts after epoch e's last unit ended)
  - validation of (model, epoch) is journaled after every unit of that epoch
  - with EPOCHS_PER_TRIAL, every trial trained exactly that many epochs
Prints a summary line; exits 1 with the first violation.
"""
import csv
import os
import sys
from collections import defaultdict

job, nshards = sys.argv[1], int(sys.argv[2])
want_epochs = None if sys.argv[3] == "-" else int(sys.argv[3])


def fail(msg):
    print("violation: " + msg)
    sys.exit(1)


rows = list(csv.DictReader(open(os.path.join(job, "schedule.csv"))))
for r in rows:
    r["start"], r["end"], r["epoch"] = float(r["start"]), float(r["end"]), int(r["epoch"])


def no_overlap(key, what):
    by = defaultdict(list)
    for r in rows:
        by[r[key]].append((r["start"], r["end"], r["unit"]))
    for k, iv in by.items():
        iv.sort()
        for a, b in zip(iv, iv[1:]):
            if b[0] < a[1] - 1e-6:
                fail("%s %s runs units %s and %s at once" % (what, k, a[2], b[2]))


no_overlap("model", "model")
no_overlap("worker", "worker")
ok = [r for r in rows if r["outcome"] == "ok"]
visits = defaultdict(list)
for r in ok:
    visits[(r["model"], r["epoch"])].append(r)
epochs = defaultdict(int)
for (m, e), units in visits.items():
    shards = sorted(u["shard"] for u in units)
    if len(shards) != nshards or len(set(shards)) != nshards:
        fail("model %s epoch %d visited %s" % (m, e, shards))
    epochs[m] = max(epochs[m], e)
for (m, e), units in visits.items():
    if (m, e + 1) in visits:
        end = max(u["end"] for u in units)
        start = min(u["start"] for u in visits[(m, e + 1)])
        if start < end - 1e-6:
            fail("model %s started epoch %d before epoch %d ended" % (m, e + 1, e))
seen = defaultdict(int)
for line in open(os.path.join(job, "journal")).read().splitlines()[1:]:
    f = line.split("\t")
    if f[0] == "unit":
        seen[("t%03d" % int(f[1]), int(f[2]))] += 1
    elif f[0] == "valid" and seen[("t%03d" % int(f[1]), int(f[2]))] != nshards:
        fail("t%03d epoch %s validated before its %d units" % (int(f[1]), f[2], nshards))
if want_epochs is not None:
    for m, e in epochs.items():
        if e != want_epochs:
            fail("model %s trained %d epochs, not %d" % (m, e, want_epochs))
print("ok: %d units (%d failed), %d models, %d workers" % (
    len(rows), len(rows) - len(ok), len(epochs), len({r["worker"] for r in rows})))
