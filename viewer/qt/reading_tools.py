"""The window's reading tools: a toolbar and Tools menu (ruler, ROIs, truth, contours, overlay,
patient info), the live probe that follows the mouse, and ground truth beside the scan.

Created once by the main window (``ReadingTools(window)``).  Ground truth is read off the GUI
thread: automatically when a scan has a ``labels.json`` beside it (the demo case, any
``ctcam phantom`` folder), or from File > Open ground truth (a truth folder, lesion masks or a
lesion label map).  Its readouts (``engine.truth.readouts``) are computed in a worker when
both the truth and the model's result are there; both jobs carry the scan id, so truth read
for one scan is never drawn on another.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from viewer.model import measure
from viewer.model.probe import probe_text
from viewer.qt import annotated_export
from viewer.qt.slice_tools import SliceTools

PROBE_INTERVAL_MS = 40  # the live probe updates at most 25 times a second

TOOL_ACTIONS = (("pan", "Pan", "Esc", "Left drag pans the view"),
                ("ruler", "Ruler", "L", "Drag to measure a distance in mm (Delete removes)"),
                ("ellipse", "Ellipse ROI", "E", "Drag an ellipse: HU mean, SD, min, max, area, map means"),
                ("rectangle", "Rectangle ROI", "B", "Drag a rectangle: HU mean, SD, min, max, area, map means"))
TOGGLES = (("show_truth", "Truth", "T", "Outline the true lesions (when the scan's ground truth is known)"),
           ("overlay_visible", "Heat map", "O", "Show or hide the heat map"),
           ("contours", "Contours", "C", "Draw the heat map as isolines at 25/50/75% of its range"),
           ("show_info", "Patient info", "I", "Patient and series text in the view corners"))


def truth_job(path: str, volume, base=None):
    from engine.truth import read_truth

    got = read_truth(path, volume)
    return got if base is None else base.merged(got)


def stats_job(result, truth, affine):
    from engine.truth import readouts

    return readouts(result, truth, affine)


class ReadingTools(QtCore.QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.win, self.state = window, window.state
        self.store = measure.MeasurementStore()
        self.tools = [SliceTools(p, self.store, self.scan_key, self) for p in window.view_area.all_panes()]
        for t in self.tools:
            t.view.gv.scene().sigMouseMoved.connect(lambda pos, t=t: self._on_hover(t, pos))
            t.view.gv.viewport().installEventFilter(self)
        self._hover = None
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PROBE_INTERVAL_MS)
        self._timer.timeout.connect(self._update_hover)
        self._build_actions()
        ev = self.state.events
        ev.connect("volume", self._on_volume)
        ev.connect("result", self._compute_stats)
        ev.connect("truth", self._compute_stats)
        ev.connect("tool", self._on_tool)

    def scan_key(self) -> str | None:
        vol = self.state.volume
        if vol is None:
            return None
        return str(vol.meta.get("source_path") or self.state.scan_id)

    # -- actions ------------------------------------------------------------------------
    def _build_actions(self) -> None:
        w, s = self.win, self.state
        bar = QtWidgets.QToolBar("Reading tools", w)
        bar.setObjectName("reading_tools")
        w.addToolBar(QtCore.Qt.ToolBarArea.TopToolBarArea, bar)
        menu = QtWidgets.QMenu("&Tools", w)
        w.menuBar().insertMenu(w.menuBar().actions()[-1], menu)  # before Help
        group = QtGui.QActionGroup(w)
        self.actions: dict[str, QtGui.QAction] = {}
        for key, title, shortcut, tip in TOOL_ACTIONS:
            a = QtGui.QAction(title, w, checkable=True)
            a.setShortcut(QtGui.QKeySequence(shortcut))
            a.setToolTip(f"{tip} ({shortcut})")
            a.triggered.connect(lambda _c=False, k=key: setattr(s, "tool", k))
            group.addAction(a)
            bar.addAction(a)
            menu.addAction(a)
            self.actions[key] = a
        self.actions["pan"].setChecked(True)
        bar.addSeparator()
        menu.addSeparator()
        for key, title, shortcut, tip in TOGGLES:
            a = QtGui.QAction(title, w, checkable=True)
            a.setShortcut(QtGui.QKeySequence(shortcut))
            a.setToolTip(f"{tip} ({shortcut})")
            a.setChecked(s.map_style == "contours" if key == "contours" else bool(getattr(s, key)))
            if key == "contours":
                a.toggled.connect(lambda on: setattr(s, "map_style", "contours" if on else "filled"))
                s.events.connect("map_style", lambda v, a=a: a.setChecked(v == "contours"))
            else:
                a.toggled.connect(lambda on, k=key: setattr(s, k, on))
                s.events.connect(key, lambda v, a=a: a.setChecked(bool(v)))
            bar.addAction(a)
            menu.addAction(a)
            self.actions[key] = a
        menu.addSeparator()
        menu.addAction("Delete all measurements of this scan", lambda: self.store.clear(self.scan_key()))
        f = w.menuBar().actions()[0].menu()
        self.open_truth_action = QtGui.QAction("Open ground &truth (folder, masks, label map)…", w)
        self.open_truth_action.triggered.connect(self.open_truth_dialog)
        f.insertAction(w.recent_menu.menuAction(), self.open_truth_action)
        export = next((a.menu() for a in f.actions() if a.menu() is not None and "Export" in a.menu().title()), f)
        self.annotated_action = QtGui.QAction("Screenshot with finding, method and colour bar (PNG)…", w)
        self.annotated_action.triggered.connect(lambda: annotated_export.export_dialog(w))
        export.insertAction(export.actions()[1] if len(export.actions()) > 1 else None, self.annotated_action)
        self.report_action = QtGui.QAction("Report (HTML, self-contained)…", w)
        self.report_action.triggered.connect(lambda: annotated_export.export_report(w))
        export.addAction(self.report_action)
        for a in self.actions.values():
            a.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)

    def _on_tool(self, tool: str) -> None:
        self.actions[tool].setChecked(True)
        for t in self.tools:
            t.set_cursor_shape()

    # -- ground truth -------------------------------------------------------------------
    def _on_volume(self, vol) -> None:
        if vol is None:
            return
        from engine.truth import find_truth_folder

        folder = find_truth_folder(vol.meta.get("source_path"))
        if folder is not None:
            self.load_truth(str(folder))

    def open_truth_dialog(self) -> None:
        if self.state.volume is None:
            self.win.show_error("truth", "Open a scan first: ground truth is read into the scan's frame.")
            return
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self.win, "Open ground truth", str(self.win._last_dir()),
            "Ground truth (labels.json *.nii *.nii.gz);;All files (*)")
        for p in paths:
            self.load_truth(p, add=True)

    def load_truth(self, path: str, add: bool = False) -> None:
        vol, scan_id = self.state.volume, self.state.scan_id
        base = self.state.truth if add else None
        self.win.runner.submit("truth", lambda: truth_job(path, vol, base), self._on_truth, scan_id=scan_id,
                               description=f"Reading ground truth {Path(path).name}")

    def _on_truth(self, truth) -> None:
        self.state.truth = truth
        if truth.warnings:
            self.win.statusBar().showMessage(" ".join(truth.warnings), 10000)

    def _compute_stats(self, _v=None) -> None:
        s = self.state
        s.truth_stats = None
        if s.truth is None or s.result is None or s.volume is None:
            return
        result, truth, affine = s.result, s.truth, s.volume.affine

        def done(stats) -> None:
            if s.result is result and s.truth is truth:
                s.truth_stats = stats

        self.win.runner.submit("truth_stats", lambda: stats_job(result, truth, affine), done,
                               scan_id=s.scan_id, description="Comparing maps with the truth")

    # -- live probe ---------------------------------------------------------------------
    def _on_hover(self, tools: SliceTools, pos) -> None:
        view = tools.view
        if self.state.volume is None or view.slice_index is None:
            return
        p = view.vb.mapSceneToView(pos)
        tools.last_mouse = p
        self._hover = (tools, p.x(), p.y())
        if not self._timer.isActive():
            self._timer.start()

    def _update_hover(self) -> None:
        if self._hover is None:
            return
        tools, x, y = self._hover
        view = tools.view
        ras = measure.world_point(self.state.volume, view.view, view.slice_index, x, y)
        self.win.probe_label.setText(probe_text(self.state, self.win.overlay, ras, prefix="Mouse: "))

    def eventFilter(self, obj, ev) -> bool:
        if ev.type() == QtCore.QEvent.Type.Leave:
            self._hover = None
            self._timer.stop()
            for t in self.tools:
                t.last_mouse = None
            self.win._update_probe()
        return False
