#!/usr/bin/python3
"""PyTorch as the numerical reference of cerebro-train: the same model, initial weights
and batches, trained for a number of steps; prints the loss of each step, one per line.

usage: torch_oracle.py MODEL.ini WEIGHTS_DIR SHARD_DIR STEPS [THREADS [EPOCH]]

WEIGHTS_DIR is `cerebro-train export` of the initial checkpoint; its tensors are matched to
the PyTorch parameters and buffers in layer order (names as trainer/net.c gives them).
Batches are the shard's rows in order, or in the trainer's order for EPOCH (default 0) when
the model file says shuffle = true (cd_rng.py), cropped and flipped as its augment_* keys say
(NumPy, by the trainer's draws); the model must have no dropout (the masks differ by design).
The lr follows the file's lr_schedule through torch.optim.lr_scheduler (LinearLR warm-up,
StepLR, CosineAnnealingLR, chained by SequentialLR), stepped after every optimizer step.
"""
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import build  # noqa: E402
import cd_rng  # noqa: E402


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


def scheduler(opt, t):
    """The lr schedule of [train] t, or None for a constant lr without warm-up."""
    from torch.optim import lr_scheduler as L
    kind = t.get("lr_schedule", "constant")
    warmup = int(t.get("lr_warmup_steps", "0"))
    factor = float(t.get("lr_warmup_start_factor", str(1 / 3)))
    main = None
    if kind == "step":
        main = L.StepLR(opt, int(t["lr_step_size"]), float(t.get("lr_gamma", "0.1")))
    elif kind == "cosine":
        main = L.CosineAnnealingLR(opt, int(t["lr_total_steps"]) - warmup,
                                   float(t.get("lr_min", "0")))
    if not warmup:
        return main
    warm = L.LinearLR(opt, start_factor=factor, total_iters=warmup)
    return L.SequentialLR(opt, [warm, main], [warmup]) if main else warm


def batches(x, y, cp, shard, epoch):
    """x, y in the trainer's row order for the epoch, augmented as the file says."""
    m, t = cp["model"], cp["train"]
    name = os.path.basename(os.path.normpath(shard))
    seed = int(t.get("seed", "1"))
    order = np.arange(len(y))
    if t.get("shuffle", "true") == "true":
        order = cd_rng.permutation(seed, epoch, name, len(y))
    x, y = x[order], y[order]
    pad = int(t.get("augment_crop_pad", "0"))
    flip = t.get("augment_hflip", "false") == "true"
    if pad or flip:
        dy, dx, fl = cd_rng.draws(seed, epoch, name, order, pad, flip)
        x = cd_rng.augment(x, dy, dx, fl, pad)
    return x, y


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
    x, y = batches(x.reshape([-1] + shape) * np.float32(float(m.get("scale", "1"))), y, cp, shard,
                   int(sys.argv[6]) if len(sys.argv) > 6 else 0)
    x = torch.from_numpy(np.ascontiguousarray(x))
    y = torch.from_numpy(y.astype(np.int64))
    batch = int(t.get("batch_size", "32"))
    warnings.simplefilter("ignore")  # SequentialLR steps its schedulers with an epoch argument
    sched = scheduler(opt, t)
    net.train()
    for s in range(int(steps)):
        xb, yb = x[s * batch:(s + 1) * batch], y[s * batch:(s + 1) * batch]
        opt.zero_grad()
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        print("%.9g" % loss.item())


main()
