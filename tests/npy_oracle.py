#!/usr/bin/python3
"""npy_oracle.py: numpy's view of .npy files, for tests/unit/test_npy.c.

  load PATH RAWOUT        np.load(PATH, mmap_mode='r'); print "dtype.str shape-repr";
                          write the C-order bytes to RAWOUT
  header PATH             parse only the header; print "dtype.str shape-repr fortran"
  save PATH DTYPE SHAPE [VERSION] [fortran|big]
                          write (arange(n) % 100).astype(DTYPE).reshape(SHAPE) with numpy's
                          own writer; SHAPE is "3x28x28", "5", or "-" for a 0-d array;
                          VERSION is "1.0", "2.0" or "-" (numpy's choice)

Exits non-zero on any numpy error (printed to stderr). Does not write anything else.
"""
import sys

import numpy as np


def parse_shape(text):
    if text == "-":
        return ()
    return tuple(int(x) for x in text.split("x"))


def cmd_load(path, rawout):
    a = np.load(path, mmap_mode="r")
    print(a.dtype.str, repr(a.shape))
    with open(rawout, "wb") as f:
        f.write(np.ascontiguousarray(a).tobytes())


def cmd_header(path):
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    print(dtype.str, repr(shape), fortran)


def cmd_save(path, dtype, shape_text, version="-", variant=""):
    shape = parse_shape(shape_text)
    n = int(np.prod(shape)) if shape else 1
    a = (np.arange(n) % 100).astype(dtype).reshape(shape)
    if variant == "fortran":
        a = np.asfortranarray(a)
    elif variant == "big":
        a = a.astype(a.dtype.newbyteorder(">"))
    ver = None if version == "-" else tuple(int(x) for x in version.split("."))
    with open(path, "wb") as f:
        np.lib.format.write_array(f, a, version=ver)


def main(argv):
    if len(argv) >= 3 and argv[0] == "load":
        cmd_load(argv[1], argv[2])
    elif len(argv) == 2 and argv[0] == "header":
        cmd_header(argv[1])
    elif len(argv) >= 4 and argv[0] == "save":
        cmd_save(*argv[1:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
