"""The trainer's counter-based random streams, written again in Python from their
specifications (trainer/data.h: shuffling; trainer/augment.h: crop and flip draws), so that
tests can feed PyTorch and NumPy the very batches cerebro-train trains on.

    permutation(seed, epoch, shard_name, n)   row order of a shard in an epoch
    draws(seed, epoch, shard_name, rows, pad)  (dy, dx, flip) per row index
    augment(x, dy, dx, flip, pad)              x[n, C, H, W] cropped and flipped (NumPy)
"""
import numpy as np

MASK = (1 << 64) - 1
FNV_OFFSET = 0xCBF29CE484222325
AUGMENT_SALT = 0x6175676D656E7421  # "augment!"


def splitmix64(state):
    """(next state, output) of one cd_splitmix64 call."""
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def mix(t):
    return splitmix64(t)[1]


def fnv1a(s, h=FNV_OFFSET):
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def permutation(seed, epoch, shard_name, n):
    state = seed ^ mix(epoch) ^ fnv1a(shard_name)
    perm = list(range(n))
    for i in range(n, 1, -1):  # Fisher-Yates
        state, r = splitmix64(state)
        j = r % i
        perm[i - 1], perm[j] = perm[j], perm[i - 1]
    return np.array(perm, dtype=np.int64)


def draw(seed, epoch, shard_name, row, pad, hflip=True):
    h = mix(seed ^ AUGMENT_SALT)
    h = mix(h ^ epoch)
    h = mix(h ^ fnv1a(shard_name))
    h = mix(h ^ row)
    h, r0 = splitmix64(h)
    h, r1 = splitmix64(h)
    h, r2 = splitmix64(h)
    span = 2 * pad + 1
    return r0 % span, r1 % span, bool(hflip and (r2 >> 63))


def draws(seed, epoch, shard_name, rows, pad, hflip=True):
    d = [draw(seed, epoch, shard_name, int(r), pad, hflip) for r in rows]
    return (np.array([t[0] for t in d]), np.array([t[1] for t in d]),
            np.array([t[2] for t in d], dtype=bool))


def augment(x, dy, dx, flip, pad):
    """torchvision's RandomCrop(padding=pad) then RandomHorizontalFlip on x[n, C, H, W]."""
    n, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty_like(x)
    for i in range(n):
        img = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = img[:, :, ::-1] if flip[i] else img
    return out
