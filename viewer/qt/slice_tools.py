"""Reading tools drawn on one slice view: ground-truth lesion outlines, heat-map isolines,
rulers and ROIs (drag to draw, Delete to remove), and the patient/series corner text.

Attached to a :class:`viewer.qt.slice_view.SliceView` from outside (``SliceTools(view, ...)``):
it adds its items to the view box, draws after the view's own drawing (``view.draw_hooks``) and
takes left drags while a measuring tool is chosen (``view.vb.tool_drag``).  The geometry is
Qt-free (:mod:`viewer.model.outlines`, :mod:`viewer.model.measure`).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from viewer.model import geometry, measure, outlines
from viewer.model.colormaps import DIVERGING_CMAP, lookup_table

TRUTH_COLOUR = (255, 64, 255)  # magenta: apart from the organ outlines and the heat maps
MEASURE_COLOUR = (255, 214, 0)
DELETE_KEYS = (QtCore.Qt.Key.Key_Delete, QtCore.Qt.Key.Key_Backspace)


def info_lines(meta: dict, spacing) -> list[str]:
    """Patient / series text of a scan (what is known of it)."""
    lines = []
    who = " ".join(str(v) for v in (meta.get("patient_name"), meta.get("patient_id")) if v)
    if who:
        lines.append(who)
    if meta.get("study_date"):
        lines.append(f"Study {meta['study_date']}")
    if meta.get("series_description"):
        lines.append(str(meta["series_description"]))
    thick = meta.get("slice_thickness") or spacing[2]
    lines.append(f"Slice {float(thick):.2f} mm  pixel {spacing[0]:.2f} x {spacing[1]:.2f} mm")
    return lines


class SliceTools(QtCore.QObject):
    def __init__(self, view, store: measure.MeasurementStore, scan_key, parent=None) -> None:
        super().__init__(parent or view)
        self.view, self.state, self.store, self.scan_key = view, view.state, store, scan_key
        vb = view.vb
        self.truth_item = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(TRUTH_COLOUR, width=1.5))
        self.truth_selected = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(TRUTH_COLOUR, width=2.5))
        for item in (self.truth_item, self.truth_selected):
            item.setZValue(6)
            vb.addItem(item, ignoreBounds=True)
        self.contour_items: list[pg.PlotCurveItem] = []
        self.measure_items: list[tuple[int, list]] = []  # (measurement id, graphics items)
        self.drawing: measure.Measurement | None = None
        self._drawing_items: list = []
        self.last_mouse: QtCore.QPointF | None = None  # scene mm of the last hover
        self.info_label = QtWidgets.QLabel(view.gv)
        self.info_label.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.info_label.setStyleSheet("color: #e8e8a0; background: rgba(0, 0, 0, 120); padding: 0px 2px;")
        view.draw_hooks.append(self.draw)
        vb.tool_drag = self._drag
        view.installEventFilter(self)
        view.gv.installEventFilter(self)
        ev = self.state.events
        for name in ("truth", "show_truth", "label", "tool", "show_info", "result"):
            ev.connect(name, self._refresh)
        store.listeners.append(lambda: view._request("tools"))

    def _refresh(self, _v=None) -> None:
        self.view._request("tools", "overlay")

    # -- drawing --------------------------------------------------------------------------
    def draw(self, needs: set[str]) -> None:
        if needs & {"ct", "overlay", "tools"}:
            self.draw_truth()
            self.draw_contours()
            self.draw_measurements()
            self.draw_info()

    def _spacing(self) -> tuple[float, float]:
        return geometry.in_plane_spacing(self.state.volume.spacing, self.view.view)

    def draw_truth(self) -> None:
        s, idx = self.state, self.view.slice_index
        selected = None
        if s.result is not None and s.label is not None and 0 <= s.label < len(s.result.labels):
            selected = s.result.labels[s.label].name
        parts: dict[bool, list] = {False: [], True: []}
        if s.show_truth and idx is not None:
            sx, sy = self._spacing()
            for label, plane in outlines.truth_slices(s.truth, self.view.view, idx):
                parts[label == selected].append(outlines.mask_edges(plane, sx, sy))
        for item, segs in ((self.truth_item, parts[False]), (self.truth_selected, parts[True])):
            if segs:
                item.setData(np.concatenate([x for x, _ in segs]), np.concatenate([y for _, y in segs]))
                item.setVisible(True)
            else:
                item.setData([], [])
                item.setVisible(False)

    def truth_segments(self) -> tuple[np.ndarray, np.ndarray]:
        """All truth segments drawn now (scene mm), for tests."""
        xs, ys = [], []
        for item in (self.truth_item, self.truth_selected):
            if item.isVisible() and item.xData is not None:
                xs.append(item.xData)
                ys.append(item.yData)
        return (np.concatenate(xs), np.concatenate(ys)) if xs else (np.zeros(0), np.zeros(0))

    def draw_contours(self) -> None:
        s, ov = self.state, self.view.overlay
        for item in self.contour_items:
            self.view.vb.removeItem(item)
        self.contour_items = []
        if (s.map_style != "contours" or not s.overlay_visible or ov is None or not ov.has_map()
                or self.view.slice_index is None):
            return
        got = ov.slice_values(self.view.view, self.view.slice_index, self.view.method)
        if got is None:
            return
        values, vmin, vmax, _ = got
        diverging = ov.diverging(self.view.method)
        lut = lookup_table(DIVERGING_CMAP if diverging else s.colormap)
        sx, sy = self._spacing()
        levels = [(f, vmin + f * (vmax - vmin)) for f in s.contour_levels]
        if diverging:  # both signs: the same fractions of the largest magnitude
            m = max(abs(vmin), abs(vmax))
            levels = [(0.5 + f / 2, f * m) for f in s.contour_levels] + [(0.5 - f / 2, -f * m) for f in s.contour_levels]
        for frac, level in levels:
            x, y = outlines.contour_segments(values if level >= 0 else -values, abs(level) if level < 0 else level, sx, sy)
            if len(x) == 0:
                continue
            # the colour the filled map has at that level, kept off the LUT's near-black end
            t = frac if diverging else 0.3 + 0.7 * frac
            colour = tuple(int(c) for c in lut[int(np.clip(t, 0, 1) * 255)])
            item = pg.PlotCurveItem(x, y, connect="pairs", pen=pg.mkPen(colour, width=2))
            item.setZValue(4)
            self.view.vb.addItem(item, ignoreBounds=True)
            self.contour_items.append(item)

    def draw_measurements(self) -> None:
        for _, items in self.measure_items:
            for it in items:
                self.view.vb.removeItem(it)
        self.measure_items = []
        if self.state.volume is None or self.view.slice_index is None:
            return
        for m in self.store.on_slice(self.scan_key(), self.view.view, self.view.slice_index):
            self.measure_items.append((m.id, self._items_for(m)))

    def _items_for(self, m: measure.Measurement) -> list:
        vol = self.state.volume
        (x0, y0), (x1, y1) = (measure.scene_point(vol, m.view, p) for p in (m.p0, m.p1))
        pen = pg.mkPen(MEASURE_COLOUR, width=2)
        if m.kind == "ruler":
            shape = pg.PlotCurveItem([x0, x1], [y0, y1], pen=pen, symbol=None)
            ends = pg.ScatterPlotItem([x0, x1], [y0, y1], size=7, pen=pen, brush=pg.mkBrush(None))
            items = [shape, ends]
        else:
            rect = QtCore.QRectF(QtCore.QPointF(min(x0, x1), min(y0, y1)), QtCore.QPointF(max(x0, x1), max(y0, y1)))
            cls = QtWidgets.QGraphicsEllipseItem if m.kind == "ellipse" else QtWidgets.QGraphicsRectItem
            shape = cls(rect)
            shape.setPen(pen)
            items = [shape]
        text = pg.TextItem(measure.describe(m, vol, self.view.overlay), color=MEASURE_COLOUR,
                           fill=pg.mkBrush(0, 0, 0, 150), anchor=(0, 1))
        font = text.textItem.font()
        font.setPointSizeF(8.0)
        text.setFont(font)
        text.setPos(min(x0, x1), max(y0, y1))  # x-inverted view: min x is the right-hand end
        items.append(text)
        for it in items:
            it.setZValue(8)
            self.view.vb.addItem(it, ignoreBounds=True)
        return items

    def draw_info(self) -> None:
        vol = self.state.volume
        lab = self.info_label
        if vol is None or not self.state.show_info:
            lab.hide()
            return
        lab.setText("\n".join(info_lines(vol.meta, vol.spacing)))
        lab.adjustSize()
        title = self.view.title_label
        lab.move(4, title.y() + title.height() + 2)
        lab.show()

    # -- mouse and keys -------------------------------------------------------------------
    def _drag(self, ev) -> bool:
        s = self.state
        if s.tool == "pan" or s.volume is None or self.view.slice_index is None:
            return False
        p = self.view.vb.mapToView(ev.pos())
        vol = s.volume
        if ev.isStart():
            d = self.view.vb.mapToView(ev.buttonDownPos())
            p0 = measure.world_point(vol, self.view.view, self.view.slice_index, d.x(), d.y())
            self.drawing = measure.Measurement(s.tool, self.view.view, self.view.slice_index, p0, p0)
        if self.drawing is None:
            return True
        self.drawing.p1 = measure.world_point(vol, self.view.view, self.view.slice_index, p.x(), p.y())
        for it in self._drawing_items:
            self.view.vb.removeItem(it)
        self._drawing_items = []
        if ev.isFinish():
            m, self.drawing = self.drawing, None
            if self._screen_size(m) >= 3:  # a click-sized drag is not a measurement
                self.store.add(self.scan_key(), m)
        else:
            self._drawing_items = self._items_for(self.drawing)
        return True

    def _screen_size(self, m: measure.Measurement) -> float:
        vol = self.state.volume
        a, b = (self.view.vb.mapViewToDevice(QtCore.QPointF(*measure.scene_point(vol, m.view, p))) for p in (m.p0, m.p1))
        return float(np.hypot(a.x() - b.x(), a.y() - b.y()))

    def measurement_near(self, x: float, y: float, px: float = 10.0) -> measure.Measurement | None:
        """The measurement of this slice nearest a scene point, within ``px`` screen pixels."""
        vol = self.state.volume
        best, best_d = None, px
        here = self.view.vb.mapViewToDevice(QtCore.QPointF(x, y))
        for m in self.store.on_slice(self.scan_key(), self.view.view, self.view.slice_index):
            pts = [self.view.vb.mapViewToDevice(QtCore.QPointF(*measure.scene_point(vol, m.view, p))) for p in (m.p0, m.p1)]
            a, b = (np.array([q.x(), q.y()]) for q in pts)
            h = np.array([here.x(), here.y()])
            if m.kind == "ruler":
                t = np.clip(np.dot(h - a, b - a) / max(np.dot(b - a, b - a), 1e-9), 0, 1)
                d = float(np.linalg.norm(a + t * (b - a) - h))
            else:
                lo, hi = np.minimum(a, b), np.maximum(a, b)
                d = 0.0 if np.all(h >= lo - px) and np.all(h <= hi + px) else np.inf
            if d <= best_d:
                best, best_d = m, d
        return best

    def delete_at_mouse(self) -> bool:
        """Remove the measurement under the mouse, else the newest one on this slice."""
        key = self.scan_key()
        m = None
        if self.last_mouse is not None:
            m = self.measurement_near(self.last_mouse.x(), self.last_mouse.y())
        if m is None:
            here = self.store.on_slice(key, self.view.view, self.view.slice_index)
            m = here[-1] if here else None
        return m is not None and self.store.remove(key, m.id)

    def eventFilter(self, obj, ev) -> bool:
        t = ev.type()
        if obj is self.view and t == QtCore.QEvent.Type.KeyPress:
            if ev.key() in DELETE_KEYS:
                return self.delete_at_mouse()
            if ev.key() == QtCore.Qt.Key.Key_Escape and self.state.tool != "pan":
                self.state.tool = "pan"
                return True
        elif obj is self.view.gv and t == QtCore.QEvent.Type.Resize:
            QtCore.QTimer.singleShot(0, self.draw_info)
        return False

    def set_cursor_shape(self) -> None:
        shape = QtCore.Qt.CursorShape.ArrowCursor if self.state.tool == "pan" else QtCore.Qt.CursorShape.CrossCursor
        self.view.gv.viewport().setCursor(QtGui.QCursor(shape))
