"""The main window's exports: screenshot, heat maps (NIfTI), findings (CSV / JSON), 3D PNG
and turntable GIF, each written by a job off the GUI thread."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from viewer.model import jobs

log = logging.getLogger("viewer.qt.main_window")


class ExportActions:
    """Exports of :class:`viewer.qt.main_window.MainWindow` (a base class of it: uses the
    window's ``state``, ``runner``, ``view_area``, ``view3d`` and ``show_error``)."""

    # -- exports ------------------------------------------------------------------------
    def _need_result(self) -> bool:
        if self.state.result is None:
            self.show_error("export", "Nothing to export yet: open a scan and wait for the model to finish.")
            return False
        return True

    def export_screenshot(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save screenshot", str(Path(self._last_dir()) / "ctcam.png"), "PNG (*.png)")
        if path:
            image = self.grab_views()
            self.runner.submit("export", lambda: jobs.save_image_job(image, path), self._on_exported,
                               scan_id=None, description="Saving screenshot")

    def grab_views(self) -> QtGui.QImage:
        """The view area as an image, with the 3D view's OpenGL frame painted in (a widget
        grab cannot read OpenGL content)."""
        from viewer.qt.redraw_queue import redraw_queue

        redraw_queue().drain()  # views still waiting for their turn draw first
        image = self.view_area.grab().toImage()
        v3 = self.view3d
        if v3 is not None and v3.isVisible():
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                try:
                    frame = QtGui.QImage(str(v3.screenshot(Path(tmp) / "3d.png")))
                except Exception as exc:  # keep the 2D part of the screenshot
                    log.warning("3D screenshot failed: %s", exc)
                    frame = QtGui.QImage()
            if not frame.isNull():
                rect = QtCore.QRect(v3.mapTo(self.view_area, QtCore.QPoint(0, 0)), v3.size())
                painter = QtGui.QPainter(image)
                painter.drawImage(QtCore.QRectF(rect), frame)
                painter.end()
        return image

    def export_findings_dialog(self, fmt: str, path: str | None = None) -> None:
        if not self._need_result():
            return
        if path is None:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, f"Save findings ({fmt.upper()})", str(Path(self._last_dir()) / f"findings.{fmt}"),
                f"{fmt.upper()} (*.{fmt})")
        if path:
            r, findings = self.state.result, list(self.findings)
            src = self.state.volume.meta.get("source_path")
            self.runner.submit("export", lambda: jobs.export_findings_job(
                findings, path, fmt, source=str(src) if src else None, card=r.card, device=r.device,
                methods_identical=r.methods_identical, suitability=getattr(r, "suitability", None) or None),
                self._on_exported, scan_id=None,
                description="Saving findings")

    def export_maps_dialog(self) -> None:
        if not self._need_result():
            return
        from viewer.qt.export_dialog import ExportMapsDialog

        dlg = ExportMapsDialog(self.state.result, self.findings, self.state.label, self._last_dir(), self)
        if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            labels, methods, out_dir = dlg.choice()
            self.export_maps(labels, methods, out_dir)

    def export_maps(self, labels: list[int], methods: list[str], out_dir: str) -> None:
        r, vol = self.state.result, self.state.volume
        self.runner.submit("export", lambda: jobs.export_maps_job(r, vol, labels, methods, out_dir),
                           self._on_exported, scan_id=self.state.scan_id, description="Exporting heat maps")

    def export_dicom_dialog(self, out_dir: str | None = None) -> None:
        """Export > DICOM results: SEG + the selected finding's Parametric Maps + SR, for Slicer,
        OHIF or a PACS (docs/pacs.md)."""
        if not self._need_result():
            return
        if out_dir is None:
            out_dir = QtWidgets.QFileDialog.getExistingDirectory(
                self, "Folder for the DICOM results", str(self._last_dir()))
        if out_dir:
            r, vol, label = self.state.result, self.state.volume, self.state.label
            self.runner.submit("export", lambda: jobs.export_dicom_job(r, vol, label, out_dir),
                               self._on_exported, scan_id=self.state.scan_id,
                               description="Writing DICOM results")

    def _on_exported(self, written) -> None:
        self.last_exported = list(written)
        where = written[0] if len(written) == 1 else f"{len(written)} files in {Path(written[0]).parent.parent}"
        self.statusBar().showMessage(f"Saved {where}", 8000)

    def export_3d(self, kind: str, path: str | None = None, n_frames: int = 36,
                  width: int | None = None) -> None:
        """Write the 3D view as PNG (``kind="screenshot"``) or a turntable GIF/MP4, ``width``
        pixels wide (the view's aspect ratio; asked for from the menu, the view's own size when
        called with a path and no width), rendered in a separate
        process (viewer.render3d.export) with a progress dialog and Cancel."""
        if self.view3d is None or self.state.volume is None:
            self.show_error("export", "Nothing to export yet: open a scan first (and keep the 3D view on).")
            return
        from viewer.render3d.export import export_job, export_spec, mp4_available

        if kind == "screenshot":
            ext, title, filt = "png", "3D view (PNG)", "PNG (*.png)"
        else:
            ext, title = ("mp4", "3D turntable (MP4)") if mp4_available() else ("gif", "3D turntable (GIF)")
            filt = "MP4 video (*.mp4);;GIF (*.gif)" if mp4_available() else "GIF (*.gif)"
        interactive = path is None
        if path is None:
            stem = "ctcam-3d" if kind == "screenshot" else "ctcam-turntable"
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, f"Save {title}", str(Path(self._last_dir()) / f"{stem}.{ext}"), filt)
        if not path:
            return
        spec = export_spec(self.view3d)
        if width is None and interactive:
            width, ok = QtWidgets.QInputDialog.getInt(
                self, "Export size", "Width in pixels (the view's aspect ratio is kept):",
                max(1024, spec.size[0]), 256, 4096, 64)
            if not ok:
                return
        if width is not None:
            w0, h0 = spec.size
            spec.size = (int(width), max(64, int(round(int(width) * h0 / max(1, w0)))))
        self._end_export3d()  # a new export supersedes (cancels) a running one
        dlg = QtWidgets.QProgressDialog(f"Rendering the {title}…", "Cancel", 0, 1000, self)
        dlg.setObjectName("export3d_progress")
        dlg.setWindowTitle("ctcam")
        dlg.setMinimumDuration(0)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.canceled.connect(lambda: self.runner.cancel("export3d"))

        def on_progress(kind_: str, fraction: float, message: str) -> None:
            if kind_ == "export3d":
                dlg.setValue(int(1000 * fraction))
                dlg.setLabelText(message)

        def on_done(kind_: str) -> None:
            if kind_ == "export3d" and not self.runner.is_busy("export3d"):
                self._end_export3d()

        self.runner.progress.connect(on_progress)
        self.runner.finished.connect(on_done)
        self.export3d_dialog = dlg
        self._export3d_slots = (on_progress, on_done)
        dlg.show()
        self.runner.submit("export3d", lambda cancel: export_job(spec, kind, path, n_frames=n_frames, cancel=cancel),
                           self._on_exported, scan_id=None, description=f"Saving {title}", pass_cancel=True)

    def _end_export3d(self) -> None:
        """Close the 3D export's progress dialog and stop listening for its progress."""
        dlg, slots = self.export3d_dialog, getattr(self, "_export3d_slots", None)
        self.export3d_dialog, self._export3d_slots = None, None
        if slots is not None:
            self.runner.progress.disconnect(slots[0])
            self.runner.finished.disconnect(slots[1])
        if dlg is not None:
            dlg.blockSignals(True)  # closing must not read as Cancel
            dlg.close()

