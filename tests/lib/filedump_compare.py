#!/usr/bin/python3
"""Compare `cerebro-ds pages` output with pg_filedump -i -k on the same relation file.

usage: filedump_compare.py PAGES_OUTPUT FILEDUMP_OUTPUT

Page-level facts compared: per block lower, upper, special, flags, checksum, item count; per
item length, offset, line pointer flags, and for NORMAL items xmin, xmax, infomask, number
of attributes, header size. Also fails when pg_filedump reports a checksum failure.
Prints `blocks=B items=I mismatches=M`; exit 1 on any mismatch.
"""
import re, sys

def ours(path):
    blocks = {}
    cur = None
    for line in open(path):
        m = re.match(r"block (\d+) lower (\d+) upper (\d+) special (\d+) flags 0x(\w+) "
                     r"checksum 0x(\w+) items (\d+)", line)
        if m:
            b = int(m.group(1))
            cur = blocks[b] = {"hdr": (int(m.group(2)), int(m.group(3)), int(m.group(4)),
                                       int(m.group(5), 16), int(m.group(6), 16),
                                       int(m.group(7))), "items": {}}
            continue
        m = re.match(r"  item (\d+) offset (\d+) length (\d+) flags (\w+)"
                     r"(?: xmin (\d+) xmax (\d+) infomask 0x(\w+) natts (\d+) hoff (\d+))?", line)
        if m:
            it = (int(m.group(3)), int(m.group(2)), m.group(4))
            if m.group(5):
                it += (int(m.group(5)), int(m.group(6)), int(m.group(7), 16), int(m.group(8)),
                       int(m.group(9)))
            cur["items"][int(m.group(1))] = it
    return blocks

def theirs(path):
    text = open(path).read()
    if re.search(r"checksum failure", text, re.I):
        sys.exit("pg_filedump reports a checksum failure")
    blocks = {}
    for part in re.split(r"\nBlock +(?=\d+ \*)", text)[1:]:
        b = int(part.split()[0])
        g = lambda pat: re.search(pat, part).group(1)
        hdr = (int(g(r"Lower +(\d+)")), int(g(r"Upper +(\d+)")), int(g(r"Special +(\d+)")),
               int(g(r"Flags: 0x(\w+)"), 16), int(g(r"Checksum: 0x(\w+)"), 16),
               int(g(r"Items: +(\d+)")))
        items = {}
        for m in re.finditer(r"Item +(\d+) -- Length: +(\d+) +Offset: +(\d+) \(0x\w+\) +"
                             r"Flags: (\w+)\n((?:  .*\n)*)", part):
            it = (int(m.group(2)), int(m.group(3)), m.group(4))
            body = m.group(5)
            if m.group(4) == "NORMAL":
                x = re.search(r"XMIN: (\d+) +XMAX: (\d+)", body)
                a = re.search(r"Attributes: (\d+) +Size: (\d+)", body)
                im = re.search(r"infomask: 0x(\w+)", body)
                it += (int(x.group(1)), int(x.group(2)), int(im.group(1), 16), int(a.group(1)),
                       int(a.group(2)))
            items[int(m.group(1))] = it
        blocks[b] = {"hdr": hdr, "items": items}
    return blocks

a, b = ours(sys.argv[1]), theirs(sys.argv[2])
mism = nitems = 0
for blk in sorted(set(a) | set(b)):
    if blk not in a or blk not in b:
        mism += 1
        print("block %d only in %s" % (blk, "ours" if blk in a else "pg_filedump"))
        continue
    if a[blk]["hdr"] != b[blk]["hdr"]:
        mism += 1
        print("block %d header: ours %s, pg_filedump %s" % (blk, a[blk]["hdr"], b[blk]["hdr"]))
    for i in sorted(set(a[blk]["items"]) | set(b[blk]["items"])):
        nitems += 1
        x, y = a[blk]["items"].get(i), b[blk]["items"].get(i)
        if x != y:
            mism += 1
            print("block %d item %d: ours %s, pg_filedump %s" % (blk, i, x, y))
print("blocks=%d items=%d mismatches=%d" % (len(b), nitems, mism))
sys.exit(1 if mism or not b else 0)
