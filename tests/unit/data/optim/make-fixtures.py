#!/usr/bin/python3
# make-fixtures.py: regenerate the optimizer fixtures of tests/unit/test_optim.c with PyTorch.
#
# Needs Debian's python3-torch (1.13) and numpy; the unit tests themselves do not.
# Run from anywhere:  /usr/bin/python3 tests/unit/data/optim/make-fixtures.py
# Writes, next to this script:
#   params0.npy  float32 [52]      initial parameters: "w" = [0:40] (shape 8x5), "b" = [40:52]
#   grads.npy    float32 [20, 52]  the gradient of each of the 20 steps
#   <case>.npy   float32 [20, 52]  torch's parameters after each step, for each case below
# The cases must match the table in test_optim.c.
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS, NW, NB = 20, 40, 12

CASES = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1, foreach=False),
    "sgd_wd": lambda ps: torch.optim.SGD(ps, lr=0.05, weight_decay=0.01, foreach=False),
    "momentum": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, foreach=False),
    "nesterov_wd": lambda ps: torch.optim.SGD(ps, lr=0.03, momentum=0.8, nesterov=True,
                                              weight_decay=1e-3, foreach=False),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8,
                                        foreach=False),
    "adam_wd": lambda ps: torch.optim.Adam(ps, lr=3e-3, betas=(0.8, 0.99), eps=1e-6,
                                           weight_decay=0.1, foreach=False),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8,
                                          weight_decay=0.01, foreach=False),
}


def main():
    rng = np.random.default_rng(20240501)
    p0 = rng.standard_normal(NW + NB).astype(np.float32)
    scale = np.exp(rng.uniform(-6, 2, size=(STEPS, 1))).astype(np.float32)
    grads = (rng.standard_normal((STEPS, NW + NB)) * scale).astype(np.float32)
    grads[3, 5] = 0.0  # exact zeros exercise eps
    grads[:, 7] = 0.0
    np.save(os.path.join(HERE, "params0.npy"), p0)
    np.save(os.path.join(HERE, "grads.npy"), grads)
    torch.set_num_threads(1)
    for name, make in CASES.items():
        w = torch.tensor(p0[:NW].reshape(8, 5).copy(), requires_grad=True)
        b = torch.tensor(p0[NW:].copy(), requires_grad=True)
        opt = make([w, b])
        out = np.zeros((STEPS, NW + NB), dtype=np.float32)
        for s in range(STEPS):
            w.grad = torch.tensor(grads[s, :NW].reshape(8, 5).copy())
            b.grad = torch.tensor(grads[s, NW:].copy())
            opt.step()
            out[s, :NW] = w.detach().numpy().reshape(-1)
            out[s, NW:] = b.detach().numpy()
        np.save(os.path.join(HERE, name + ".npy"), out)
    print("torch", torch.__version__, "wrote", len(CASES), "cases to", HERE)


if __name__ == "__main__":
    main()
