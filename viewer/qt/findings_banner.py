"""The banner over the findings: why a scan is unsuitable, and every warning, in full.

Two parts, each shown only when it has something to say:

* the suitability verdict (``result.suitability``, ``engine.suitability``): "Not a chest CT
  this model can read: ..." with every reason; the findings' probabilities are greyed and the
  heat maps stay off until the user presses "Show maps anyway" (``state.show_anyway``);
* the result's warnings (small coverage, resampled spacing, dropped series, ...), one line
  each, with the full text (the status bar shows them too, cut to its width).
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from engine.suitability import banner_text
from viewer.model.state import ViewerState

UNSUITABLE_STYLE = ("QFrame#unsuitable { background: #5c1f1f; border: 1px solid #c0504d; "
                    "border-radius: 3px; } QFrame#unsuitable QLabel { color: #ffecec; }")
WARNING_STYLE = ("QFrame#warnings { background: #4d4216; border: 1px solid #c9a227; "
                 "border-radius: 3px; } QFrame#warnings QLabel { color: #fff6d5; }")


def result_warnings(result) -> list[str]:
    return [str(w) for w in (result.extra.get("warnings", []) if result is not None else [])]


class FindingsBanner(QtWidgets.QWidget):
    """Observes ``state.result`` and ``state.show_anyway``; see the module docstring."""

    def __init__(self, state: ViewerState, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.unsuitable = QtWidgets.QFrame(self)
        self.unsuitable.setObjectName("unsuitable")
        self.unsuitable.setStyleSheet(UNSUITABLE_STYLE)
        self.verdict = QtWidgets.QLabel(self.unsuitable)
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.show_button = QtWidgets.QPushButton("Show maps anyway", self.unsuitable)
        self.show_button.setToolTip("Show the heat maps and probabilities of this scan although "
                                    "the model was not made for it")
        self.show_button.clicked.connect(lambda: setattr(self.state, "show_anyway", not self.state.show_anyway))
        ul = QtWidgets.QVBoxLayout(self.unsuitable)
        ul.setContentsMargins(6, 4, 6, 4)
        ul.addWidget(self.verdict)
        ul.addWidget(self.show_button, 0, QtCore.Qt.AlignmentFlag.AlignRight)

        self.warnings = QtWidgets.QFrame(self)
        self.warnings.setObjectName("warnings")
        self.warnings.setStyleSheet(WARNING_STYLE)
        self.warning_text = QtWidgets.QLabel(self.warnings)
        self.warning_text.setWordWrap(True)
        self.warning_text.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        wl = QtWidgets.QVBoxLayout(self.warnings)
        wl.setContentsMargins(6, 4, 6, 4)
        wl.addWidget(self.warning_text)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.unsuitable)
        lay.addWidget(self.warnings)
        state.events.connect("result", self.refresh)
        state.events.connect("show_anyway", self.refresh)
        self.refresh()

    def refresh(self, _v=None) -> None:
        r = self.state.result
        text = banner_text(getattr(r, "suitability", None)) if r is not None else None
        self.unsuitable.setVisible(text is not None)
        if text is not None:
            tail = (" The heat maps are shown at your request." if self.state.show_anyway else
                    " Its probabilities are greyed and its heat maps are off.")
            self.verdict.setText(text + tail)
            self.show_button.setText("Hide maps" if self.state.show_anyway else "Show maps anyway")
        warnings = result_warnings(r)
        self.warnings.setVisible(bool(warnings))
        self.warning_text.setText("\n".join(f"Warning: {w}" for w in warnings))
        self.setVisible(text is not None or bool(warnings))
