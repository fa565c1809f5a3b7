"""Helpers shared by the Qt viewer tests."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from engine.io.nifti import write_nifti


def settle() -> None:
    """Run the event loop until every slice view has drawn what it was asked to (views
    redraw one per event-loop turn: viewer/qt/redraw_queue.py)."""
    from viewer.qt.redraw_queue import redraw_queue

    QtWidgets.QApplication.processEvents()
    redraw_queue().drain()


def write_case(tmp_path, vol, name="case.nii.gz"):
    path = tmp_path / name
    write_nifti(path, vol.hu, vol.affine)
    return path


def open_and_wait(qtbot, win, path, timeout=10000):
    before = win.state.scan_id
    win.open_path(str(path))
    qtbot.waitUntil(lambda: win.state.scan_id != before and win.state.volume is not None, timeout=timeout)
    qtbot.waitUntil(lambda: not win.runner.is_busy("load"), timeout=timeout)
    settle()  # views draw on the next event-loop turn


def show_result(win, result):
    """Deliver a result as the explain worker would (same code path after the worker)."""
    from viewer.model.findings import summarise

    win._on_result((result, summarise(result, win.state.volume.affine)))
    settle()


def grab_rgb(widget) -> np.ndarray:
    """(H, W, 3) uint8 of what the widget shows."""
    settle()
    img = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * h)
    return arr.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def wheel(widget, pane, steps=1):
    """Send a real wheel event to a slice pane's viewport (steps > 0: wheel forward)."""
    vp = pane.gv.viewport()
    centre = QtCore.QPointF(vp.width() / 2, vp.height() / 2)
    for _ in range(abs(steps)):
        ev = QtGui.QWheelEvent(centre, vp.mapToGlobal(centre), QtCore.QPoint(0, 0),
                               QtCore.QPoint(0, 120 if steps > 0 else -120),
                               QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier,
                               QtCore.Qt.ScrollPhase.NoScrollPhase, False)
        QtWidgets.QApplication.sendEvent(vp, ev)
    settle()


def scene_to_viewport(pane, x, y) -> QtCore.QPoint:
    p = pane.vb.mapViewToScene(QtCore.QPointF(x, y))
    return pane.gv.mapFromScene(p)
