"""File > Open from PACS against a real Orthanc: search, series list, retrieve, open."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from orthanc_server import orthanc
from PySide6 import QtCore

from engine.io.dicom import write_dicom_series
from engine.pacs import PacsClient
from engine.volume import CTVolume


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    root = tmp_path_factory.mktemp("orthanc")
    with orthanc(root) as url:
        rng = np.random.default_rng(3)
        hu = rng.integers(-1000, 400, size=(40, 36, 12)).astype(np.int16)
        vol = CTVolume(hu, np.diag([1.0, 1.0, 2.5, 1.0]))
        files = write_dicom_series(root / "s", vol, uid_seed="dialog", patient_id="PAT-D",
                                   patient_name="Delta^Dora", series_description="chest d")
        PacsClient(url).store([pydicom.dcmread(p) for p in files])
        yield url, vol


def test_search_select_retrieve_and_open(qtbot, window, pacs, tmp_path, monkeypatch):
    url, vol = pacs
    monkeypatch.setenv("CTCAM_PACS_CACHE", str(tmp_path / "cache"))
    QtCore.QSettings("ctcam", "ctcam").remove("pacs")
    dlg = window.open_pacs_dialog(url)
    assert dlg.isVisible() and dlg.url.text() == url
    dlg.name.setText("delta*")
    dlg.search_button.click()
    qtbot.waitUntil(lambda: dlg.study_table.rowCount() == 1, timeout=10000)
    assert dlg.study_table.item(0, 0).text() == "Delta, Dora"
    assert dlg.study_table.item(0, 1).text() == "PAT-D"
    qtbot.waitUntil(lambda: dlg.series_table.rowCount() == 1, timeout=10000)
    assert dlg.series_table.item(0, 1).text() == "CT" and dlg.series_table.item(0, 3).text() == "12"
    assert dlg.open_button.isEnabled()
    dlg.open_button.click()
    qtbot.waitUntil(lambda: window.state.volume is not None
                    and window.state.volume.shape == vol.shape, timeout=20000)
    assert np.array_equal(window.state.volume.hu, vol.hu)
    assert "Retrieved into" in dlg.status.text()


def test_an_unreachable_server_is_a_message_not_a_crash(qtbot, window):
    from orthanc_server import free_port
    from PySide6 import QtWidgets

    messages = []
    window.runner.failed.connect(lambda kind, msg: messages.append(msg))
    dlg = window.open_pacs_dialog(f"http://127.0.0.1:{free_port()}/dicom-web")
    dlg.search_button.click()
    qtbot.waitUntil(lambda: bool(messages), timeout=10000)
    assert "cannot be reached" in messages[0] and "Traceback" not in messages[0]
    box = window.findChild(QtWidgets.QMessageBox, "error_box")
    if box is not None:
        box.close()
    dlg.url.setText("localhost:8042")
    dlg.search_button.click()
    assert "must start with http" in dlg.status.text()
