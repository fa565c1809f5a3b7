"""The 3D view with its control bar (as Slicer's view controller): CT preset, clip plane,
camera reset, per-organ visibility and exports.

The bar only writes the 3D fields of :class:`ViewerState` (``preset3d``, ``clip3d``,
``clip3d_position``, ``clip3d_flip``, ``organs3d_hidden``) and follows them;
:class:`viewer.qt.view3d_link.View3DLink` applies them to the view.  Exports are asked of the
main window (``export_3d``), which runs them in a worker process with a progress dialog.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from viewer.model.findings import pretty
from viewer.model.overlay import OverlayModel, organ_colour
from viewer.model.state import ViewerState
from viewer.render3d.style import PRESETS

CLIP_TITLES = {None: "No clip", "axial": "Axial cut", "coronal": "Coronal cut", "sagittal": "Sagittal cut"}
PRESET_TITLES = {"soft tissue chest": "Soft tissue (chest)", "lung": "Lung", "bone": "Bone", "MIP": "MIP"}


class View3DBar(QtWidgets.QWidget):
    """The control bar above the 3D view."""

    def __init__(self, state: ViewerState, overlay: OverlayModel, reset_camera: Callable[[], None],
                 export: Callable[[str], None] | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.overlay = state, overlay
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(2, 1, 2, 1)
        lay.setSpacing(4)

        self.preset = QtWidgets.QComboBox(self)
        for name in PRESETS:
            self.preset.addItem(PRESET_TITLES.get(name, name), name)
        self.preset.setToolTip("3D rendering preset of the CT")
        self.preset.currentIndexChanged.connect(lambda i: setattr(state, "preset3d", self.preset.itemData(i)))
        lay.addWidget(self.preset)

        self.clip = QtWidgets.QComboBox(self)
        for key, title in CLIP_TITLES.items():
            self.clip.addItem(title, key)
        self.clip.setToolTip("Cut the CT and organ surfaces with a plane (heat maps stay whole)")
        self.clip.currentIndexChanged.connect(lambda i: setattr(state, "clip3d", self.clip.itemData(i)))
        lay.addWidget(self.clip)
        self.clip_pos = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal, self)
        self.clip_pos.setRange(0, 100)
        self.clip_pos.setMinimumWidth(50)
        self.clip_pos.setToolTip("Position of the clip plane along its axis")
        self.clip_pos.valueChanged.connect(lambda v: setattr(state, "clip3d_position", v / 100))
        lay.addWidget(self.clip_pos, 1)
        self.clip_flip = QtWidgets.QToolButton(self)
        self.clip_flip.setText("⇅")
        self.clip_flip.setCheckable(True)
        self.clip_flip.setToolTip("Keep the other side of the clip plane")
        self.clip_flip.toggled.connect(lambda on: setattr(state, "clip3d_flip", on))
        lay.addWidget(self.clip_flip)

        self.reset = QtWidgets.QToolButton(self)
        self.reset.setText("Anterior")
        self.reset.setToolTip("Reset the camera: anterior view, patient's right on the screen's left")
        self.reset.clicked.connect(reset_camera)
        lay.addWidget(self.reset)

        self.organs = QtWidgets.QToolButton(self)
        self.organs.setText("Organs")
        self.organs.setToolTip("Show or hide each organ's surface")
        self.organs.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        self.organs_menu = QtWidgets.QMenu(self.organs)
        self.organs.setMenu(self.organs_menu)
        self.organ_actions: dict[int, QtGui.QAction] = {}
        lay.addWidget(self.organs)

        self.export = QtWidgets.QToolButton(self)
        self.export.setText("Export")
        self.export.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QtWidgets.QMenu(self.export)
        self.export_actions = {
            "screenshot": menu.addAction("3D view as PNG…", lambda: export and export("screenshot")),
            "turntable": menu.addAction("Turntable animation (GIF)…", lambda: export and export("turntable")),
        }
        self.export.setMenu(menu)
        lay.addWidget(self.export)

        for name in ("preset3d", "clip3d", "clip3d_position", "clip3d_flip", "organs3d_hidden", "outlines"):
            state.events.connect(name, self._sync)
        state.events.connect("result", self._rebuild_organs)
        self._rebuild_organs()
        self._sync()

    def _rebuild_organs(self, _v=None) -> None:
        self.organs_menu.clear()
        self.organ_actions = {}
        for code, name in sorted(self.overlay.organ_names().items()):
            swatch = QtGui.QPixmap(12, 12)
            swatch.fill(QtGui.QColor(*organ_colour(code)))
            a = self.organs_menu.addAction(QtGui.QIcon(swatch), pretty(name))
            a.setCheckable(True)
            a.setData(code)
            a.toggled.connect(lambda on, c=code: self._toggle_organ(c, on))
            self.organ_actions[code] = a
        self.organs.setEnabled(bool(self.organ_actions))
        self._sync()

    def _toggle_organ(self, code: int, on: bool) -> None:
        hidden = set(self.state.organs3d_hidden)
        (hidden.discard if on else hidden.add)(code)
        self.state.organs3d_hidden = hidden
        if on and not self.state.outlines:
            self.state.outlines = True  # showing an organ needs organ display on

    def _sync(self, _v=None) -> None:
        s = self.state
        widgets = [self.preset, self.clip, self.clip_pos, self.clip_flip, *self.organ_actions.values()]
        for w in widgets:
            w.blockSignals(True)
        self.preset.setCurrentIndex(max(0, self.preset.findData(s.preset3d)))
        self.clip.setCurrentIndex(max(0, self.clip.findData(s.clip3d)))
        self.clip_pos.setValue(round(100 * s.clip3d_position))
        self.clip_flip.setChecked(s.clip3d_flip)
        for code, a in self.organ_actions.items():
            a.setChecked(s.outlines and code not in s.organs3d_hidden)
        for w in widgets:
            w.blockSignals(False)
        self.clip_pos.setEnabled(s.clip3d is not None)
        self.clip_flip.setEnabled(s.clip3d is not None)


class View3DPanel(QtWidgets.QWidget):
    """The control bar over the 3D view; ``view`` is the :class:`Render3DView`."""

    def __init__(self, state: ViewerState, overlay: OverlayModel, view: QtWidgets.QWidget,
                 reset_camera: Callable[[], None], export: Callable[[str], None] | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.bar = View3DBar(state, overlay, reset_camera, export, self)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.bar)
        lay.addWidget(view, 1)
        self.setMinimumSize(160, 160)
