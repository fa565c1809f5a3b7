"""The main window's menu bar and its Help dialogs."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6 import QtGui, QtWidgets

from engine.resources import demo_case_path
from viewer.model.state import METHOD_TITLES, VIEWS, WL_PRESETS

MAX_RECENT = 8  # files in File > Open recent


class MenuActions:
    """Menus of :class:`viewer.qt.main_window.MainWindow` (a base class of it: the actions
    call the window's own methods)."""

    def _menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        f.addAction("&Open file…", QtGui.QKeySequence.StandardKey.Open, self.open_file_dialog)
        f.addAction("Open &DICOM folder…", self.open_folder_dialog)
        f.addAction("Open from &PACS…", self.open_pacs_dialog)
        f.addAction("Open d&emo case", self.open_demo)
        self.recent_menu = f.addMenu("Open &recent")
        self._rebuild_recent()
        f.addSeparator()
        e = f.addMenu("&Export")
        self.export_actions = {
            "screenshot": e.addAction("Screenshot of the views (PNG)…", self.export_screenshot),
            "maps": e.addAction("Heat maps (NIfTI, scan geometry)…", self.export_maps_dialog),
            "dicom": e.addAction("DICOM results (SEG, Parametric Maps, SR)…", self.export_dicom_dialog),
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
        methods = QtGui.QActionGroup(self)  # exclusive: the menu ticks the method shown
        self.method_actions = {}
        for key in ("hirescam", "gradcam", "difference"):
            a = m.addAction(METHOD_TITLES[key], lambda k=key: setattr(self.state, "method", k))
            a.setCheckable(True)
            methods.addAction(a)
            self.method_actions[key] = a
        self._tick_method(self.state.method)
        self.state.events.connect("method", self._tick_method)
        h = mb.addMenu("&Help")
        h.addAction("&Model card…", self.show_model_card)
        h.addAction("&Mouse and keys…", self.show_help)

    # -- dialogs ------------------------------------------------------------------------
    def show_model_card(self) -> None:
        from viewer.qt.model_dialog import ModelCardDialog

        card = self.state.result.card if self.state.result is not None else _bundled_card()
        ModelCardDialog(card, self).open()

    def _tick_method(self, method=None) -> None:
        a = self.method_actions.get(self.state.method)
        if a is not None and not a.isChecked():
            a.setChecked(True)

    def open_pacs_dialog(self, url: str | None = None):
        """The (non-modal) Open from PACS dialog; one per window."""
        from viewer.qt.pacs_dialog import PacsDialog

        dlg = self.findChild(PacsDialog)
        if dlg is None:
            dlg = PacsDialog(self, url)
        elif url:
            dlg.url.setText(url)
        dlg.show()
        dlg.raise_()
        return dlg

    def show_help(self) -> None:
        QtWidgets.QMessageBox.information(self, "Mouse and keys", HELP_TEXT)

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
