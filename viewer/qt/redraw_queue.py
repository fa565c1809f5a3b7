"""One slice view's redraw, or one step of the GUI's work, per event-loop turn.

When a result arrives, every view redraws its CT, heat map and outlines (30-40 ms each on
the 2-core machine).  Drawn in one event-loop turn, three views stall the GUI for about
100 ms; queued here, the event loop gets control back between views (input, timers, the
3D view's frames), so the longest stall is one view's redraw.  The main window's reaction
to a result (findings table, then the selected finding) goes through the same queue
(:meth:`RedrawQueue.call_soon`), in order with the views, so none of it lands in the turn
that also repaints the window.
"""

from __future__ import annotations

import logging

from PySide6 import QtCore

log = logging.getLogger(__name__)


class RedrawQueue(QtCore.QObject):
    """Views waiting to redraw; a zero-interval timer redraws the first one per turn."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._views: list = []
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._next)

    def add(self, view) -> None:
        """Queue ``view.flush()`` (once, however often it is asked)."""
        if view not in self._views:
            self._views.append(view)
        if not self._timer.isActive():
            self._timer.start()

    def call_soon(self, fn) -> None:
        """Queue ``fn()`` for a turn of its own, after what is queued already (a step of
        work that may find the window changed by then: it must check what it acts on)."""
        self._views.append(_Call(fn))
        if not self._timer.isActive():
            self._timer.start()

    def discard(self, view) -> None:
        if view in self._views:
            self._views.remove(view)

    def pending(self, view) -> bool:
        return view in self._views

    def pending_calls(self) -> int:
        """How many :meth:`call_soon` steps wait for their turn."""
        return sum(isinstance(v, _Call) for v in self._views)

    def drain(self) -> None:
        """Redraw every queued view now (before a screenshot of the views; tests)."""
        while self._views:
            self._next()
        self._timer.stop()

    def _next(self) -> None:
        if self._views:
            view = self._views.pop(0)
            try:
                view.flush()
            except RuntimeError:  # the view was deleted (window closed) while queued
                pass
            except Exception:  # a queued step failed: say so, keep the queue going
                log.exception("queued GUI step failed")
        if self._views and not self._timer.isActive():
            self._timer.start()


_queue: RedrawQueue | None = None


def redraw_queue() -> RedrawQueue:
    """The application's queue (made on first use, owned by the QApplication)."""
    global _queue
    if _queue is None:
        _queue = RedrawQueue(QtCore.QCoreApplication.instance())
        _queue.destroyed.connect(_forget)
    return _queue


class _Call:
    """A queued callable, flushed like a view."""

    def __init__(self, fn) -> None:
        self.flush = fn


def _forget(*_args) -> None:
    global _queue
    _queue = None
