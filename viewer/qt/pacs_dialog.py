"""File > Open from PACS: search studies, list a study's series, retrieve one and open it.

Every network call runs in the main window's job runner (never on the GUI thread): the
search and the series list as quick jobs, the retrieve with the window's progress bar and
Cancel.  Failures arrive through the runner's error dialog with the engine's message.  The
last server address and user are remembered (QSettings); the password is not.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

COLUMNS_STUDIES = ("Patient", "Patient ID", "Date", "Description", "Modalities", "Series")
COLUMNS_SERIES = ("#", "Modality", "Description", "Images")


def _table(columns) -> QtWidgets.QTableWidget:
    t = QtWidgets.QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(list(columns))
    t.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
    t.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    t.horizontalHeader().setStretchLastSection(True)
    t.verticalHeader().setVisible(False)
    return t


def _pair(left: QtWidgets.QWidget, between: str, right: QtWidgets.QWidget) -> QtWidgets.QHBoxLayout:
    row = QtWidgets.QHBoxLayout()
    row.addWidget(left)
    row.addWidget(QtWidgets.QLabel(between))
    row.addWidget(right)
    return row


def person_name(pn: str) -> str:
    """DICOM PN "Family^Given^Middle" as a reader writes it: "Family, Given Middle"."""
    parts = [p for p in pn.split("^") if p]
    return parts[0] + (", " + " ".join(parts[1:]) if len(parts) > 1 else "") if parts else ""


def _date(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


class PacsDialog(QtWidgets.QDialog):
    def __init__(self, window, url: str | None = None) -> None:
        super().__init__(window)
        self.setObjectName("pacs_dialog")
        self.setWindowTitle("Open from PACS (DICOMweb)")
        self.window_ = window
        self.studies: list = []
        self.series: list = []
        settings = QtCore.QSettings("ctcam", "ctcam")
        self.url = QtWidgets.QLineEdit(url or str(settings.value("pacs/url", "http://localhost:8042/dicom-web")))
        self.user = QtWidgets.QLineEdit(str(settings.value("pacs/user", "")))
        self.password = QtWidgets.QLineEdit()
        self.password.setEchoMode(QtWidgets.QLineEdit.EchoMode.Password)
        self.name = QtWidgets.QLineEdit()
        self.name.setPlaceholderText("e.g. Smith* (wildcards * ?)")
        self.patient_id = QtWidgets.QLineEdit()
        self.date_from = QtWidgets.QLineEdit()
        self.date_to = QtWidgets.QLineEdit()
        for w in (self.date_from, self.date_to):
            w.setPlaceholderText("YYYYMMDD")
        self.modality = QtWidgets.QComboBox()
        self.modality.addItems(["CT", "any"])
        form = QtWidgets.QFormLayout()
        form.addRow("Server (DICOMweb root)", self.url)
        form.addRow("User", _pair(self.user, "password", self.password))
        form.addRow("Patient name", self.name)
        form.addRow("Patient ID", self.patient_id)
        form.addRow("Study date", _pair(self.date_from, "to", self.date_to))
        form.addRow("Modality in study", self.modality)
        self.search_button = QtWidgets.QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        self.study_table = _table(COLUMNS_STUDIES)
        self.study_table.itemSelectionChanged.connect(self._on_study_selected)
        self.series_table = _table(COLUMNS_SERIES)
        self.series_table.itemSelectionChanged.connect(self._update_buttons)
        self.series_table.doubleClicked.connect(lambda _i: self.open_selected())
        self.status = QtWidgets.QLabel("Search the PACS for studies.")
        self.status.setWordWrap(True)
        self.open_button = QtWidgets.QPushButton("Retrieve and open")
        self.open_button.clicked.connect(self.open_selected)
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(close)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.search_button, 0, QtCore.Qt.AlignmentFlag.AlignRight)
        lay.addWidget(QtWidgets.QLabel("Studies"))
        lay.addWidget(self.study_table, 2)
        lay.addWidget(QtWidgets.QLabel("Series of the selected study"))
        lay.addWidget(self.series_table, 1)
        lay.addLayout(buttons)
        self.resize(900, 640)
        self._update_buttons()

    # -- engine calls (in the runner's workers) -------------------------------------------
    def _client(self):
        from engine.pacs import PacsClient

        settings = QtCore.QSettings("ctcam", "ctcam")
        settings.setValue("pacs/url", self.url.text().strip())
        settings.setValue("pacs/user", self.user.text().strip())
        return PacsClient(self.url.text().strip(), user=self.user.text().strip() or None,
                          password=self.password.text())

    def _run(self, kind: str, fn, on_result, description: str) -> None:
        from engine.pacs import PacsError

        self.status.setText(description + " …")
        try:
            client = self._client()  # checks the address; cheap, no network
        except PacsError as exc:  # a bad address
            self.status.setText(str(exc))
            return
        self.window_.runner.submit(kind, lambda: fn(client), on_result, scan_id=None,
                                   description=description)

    def search(self) -> None:
        filters = dict(patient_name=self.name.text().strip(), patient_id=self.patient_id.text().strip(),
                       date_from=self.date_from.text().strip(), date_to=self.date_to.text().strip(),
                       modality="" if self.modality.currentText() == "any" else self.modality.currentText())
        self._run("pacs-search", lambda c: c.search_studies(**filters), self._show_studies,
                  "Searching the PACS")

    def _on_study_selected(self) -> None:
        row = self.study_table.currentRow()
        self.series = []
        self.series_table.setRowCount(0)
        self._update_buttons()
        if 0 <= row < len(self.studies):
            uid = self.studies[row].uid
            self._run("pacs-series", lambda c: c.list_series(uid), self._show_series,
                      "Listing the study's series")

    def open_selected(self) -> None:
        row = self.series_table.currentRow()
        if not 0 <= row < len(self.series):
            return
        chosen = self.series[row]
        if chosen.modality != "CT":
            kind = chosen.modality or "of no stated modality"
            self.status.setText(f"Series {chosen.number or ''} is {kind}, not CT: ctcam reads "
                                "chest CT only.")
            return
        from engine.pacs import SeriesCache

        self._run("pacs-retrieve", lambda c: c.iter_retrieve(chosen, SeriesCache()), self._opened,
                  "Retrieving the series from the PACS")

    # -- results (GUI thread) -------------------------------------------------------------
    def _show_studies(self, studies) -> None:
        self.studies = list(studies)
        t = self.study_table
        t.setRowCount(len(self.studies))
        for r, s in enumerate(self.studies):
            values = (person_name(s.patient_name), s.patient_id, _date(s.date), s.description,
                      ", ".join(s.modalities), "" if s.n_series is None else str(s.n_series))
            for c, v in enumerate(values):
                t.setItem(r, c, QtWidgets.QTableWidgetItem(v))
        t.resizeColumnsToContents()
        self.status.setText(f"{len(self.studies)} stud{'y' if len(self.studies) == 1 else 'ies'} found."
                            + (" Select one to see its series." if self.studies else ""))
        if self.studies:
            t.selectRow(0)

    def _show_series(self, series) -> None:
        self.series = list(series)
        t = self.series_table
        t.setRowCount(len(self.series))
        for r, s in enumerate(self.series):
            values = ("" if s.number is None else str(s.number), s.modality, s.description,
                      "" if s.n_instances is None else str(s.n_instances))
            for c, v in enumerate(values):
                t.setItem(r, c, QtWidgets.QTableWidgetItem(v))
        t.resizeColumnsToContents()
        ct = [r for r, s in enumerate(self.series) if s.modality == "CT"]
        if ct:
            t.selectRow(ct[0])
        self.status.setText(f"{len(self.series)} series, {len(ct)} CT.")
        self._update_buttons()

    def _opened(self, folder) -> None:
        self.status.setText(f"Retrieved into {folder}; opening.")
        self.window_.open_path(str(folder))

    def _update_buttons(self) -> None:
        row = self.series_table.currentRow()
        self.open_button.setEnabled(0 <= row < len(self.series))
