#!/usr/bin/python3
"""ops_oracle.py: regenerate the PyTorch fixtures of test_ops_torch.c.

Writes tests/unit/data/ops/<case>.bin, each a sequence of tensors stored as
[int32 element count][float32 elements], little endian, in the order test_ops_torch.c reads
them. Inputs are float32; torch computes in float64 from them and the results are stored as
float32. Run from the repository root with Debian's torch: /usr/bin/python3
tests/unit/ops_oracle.py (fixtures are committed, so the unit tests do not need torch).
"""
import os
import struct

import torch
import torch.nn.functional as F

OUT = "tests/unit/data/ops"


def write(name, tensors):
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        for t in tensors:
            a = t.detach().to(torch.float32).contiguous().reshape(-1)
            f.write(struct.pack("<i", a.numel()))
            f.write(struct.pack("<%df" % a.numel(), *a.tolist()))


def f32(t):
    """t rounded to float32, so that the stored inputs are exactly what torch used."""
    return t.float().double()


def rand(*shape):
    return f32(torch.rand(*shape, dtype=torch.float64) * 2 - 1)


def leaf(t):
    return t.clone().requires_grad_(True)


def conv(name, kh, kw, stride, pad):
    x, w, b = rand(2, 3, 5, 5), rand(4, 3, kh, kw), rand(4)
    xl, wl, bl = leaf(x), leaf(w), leaf(b)
    y = F.conv2d(xl, wl, bl, stride=stride, padding=pad)
    dy = rand(*y.shape)
    y.backward(dy)
    write(name, [x, w, b, dy, y, xl.grad, wl.grad, bl.grad])


def maxpool(name, k, stride, pad):
    x = rand(2, 3, 5, 5)
    xl = leaf(x)
    y = F.max_pool2d(xl, k, stride, pad)
    dy = rand(*y.shape)
    y.backward(dy)
    write(name, [x, dy, y, xl.grad])


def batchnorm(name, shape, train):
    c = shape[1]
    x = f32(rand(*shape) * 2 + 0.5)
    g, b, rm = rand(c), rand(c), rand(c)
    rv = f32(rand(c) * 0.4 + 0.6)
    xl, gl, bl = leaf(x), leaf(g), leaf(b)
    rm2, rv2 = rm.clone(), rv.clone()
    y = F.batch_norm(xl, rm2, rv2, gl, bl, training=train, momentum=0.1, eps=1e-5)
    dy = rand(*shape)
    y.backward(dy)
    write(name, [x, g, b, rm, rv, dy, y, xl.grad, gl.grad, bl.grad, rm2, rv2])


def xent(name, batch, classes):
    z = f32(rand(batch, classes) * 3)
    labels = torch.randint(0, classes, (batch,))
    zl = leaf(z)
    loss = F.cross_entropy(zl, labels)
    loss.backward()
    write(name, [z, labels.double(), loss.reshape(1), zl.grad])


def main():
    torch.manual_seed(20261122)
    os.makedirs(OUT, exist_ok=True)
    conv("conv_k3s1p0", 3, 3, 1, 0)
    conv("conv_k3x2s2p1", 3, 2, 2, 1)
    maxpool("maxpool_k2s2p0", 2, 2, 0)
    maxpool("maxpool_k3s2p1", 3, 2, 1)
    batchnorm("bn2d_train", (3, 2, 5, 5), True)
    batchnorm("bn2d_eval", (3, 2, 5, 5), False)
    batchnorm("bn1d_train", (4, 3), True)
    batchnorm("bn1d_eval", (4, 3), False)
    xent("xent_4x5", 4, 5)
    conv("conv_k3s1p1", 3, 3, 1, 1)  # last, so the earlier fixtures keep their random draws


if __name__ == "__main__":
    main()
