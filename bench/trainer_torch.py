#!/usr/bin/python3
"""PyTorch's training throughput on the data cerebro-train uses: the peer of bench/trainer.sh.

usage: trainer_torch.py MODEL.ini SHARD_DIR THREADS   prints "samples_per_s=N"
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from torch_model import build  # noqa: E402

model, shard, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
net, loss_fn, cp = build(model)
m, t = cp["model"], cp["train"]
shape = [int(d) for d in m["input"].split(",")]
x = np.load(os.path.join(shard, m.get("feature", "x") + ".npy"), mmap_mode="r")
y = np.load(os.path.join(shard, m.get("label", "y") + ".npy"))
scale = np.float32(float(m.get("scale", "1")))
batch = int(t.get("batch_size", "32"))
# the optimizer of the model file, as tests/lib/torch_oracle.py (the numerical reference)
lr, wd = float(t.get("lr", "0.01")), float(t.get("weight_decay", "0"))
kind = t.get("optimizer", "sgd")
betas = (float(t.get("beta1", "0.9")), float(t.get("beta2", "0.999")))
eps = float(t.get("eps", "1e-8"))
opt = {"sgd": lambda p: torch.optim.SGD(p, lr=lr, weight_decay=wd),
       "momentum": lambda p: torch.optim.SGD(p, lr=lr, momentum=float(t.get("momentum", "0.9")),
                                             weight_decay=wd),
       "adam": lambda p: torch.optim.Adam(p, lr=lr, betas=betas, eps=eps, weight_decay=wd),
       "adamw": lambda p: torch.optim.AdamW(p, lr=lr, betas=betas, eps=eps, weight_decay=wd),
       }[kind](net.parameters())
net.train()
start = time.monotonic()
rows = 0
for s in range(0, len(y), batch):
    # the same work as cerebro-train: read, convert and scale the batch, then train on it
    xb = torch.from_numpy(np.asarray(x[s:s + batch], dtype=np.float32).reshape([-1] + shape) * scale)
    yb = torch.from_numpy(y[s:s + batch].astype(np.int64))
    opt.zero_grad()
    loss_fn(net(xb), yb).backward()
    opt.step()
    rows += len(yb)
print("samples_per_s=%.1f" % (rows / (time.monotonic() - start)))
