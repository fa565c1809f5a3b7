"""Keep the cyclic garbage collector off the GUI thread's long-lived objects.

A full collection walks every tracked object.  With Qt, pyqtgraph, numpy, scipy and VTK
loaded the viewer holds about 180,000 of them, and a full collection held the GUI thread
for up to 73 ms at a random moment (``benchmarks/gui_stall.py`` reports every collection;
docs/performance.md).  Almost all of them are modules, classes and the window's own
widgets, which live as long as the process.  :func:`freeze_long_lived` moves what exists now
to the collector's permanent generation (``gc.freeze``): later collections walk only what
was made afterwards.  Reference counting still frees frozen objects as usual; only a
reference cycle among them would stay until exit, a few objects at start-up at most.
"""

from __future__ import annotations

import gc


def freeze_long_lived(collect: bool = False) -> int:
    """Freeze every object tracked now (after a collection when ``collect``); returns how
    many objects are frozen in all."""
    if collect:
        gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
