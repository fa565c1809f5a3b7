"""Keep freed memory in the process's heap instead of handing it back to the system
(glibc only; elsewhere nothing changes).

Why: a training step allocates and frees tensors of tens to hundreds of MB (a batch of 8
phantoms is 212 MB as float32; the backbone's activations are 10-80 MB each).  glibc serves
every block over its mmap threshold (at most 32 MB) with a fresh mmap and unmaps it on free,
so every step has the kernel fault in and zero its pages again (20-33 % of the CPU time
was system time).  With mmap off for blocks and no trimming, the heap keeps its
pages and the next step reuses them: measured by ``benchmarks/train_step.py``, side by side
in one run.  The cost is that the process keeps its peak memory until it ends, which suits a
training or evaluation run, not the viewer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_TOP_PAD = -2
M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Switch the policy on for this process; True if glibc took it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_MMAP_MAX, 0) == 1
    ok &= mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1
    ok &= mallopt(M_TOP_PAD, 256 << 20) == 1
    return bool(ok)
