"""Export > DICOM results from the viewer: organ SEG, the selected finding's Parametric Maps,
findings SR, referencing the scan (written as a CT series for a NIfTI input)."""

from __future__ import annotations

import pydicom
from viewer_case import make_result
from viewer_helpers import open_and_wait, show_result, write_case


def test_export_dicom_results_of_the_selected_finding(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    show_result(window, make_result(volume))
    window.findings_panel.select_label(0)
    out = tmp_path / "dicom"
    window.export_dicom_dialog(str(out))
    qtbot.waitUntil(lambda: not window.runner.is_busy(), timeout=30000)
    kinds = {}
    for p in window.last_exported:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        kinds.setdefault(ds.Modality, []).append(ds)
    assert set(kinds) == {"SEG", "OT", "SR"} and len(kinds["OT"]) == 2  # both methods
    assert all("left_lung/nodule" in ds.SeriesDescription for ds in kinds["OT"])
    ct = sorted((out / "source_ct").glob("*.dcm"))
    assert len(ct) == volume.shape[2]
    ref = pydicom.dcmread(ct[0], stop_before_pixels=True)
    assert {ds.FrameOfReferenceUID for ds in kinds["SEG"] + kinds["OT"]} == {ref.FrameOfReferenceUID}
    assert "Saved" in window.statusBar().currentMessage()
    assert int(kinds["OT"][0].NumberOfFrames) > 0
