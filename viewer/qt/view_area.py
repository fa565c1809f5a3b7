"""The central view area: slice views and the 3D view in one of the layouts.

Layouts (``state.layout`` x ``state.side_by_side``):

* quad:           axial | 3D  /  coronal | sagittal
* single:         one large view (``state.single_view``)
* comparison:     side_by_side=True: each shown slice view as two linked panes, HiResCAM on
                  the left, Grad-CAM on the right; in the quad layout the 3D view shows both
                  maps in two panes with one camera.

Every pane always exists; hidden panes skip drawing until shown.  The two panes of a view
share the slice (through the cursor) and the zoom/pan (linked view boxes).
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from viewer.model.overlay import OverlayModel
from viewer.model.state import VIEWS, ViewerState
from viewer.qt.slice_view import SliceView


def link_ranges(a: SliceView, b: SliceView) -> None:
    """Keep the zoom/pan of two panes identical (same visible mm rectangle).

    pyqtgraph's own X/Y links align views by their screen position (for stacked plots), which
    is wrong for side-by-side panes, so the ranges are copied instead."""
    busy = [False]

    def copy(src: SliceView, dst: SliceView) -> None:
        if busy[0] or not src.isVisible():
            return
        busy[0] = True
        try:
            (x0, x1), (y0, y1) = src.vb.viewRange()
            dst.vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
            dst._fit = src._fit
        finally:
            busy[0] = False

    a.vb.sigRangeChanged.connect(lambda *_: copy(a, b))
    b.vb.sigRangeChanged.connect(lambda *_: copy(b, a))


class Placeholder3D(QtWidgets.QLabel):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("3D view", parent)
        self.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: black; color: #888;")
        self.setMinimumSize(160, 160)


class ViewArea(QtWidgets.QWidget):
    def __init__(self, state: ViewerState, overlay: OverlayModel, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.grid = QtWidgets.QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        self.views: dict[str, SliceView] = {}
        self.right_panes: dict[str, SliceView] = {}
        for v in VIEWS:
            self.views[v] = SliceView(state, v, overlay, None, self)
            self.right_panes[v] = SliceView(state, v, overlay, "gradcam", self)
            link_ranges(self.views[v], self.right_panes[v])
        self.view3d: QtWidgets.QWidget = Placeholder3D(self)
        for name in ("layout", "single_view", "side_by_side"):
            state.events.connect(name, self._relayout)
        self._relayout()

    def all_panes(self) -> list[SliceView]:
        return list(self.views.values()) + list(self.right_panes.values())

    def visible_panes(self) -> list[SliceView]:
        return [p for p in self.all_panes() if p.isVisibleTo(self)]

    def set_3d_widget(self, widget: QtWidgets.QWidget) -> None:
        """Replace the 3D placeholder (the 3D view is created after the first paint)."""
        old = self.view3d
        self.grid.removeWidget(old)
        old.hide()
        old.deleteLater()
        self.view3d = widget
        widget.setParent(self)
        self._relayout()

    def _relayout(self, _v=None) -> None:
        s = self.state
        for w in self.all_panes() + [self.view3d]:
            self.grid.removeWidget(w)
            w.hide()
        for r in range(4):
            self.grid.setRowStretch(r, 0)
            self.grid.setColumnStretch(r, 0)
        for v in VIEWS:  # left panes follow the method switch unless comparing
            self.views[v].pane_method = "hirescam" if s.side_by_side else None
        cells: list[tuple[QtWidgets.QWidget, int, int, int]] = []  # widget, row, col, col span
        if s.layout == "single":
            v = s.single_view
            cells.append((self.views[v], 0, 0, 1))
            if s.side_by_side:
                cells.append((self.right_panes[v], 0, 1, 1))
        elif s.side_by_side:
            a, c, g = self.views, self.right_panes, "sagittal"
            cells += [(a["axial"], 0, 0, 1), (c["axial"], 0, 1, 1), (self.view3d, 0, 2, 2),
                      (a["coronal"], 1, 0, 1), (c["coronal"], 1, 1, 1), (a[g], 1, 2, 1), (c[g], 1, 3, 1)]
        else:
            cells += [(self.views["axial"], 0, 0, 1), (self.view3d, 0, 1, 1),
                      (self.views["coronal"], 1, 0, 1), (self.views["sagittal"], 1, 1, 1)]
        for w, r, c, span in cells:
            self.grid.addWidget(w, r, c, 1, span)
            self.grid.setRowStretch(r, 1)
            for cc in range(c, c + span):
                self.grid.setColumnStretch(cc, 1)
            w.show()
        for p in self.all_panes():
            if p.isVisibleTo(self):
                p._on_overlay_change(None)
