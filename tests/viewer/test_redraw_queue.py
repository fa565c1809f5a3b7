"""Slice views redraw one per event-loop turn, so a result that redraws three views does not
stall the GUI for all three at once (issue 17)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from viewer.qt.redraw_queue import RedrawQueue


class FakeView:
    def __init__(self, name, log):
        self.name, self.log = name, log

    def flush(self):
        self.log.append(self.name)


def test_one_view_per_turn_in_order_each_once(qtbot):
    log, ticks = [], []
    q = RedrawQueue()
    a, b, c = (FakeView(n, log) for n in "abc")
    for v in (a, b, a, c, b):  # repeated requests coalesce
        q.add(v)
    # a timer of the GUI gets its turn between two redraws
    timer = QtCore.QTimer()
    timer.timeout.connect(lambda: ticks.append(list(log)))
    timer.start(0)
    qtbot.waitUntil(lambda: log == ["a", "b", "c"], timeout=5000)
    timer.stop()
    assert any(t in (["a"], ["a", "b"]) for t in ticks), ticks  # the loop ran between views
    assert not q.pending(a) and not q.pending(c)


def test_drain_redraws_everything_now_and_deleted_views_are_skipped():
    log = []
    q = RedrawQueue()
    gone = QtWidgets.QWidget()
    gone.flush = gone.update  # a Qt object whose C++ side is deleted while queued
    q.add(FakeView("a", log))
    q.add(gone)
    q.add(FakeView("b", log))
    import shiboken6

    shiboken6.delete(gone)
    q.drain()
    assert log == ["a", "b"]
