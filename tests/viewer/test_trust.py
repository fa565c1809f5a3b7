"""What a radiologist must be able to trust (docs/suitability.md): the unsuitable-scan banner with its
greyed probabilities and maps off until "show anyway", warnings in full, operating points,
a comparison pane that says why it is empty, and the map's true resolution."""

from __future__ import annotations

import csv

import numpy as np
from PySide6 import QtCore
from viewer_case import make_result
from viewer_helpers import open_and_wait, settle, show_result, write_case

from viewer.model import sampling_adapter
from viewer.model.findings import summarise, write_csv

UNSUITABLE = {"ok": False, "reasons": ["no right lung found", "no heart found between the lungs"],
              "checks": {}}


def test_unsuitable_scan_banner_greys_and_hides_maps_until_show_anyway(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    result = make_result(volume)
    result.suitability = UNSUITABLE
    show_result(window, result)
    panel = window.findings_panel
    banner = panel.banner
    assert banner.unsuitable.isVisibleTo(panel)
    text = banner.verdict.text()
    assert text.startswith("Not a chest CT this model can read: no right lung found; no heart found")
    assert "greyed" in text and panel.greyed()
    window.state.label = 0  # selected: still no map anywhere
    settle()
    assert not window.overlay.has_map()
    assert window.overlay.slice_rgba("axial", 12, "hirescam") is None
    assert not window.view_area.views["axial"].overlay_item.isVisible()
    banner.show_button.click()
    settle()
    assert window.state.show_anyway and window.overlay.has_map() and not panel.greyed()
    assert banner.show_button.text() == "Hide maps"
    # a new scan starts hidden again
    open_and_wait(qtbot, window, write_case(tmp_path, volume, "other.nii.gz"))
    assert window.state.show_anyway is False and not banner.isVisibleTo(panel)


def test_suitable_scan_has_no_banner_and_warnings_show_in_full(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    result = make_result(volume)
    result.suitability = {"ok": True, "reasons": [], "checks": {}}
    show_result(window, result)
    assert not window.findings_panel.banner.isVisibleTo(window.findings_panel)
    long = "case.nii.gz was resampled to even slice spacing " + "and this sentence goes on " * 12 + "END."
    result = make_result(volume)
    result.extra["warnings"] = [long, "series 2 dropped"]
    show_result(window, result)
    b = window.findings_panel.banner
    assert b.warnings.isVisibleTo(window.findings_panel) and not b.unsuitable.isVisibleTo(window.findings_panel)
    assert long in b.warning_text.text() and "series 2 dropped" in b.warning_text.text()
    assert window.state.maps_hidden() is False


def _card_with_operating_points(result):
    names = [lab.name for lab in result.labels]
    result.card = dict(result.card, metrics={"test": {"operating_point": {
        "rule": "Youden", "probability": {names[0]: 0.95, names[1]: 0.1, names[2]: 0.5}}}})
    return result


def test_operating_points_call_positives_first_and_are_exported(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    result = make_result(volume)  # probabilities 0.9, 0.2, 0.4
    show_result(window, result)
    panel = window.findings_panel
    assert panel.op_note.isVisibleTo(panel) and "no operating points" in panel.op_note.text()
    assert panel.proxy_index_of(0).siblingAtColumn(2).data() == "—"
    result = _card_with_operating_points(make_result(volume))
    show_result(window, result)
    assert not panel.op_note.isVisibleTo(panel)
    calls = {i: panel.proxy_index_of(i).siblingAtColumn(2).data() for i in range(3)}
    assert calls[0].startswith("negative") and calls[1].startswith("POSITIVE (≥ 10%)")
    assert calls[2].startswith("negative (< 50%)")
    # the only positive (right lung nodule at 20 %) sorts first, above the 90 % negative
    first_organ = panel.proxy.index(0, 0)
    assert first_organ.data() == "Right lung"
    assert panel.proxy.index(0, 1).data() is None  # organ rows carry no bar text
    findings = summarise(result, volume.affine)
    assert [f.positive for f in findings] == [False, True, False]
    path = tmp_path / "f.csv"
    write_csv(path, findings)
    rows = list(csv.DictReader(path.open()))
    assert rows[1]["positive"] == "true" and rows[1]["threshold"] == "0.1000" and rows[0]["positive"] == "false"


def test_a_finding_the_model_cannot_tell_apart_says_no_call_and_why(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    result = _card_with_operating_points(make_result(volume))
    names = [lab.name for lab in result.labels]
    op = result.card["metrics"]["test"]["operating_point"]
    del op["probability"][names[1]]
    op["not_called"] = {names[1]: "validation AUROC 0.55 is under 0.75: no call"}
    show_result(window, result)
    panel = window.findings_panel
    cell = panel.proxy_index_of(1).siblingAtColumn(2)
    assert cell.data() == "no call"
    assert "validation AUROC 0.55" in cell.data(QtCore.Qt.ItemDataRole.ToolTipRole)
    assert panel.proxy_index_of(0).siblingAtColumn(2).data().startswith("negative")
    assert [f.positive for f in summarise(result, volume.affine)] == [False, None, False]


def test_joint_scaling_notice_names_the_ratio_and_per_map_is_default(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    result = make_result(volume)
    result.maps["gradcam"][0] *= 0.05  # Grad-CAM peaks at a few % of HiResCAM
    show_result(window, result)
    s = window.state
    assert s.normalisation == "per_map"
    s.update(label=0, side_by_side=True)
    settle()
    right, left = window.view_area.right_panes["axial"], window.view_area.views["axial"]
    assert not right.notice_label.isVisibleTo(right)  # per map: both panes draw their map
    assert right.overlay_item.isVisible() and left.overlay_item.isVisible()
    assert "each pane to its own maximum" in window.controls.colour_bar.caption
    s.normalisation = "joint_methods"
    settle()
    ratio = float(result.maps["gradcam"][0].max() / result.maps["hirescam"][0].max())
    assert right.notice_label.isVisibleTo(right)
    assert f"Grad-CAM peaks at {100 * ratio:.1f}% of HiResCAM" in right.notice_label.text()
    assert not left.notice_label.isVisibleTo(left)


def test_cells_display_shows_the_true_grid_and_the_peak_is_a_cell_centre(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    result = make_result(volume)
    show_result(window, result)
    s = window.state
    s.label = 0
    settle()
    assert "Map cells" in window.controls.colour_bar.caption and "smoothed" in window.controls.colour_bar.caption
    # nearest sampling: every scan voxel carries the value of the cell it lies in
    raw = result.maps["hirescam"][0]
    vals = sampling_adapter.nearest_slice(raw, result.map_affine, volume.affine, volume.shape, 2, 12)
    t = np.linalg.inv(result.map_affine) @ volume.affine
    for i, j in [(0, 0), (5, 7), (14, 20), (47, 39)]:
        cell = np.rint(t[:3, :3] @ [i, j, 12] + t[:3, 3]).astype(int)
        assert vals[i, j] == raw[tuple(cell)]
    assert len(np.unique(vals[14:16, 20:22])) == 1  # a 2 x 2 block is one cell
    s.map_display = "cells"
    settle()
    assert "shown as cells" in window.controls.colour_bar.caption
    # the peak the cursor jumps to is the centre of the peak cell, and the probe names the cell
    f = summarise(result, volume.affine)[0]
    peak_cell = np.unravel_index(int(np.argmax(raw)), raw.shape)
    assert f.peak_cell == list(peak_cell)
    np.testing.assert_allclose(f.peak_ras, result.map_affine[:3, :3] @ peak_cell + result.map_affine[:3, 3])
    assert sampling_adapter.cell_at(result, f.peak_ras) == tuple(peak_cell)
    assert f"map cell {peak_cell[0]}, {peak_cell[1]}, {peak_cell[2]}" in window.probe_label.text()


def test_a_long_colour_bar_caption_is_shown_whole_on_a_narrow_panel(qtbot):
    """The side-by-side caption wraps to three or four lines on the dock's width; the bar
    grows to hold them instead of cutting the last line ("Map cells ..." was cut off)."""
    from PySide6 import QtGui

    from viewer.qt.controls import ColourBar

    bar = ColourBar()
    qtbot.addWidget(bar)
    bar.resize(300, 64)
    bar.show()  # a hidden widget gets its resize events only when shown
    bar.set_scale("inferno", 0.0, 1.0, "HiResCAM", 0.2, False)
    short = bar.minimumHeight()
    long = ("HiResCAM | Grad-CAM: fraction of max over this map, ReLU (each pane to its own maximum: "
            "colours do not compare across panes). Map cells 32 x 32 x 22 mm, shown smoothed")
    bar.set_scale("inferno", 0.0, 1.0, long, 0.2, False)
    fm = QtGui.QFontMetrics(bar.font())
    lines = fm.boundingRect(0, 0, 300 - 16, 10_000, int(QtCore.Qt.TextFlag.TextWordWrap), long).height() // fm.height()
    assert lines >= 3
    narrow = bar.minimumHeight()
    assert narrow >= 18 + fm.height() + lines * fm.height() > short  # bar, its range, every line
    bar.resize(900, 64)  # wider: fewer lines, a shorter bar
    assert short <= bar.minimumHeight() < narrow
