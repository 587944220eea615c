#!/usr/bin/python3
"""PyTorch as the numerical reference of cerebro-train: the same model, initial weights
and batches, trained for a number of steps; prints the loss of each step, one per line.

usage: torch_oracle.py MODEL.ini WEIGHTS_DIR SHARD_DIR STEPS [THREADS]

WEIGHTS_DIR is `cerebro-train export` of the initial checkpoint; its tensors are matched to
the PyTorch parameters and buffers in layer order (names as trainer/net.c gives them).
Batches are the shard's rows in order (the model file must say shuffle = false), and the
model must have no dropout (the masks differ by design).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import build  # noqa: E402


def our_names(cp):
    names = []
    for i, text in enumerate(t.strip() for t in cp["model"]["layers"].split(",")):
        kind, *args = text.split(":")
        if kind in ("dense", "conv2d"):
            names += ["%d.weight" % i, "%d.bias" % i]
        elif kind == "batchnorm":
            names += ["%d.%s" % (i, t) for t in ("weight", "bias", "running_mean", "running_var")]
        elif kind == "residual":
            subs = ["conv1", "bn1", "conv2", "bn2"]
            out = int(args[0])
            stride = int(args[1]) if len(args) > 1 else 1
            if out != prev_channels(cp, i) or stride != 1:
                subs += ["proj.conv", "proj.bn"]
            for s in subs:
                leaves = ("weight", "bias", "running_mean", "running_var") if "bn" in s \
                    else ("weight", "bias")
                names += ["%d.%s.%s" % (i, s, t) for t in leaves]
    return names


def prev_channels(cp, upto):
    c = int(cp["model"]["input"].split(",")[0])
    for text in [t.strip() for t in cp["model"]["layers"].split(",")][:upto]:
        kind, *args = text.split(":")
        if kind in ("conv2d", "residual", "dense"):
            c = int(args[0])
    return c


def main():
    model_path, wdir, shard, steps = sys.argv[1:5]
    torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    net, loss_fn, cp = build(model_path)
    m, t = cp["model"], cp["train"]
    tensors = [v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]
    names = our_names(cp)
    assert len(names) == len(tensors), (len(names), len(tensors))
    with torch.no_grad():
        for name, dst in zip(names, tensors):
            src = torch.from_numpy(np.load(os.path.join(wdir, name + ".npy")))
            assert src.shape == dst.shape, (name, src.shape, dst.shape)
            dst.copy_(src)
    lr = float(t.get("lr", "0.01"))
    wd = float(t.get("weight_decay", "0"))
    betas = (float(t.get("beta1", "0.9")), float(t.get("beta2", "0.999")))
    eps = float(t.get("eps", "1e-8"))
    kind = t.get("optimizer", "sgd")
    params = net.parameters()
    opt = {"sgd": lambda: torch.optim.SGD(params, lr=lr, weight_decay=wd),
           "momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=float(t.get("momentum", "0.9")),
                                               weight_decay=wd),
           "adam": lambda: torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=wd),
           "adamw": lambda: torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=wd),
           }[kind]()
    x = np.load(os.path.join(shard, m.get("feature", "x") + ".npy")).astype(np.float32)
    y = np.load(os.path.join(shard, m.get("label", "y") + ".npy"))
    shape = [int(d) for d in m["input"].split(",")]
    x = torch.from_numpy(x.reshape([-1] + shape) * np.float32(float(m.get("scale", "1"))))
    y = torch.from_numpy(y.astype(np.int64))
    batch = int(t.get("batch_size", "32"))
    net.train()
    for s in range(int(steps)):
        xb, yb = x[s * batch:(s + 1) * batch], y[s * batch:(s + 1) * batch]
        opt.zero_grad()
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        print("%.9g" % loss.item())


main()
