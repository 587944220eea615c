#!/usr/bin/python3
"""Check the plots of a cerebro-sched job: JOB/curves.png and JOB/schedule.png.

    check_png.py JOB [--models N] [--size NAME=WxH ...]

For each plot: a valid PNG (signature; every chunk's length and CRC; IHDR first, IDAT, IEND
last), IHDR width and height equal to the size the plot script JOB/logs/plots.gp sets for
that output (or --size), pixels decoded (zlib + the five PNG row filters, no PIL) and:
  - not blank: more than 1% of the pixels differ from the background (the commonest colour);
  - a plot frame: the longest dark horizontal and vertical runs (the border) give its box;
  - curves.png: coloured (saturated) line pixels inside the frame, in >= N distinct colours;
  - schedule.png: coloured bar pixels inside the frame in >= N distinct colours, none left
    of, above or below the frame (the key is on the right), none touching the frame's top
    or bottom edge (the y range is padded).
And JOB/logs/gnuplot.log exists and is empty: any line (a warning, "Skipping data file",
"invalid range", an error) fails. Prints every failure, exits 1 if any.
"""
import argparse
import os
import re
import struct
import sys
import zlib

import numpy as np

SIG = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


class Bad(Exception):
    pass


def chunks(data):
    """[(type, payload)], each CRC checked, IHDR first and IEND last."""
    if data[:8] != SIG:
        raise Bad("not a PNG (%d bytes, signature %r)" % (len(data), data[:8]))
    out, pos = [], 8
    while pos < len(data):
        if pos + 12 > len(data):
            raise Bad("truncated chunk header at byte %d" % pos)
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 8 + length
        if end + 4 > len(data):
            raise Bad("chunk %r at byte %d runs past the end" % (ctype, pos))
        payload = data[pos + 8:end]
        (crc,) = struct.unpack(">I", data[end:end + 4])
        if zlib.crc32(ctype + payload) & 0xFFFFFFFF != crc:
            raise Bad("chunk %r at byte %d: bad CRC" % (ctype, pos))
        out.append((ctype, payload))
        pos = end + 4
        if ctype == b"IEND":
            break
    if not out or out[0][0] != b"IHDR" or out[-1][0] != b"IEND" or pos != len(data):
        raise Bad("chunks are not IHDR ... IEND (%s)" % [c for c, _ in out][:6])
    if not any(c == b"IDAT" for c, _ in out):
        raise Bad("no IDAT chunk")
    return out


def unfilter(raw, height, stride, bpp):
    """The PNG row filters undone: an array [height, stride] of bytes."""
    if len(raw) != height * (stride + 1):
        raise Bad("IDAT holds %d bytes, expected %d" % (len(raw), height * (stride + 1)))
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    img = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        f, cur = rows[y, 0], rows[y, 1:].astype(np.int32)
        if f == 0:
            out = cur
        elif f == 1:  # Sub: cumulative per channel
            out = np.cumsum(cur.reshape(-1, bpp), axis=0).reshape(-1) & 0xFF
        elif f == 2:  # Up
            out = (cur + prev) & 0xFF
        elif f in (3, 4):  # Average, Paeth: sequential along the row
            out = sequential(f, cur.tolist(), prev.tolist(), bpp)
        else:
            raise Bad("row %d: unknown filter %d" % (y, f))
        img[y] = out
        prev = np.asarray(out, dtype=np.int32)
    return img


