"""The 3D modules are imported by one thread per process; whoever asks is told when they are
in, once (viewer/qt/preload_3d.py, issue 17)."""

from __future__ import annotations

import sys
import threading

from viewer.qt import preload_3d


def test_one_import_thread_and_each_caller_told_once():
    calls = []
    done = threading.Event()
    preload_3d.start_import_3d(then=lambda: calls.append("a"))
    first = preload_3d._thread
    preload_3d.start_import_3d(then=lambda: (calls.append("b"), done.set()))
    assert preload_3d._thread is first  # not a second thread
    assert done.wait(60)
    first.join(60)
    assert sorted(calls) == ["a", "b"]
    assert "viewer.render3d.widget" in sys.modules
    preload_3d.start_import_3d(then=lambda: calls.append("c"))  # already done: at once
    assert calls[-1] == "c" and preload_3d._thread is first
