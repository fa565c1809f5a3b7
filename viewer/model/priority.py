"""Background work at a lower scheduling priority than the GUI thread.

On a 2-core machine the model process's threads and llvmpipe's 3D rasterisers would take the
cores the GUI thread needs to paint; background jobs run "nicer", as desktop applications'
workers do (docs/performance.md, "No 3D stall").
"""

from __future__ import annotations

import os
import sys
import threading


def lower_priority(by: int) -> None:
    """Raise the calling thread's niceness by ``by`` (at most 19); threads it starts later
    inherit it.  Linux only (elsewhere, and where the OS refuses, nothing happens)."""
    if not (sys.platform.startswith("linux") and hasattr(os, "setpriority")):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + int(by)))
    except OSError:
        pass
