"""The view box of a slice view: the mouse gestures of a radiology viewer (3D Slicer, OHIF).

Left click or shift+left drag asks for the cursor; left drag pans unless a reading tool
(``tool_drag``, set by :mod:`viewer.qt.slice_tools`) takes the drag; middle drag zooms; right
drag changes window/level; the wheel steps slices (ctrl+wheel zooms).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore


class SliceViewBox(pg.ViewBox):
    """A ViewBox whose mouse gestures are those of a radiology viewer."""

    cursorRequested = QtCore.Signal(float, float)  # scene x, y
    stepRequested = QtCore.Signal(int)
    windowLevelDrag = QtCore.Signal(float, float)  # screen dx, dy in pixels
    resetRequested = QtCore.Signal()

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertX=True, enableMenu=False, defaultPadding=0.0)
        self.tool_drag = None  # callable(ev) -> bool: True when a reading tool took the drag

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            if ev.double():
                self.resetRequested.emit()
                return
            p = self.mapToView(ev.pos())
            self.cursorRequested.emit(p.x(), p.y())
        else:
            ev.ignore()

    def mouseDragEvent(self, ev, axis=None) -> None:
        button = ev.button()
        mods = ev.modifiers()
        if button == QtCore.Qt.MouseButton.LeftButton and mods & QtCore.Qt.KeyboardModifier.ShiftModifier:
            ev.accept()
            p = self.mapToView(ev.pos())
            self.cursorRequested.emit(p.x(), p.y())
        elif button == QtCore.Qt.MouseButton.RightButton:
            ev.accept()
            d = ev.screenPos() - ev.lastScreenPos()
            self.windowLevelDrag.emit(d.x(), d.y())
        elif button == QtCore.Qt.MouseButton.LeftButton and self.tool_drag is not None and self.tool_drag(ev):
            ev.accept()
        elif button == QtCore.Qt.MouseButton.MiddleButton:
            ev.accept()
            dy = (ev.screenPos() - ev.lastScreenPos()).y()
            s = 1.01 ** dy
            center = self.mapToView(ev.buttonDownPos(button))
            self.scaleBy(x=s, y=s, center=center)
        else:  # left drag pans
            super().mouseDragEvent(ev, axis)

    def wheelEvent(self, ev, axis=None) -> None:
        if ev.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        ev.accept()
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        if delta:
            self.stepRequested.emit(1 if delta > 0 else -1)
