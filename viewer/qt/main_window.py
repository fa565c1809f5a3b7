"""The main window: wires state, views, panels, workers, menus and the status bar."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from engine.errors import naming
from engine.resources import demo_case_path
from viewer.model import jobs
from viewer.model.overlay import OverlayModel
from viewer.model.state import ViewerState
from viewer.qt.controls import Controls
from viewer.qt.findings_panel import FindingsPanel
from viewer.qt.redraw_queue import redraw_queue
from viewer.qt.view_area import ViewArea
from viewer.qt.window_exports import ExportActions
from viewer.qt.window_menus import MenuActions
from viewer.qt.workers import JobRunner

log = logging.getLogger(__name__)
_scan_counter = itertools.count(1)


class MainWindow(MenuActions, ExportActions, QtWidgets.QMainWindow):
    """The main window; its menus and exports are its base classes (``window_menus``,
    ``window_exports``)."""

    _3d_modules_ready = QtCore.Signal()  # emitted by the import thread (queued to the GUI)

    def __init__(self, settings: QtCore.QSettings | None = None, *, run_model: bool = True,
                 model=None, device=None, with_3d: bool = True, model_process: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("ctcam — chest CT explanations")
        self.resize(1400, 900)
        self.setAcceptDrops(True)
        self.settings = settings or QtCore.QSettings("ctcam", "ctcam")
        self.run_model = run_model
        self.state = ViewerState()
        self.state.update(model=model, device=device)
        self.model_process = model_process  # run the pipeline in its own process (no GIL stalls)
        self.last_message = ""
        self.export3d_dialog = None

        self.overlay = OverlayModel(self.state)
        self.runner = JobRunner(lambda: self.state.scan_id, self)
        self.view_area = ViewArea(self.state, self.overlay, self)
        self.setCentralWidget(self.view_area)
        self.findings_panel = FindingsPanel(self.state, self)
        self.controls = Controls(self.state, self.overlay, self)
        self._docks()
        self._status_bar()
        self._menus()
        from viewer.qt.reading_tools import ReadingTools

        self.reading_tools = ReadingTools(self)

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
        if with_3d:  # VTK's modules take ~0.25 s to import: a thread does it, not the GUI
            from viewer.qt.preload_3d import start_import_3d

            # queued: _create_3d runs on the GUI thread, after __init__, whoever emits
            self._3d_modules_ready.connect(self._create_3d, QtCore.Qt.ConnectionType.QueuedConnection)
            start_import_3d(then=self._3d_modules_ready.emit)
        self.model_worker = None  # the warm model process (viewer/model/model_worker.py)
        if run_model and model_process:
            from viewer.model.model_worker import ModelWorker

            self.model_worker = ModelWorker(model=model, device=device)
            QtCore.QTimer.singleShot(200, self.model_worker.start)  # after the first paint

    # What the window shows lives in ``self.state``; these read and write it there.
    @property
    def findings(self) -> list:
        return list(self.state.findings)

    @findings.setter
    def findings(self, value) -> None:
        self.state.findings = value

    @property
    def model(self):
        return self.state.model

    @model.setter
    def model(self, value) -> None:
        self.state.model = value

    @property
    def device(self):
        return self.state.device

    @device.setter
    def device(self, value) -> None:
        self.state.device = value

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

    # -- opening ------------------------------------------------------------------------
    def open_demo(self) -> None:
        self.open_path(str(demo_case_path()))  # with its shipped organ map, when present

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
        """Open a NIfTI file or DICOM folder in a worker (asks which series if several).

        ``organs``: an organ label map for it; by default the one that ships with the scan
        (the demo's, a phantom folder's), else the model job segments the organs."""
        if organs is None:
            from engine.truth import shipped_organ_map

            organs = shipped_organ_map(path)
        self.state.organs = organs
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
            self.open_path(folder, series=found[0].uid, organs=self.state.organs)
            return
        uid = self.choose_series(found)
        if uid:
            self.open_path(folder, series=uid, organs=self.state.organs)

    def choose_series(self, found) -> str | None:
        items = [s.label() for s in found]
        item, ok = QtWidgets.QInputDialog.getItem(self, "Choose a series", "This folder holds several series:",
                                                  items, 0, False)
        return found[items.index(item)].uid if ok else None

    def _on_volume_loaded(self, path: str, vol) -> None:
        scan_id = f"scan-{next(_scan_counter)}:{Path(path).name}"
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
        vol, organs = self.state.volume, self.state.organs
        if vol is None:
            return
        model, device = self.model, self.device
        if self.model_worker is not None:
            job = self.model_worker.explain
        else:
            job = jobs.explain_in_process if self.model_process else jobs.explain_job
        scan_id = self.state.scan_id
        handle = {}
        handle["job"] = self.runner.submit(
            "explain", lambda cancel: job(vol, organs=organs, model=model, device=device, cancel=cancel),
            lambda payload: self._on_result(payload, scan_id, handle["job"].request_id),
            scan_id=scan_id, description="Running the model", pass_cancel=True)

    def _on_result(self, payload, scan_id: str | None = None, request_id: int | None = None) -> None:
        result, findings = payload
        # The result carries the scan and request it was computed for (docs/architecture.md,
        # "Threads and stale results"); the runner already dropped stale ones, this is the
        # last line of defence.
        result.scan_id = scan_id if scan_id is not None else self.state.scan_id
        result.request_id = request_id
        if result.scan_id != self.state.scan_id:
            log.warning("dropped a result for %s while showing %s", result.scan_id, self.state.scan_id)
            return
        self.state.set_result(result, findings)
        self.device_label.setText(f"Device: {device_name(result.device)}")
        # The findings table and the selected finding follow in turns of their own (each
        # 10-25 ms on the 2-core machine): in this turn they would add to the window's
        # repaint and the views' redraws into one stall (docs/performance.md).
        redraw_queue().call_soon(lambda: self._show_findings(result, findings))
        t = result.timings.get("total") if result.timings else None
        warnings = [str(w) for w in result.extra.get("warnings", [])]
        from engine.suitability import banner_text

        unsuitable = banner_text(getattr(result, "suitability", None))
        if unsuitable:  # the findings panel's banner has the full text and "show anyway"
            self.statusBar().showMessage(unsuitable + " " + " ".join(warnings), 30000)
        elif warnings:  # e.g. a scan far smaller than a chest: say so where the user looks
            self.statusBar().showMessage("Warning: " + " ".join(warnings), 30000)
        else:
            self.statusBar().showMessage(f"Model done{f' in {t:.1f} s' if t else ''}.", 5000)

    def _show_findings(self, result, findings) -> None:
        if self.state.result is not result:
            return  # another scan or result came first
        self.findings_panel.set_findings(findings)
        if findings:
            redraw_queue().call_soon(lambda: self._select_best(result, findings))

    def _select_best(self, result, findings) -> None:
        if self.state.result is result and self.state.label is None:
            best = max(findings, key=lambda f: f.probability)
            self.findings_panel.select_label(best.index)

    # -- reactions ----------------------------------------------------------------------
    def _on_label(self, label) -> None:
        if label is None or self.state.volume is None:
            return
        f = next((f for f in self.state.findings if f.index == label), None)
        if f is not None:
            vol = self.state.volume
            ijk = np.clip(vol.index(np.array(f.peak_ras)), 0, np.array(vol.shape) - 1)
            self.state.cursor = vol.world(ijk)
        self._update_probe()

    def _update_probe(self, _v=None) -> None:
        from viewer.model.probe import probe_text

        self.probe_label.setText(probe_text(self.state, self.overlay))

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

    # -- drag and drop ------------------------------------------------------------------
    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            ev.acceptProposedAction()
            self.open_path(paths[0])

    # -- 3D view ------------------------------------------------------------------------
    def build_3d_now(self) -> None:
        """Build the 3D view and make its OpenGL context before the window's first paint
        (``viewer.app.create_window``): its layout then happens once, and the context's GIL-
        bound stretch lands before anything is on the screen (docs/performance.md)."""
        from viewer.qt.preload_3d import wait_for_import_3d

        if self.view3d is None and wait_for_import_3d(timeout_s=5.0):
            self._create_3d()
        if self.view3d is not None:
            self.view3d.warm_up(timeout_s=3.0)

    def _create_3d(self) -> None:
        if self.view3d is not None:
            return  # built already (build_3d_now), the queued call comes after
        try:
            from viewer.render3d.widget import Render3DView
        except ImportError:
            return  # the 3D view is not available in this build: keep the placeholder
        from viewer.qt.view3d_link import View3DLink

        try:
            widget = Render3DView()
        except Exception as exc:  # no OpenGL etc.: keep working with the 2D views
            log.warning("3D view unavailable: %s", exc)
            self.view_area.view3d.setText(f"3D view unavailable:\n{exc}")
            return
        from viewer.qt.view3d_panel import View3DPanel

        self.view3d = widget
        self.view3d_link = View3DLink(self.state, self.overlay, widget, self.runner)
        self.view3d_panel = View3DPanel(self.state, self.overlay, widget, self.view3d_link.reset_camera,
                                        self.export_3d)
        self.view_area.set_3d_widget(self.view3d_panel)

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:
        self.runner.wait_all(5000)
        if getattr(self, "model_worker", None) is not None:
            self.model_worker.stop()
        if getattr(self, "view3d", None) is not None:
            self.view3d.shutdown()
        super().closeEvent(ev)


def device_name(device: str) -> str:
    d = str(device)
    return "CPU" if d.lower() in ("cpu", "") else d
