#!/usr/bin/python3
"""The PyTorch model of a cerebro-train model file: the numerical reference of the trainer.

usage: torch_model.py MODEL.ini        prints "params=N" (and one line per layer)

build(path) returns (torch.nn.Sequential, loss_fn, config) with the same layers, shapes and
parameter counts as trainer/model.c: dense = Linear, conv2d = Conv2d(k, stride, pad),
maxpool/avgpool = MaxPool2d/AvgPool2d(k, stride, pad), gavgpool = AdaptiveAvgPool2d(1) +
Flatten, batchnorm = BatchNorm1d/2d (eps 1e-5, momentum 0.1), relu, dropout, flatten,
residual = conv3x3(stride)-bn-relu-conv3x3-bn + (identity | conv1x1(stride)-bn), relu.
"""
import configparser
import sys

import torch
from torch import nn


class Residual(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout))
        self.proj = None
        if cin != cout or stride != 1:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0), nn.BatchNorm2d(cout))

    def forward(self, x):
        return torch.relu(self.body(x) + (self.proj(x) if self.proj is not None else x))


def _ints(args):
    return [int(a) for a in args]


def build(path):
    cp = configparser.ConfigParser(inline_comment_prefixes=None)
    cp.read(path)
    m = cp["model"]
    shape = _ints(m["input"].replace(" ", "").split(","))
    layers = []
    for text in [t.strip() for t in m["layers"].split(",")]:
        name, *args = text.split(":")
        if name == "dense":
            layers.append(nn.Linear(shape[0], int(args[0])))
            shape = [int(args[0])]
        elif name in ("conv2d", "maxpool", "avgpool"):
            if name == "conv2d":
                out, k, *rest = _ints(args)
                s, p = (rest + [1, 0][len(rest):])[:2]
                layers.append(nn.Conv2d(shape[0], out, k, s, p))
            else:
                k, *rest = _ints(args)
                s, p = (rest + [k, 0][len(rest):])[:2]
                out = shape[0]
                layers.append((nn.MaxPool2d if name == "maxpool" else nn.AvgPool2d)(k, s, p))
            shape = [out] + [(d + 2 * p - k) // s + 1 for d in shape[1:]]
        elif name == "gavgpool":
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            shape = [shape[0]]
        elif name == "batchnorm":
            layers.append((nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(shape[0]))
        elif name == "relu":
            layers.append(nn.ReLU())
        elif name == "dropout":
            layers.append(nn.Dropout(float(args[0])))
        elif name == "flatten":
            layers.append(nn.Flatten())
            n = 1
            for d in shape:
                n *= d
            shape = [n]
        elif name == "residual":
            out, *rest = _ints(args)
            s = rest[0] if rest else 1
            layers.append(Residual(shape[0], out, s))
            shape = [out] + [(d + 2 - 3) // s + 1 for d in shape[1:]]
        else:
            raise SystemExit("unknown layer %s" % name)
    loss = {"softmax_xent": nn.CrossEntropyLoss(), "sigmoid_bce": nn.BCEWithLogitsLoss(),
            "mse": nn.MSELoss()}[m.get("loss", "softmax_xent")]
    return nn.Sequential(*layers), loss, cp


if __name__ == "__main__":
    net, _, _ = build(sys.argv[1])
    print("params=%d" % sum(p.numel() for p in net.parameters()))
