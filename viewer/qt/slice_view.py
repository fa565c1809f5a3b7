"""One slice view (axial, coronal or sagittal) drawn with pyqtgraph.

Interaction (as in 3D Slicer / OHIF): left click or shift+left drag moves the shared cursor;
left drag pans; middle drag or ctrl+wheel zooms; right drag changes window (horizontal) and
level (vertical); wheel, arrow keys and PageUp/PageDown step slices; double click or R resets
the zoom; keys 1-4 pick the W/L presets.  The view only observes :class:`ViewerState` and
writes user intent back to it; overlays come from :class:`viewer.model.overlay.OverlayModel`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from viewer.model import geometry
from viewer.model.state import METHOD_TITLES, WL_PRESETS, ViewerState
from viewer.qt.redraw_queue import redraw_queue
from viewer.qt.slice_viewbox import SliceViewBox

__all__ = ["SliceView", "SliceViewBox"]

VIEW_TITLES = {"axial": "Axial", "coronal": "Coronal", "sagittal": "Sagittal"}
# Slicer's view colours, used for the title bar accent
VIEW_COLOURS = {"axial": "#f34a33", "coronal": "#6ebe49", "sagittal": "#edd54c"}
PRESET_KEYS = {QtCore.Qt.Key.Key_1: "lung", QtCore.Qt.Key.Key_2: "mediastinum",
               QtCore.Qt.Key.Key_3: "soft tissue", QtCore.Qt.Key.Key_4: "bone"}
STEP_KEYS = {QtCore.Qt.Key.Key_Up: 1, QtCore.Qt.Key.Key_Right: 1, QtCore.Qt.Key.Key_Down: -1,
             QtCore.Qt.Key.Key_Left: -1, QtCore.Qt.Key.Key_PageUp: 10, QtCore.Qt.Key.Key_PageDown: -10}


def _overlay_label(parent: QtWidgets.QWidget, align: QtCore.Qt.AlignmentFlag, bold: bool = False) -> QtWidgets.QLabel:
    lab = QtWidgets.QLabel(parent)
    lab.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    lab.setAlignment(align)
    weight = "bold" if bold else "normal"
    lab.setStyleSheet(f"color: #f0f0f0; background: rgba(0, 0, 0, 120); padding: 0px 2px; font-weight: {weight};")
    return lab


class SliceView(QtWidgets.QWidget):
    """A slice view of the shared state.

    ``pane_method`` fixes the overlay method (side-by-side panes); ``None`` follows
    ``state.method``.
    """

    def __init__(self, state: ViewerState, view: str, overlay, pane_method: str | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.view = view
        self.overlay = overlay
        self.pane_method = pane_method
        self.slice_index: int | None = None
        self._needs: set[str] = set()
        self._fit = True  # keep the image fitted to the view until the user zooms or pans
        self.draw_hooks: list = []  # callables(needs: set[str]) run at the end of flush()
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(160, 160)

        self.gv = pg.GraphicsView(self, background="k")
        self.gv.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.vb = SliceViewBox()
        self.gv.setCentralItem(self.vb)
        self.ct_item = pg.ImageItem(axisOrder="col-major")
        self.overlay_item = pg.ImageItem(axisOrder="col-major")
        self.outline_item = pg.ImageItem(axisOrder="col-major")
        for z, item in enumerate((self.ct_item, self.overlay_item, self.outline_item)):
            item.setZValue(z)
            self.vb.addItem(item)
        pen = pg.mkPen(QtGui.QColor(120, 220, 255, 170), width=1)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        for line in (self.vline, self.hline):
            line.setZValue(10)
            self.vb.addItem(line, ignoreBounds=True)

        al = QtCore.Qt.AlignmentFlag
        self.letters = {
            "left": _overlay_label(self.gv, al.AlignLeft | al.AlignVCenter, True),
            "right": _overlay_label(self.gv, al.AlignRight | al.AlignVCenter, True),
            "top": _overlay_label(self.gv, al.AlignHCenter | al.AlignTop, True),
            "bottom": _overlay_label(self.gv, al.AlignHCenter | al.AlignBottom, True),
        }
        self.title_label = _overlay_label(self.gv, al.AlignLeft | al.AlignTop)
        self.wl_label = _overlay_label(self.gv, al.AlignLeft | al.AlignBottom)
        self.method_label = _overlay_label(self.gv, al.AlignRight | al.AlignTop, True)
        self.pos_label = _overlay_label(self.gv, al.AlignRight | al.AlignBottom)
        self.notice_label = _overlay_label(self.gv, al.AlignHCenter | al.AlignVCenter)  # empty pane: why
        self.notice_label.setWordWrap(True)
        self.notice_label.hide()

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(1, 1, 1, 1)
        lay.addWidget(self.gv)
        self.setStyleSheet(f"SliceView {{ border: 1px solid {VIEW_COLOURS[view]}; }}")

        self.vb.cursorRequested.connect(self._on_cursor_request)
        self.vb.stepRequested.connect(self.step)
        self.vb.windowLevelDrag.connect(self._on_wl_drag)
        self.vb.resetRequested.connect(self.reset_view)
        self.vb.sigRangeChangedManually.connect(self._on_manual_range)

        ev = state.events
        ev.connect("volume", self._on_volume)
        ev.connect("cursor", self._on_cursor)
        ev.connect("window", self._on_wl)
        ev.connect("level", self._on_wl)
        for name in ("result", "label", "method", "opacity", "threshold", "colormap",
                     "signed", "normalisation", "side_by_side", "show_anyway", "map_display",
                     "overlay_visible", "map_style", "contour_levels"):
            ev.connect(name, self._on_overlay_change)
        ev.connect("outlines", self._on_outline_change)
        ev.connect("result", self._on_outline_change)
        if state.volume is not None:
            self._on_volume(state.volume)

    # -- helpers ------------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.pane_method or self.state.method

    def disconnect_state(self) -> None:
        ev = self.state.events
        for name in ("volume", "cursor", "window", "level", "result", "label", "method", "opacity",
                     "threshold", "colormap", "signed", "normalisation", "outlines", "side_by_side",
                     "show_anyway", "map_display", "overlay_visible", "map_style", "contour_levels"):
            for cb in (self._on_volume, self._on_cursor, self._on_wl, self._on_overlay_change,
                       self._on_outline_change):
                ev.disconnect(name, cb)

    def _spacing(self):
        return self.state.volume.spacing

    def image_rect(self) -> QtCore.QRectF:
        vol = self.state.volume
        _, h, v = geometry.VIEW_AXES[self.view]
        sx, sy = geometry.in_plane_spacing(vol.spacing, self.view)
        return QtCore.QRectF(-sx / 2, -sy / 2, vol.shape[h] * sx, vol.shape[v] * sy)

    def scene_of_cursor(self) -> tuple[float, float]:
        vol = self.state.volume
        return geometry.ijk_to_scene(vol.index(self.state.cursor), vol.spacing, self.view)

    def map_scene_to_widget(self, x: float, y: float) -> QtCore.QPoint:
        """Scene (mm) -> pixel position in this widget (for tests and screenshots)."""
        p = self.vb.mapViewToScene(QtCore.QPointF(x, y))
        p = self.gv.mapFromScene(p)
        return self.gv.mapTo(self, p)

    # -- state observers ----------------------------------------------------------------
    def _on_volume(self, vol) -> None:
        self.slice_index = None
        if vol is None:
            self.ct_item.clear()
            self.overlay_item.clear()
            self.outline_item.clear()
            return
        for edge, letter in geometry.edge_letters(vol.affine, self.view).items():
            self.letters[edge].setText(letter)
        self._on_cursor(None)
        self.reset_view()

    def _on_cursor(self, _cursor) -> None:
        if self.state.volume is None:
            return
        x, y = self.scene_of_cursor()
        self.vline.setPos(x)
        self.hline.setPos(y)
        normal = geometry.VIEW_AXES[self.view][0]
        idx = int(self.state.cursor_index()[normal])
        if idx != self.slice_index:
            self.slice_index = idx
            self._request("ct", "overlay", "outlines")
        self._request("text")

    def _on_wl(self, _v) -> None:
        self.ct_item.setLevels(self._levels())
        self._request("text")

    def _on_overlay_change(self, _v) -> None:
        self._request("overlay", "text")

    def _on_outline_change(self, _v) -> None:
        self._request("outlines")

    # -- drawing ------------------------------------------------------------------------
    def _levels(self) -> tuple[float, float]:
        w, c = self.state.window, self.state.level
        return c - w / 2.0, c + w / 2.0

    def _request(self, *what: str) -> None:
        """Coalesce redraws: several state changes in one event-loop turn draw once."""
        self._needs.update(what)
        redraw_queue().add(self)  # one view per event-loop turn (viewer/qt/redraw_queue.py)

    def flush(self) -> None:
        """Draw what the state changes asked for (hidden views wait until shown)."""
        redraw_queue().discard(self)
        if self.state.volume is None or self.slice_index is None or not self.isVisible():
            return
        needs, self._needs = self._needs, set()
        if "ct" in needs:
            plane = geometry.slice_plane(self.state.volume.hu, self.view, self.slice_index)
            self.ct_item.setImage(plane, autoLevels=False, levels=self._levels())
            self.ct_item.setRect(self.image_rect())
        if "overlay" in needs:
            self._draw_overlay()
        if "outlines" in needs:
            self._draw_outlines()
        if needs & {"text", "overlay", "ct"}:
            self._update_text()
        for hook in self.draw_hooks:  # reading tools (viewer.qt.slice_tools) draw after the view
            hook(needs)

    def _draw_overlay(self) -> None:
        rgba = None
        if self.overlay is not None and self.slice_index is not None:
            rgba = self.overlay.slice_rgba(self.view, self.slice_index, self.method)
        if rgba is None:
            self.overlay_item.clear()
            self.overlay_item.setVisible(False)
        else:
            self.overlay_item.setImage(rgba, autoLevels=False, levels=(0, 255))
            self.overlay_item.setRect(self.image_rect())
            self.overlay_item.setVisible(True)

    def _draw_outlines(self) -> None:
        rgba = None
        if self.overlay is not None and self.state.outlines and self.slice_index is not None:
            rgba = self.overlay.outline_rgba(self.view, self.slice_index)
        if rgba is None:
            self.outline_item.clear()
            self.outline_item.setVisible(False)
        else:
            self.outline_item.setImage(rgba, autoLevels=False, levels=(0, 255))
            self.outline_item.setRect(self.image_rect())
            self.outline_item.setVisible(True)

    def _update_text(self) -> None:
        vol = self.state.volume
        if vol is None or self.slice_index is None:
            return
        normal = geometry.VIEW_AXES[self.view][0]
        n = vol.shape[normal]
        pos = float(self.state.cursor[normal])
        axis_name = "RAS"[normal]
        self.title_label.setText(f"{VIEW_TITLES[self.view]} {self.slice_index + 1}/{n}")
        self.pos_label.setText(f"{axis_name} {pos:.1f} mm")
        self.wl_label.setText(f"W {self.state.window:.0f}  L {self.state.level:.0f}")
        shows_map = self.overlay is not None and self.overlay.has_map()
        text = METHOD_TITLES[self.method] if shows_map else ""
        if shows_map and not self.overlay.has_positive(self.method):
            text += " (no positive values)"  # a ReLU display of this map is empty: say why
        self.method_label.setText(text)
        notice = self.overlay.joint_notice(self.method) if shows_map else None
        self.notice_label.setText(notice or "")
        self.notice_label.setVisible(bool(notice))
        self._place_labels()

    def _place_labels(self) -> None:
        w, h = self.gv.width(), self.gv.height()
        m = 4
        for lab in list(self.letters.values()) + [self.title_label, self.wl_label, self.method_label,
                                                  self.pos_label]:
            lab.adjustSize()
        L = self.letters
        L["left"].move(m, (h - L["left"].height()) // 2)
        L["right"].move(w - L["right"].width() - m, (h - L["right"].height()) // 2)
        L["top"].move((w - L["top"].width()) // 2, m)
        L["bottom"].move((w - L["bottom"].width()) // 2, h - L["bottom"].height() - m)
        self.title_label.move(m, m)
        self.wl_label.move(m, h - self.wl_label.height() - m)
        # in a narrow pane the method goes under the slice title instead of over it
        mx = w - self.method_label.width() - m
        crowded = mx < self.title_label.width() + 2 * m or L["top"].x() + L["top"].width() > mx
        self.method_label.move(max(m, mx), m + (self.title_label.height() + 2 if crowded else 0))
        self.pos_label.move(w - self.pos_label.width() - m, h - self.pos_label.height() - m)
        self.notice_label.setFixedWidth(max(80, w - 8 * m))
        self.notice_label.adjustSize()
        self.notice_label.move(4 * m, max(m, h // 4 - self.notice_label.height() // 2))

    # -- user intent --------------------------------------------------------------------
    def reset_view(self) -> None:
        """Fit the whole slice in the view (and keep it fitted on resize until the user zooms)."""
        self._fit = True
        if self.state.volume is not None:
            self.vb.setRange(self.image_rect(), padding=0.02)

    def _on_manual_range(self, *_a) -> None:
        self._fit = False

    def step(self, n: int) -> None:
        """Move the cursor ``n`` slices along this view's normal (clamped to the volume)."""
        vol = self.state.volume
        if vol is None:
            return
        normal = geometry.VIEW_AXES[self.view][0]
        ijk = vol.index(self.state.cursor)
        ijk[normal] = np.clip(np.rint(ijk[normal]) + n, 0, vol.shape[normal] - 1)
        self.state.cursor = vol.world(ijk)

    def _on_cursor_request(self, x: float, y: float) -> None:
        vol = self.state.volume
        if vol is None:
            return
        ijk = vol.index(self.state.cursor)
        new = geometry.scene_to_ijk(x, y, ijk[geometry.VIEW_AXES[self.view][0]], vol.spacing, self.view)
        new = np.clip(new, 0, np.array(vol.shape) - 1)
        self.state.cursor = vol.world(new)

    def _on_wl_drag(self, dx: float, dy: float) -> None:
        s = max(1.0, self.state.window / 250.0)
        self.state.window = self.state.window + dx * s
        self.state.level = self.state.level + dy * s

    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:
        key = ev.key()
        if key in STEP_KEYS:
            self.step(STEP_KEYS[key])
        elif key in PRESET_KEYS:
            self.state.apply_preset(PRESET_KEYS[key])
        elif key == QtCore.Qt.Key.Key_R:
            self.reset_view()
        else:
            super().keyPressEvent(ev)

    # -- Qt events ----------------------------------------------------------------------
    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        if self._needs:
            redraw_queue().add(self)
        QtCore.QTimer.singleShot(0, self._after_resize)

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self._after_resize()

    def _after_resize(self) -> None:
        if self._fit:
            self.reset_view()
        self._place_labels()


assert set(PRESET_KEYS.values()) == set(WL_PRESETS)
