#!/usr/bin/python3
"""Check a Hyperband job with R = 3, eta = 3 from its results.csv.

usage: check_hyperband.py JOB_DIR

Bracket 0 trains t000..t002 one epoch and promotes the best by validation accuracy (ties: the
lower id) to 3 epochs, the others stop; bracket 1 trains t003 and t004 three epochs.
"""
import csv
import sys

rows = list(csv.DictReader(open(sys.argv[1] + "/results.csv")))
epochs, acc = {}, {}
for r in rows:
    epochs[r["trial"]] = max(epochs.get(r["trial"], 0), int(r["epoch"]))
    if r["epoch"] == "1":
        acc[r["trial"]] = float(r["valid_accuracy"])
assert sorted(epochs) == ["t000", "t001", "t002", "t003", "t004"], epochs
first = ["t000", "t001", "t002"]
best = max(first, key=lambda t: (acc[t], -int(t[1:])))
assert epochs[best] == 3 and all(epochs[t] == 1 for t in first if t != best), (epochs, acc)
assert epochs["t003"] == 3 and epochs["t004"] == 3, epochs
print("ok: promoted %s (accuracy %.4f after epoch 1)" % (best, acc[best]))
