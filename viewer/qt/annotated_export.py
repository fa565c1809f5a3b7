"""Screenshots fit for a report: the visible views (no toolbar widgets) re-rendered at full or
a chosen resolution, with a caption band burned in: the finding, its probability and call, the
method, the normalisation, the colour bar with its range and units, and the truth.

The views are painted again through ``QWidget.render`` with a scaled painter, so lines and text
stay sharp at 2048 px; the 3D view's OpenGL frame is rendered offscreen at the target size and
painted over its whole pane (its control bar is left out).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from viewer.model.colormaps import DIVERGING_CMAP, lookup_table
from viewer.model.findings import pretty
from viewer.model.state import METHOD_TITLES, NORMALISATION_TITLES
from viewer.model.truth_readout import truth_status

log = logging.getLogger(__name__)
MIN_WIDTH = 1024


def caption_lines(state, overlay, findings) -> list[str]:
    """The burned-in text (also what a test can compare with)."""
    s = state
    lines = []
    f = next((f for f in findings if f.index == s.label), None) if s.label is not None else None
    if f is not None and overlay.has_map():
        call = "" if f.positive is None else (" POSITIVE" if f.positive else " negative") + f" at {100 * f.threshold:.0f}%"
        truth = truth_status(s.truth, f.name)
        lines.append(f"{pretty(f.organ)} — {pretty(f.abnormality)}   p = {f.probability:.2f}{call}"
                     + (f"   truth: {truth}" if truth else ""))
        method = "HiResCAM | Grad-CAM (side by side)" if s.side_by_side else METHOD_TITLES[s.method]
        style = "contours" if s.map_style == "contours" else "filled"
        lines.append(f"{method}   normalisation: {NORMALISATION_TITLES[s.normalisation]}   "
                     f"{'signed' if s.signed else 'ReLU'}, {style}")
    else:
        lines.append("No heat map shown")
    src = s.volume.meta.get("source_path") if s.volume is not None else None
    lines.append(f"{Path(str(src)).name if src else ''}   ctcam — synthetic-data model, not for diagnosis")
    return lines


def _colour_bar(painter: QtGui.QPainter, rect: QtCore.QRectF, state, overlay, font_px: int) -> None:
    method = "hirescam" if state.side_by_side else state.method
    rng = overlay.colour_range(method)
    if rng is None:
        return
    vmin, vmax, units = rng
    lut = lookup_table(DIVERGING_CMAP if overlay.diverging(method) else state.colormap)
    bar = QtGui.QImage(256, 1, QtGui.QImage.Format.Format_RGB32)
    for i in range(256):
        r, g, b = (int(v) for v in lut[i])
        bar.setPixelColor(i, 0, QtGui.QColor(r, g, b))
    bar_rect = QtCore.QRectF(rect.x(), rect.y(), rect.width(), rect.height() * 0.45)
    painter.drawImage(bar_rect, bar)
    painter.setPen(QtGui.QColor(230, 230, 230))
    painter.drawRect(bar_rect)
    y = bar_rect.bottom() + 2
    h = rect.bottom() - y
    al = QtCore.Qt.AlignmentFlag
    painter.drawText(QtCore.QRectF(rect.x(), y, rect.width(), h), al.AlignLeft | al.AlignTop, f"{vmin:.3g}")
    painter.drawText(QtCore.QRectF(rect.x(), y, rect.width(), h), al.AlignRight | al.AlignTop, f"{vmax:.3g}")
    painter.drawText(QtCore.QRectF(rect.x(), y, rect.width(), h), al.AlignHCenter | al.AlignTop, str(units))


def render_annotated(window, width: int | None = None) -> QtGui.QImage:
    """The view area with its caption band, ``width`` px wide (None: the views' full
    resolution, device pixels)."""
    area = window.view_area
    dpr = area.devicePixelRatioF()
    full = int(round(area.width() * dpr))
    out_w = full if width is None else max(MIN_WIDTH, int(width))
    scale = out_w / area.width()
    views_h = int(round(area.height() * scale))
    font_px = max(13, out_w // 80)
    band_h = int(font_px * 5.2)
    image = QtGui.QImage(out_w, views_h + band_h, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor(0, 0, 0))
    painter = QtGui.QPainter(image)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing)
    painter.save()
    painter.scale(scale, scale)
    area.render(painter, QtCore.QPoint(0, 0), QtGui.QRegion(),
                QtWidgets.QWidget.RenderFlag.DrawChildren)
    painter.restore()
    _paint_3d(window, painter, scale)
    painter.setFont(_font(font_px))
    lines = caption_lines(window.state, window.overlay, window.findings)
    painter.setPen(QtGui.QColor(240, 240, 240))
    pad = font_px // 2
    text_w = int(out_w * 0.64)
    for n, line in enumerate(lines):
        painter.drawText(QtCore.QRectF(pad, views_h + pad + n * font_px * 1.4, text_w, font_px * 1.4),
                         QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter, line)
    if window.overlay.has_map():
        bar = QtCore.QRectF(text_w + 2 * pad, views_h + pad, out_w - text_w - 3 * pad, band_h - 2 * pad)
        _colour_bar(painter, bar, window.state, window.overlay, font_px)
    painter.end()
    return image


def _font(px: int) -> QtGui.QFont:
    font = QtGui.QFont()
    font.setPixelSize(px)
    return font


def _paint_3d(window, painter: QtGui.QPainter, scale: float) -> None:
    v3 = getattr(window, "view3d", None)
    panel = getattr(window, "view3d_panel", None)
    if v3 is None or panel is None or not panel.isVisible():
        return
    rect = QtCore.QRect(panel.mapTo(window.view_area, QtCore.QPoint(0, 0)), panel.size())
    target = QtCore.QRectF(rect.x() * scale, rect.y() * scale, rect.width() * scale, rect.height() * scale)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            frame = QtGui.QImage(str(v3.screenshot(Path(tmp) / "3d.png")))
        except Exception as exc:  # keep the 2D part
            log.warning("3D screenshot failed: %s", exc)
            return
    if not frame.isNull():
        painter.fillRect(target, QtGui.QColor(0, 0, 0))
        fitted = frame.size().scaled(target.size().toSize(), QtCore.Qt.AspectRatioMode.KeepAspectRatio)
        x = target.x() + (target.width() - fitted.width()) / 2
        y = target.y() + (target.height() - fitted.height()) / 2
        painter.drawImage(QtCore.QRectF(x, y, fitted.width(), fitted.height()), frame)


def image_array(image: QtGui.QImage) -> np.ndarray:
    """(H, W, 3) uint8 of a QImage (tests)."""
    img = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * h)
    return arr.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def export_dialog(window, path: str | None = None, width: int | None = None) -> None:
    """Ask the size and the file, render on the GUI thread, write the PNG in a worker."""
    from viewer.model import jobs

    if path is None:
        full = int(round(window.view_area.width() * window.view_area.devicePixelRatioF()))
        sizes = [f"Full resolution ({full} px wide)", "1024 px wide", "1600 px wide", "2048 px wide", "3072 px wide"]
        item, ok = QtWidgets.QInputDialog.getItem(window, "Annotated screenshot", "Size:", sizes, 0, False)
        if not ok:
            return
        width = None if item.startswith("Full") else int(item.split()[0])
        path, _ = QtWidgets.QFileDialog.getSaveFileName(window, "Save annotated screenshot",
                                                        str(Path(window._last_dir()) / "ctcam-annotated.png"), "PNG (*.png)")
        if not path:
            return
    image = render_annotated(window, width)
    window.runner.submit("export", lambda: jobs.save_image_job(image, path), window._on_exported,
                         scan_id=None, description="Saving screenshot")


def export_report(window, path: str | None = None) -> None:
    """File > Export > Report (HTML): findings, truth and the annotated key image in one file."""
    from engine.report_html import report_html
    from viewer.model.truth_readout import truth_status

    if window.state.result is None:
        window.show_error("export", "Nothing to report yet: open a scan and wait for the model to finish.")
        return
    if path is None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(window, "Save report", str(Path(window._last_dir()) / "ctcam-report.html"),
                                                        "HTML (*.html)")
        if not path:
            return
    buf = QtCore.QBuffer()
    buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    render_annotated(window, 1600).save(buf, "PNG")
    s, r = window.state, window.state.result
    text = report_html(source=s.volume.meta.get("source_path"), card=r.card, findings=list(window.findings),
                       suitability=getattr(r, "suitability", None),
                       truth_status={f.name: truth_status(s.truth, f.name) for f in window.findings
                                     if truth_status(s.truth, f.name)},
                       truth_stats=s.truth_stats,
                       images=[("Views at the selected finding", bytes(buf.data()))])
    window.runner.submit("export", lambda: _write(text, path), window._on_exported, scan_id=None,
                         description="Saving report")


def _write(text: str, path: str) -> list[str]:
    Path(path).write_text(text, encoding="utf-8")
    return [path]
