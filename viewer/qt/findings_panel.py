"""The findings panel: every label of the model card, grouped by organ, with probability bars.

A ``QTreeView`` over a ``QStandardItemModel`` behind a ``QSortFilterProxyModel`` (sortable by
any column, filterable by text, keyboard navigable).  Selecting a finding sets
``state.label``; the main window then jumps the cursor to the map's peak.

Above the list, a banner (``viewer.qt.findings_banner``) says when the scan is not one the
model can read (its probabilities are then drawn grey) and shows every warning in full.  The
"Call" column says which findings are positive at the model card's operating point (the
thresholds of ``engine.operating``); positives sort first, and a card without operating
points gets a note instead of invented thresholds.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from engine.operating import NO_OPERATING_POINT, not_called
from engine.results import METHODS
from viewer.model.findings import Finding, pretty
from viewer.model.state import ViewerState
from viewer.model.truth_readout import readout_html, truth_status
from viewer.qt.findings_banner import FindingsBanner

SORT_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
INDEX_ROLE = QtCore.Qt.ItemDataRole.UserRole + 2
POSITIVE_ROLE = QtCore.Qt.ItemDataRole.UserRole + 3
COLUMNS = ["Finding", "Probability", "Call", "In organ (HiResCAM)", "In organ (Grad-CAM)", "Truth"]
CALL_COLUMN = 2
TRUTH_COLUMN = 5  # shown only when the scan's ground truth is known
COLUMN_TIPS = [
    "Organ and abnormality (a label of the model card)",
    "The model's probability for this finding: calibrated on validation phantoms when the "
    "model card has a calibration (Platt scaling per finding), else sigmoid of the raw score",
    "Positive or negative at the model's operating point: the probability threshold chosen "
    "per finding on validation phantoms and recorded in the model card",
    "Where the HiResCAM evidence lies: of this finding's positive HiResCAM heat-map mass, the "
    "share inside the organ where the abnormality can be (high: the model looked in the "
    "right organ; low: its evidence lies elsewhere)",
    "The same share for the Grad-CAM heat map",
    "Ground truth: whether the finding is truly present in this scan (demo, phantom or masks you opened)"]


def _truth_icon() -> QtGui.QIcon:
    pm = QtGui.QPixmap(10, 10)
    pm.fill(QtCore.Qt.GlobalColor.transparent)
    p = QtGui.QPainter(pm)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    p.setBrush(QtGui.QColor(255, 64, 255))
    p.setPen(QtCore.Qt.PenStyle.NoPen)
    p.drawEllipse(1, 1, 8, 8)
    p.end()
    return QtGui.QIcon(pm)


def call_text(f: Finding, why_not: str | None = None) -> str:
    if f.positive is None:
        return "no call" if why_not else "—"
    return f"POSITIVE (≥ {100 * f.threshold:.0f}%)" if f.positive else f"negative (< {100 * f.threshold:.0f}%)"


def call_rank(f: Finding) -> float:
    """Sort key of the Call column: positives first, then findings without an operating
    point, then negatives; by probability within each."""
    return (2.0 if f.positive else 1.0 if f.positive is None else 0.0) * 10 + f.probability


class ProbabilityBarDelegate(QtWidgets.QStyledItemDelegate):
    """A horizontal bar proportional to the probability, with the percentage written *beside*
    it in the view's text colour (text drawn on the bar itself was unreadable where it
    crossed the bar's edge)."""

    BAR_MIN = 40  # px

    def _text_width(self, option) -> int:
        return option.fontMetrics.horizontalAdvance("100%") + 6

    def sizeHint(self, option, index) -> QtCore.QSize:
        hint = super().sizeHint(option, index)
        return QtCore.QSize(self.BAR_MIN + self._text_width(option) + 8, hint.height())

    def paint(self, painter: QtGui.QPainter, option, index) -> None:
        value = index.data(SORT_ROLE)
        if index.data(INDEX_ROLE) is None or value is None:
            super().paint(painter, option, index)
            return
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else QtWidgets.QApplication.style()
        option.text = ""
        style.drawControl(QtWidgets.QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        value = min(1.0, max(0.0, float(value)))
        text_w = self._text_width(option)
        cell = option.rect.adjusted(3, 0, -3, 0)
        bar = QtCore.QRectF(cell.x(), cell.y() + 3, max(8, cell.width() - text_w), cell.height() - 6)
        painter.save()
        painter.setPen(QtGui.QColor(110, 110, 110))
        painter.setBrush(QtGui.QColor(235, 235, 235))
        painter.drawRect(bar.adjusted(0, 0, -1, -1))
        painter.setPen(QtCore.Qt.PenStyle.NoPen)
        greyed = bool(getattr(self.parent(), "greyed", lambda: False)())
        colour = (QtGui.QColor(170, 170, 170) if greyed else QtGui.QColor(215, 70, 40)
                  if index.data(POSITIVE_ROLE) else QtGui.QColor(50, 120, 200))
        painter.setBrush(colour)
        painter.drawRect(QtCore.QRectF(bar.x(), bar.y(), (bar.width() - 1) * value, bar.height() - 1))
        selected = bool(option.state & QtWidgets.QStyle.StateFlag.State_Selected)
        role = QtGui.QPalette.ColorRole.HighlightedText if selected else QtGui.QPalette.ColorRole.Text
        painter.setPen(option.palette.color(role))
        text_rect = QtCore.QRectF(bar.right(), cell.y(), cell.right() - bar.right(), cell.height())
        painter.drawText(text_rect, QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter,
                         f"{100 * value:.0f}%")
        painter.restore()


class FindingsPanel(QtWidgets.QWidget):
    def __init__(self, state: ViewerState, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.findings: list[Finding] = []  # rows of the result shown; set by set_findings
        self.model = QtGui.QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(COLUMNS)
        for c, tip in enumerate(COLUMN_TIPS):
            self.model.horizontalHeaderItem(c).setToolTip(tip)
        self.proxy = QtCore.QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setFilterCaseSensitivity(QtCore.Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(0)

        self.filter_edit = QtWidgets.QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter findings (e.g. nodule, left)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.tree = QtWidgets.QTreeView(self)
        self.tree.setModel(self.proxy)
        self.tree.setSortingEnabled(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.greyed = self.greyed
        self.tree.setItemDelegateForColumn(1, ProbabilityBarDelegate(self.tree))
        self.tree.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.header().setStretchLastSection(False)
        # the finding's name is what a reader looks for: always wide enough to read, the
        # numbers beside it scroll when the panel is narrow
        self.tree.header().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.placeholder = QtWidgets.QLabel("Findings appear here when the model has run.", self)
        self.placeholder.setWordWrap(True)
        self.readout = QtWidgets.QLabel(self)
        self.readout.setWordWrap(True)
        self.readout.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.banner = FindingsBanner(state, self)
        self.op_note = QtWidgets.QLabel(NO_OPERATING_POINT, self)
        self.op_note.setWordWrap(True)
        self.op_note.setStyleSheet("color: #a0a0a0;")
        self.op_note.hide()

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.banner)
        lay.addWidget(self.filter_edit)
        lay.addWidget(self.placeholder)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.op_note)
        lay.addWidget(self.readout)

        self.tree.selectionModel().currentChanged.connect(self._on_current)
        state.events.connect("label", self._on_state_label)
        # A new result (or none) makes the rows of the previous one stale: clear them at once,
        # so a label set before ``set_findings`` never reads another result's findings.
        state.events.connect("result", lambda _r: self.set_findings(None))
        state.events.connect("show_anyway", lambda _v: self.tree.viewport().update())
        state.events.connect("truth", self._show_truth)
        # the statistics change only the readout, not the Truth column
        state.events.connect("truth_stats", lambda _v: self._on_state_label(self.state.label))
        self.tree.setColumnHidden(TRUTH_COLUMN, True)

    def greyed(self) -> bool:
        """Probabilities are drawn grey while the scan is unsuitable and not shown anyway."""
        return self.state.maps_hidden()

    # -- content ------------------------------------------------------------------------
    def set_findings(self, findings: list[Finding] | None) -> None:
        self.findings = findings or []
        self.model.removeRows(0, self.model.rowCount())
        self.placeholder.setVisible(not findings)
        self.readout.clear()
        self.op_note.setVisible(bool(findings) and all(f.positive is None for f in findings))
        if not findings:
            return
        organs: dict[str, QtGui.QStandardItem] = {}
        result = self.state.result
        why_not = not_called(result.card) if result is not None and result.card else {}
        parents: dict[str, list[QtGui.QStandardItem]] = {}
        for f in findings:
            if f.organ not in organs:
                row = [QtGui.QStandardItem(pretty(f.organ))] + [QtGui.QStandardItem() for _ in COLUMNS[1:]]
                for it in row:
                    it.setEditable(False)
                    it.setSelectable(False)
                font = row[0].font()
                font.setBold(True)
                row[0].setFont(font)
                row[0].setData(pretty(f.organ), SORT_ROLE)
                organs[f.organ] = row[0]
                parents[f.organ] = row
                self.model.appendRow(row)
            items = [QtGui.QStandardItem(pretty(f.abnormality)), QtGui.QStandardItem(),
                     QtGui.QStandardItem(call_text(f, why_not.get(f.name)))]
            items[0].setData(pretty(f.abnormality), SORT_ROLE)
            items[0].setToolTip(f.name)
            items[1].setData(f.probability, SORT_ROLE)
            items[1].setData(bool(f.positive), POSITIVE_ROLE)
            items[1].setToolTip(f"p = {f.probability:.3f} (logit {f.logit:+.2f})")
            items[2].setData(call_rank(f), SORT_ROLE)
            items[2].setToolTip(why_not.get(f.name, "No operating point for this finding in the model card")
                                if f.positive is None else f"threshold {f.threshold:.3f}: p {'≥' if f.positive else '<'} threshold")
            if f.positive:
                for it in items[:3]:
                    font = it.font()
                    font.setBold(True)
                    it.setFont(font)
            for m in METHODS:
                share = f.organ_share.get(m)
                it = QtGui.QStandardItem("—" if share is None else f"{100 * share:.0f}%")
                it.setData(-1.0 if share is None else share, SORT_ROLE)
                if share is None:
                    it.setToolTip("No positive map values (or no organ map): nothing to locate")
                it.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
                items.append(it)
            items.append(QtGui.QStandardItem())  # Truth, filled by _show_truth
            for it in items:
                it.setEditable(False)
                it.setData(f.index, INDEX_ROLE)
            organs[f.organ].appendRow(items)
            prow = parents[f.organ]
            best = max(prow[1].data(SORT_ROLE) or 0.0, f.probability)
            prow[1].setData(best, SORT_ROLE)
            prow[CALL_COLUMN].setData(max(prow[CALL_COLUMN].data(SORT_ROLE) or 0.0, call_rank(f)), SORT_ROLE)
        self.tree.expandAll()
        self.tree.sortByColumn(CALL_COLUMN, QtCore.Qt.SortOrder.DescendingOrder)
        for c in range(1, len(COLUMNS)):
            self.tree.resizeColumnToContents(c)
        self.tree.setColumnWidth(1, max(104, self.tree.columnWidth(1)))
        self._show_truth()

    def _show_truth(self, _v=None) -> None:
        """Fill the Truth column (hidden without truth) and refresh the readout."""
        truth = self.state.truth
        self.tree.setColumnHidden(TRUTH_COLUMN, truth is None)
        # one sort after the loop, not one per item changed (about 40 ms for the demo's 19)
        self.proxy.setDynamicSortFilter(False)
        try:
            self._fill_truth(truth)
        finally:
            self.proxy.setDynamicSortFilter(True)
            self.proxy.invalidate()
        if truth is not None:
            self.tree.resizeColumnToContents(TRUTH_COLUMN)
        if self.state.label is not None:
            self._on_state_label(self.state.label)

    def _fill_truth(self, truth) -> None:
        for r in range(self.model.rowCount()):
            parent = self.model.item(r, 0)
            for c in range(parent.rowCount()):
                it = parent.child(c, TRUTH_COLUMN)
                f = next((f for f in self.findings if f.index == parent.child(c, 0).data(INDEX_ROLE)), None)
                status = truth_status(truth, f.name) if f is not None else None
                it.setText({"present": "✔ present", "absent": "absent"}.get(status, ""))
                it.setData({"present": 2, "absent": 0}.get(status, 1), SORT_ROLE)
                it.setForeground(QtGui.QBrush(QtGui.QColor(200, 40, 200) if status == "present" else
                                              QtGui.QColor(130, 130, 130)))
                name = parent.child(c, 0)  # a magenta dot before the name: visible however narrow
                name.setIcon(_truth_icon() if status == "present" else QtGui.QIcon())
                name.setToolTip(f.name + (f" — truth: {status}" if status else "") if f is not None else "")

    def proxy_index_of(self, label: int) -> QtCore.QModelIndex:
        for r in range(self.proxy.rowCount()):
            parent = self.proxy.index(r, 0)
            for c in range(self.proxy.rowCount(parent)):
                idx = self.proxy.index(c, 0, parent)
                if idx.data(INDEX_ROLE) == label:
                    return idx
        return QtCore.QModelIndex()

    def select_label(self, label: int) -> None:
        idx = self.proxy_index_of(label)
        if idx.isValid():
            self.tree.setCurrentIndex(idx)

    # -- selection ----------------------------------------------------------------------
    def _on_current(self, current: QtCore.QModelIndex, _previous=None) -> None:
        label = current.data(INDEX_ROLE)
        if label is not None:
            self.state.label = int(label)

    def _on_state_label(self, label) -> None:
        if label is None:
            self.readout.clear()
            return
        cur = self.tree.currentIndex()
        if cur.data(INDEX_ROLE) != label:
            self.select_label(label)
        f = next((f for f in self.findings if f.index == label), None)
        if f is not None:
            parts = []
            for m, title in (("hirescam", "HiResCAM"), ("gradcam", "Grad-CAM")):
                s = f.organ_share.get(m)
                parts.append(f"{title}: {'—' if s is None else f'{100 * s:.0f}%'}")
            self.readout.setText(
                f"<b>{pretty(f.organ)} — {pretty(f.abnormality)}</b>, p = {f.probability:.2f}<br>"
                f"Positive map mass inside the {pretty(f.organ).lower()}: {'; '.join(parts)}"
                + (f"<br>{t}" if (t := readout_html(self.state.truth, self.state.truth_stats, f.name)) else ""))
