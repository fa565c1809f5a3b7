"""The main window: wires state, views, panels, workers, menus and the status bar."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from engine.errors import naming
from engine.resources import demo_case_path, demo_organs_path
from viewer.controls import Controls
from viewer.findings_panel import FindingsPanel
from viewer.model import jobs
from viewer.model.findings import pretty
from viewer.model.overlay import OverlayModel
from viewer.model.state import METHOD_TITLES, VIEWS, WL_PRESETS, ViewerState
from viewer.view_area import ViewArea
from viewer.workers import JobRunner

log = logging.getLogger(__name__)
MAX_RECENT = 8
_scan_counter = itertools.count(1)


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, settings: QtCore.QSettings | None = None, *, run_model: bool = True,
                 model=None, device=None, with_3d: bool = True, model_process: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("ctcam — chest CT explanations")
        self.resize(1400, 900)
        self.setAcceptDrops(True)
        self.settings = settings or QtCore.QSettings("ctcam", "ctcam")
        self.run_model = run_model
        self.model, self.device = model, device
        self.model_process = model_process  # run the pipeline in its own process (no GIL stalls)
        self.findings: list = []
        self.organs_for_scan = None
        self.last_message = ""
        self.export3d_dialog = None

        self.state = ViewerState()
        self.overlay = OverlayModel(self.state)
        self.runner = JobRunner(lambda: self.state.scan_id, self)
        self.view_area = ViewArea(self.state, self.overlay, self)
        self.setCentralWidget(self.view_area)
        self.findings_panel = FindingsPanel(self.state, self)
        self.controls = Controls(self.state, self.overlay, self)
        self._docks()
        self._status_bar()
        self._menus()

        self.runner.progress.connect(self._on_progress)
        self.runner.started.connect(self._on_job_started)
        self.runner.finished.connect(self._on_job_finished)
        self.runner.failed.connect(self.show_error)
        self.runner.cancelled.connect(lambda kind: self.statusBar().showMessage(f"{kind.capitalize()} cancelled.", 5000))
        ev = self.state.events
        ev.connect("cursor", self._update_probe)
        ev.connect("label", self._on_label)
        ev.connect("result", self._update_probe)
        ev.connect("method", self._update_probe)
        self.view3d = None
        if with_3d:  # after the first paint: VTK takes a moment to import
            QtCore.QTimer.singleShot(50, self._create_3d)

    # -- construction -------------------------------------------------------------------
    def _docks(self) -> None:
        for title, widget, name in (("Findings", self.findings_panel, "findings"),
                                    ("Overlay", self.controls, "overlay")):
            dock = QtWidgets.QDockWidget(title, self)
            dock.setObjectName(name)
            dock.setWidget(widget)
            dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable)
            self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self._docks_sized = False  # sized on the first show (ignored before the window exists)

    def showEvent(self, ev: QtGui.QShowEvent) -> None:
        super().showEvent(ev)
        if not self._docks_sized:
            self._docks_sized = True
            # wide enough for "Ground glass opacity" and the probability bars
            width = max(460, min(560, self.width() // 3))
            QtCore.QTimer.singleShot(0, lambda: self.resizeDocks(
                [self.findDockWidget("findings")], [width], QtCore.Qt.Orientation.Horizontal))

    def findDockWidget(self, name: str) -> QtWidgets.QDockWidget:
        return self.findChild(QtWidgets.QDockWidget, name)

    def _status_bar(self) -> None:
        sb = self.statusBar()
        self.probe_label = QtWidgets.QLabel(self)
        self.probe_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.device_label = QtWidgets.QLabel("Device: —", self)
        self.progress = QtWidgets.QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QtWidgets.QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(lambda: self.runner.cancel())
        self.cancel_button.hide()
        sb.addWidget(self.probe_label, 1)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.device_label)

    def _menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        f.addAction("&Open file…", QtGui.QKeySequence.StandardKey.Open, self.open_file_dialog)
        f.addAction("Open &DICOM folder…", self.open_folder_dialog)
        f.addAction("Open d&emo case", self.open_demo)
        self.recent_menu = f.addMenu("Open &recent")
        self._rebuild_recent()
        f.addSeparator()
        e = f.addMenu("&Export")
        self.export_actions = {
            "screenshot": e.addAction("Screenshot of the views (PNG)…", self.export_screenshot),
            "maps": e.addAction("Heat maps (NIfTI, scan geometry)…", self.export_maps_dialog),
            "csv": e.addAction("Findings (CSV)…", lambda: self.export_findings_dialog("csv")),
            "json": e.addAction("Findings (JSON)…", lambda: self.export_findings_dialog("json")),
            "3d_png": e.addAction("3D view (PNG)…", lambda: self.export_3d("screenshot")),
            "3d_gif": e.addAction("3D turntable (GIF)…", lambda: self.export_3d("turntable")),
        }
        f.addSeparator()
        f.addAction("&Quit", QtGui.QKeySequence.StandardKey.Quit, self.close)

        v = mb.addMenu("&View")
        lay = v.addMenu("&Layout")
        group = QtGui.QActionGroup(self)
        self.layout_actions = {}
        for key, title in (("quad", "3 slices + 3D"), ("single", "One large view"), ("compare", "Comparison (side by side)")):
            a = lay.addAction(title, lambda k=key: self.set_layout(k))
            a.setCheckable(True)
            group.addAction(a)
            self.layout_actions[key] = a
        self.layout_actions["quad"].setChecked(True)
        big = v.addMenu("Large &view")
        for name in VIEWS:
            big.addAction(name.capitalize(), lambda n=name: self.state.update(layout="single", single_view=n))
        wl = v.addMenu("&Window/level")
        for n, name in enumerate(WL_PRESETS, start=1):
            w, lvl = WL_PRESETS[name]
            wl.addAction(f"{name.capitalize()} ({w:.0f}/{lvl:.0f})\t{n}", lambda n=name: self.state.apply_preset(n))
        v.addAction("&Reset zoom\tR", self.reset_views)
        m = mb.addMenu("&Method")
        for key in ("hirescam", "gradcam", "difference"):
            m.addAction(METHOD_TITLES[key], lambda k=key: setattr(self.state, "method", k))
        h = mb.addMenu("&Help")
        h.addAction("&Model card…", self.show_model_card)
        h.addAction("&Mouse and keys…", self.show_help)

    # -- opening ------------------------------------------------------------------------
    def open_demo(self) -> None:
        organs = demo_organs_path()
        self.open_path(str(demo_case_path()), organs=str(organs) if organs.exists() else None)

    def open_file_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open CT scan", str(self._last_dir()), "CT scans (*.nii *.nii.gz *.dcm);;All files (*)")
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open DICOM folder", str(self._last_dir()))
        if path:
            self.open_path(path)

    def open_path(self, path: str, *, series: str | None = None, organs=None) -> None:
        """Open a NIfTI file or DICOM folder in a worker (asks which series if several)."""
        self.organs_for_scan = organs
        if Path(path).is_dir() and series is None:
            self.runner.submit("load", lambda: jobs.list_series_job(path),
                               lambda found: self._on_series(path, found), scan_id=None,
                               description=f"Reading {Path(path).name}")
            return
        self.runner.submit("load", lambda: jobs.load_job(path, series),
                           lambda vol: self._on_volume_loaded(path, vol), scan_id=None,
                           description=f"Loading {Path(path).name}")

    def _on_series(self, folder: str, found) -> None:
        if not found:
            self.show_error("load", f"{folder}: no DICOM series found. Choose a folder that holds "
                                    "the .dcm files of one CT series.")
            return
        if len(found) == 1:
            self.open_path(folder, series=found[0].uid, organs=self.organs_for_scan)
            return
        uid = self.choose_series(found)
        if uid:
            self.open_path(folder, series=uid, organs=self.organs_for_scan)

    def choose_series(self, found) -> str | None:
        items = [s.label() for s in found]
        item, ok = QtWidgets.QInputDialog.getItem(self, "Choose a series", "This folder holds several series:",
                                                  items, 0, False)
        return found[items.index(item)].uid if ok else None

    def _on_volume_loaded(self, path: str, vol) -> None:
        scan_id = f"scan-{next(_scan_counter)}:{Path(path).name}"
        self.findings = []
        self.findings_panel.set_findings(None)
        self.device_label.setText("Device: —")
        self.state.set_scan(vol, scan_id)
        self.reset_views()
        self.setWindowTitle(f"ctcam — {Path(path).name}")
        self._add_recent(path)
        for w in vol.meta.get("warnings", []):
            self.statusBar().showMessage(str(w), 8000)
        if self.run_model:
            self.run_explain()

    def run_explain(self) -> None:
        vol, organs = self.state.volume, self.organs_for_scan
        if vol is None:
            return
        model, device = self.model, self.device
        job = jobs.explain_in_process if self.model_process else jobs.explain_job
        scan_id = self.state.scan_id
        handle = {}
        handle["job"] = self.runner.submit(
            "explain", lambda cancel: job(vol, organs=organs, model=model, device=device, cancel=cancel),
            lambda payload: self._on_result(payload, scan_id, handle["job"].request_id),
            scan_id=scan_id, description="Running the model", pass_cancel=True)

    def _on_result(self, payload, scan_id: str | None = None, request_id: int | None = None) -> None:
        result, findings = payload
        # The result carries the scan and request it was computed for (design section 9); the
        # runner already dropped stale ones, this is the last line of defence.
        result.scan_id = scan_id if scan_id is not None else self.state.scan_id
        result.request_id = request_id
        if result.scan_id != self.state.scan_id:
            log.warning("dropped a result for %s while showing %s", result.scan_id, self.state.scan_id)
            return
        self.findings = findings
        self.state.set_result(result)
        self.findings_panel.set_findings(findings)
        self.device_label.setText(f"Device: {device_name(result.device)}")
        if findings:
            best = max(findings, key=lambda f: f.probability)
            self.findings_panel.select_label(best.index)
        t = result.timings.get("total") if result.timings else None
        warnings = [str(w) for w in result.extra.get("warnings", [])]
        if warnings:  # e.g. a scan far smaller than a chest: say so where the user looks
            self.statusBar().showMessage("Warning: " + " ".join(warnings), 30000)
        else:
            self.statusBar().showMessage(f"Model done{f' in {t:.1f} s' if t else ''}.", 5000)

    # -- reactions ----------------------------------------------------------------------
    def _on_label(self, label) -> None:
        if label is None or self.state.volume is None:
            return
        f = next((f for f in self.findings if f.index == label), None)
        if f is not None:
            vol = self.state.volume
            ijk = np.clip(vol.index(np.array(f.peak_ras)), 0, np.array(vol.shape) - 1)
            self.state.cursor = vol.world(ijk)
        self._update_probe()

    def _update_probe(self, _v=None) -> None:
        s = self.state
        vol = s.volume
        if vol is None:
            self.probe_label.setText("")
            return
        ijk = s.cursor_index()
        x, y, z = s.cursor
        hu = int(vol.hu[tuple(ijk)])
        parts = [f"RAS ({x:.1f}, {y:.1f}, {z:.1f}) mm", f"voxel ({ijk[0]}, {ijk[1]}, {ijk[2]})", f"{hu} HU"]
        organ = self.overlay.organ_at(ijk)
        if organ:
            parts.append(pretty(organ))
        vals = self.overlay.values_at(s.cursor)
        if vals:
            parts.append(f"HiResCAM {vals['hirescam']:.3g}  Grad-CAM {vals['gradcam']:.3g}")
        self.probe_label.setText("   |   ".join(parts))

    def set_layout(self, key: str) -> None:
        if key == "compare":
            self.state.update(side_by_side=True)
            if self.state.layout == "single":
                self.state.layout = "quad"
        else:
            self.state.update(layout=key, side_by_side=False)
        self.layout_actions[key].setChecked(True)

    def reset_views(self) -> None:
        for p in self.view_area.all_panes():
            p.reset_view()

    def _on_progress(self, kind: str, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * max(0.0, min(1.0, fraction))))
        self.progress.setFormat(f"{message} %p%")
        self.progress.setToolTip(message)

    def _on_job_started(self, kind: str, description: str) -> None:
        self.progress.setValue(0)
        self.progress.setFormat(f"{description} %p%")
        self.progress.show()
        self.cancel_button.show()

    def _on_job_finished(self, kind: str) -> None:
        if not self.runner.is_busy():
            self.progress.hide()
            self.cancel_button.hide()

    def show_error(self, kind: str, message: str) -> None:
        """A non-modal message box with the engine's human message; the app keeps going."""
        if kind == "explain" and self.state.volume is not None:  # name the scan it is about
            message = naming(message, self.state.volume.meta.get("source_path"))
        self.last_message = message
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "ctcam", message,
                                    QtWidgets.QMessageBox.StandardButton.Ok, self)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setObjectName("error_box")
        box.open()

    # -- recent files -------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        v = self.settings.value("recent", [])
        if isinstance(v, str):
            v = [v]
        return [str(p) for p in (v or [])]

    def _add_recent(self, path: str) -> None:
        if Path(path).resolve() == demo_case_path().resolve():
            return
        rec = [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent", [path] + rec[: MAX_RECENT - 1])
        self.settings.setValue("last_dir", str(Path(path).parent))
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            self.recent_menu.addAction(p, lambda p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def _last_dir(self) -> str:
        return str(self.settings.value("last_dir", str(Path.home())))

    # -- drag and drop ------------------------------------------------------------------
    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            ev.acceptProposedAction()
            self.open_path(paths[0])

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
                methods_identical=r.methods_identical), self._on_exported, scan_id=None,
                description="Saving findings")

    def export_maps_dialog(self) -> None:
        if not self._need_result():
            return
        from viewer.export_dialog import ExportMapsDialog

        dlg = ExportMapsDialog(self.state.result, self.findings, self.state.label, self._last_dir(), self)
        if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            labels, methods, out_dir = dlg.choice()
            self.export_maps(labels, methods, out_dir)

    def export_maps(self, labels: list[int], methods: list[str], out_dir: str) -> None:
        r, vol = self.state.result, self.state.volume
        self.runner.submit("export", lambda: jobs.export_maps_job(r, vol, labels, methods, out_dir),
                           self._on_exported, scan_id=self.state.scan_id, description="Exporting heat maps")

    def _on_exported(self, written) -> None:
        self.last_exported = list(written)
        where = written[0] if len(written) == 1 else f"{len(written)} files in {Path(written[0]).parent.parent}"
        self.statusBar().showMessage(f"Saved {where}", 8000)

    # -- dialogs ------------------------------------------------------------------------
    def show_model_card(self) -> None:
        from viewer.model_dialog import ModelCardDialog

        card = self.state.result.card if self.state.result is not None else _bundled_card()
        ModelCardDialog(card, self).open()

    def show_help(self) -> None:
        QtWidgets.QMessageBox.information(self, "Mouse and keys", HELP_TEXT)

    # -- 3D view ------------------------------------------------------------------------
    def _create_3d(self) -> None:
        try:
            from viewer.render3d.widget import Render3DView
        except ImportError:
            return  # the 3D view is not available in this build: keep the placeholder
        from viewer.view3d_link import View3DLink

        try:
            widget = Render3DView()
        except Exception as exc:  # no OpenGL etc.: keep working with the 2D views
            log.warning("3D view unavailable: %s", exc)
            self.view_area.view3d.setText(f"3D view unavailable:\n{exc}")
            return
        from viewer.view3d_panel import View3DPanel

        self.view3d = widget
        self.view3d_link = View3DLink(self.state, self.overlay, widget, self.runner)
        self.view3d_panel = View3DPanel(self.state, self.overlay, widget, self.view3d_link.reset_camera,
                                        self.export_3d)
        self.view_area.set_3d_widget(self.view3d_panel)

    def export_3d(self, kind: str, path: str | None = None, n_frames: int = 36) -> None:
        """Write the 3D view as PNG (``kind="screenshot"``) or a turntable GIF, rendered in a
        separate process (viewer.render3d.export) with a progress dialog and Cancel."""
        if self.view3d is None or self.state.volume is None:
            self.show_error("export", "Nothing to export yet: open a scan first (and keep the 3D view on).")
            return
        ext, title = ("png", "3D view (PNG)") if kind == "screenshot" else ("gif", "3D turntable (GIF)")
        if path is None:
            stem = "ctcam-3d" if kind == "screenshot" else "ctcam-turntable"
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, f"Save {title}", str(Path(self._last_dir()) / f"{stem}.{ext}"), f"{ext.upper()} (*.{ext})")
        if not path:
            return
        from viewer.render3d.export import export_job, export_spec

        spec = export_spec(self.view3d)
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

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:
        self.runner.wait_all(5000)
        if getattr(self, "view3d", None) is not None:
            self.view3d.shutdown()
        super().closeEvent(ev)


def device_name(device: str) -> str:
    d = str(device)
    return "CPU" if d.lower() in ("cpu", "") else d


def _bundled_card() -> dict:
    from engine.resources import bundled_model_paths

    _, card_path = bundled_model_paths()
    try:
        return json.loads(Path(card_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"name": "no bundled model found", "path": str(card_path)}


HELP_TEXT = """Left click or Shift+drag: move the crosshair (all views follow)
Left drag: pan    Middle drag or Ctrl+wheel: zoom    Double click or R: reset zoom
Right drag: window (left/right) and level (up/down)
Wheel, arrow keys: next/previous slice    PageUp/PageDown: 10 slices
1 lung 1500/-600    2 mediastinum 350/40    3 soft tissue 400/40    4 bone 2000/400
Radiological convention: the patient's right is on the screen's left."""
