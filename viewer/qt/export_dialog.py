"""Dialog choosing which heat maps to export as NIfTI (labels x methods, output folder)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from engine.results import METHODS
from viewer.model.findings import pretty
from viewer.model.state import METHOD_TITLES


class ExportMapsDialog(QtWidgets.QDialog):
    def __init__(self, result, findings, current_label: int | None, start_dir: str,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export heat maps as NIfTI")
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(QtWidgets.QLabel(
            "Raw signed maps (logit contribution) resampled onto the scan's grid and affine, so "
            "they open aligned with the scan in 3D Slicer or ITK-SNAP.\n"
            "Files: <folder>/maps/<method>/<organ>__<abnormality>.nii.gz", self))
        self.labels = QtWidgets.QListWidget(self)
        self.labels.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        probs = {f.index: f.probability for f in findings}
        for i, lab in enumerate(result.labels):
            item = QtWidgets.QListWidgetItem(f"{pretty(lab.organ)} — {pretty(lab.abnormality)}  "
                                             f"({100 * probs.get(i, 0):.0f}%)")
            item.setData(QtCore.Qt.ItemDataRole.UserRole, i)
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            chosen = i == current_label if current_label is not None else probs.get(i, 0) >= 0.5
            item.setCheckState(QtCore.Qt.CheckState.Checked if chosen else QtCore.Qt.CheckState.Unchecked)
            self.labels.addItem(item)
        lay.addWidget(self.labels)
        row = QtWidgets.QHBoxLayout()
        self.methods = {}
        for m in METHODS:
            cb = QtWidgets.QCheckBox(METHOD_TITLES[m], self)
            cb.setChecked(True)
            self.methods[m] = cb
            row.addWidget(cb)
        lay.addLayout(row)
        row = QtWidgets.QHBoxLayout()
        self.folder = QtWidgets.QLineEdit(start_dir, self)
        browse = QtWidgets.QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        row.addWidget(QtWidgets.QLabel("Folder", self))
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        lay.addLayout(row)
        bb = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                        | QtWidgets.QDialogButtonBox.StandardButton.Cancel, self)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        lay.addWidget(bb)

    def _browse(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Export folder", self.folder.text())
        if d:
            self.folder.setText(d)

    def choice(self) -> tuple[list[int], list[str], str]:
        labels = [self.labels.item(r).data(QtCore.Qt.ItemDataRole.UserRole)
                  for r in range(self.labels.count())
                  if self.labels.item(r).checkState() == QtCore.Qt.CheckState.Checked]
        methods = [m for m, cb in self.methods.items() if cb.isChecked()]
        return labels, methods, self.folder.text()
