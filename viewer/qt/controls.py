"""Overlay controls and the colour bar.  Widgets write to :class:`ViewerState` and follow it."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from viewer.model.overlay import DIVERGING_CMAP, OverlayModel, lookup_table
from viewer.model.state import COLORMAPS, METHOD_TITLES, NORMALISATION_TITLES, ViewerState


class ColourBar(QtWidgets.QWidget):
    """A horizontal colour bar with its range, units and normalisation written under it."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.cmap = "inferno"
        self.vmin, self.vmax = 0.0, 1.0
        self.caption = ""
        self.threshold = 0.0
        self.diverging = False
        self.setMinimumHeight(64)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)

    def set_scale(self, cmap: str, vmin: float, vmax: float, caption: str, threshold: float,
                  diverging: bool) -> None:
        self.cmap, self.vmin, self.vmax, self.caption = cmap, vmin, vmax, caption
        self.threshold, self.diverging = threshold, diverging
        self._fit_caption()
        self.update()

    _CAPTION_FLAGS = QtCore.Qt.AlignmentFlag.AlignHCenter | QtCore.Qt.TextFlag.TextWordWrap

    def _caption_rect(self, width: int) -> QtCore.QRect:
        """Where the caption goes at this width: under the bar and its range, as tall as the
        wrapped text needs (a long caption on a narrow panel takes three or four lines)."""
        fm = QtGui.QFontMetrics(self.font())
        top = 4 + 14 + fm.ascent() + 2 + 4
        need = fm.boundingRect(QtCore.QRect(0, 0, max(width - 16, 40), 10_000), self._CAPTION_FLAGS,
                               self.caption).height()
        return QtCore.QRect(8, top, max(width - 16, 40), need + 2)

    def _fit_caption(self) -> None:
        self.setMinimumHeight(max(64, self._caption_rect(self.width()).bottom() + 4))

    def resizeEvent(self, ev: QtGui.QResizeEvent) -> None:
        super().resizeEvent(ev)
        if ev.size().width() != ev.oldSize().width():
            self._fit_caption()

    def paintEvent(self, _ev) -> None:
        p = QtGui.QPainter(self)
        lut = lookup_table(self.cmap)
        r = QtCore.QRect(8, 4, self.width() - 16, 14)
        grad = QtGui.QLinearGradient(r.left(), 0, r.right(), 0)
        for t in (i / 16 for i in range(17)):
            c = lut[min(255, int(t * 255))]
            grad.setColorAt(t, QtGui.QColor(int(c[0]), int(c[1]), int(c[2])))
        p.fillRect(r, grad)
        # hatch what the threshold hides
        p.setBrush(QtGui.QBrush(QtGui.QColor(128, 128, 128, 200), QtCore.Qt.BrushStyle.BDiagPattern))
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        if self.diverging:
            half = r.width() / 2
            w = half * self.threshold
            p.drawRect(QtCore.QRectF(r.left() + half - w, r.top(), 2 * w, r.height()))
        else:
            p.drawRect(QtCore.QRectF(r.left(), r.top(), r.width() * self.threshold, r.height()))
        p.setPen(self.palette().color(QtGui.QPalette.ColorRole.WindowText))
        fm = p.fontMetrics()
        y = r.bottom() + fm.ascent() + 2
        lo, hi = _fmt(self.vmin), _fmt(self.vmax)
        p.drawText(r.left(), y, lo)
        p.drawText(r.right() - fm.horizontalAdvance(hi), y, hi)
        if self.diverging:
            p.drawText(r.center().x() - fm.horizontalAdvance("0") // 2, y, "0")
        p.drawText(self._caption_rect(self.width()), self._CAPTION_FLAGS, self.caption)
        p.end()


def _fmt(v: float) -> str:
    return f"{v:.3g}"


class Controls(QtWidgets.QWidget):
    def __init__(self, state: ViewerState, overlay: OverlayModel, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.overlay = overlay
        form = QtWidgets.QFormLayout(self)
        form.setContentsMargins(4, 4, 4, 4)

        self.method_group = QtWidgets.QButtonGroup(self)
        row = QtWidgets.QHBoxLayout()
        self.method_buttons: dict[str, QtWidgets.QRadioButton] = {}
        for m in ("hirescam", "gradcam", "difference"):
            b = QtWidgets.QRadioButton({"difference": "Difference"}.get(m, METHOD_TITLES[m]), self)
            b.setToolTip(METHOD_TITLES[m])
            self.method_group.addButton(b)
            self.method_buttons[m] = b
            row.addWidget(b)
            b.toggled.connect(lambda on, m=m: on and setattr(state, "method", m))
        form.addRow("Method", row)
        self.side_by_side = QtWidgets.QCheckBox("Side by side: HiResCAM | Grad-CAM", self)
        self.side_by_side.toggled.connect(lambda on: setattr(state, "side_by_side", on))
        form.addRow(self.side_by_side)
        self.identical_notice = QtWidgets.QLabel(
            "This model makes HiResCAM and Grad-CAM identical (e.g. a global-average-pool head); "
            "the comparison shows the same map twice.", self)
        self.identical_notice.setWordWrap(True)
        self.identical_notice.setStyleSheet("color: #e0b040;")
        self.identical_notice.hide()
        form.addRow(self.identical_notice)

        self.cmap = QtWidgets.QComboBox(self)
        self.cmap.addItems(list(COLORMAPS))
        self.cmap.currentTextChanged.connect(lambda t: setattr(state, "colormap", t))
        form.addRow("Colormap", self.cmap)
        self.opacity = self._slider(lambda v: setattr(state, "opacity", v / 100))
        form.addRow("Opacity", self.opacity)
        self.threshold = self._slider(lambda v: setattr(state, "threshold", v / 100))
        form.addRow("Threshold", self.threshold)
        self.signed = QtWidgets.QComboBox(self)
        self.signed.addItems(["ReLU (positive evidence)", "Signed"])
        self.signed.currentIndexChanged.connect(lambda i: setattr(state, "signed", i == 1))
        form.addRow("Values", self.signed)
        self.norm = QtWidgets.QComboBox(self)
        for key, title in NORMALISATION_TITLES.items():
            self.norm.addItem(title, key)
        self.norm.currentIndexChanged.connect(lambda i: setattr(state, "normalisation", self.norm.itemData(i)))
        form.addRow("Normalise", self.norm)
        self.map_display = QtWidgets.QComboBox(self)
        self.map_display.addItem("smooth (trilinear)", "smooth")
        self.map_display.addItem("cells (the model's grid)", "cells")
        self.map_display.setToolTip("Smooth interpolates between the map's cells; cells shows each "
                                    "cell of the model's grid as one flat colour (the true resolution)")
        self.map_display.currentIndexChanged.connect(
            lambda i: setattr(state, "map_display", self.map_display.itemData(i)))
        form.addRow("Map", self.map_display)
        self.outlines = QtWidgets.QCheckBox("Organ outlines", self)
        self.outlines.toggled.connect(lambda on: setattr(state, "outlines", on))
        self.legend = QtWidgets.QLabel(self)
        self.legend.setTextFormat(QtCore.Qt.TextFormat.RichText)
        form.addRow(self.outlines, self.legend)
        self.colour_bar = ColourBar(self)
        form.addRow(self.colour_bar)

        for name in ("method", "side_by_side", "colormap", "opacity", "threshold", "signed",
                     "normalisation", "outlines", "result", "label", "map_display", "show_anyway"):
            state.events.connect(name, self._sync)
        self._sync()

    def _slider(self, cb) -> QtWidgets.QSlider:
        s = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal, self)
        s.setRange(0, 100)
        s.valueChanged.connect(cb)
        return s

    def _sync(self, _v=None) -> None:
        """Make every widget show the state (signals blocked: no write-back loops)."""
        s = self.state
        widgets = [self.cmap, self.opacity, self.threshold, self.signed, self.norm, self.outlines,
                   self.side_by_side, self.map_display, *self.method_buttons.values()]
        for w in widgets:
            w.blockSignals(True)
        self.method_buttons[s.method].setChecked(True)
        self.side_by_side.setChecked(s.side_by_side)
        self.cmap.setCurrentText(s.colormap)
        self.opacity.setValue(round(s.opacity * 100))
        self.threshold.setValue(round(s.threshold * 100))
        self.signed.setCurrentIndex(1 if s.signed else 0)
        self.norm.setCurrentIndex(self.norm.findData(s.normalisation))
        self.map_display.setCurrentIndex(self.map_display.findData(s.map_display))
        self.outlines.setChecked(s.outlines)
        for w in widgets:
            w.blockSignals(False)
        res = s.result
        self.identical_notice.setVisible(bool(res is not None and res.methods_identical))
        self._sync_legend()
        self._sync_colour_bar()

    def _sync_legend(self) -> None:
        from viewer.model.findings import pretty
        from viewer.model.overlay import organ_colour

        names = self.overlay.organ_names()
        self.legend.setText("  ".join(
            f"<span style='color: rgb{organ_colour(c)}'>■</span> {pretty(n)}" for c, n in sorted(names.items())))

    def _sync_colour_bar(self) -> None:
        s = self.state
        method = "hirescam" if s.side_by_side and s.method == "difference" else s.method
        rng = self.overlay.colour_range(method)
        if rng is None:
            self.colour_bar.setVisible(False)
            return
        vmin, vmax, units = rng
        diverging = self.overlay.diverging(method)
        what = METHOD_TITLES[method] if not s.side_by_side else "HiResCAM | Grad-CAM"
        # the difference's units already start with "HiResCAM − Grad-CAM"
        caption = units if method == "difference" else f"{what}: {units}"
        if s.normalisation == "none":
            caption += " (not normalised)"
        if not s.signed and method != "difference":
            caption += ", ReLU"
        if s.side_by_side and s.normalisation == "per_map":
            caption += " (each pane to its own maximum: colours do not compare across panes)"
        from viewer.model.sampling_adapter import cell_size_mm

        a, b, c = cell_size_mm(s.result)
        caption += (f". Map cells {round(a, 1):g} x {round(b, 1):g} x {round(c, 1):g} mm, shown "
                    f"{'as cells' if s.map_display == 'cells' else 'smoothed'}")
        self.colour_bar.set_scale(DIVERGING_CMAP if diverging else s.colormap, vmin, vmax, caption,
                                  s.threshold, diverging)
        self.colour_bar.setVisible(True)