def sequential(f, cur, prev, bpp):
    out = [0] * len(cur)
    for i, x in enumerate(cur):
        a = out[i - bpp] if i >= bpp else 0
        b = prev[i]
        if f == 3:
            out[i] = (x + ((a + b) >> 1)) & 0xFF
            continue
        c = prev[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        out[i] = (x + pred) & 0xFF
    return out


def decode(path):
    """(width, height, RGB array [height, width, 3] uint8)."""
    with open(path, "rb") as f:
        data = f.read()
    cs = chunks(data)
    w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", cs[0][1])
    if ctype not in CHANNELS or comp != 0 or filt != 0:
        raise Bad("IHDR: colour type %d, compression %d, filter %d" % (ctype, comp, filt))
    if interlace != 0:
        raise Bad("interlaced PNG: not decoded by this checker")
    if depth != 8 and not (ctype == 3 and depth in (1, 2, 4)):
        raise Bad("IHDR: bit depth %d with colour type %d not decoded here" % (depth, ctype))
    try:
        raw = zlib.decompress(b"".join(p for c, p in cs if c == b"IDAT"))
    except zlib.error as e:
        raise Bad("IDAT does not inflate: %s" % e)
    ch = CHANNELS[ctype]
    stride = (w * ch * depth + 7) // 8
    img = unfilter(raw, h, stride, max(1, ch * depth // 8))
    if ctype == 3:
        plte = [p for c, p in cs if c == b"PLTE"]
        if not plte:
            raise Bad("indexed PNG without PLTE")
        pal = np.frombuffer(plte[0], dtype=np.uint8).reshape(-1, 3)
        idx = np.unpackbits(img, axis=1).reshape(h, -1, depth) if depth < 8 else img[:, :, None]
        if depth < 8:
            idx = (idx * (1 << np.arange(depth - 1, -1, -1))).sum(axis=2)[:, :w]
        else:
            idx = idx[:, :, 0]
        if idx.max() >= len(pal):
            raise Bad("palette index %d past PLTE's %d entries" % (idx.max(), len(pal)))
        return w, h, pal[idx]
    px = img.reshape(h, w, ch)
    rgb = np.repeat(px[:, :, :1], 3, axis=2) if ch <= 2 else px[:, :, :3]
    if ch in (2, 4):  # composite on white
        a = px[:, :, -1:].astype(np.int32)
        rgb = ((rgb.astype(np.int32) * a + 255 * (255 - a)) // 255).astype(np.uint8)
    return w, h, rgb


def longest_run(mask):
    """Per row of a boolean array: the longest run of True."""
    best = np.zeros(mask.shape[0], dtype=np.int64)
    run = np.zeros(mask.shape[0], dtype=np.int64)
    for x in range(mask.shape[1]):
        run = np.where(mask[:, x], run + 1, 0)
        best = np.maximum(best, run)
    return best


def frame(rgb):
    """(left, top, right, bottom) of the plot border: the dark lines at least 30% of the
    image long, outermost."""
    dark = rgb.max(axis=2) < 90
    h, w = dark.shape
    rows = np.nonzero(longest_run(dark) >= 0.3 * w)[0]
    cols = np.nonzero(longest_run(dark.T) >= 0.3 * h)[0]
    if len(rows) < 2 or len(cols) < 2:
        raise Bad("no plot frame found (dark border lines)")
    return cols.min(), rows.min(), cols.max(), rows.max()


def coloured(rgb):
    """Saturated pixels: line and bar colours, not black, grey or white text and axes."""
    x = rgb.astype(np.int32)
    return (x.max(axis=2) - x.min(axis=2)) >= 48


def colour_count(rgb, mask, min_pixels):
    """Distinct colours among the pixels of mask: 10-degree hue bins (centred on 0, 10, ...)
    holding >= min_pixels (anti-aliasing blends a colour with white, which keeps its hue)."""
    x = rgb[mask].astype(np.float64)
    if len(x) == 0:
        return 0
    mx, mn = x.max(axis=1), x.min(axis=1)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    d = mx - mn
    h = np.where(mx == r, (g - b) / d % 6, np.where(mx == g, (b - r) / d + 2, (r - g) / d + 4))
    counts = np.bincount(((h * 60 + 5) // 10).astype(int) % 36, minlength=36)
    return int((counts >= min_pixels).sum())


def check_plot(path, size, models, kind):
    w, h, rgb = decode(path)
    errs = []
    if (w, h) != size:
        errs.append("IHDR says %dx%d, the plot script sets %dx%d" % (w, h, size[0], size[1]))
    flat = rgb.reshape(-1, 3)
    vals, counts = np.unique(flat.astype(np.int32) @ [65536, 256, 1], return_counts=True)
    background = vals[counts.argmax()]
    ink = (flat.astype(np.int32) @ [65536, 256, 1] != background).mean()
    if ink < 0.01:
        raise Bad("blank: %.2f%% of the pixels differ from the background" % (100 * ink))
    left, top, right, bottom = frame(rgb)
    if right - left < 0.3 * w or bottom - top < 0.3 * h:
        raise Bad("plot frame too small: %s" % ((left, top, right, bottom),))
    col = coloured(rgb)
    inside = np.zeros_like(col)
    inside[top + 2:bottom - 1, left + 2:right - 1] = True
    n_in = int((col & inside).sum())
    n_colours = colour_count(rgb, col & inside, max(20, n_in // 50))
    what = "line" if kind == "curves" else "bar"
    print("%s: %dx%d, %.1f%% ink, frame x %d..%d y %d..%d, %d coloured %s pixels inside in "
          "%d colours" % (os.path.basename(path), w, h, 100 * ink, left, right, top, bottom,
                          n_in, what, n_colours))
    area = (right - left) * (bottom - top)
    if n_in < (0.002 if kind == "curves" else 0.05) * area:
        errs.append("only %d coloured %s pixels inside the plot frame" % (n_in, what))
    if n_colours < models:
        errs.append("%d distinct %s colours inside the frame, expected >= %d (one per model)"
                    % (n_colours, what, models))
    if kind == "schedule":
        allowed = np.zeros_like(col)
        allowed[top:bottom + 1, left:right + 1] = True
        allowed[:, right + 1:] = True  # the key is right of the frame
        n_out = int((col & ~allowed).sum())
        if n_out > 0:
            errs.append("%d coloured pixels left of, above or below the plot frame" % n_out)
        edge = int(col[top + 1:top + 4, left + 2:right - 1].sum()
                   + col[bottom - 3:bottom, left + 2:right - 1].sum())
        if edge > 0:
            errs.append("bars touch the frame's top or bottom (%d pixels): y range not padded"
                        % edge)
    return errs


def script_sizes(job):
    """{output file name: (w, h)} from the `set terminal ... size W,H` before each
    `set output '...'` of JOB/logs/plots.gp."""
    sizes, cur = {}, None
    try:
        text = open(os.path.join(job, "logs", "plots.gp")).read()
    except OSError:
        return sizes
    for line in text.splitlines():
        m = re.match(r"\s*set\s+term\w*\s+.*\bsize\s+(\d+)\s*,\s*(\d+)", line)
        if m:
            cur = (int(m.group(1)), int(m.group(2)))
        m = re.match(r"\s*set\s+output\s+'(.*)'", line)
        if m and cur:
            name = os.path.basename(m.group(1).replace("''", "'"))
            sizes[re.sub(r"\.tmp$", "", name)] = cur
    return sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("job")
    ap.add_argument("--models", type=int, default=1, help="distinct colours expected")
    ap.add_argument("--size", action="append", default=[], metavar="NAME=WxH",
                    help="expected size of a plot (default: from JOB/logs/plots.gp)")
    a = ap.parse_args()
    sizes = script_sizes(a.job)
    for s in a.size:
        name, wh = s.split("=")
        sizes[name] = tuple(int(v) for v in wh.split("x"))
    failed = False
    for name in ("curves.png", "schedule.png"):
        path = os.path.join(a.job, name)
        try:
            if name not in sizes:
                raise Bad("no size for it: no `set terminal ... size` before its `set output` "
                          "in logs/plots.gp, and no --size")
            errs = check_plot(path, sizes[name], a.models, name[:-4])
        except (Bad, OSError) as e:
            errs = [str(e)]
        for e in errs:
            print("FAIL %s: %s" % (path, e))
            failed = True
    log = os.path.join(a.job, "logs", "gnuplot.log")
    try:
        lines = [ln for ln in open(log, errors="replace").read().splitlines() if ln.strip()]
    except OSError as e:
        lines = ["cannot read it: %s" % e]
    for ln in lines:
        print("FAIL %s: %s" % (log, ln))
        failed = True
    if not failed:
        print("ok: %s" % a.job)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
