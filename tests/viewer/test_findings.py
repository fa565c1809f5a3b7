"""Findings panel, overlays, method switch, readout, model card, exports (fake result)."""

import csv
import json

import nibabel as nib
import numpy as np
from PySide6 import QtCore
from viewer_case import LESION_IJK, make_result
from viewer_helpers import grab_rgb, open_and_wait, settle, show_result, write_case

from viewer.qt.findings_panel import INDEX_ROLE


def _overlay_rgba(pane):
    settle()  # views redraw on the next event-loop turn
    return None if pane.overlay_item.image is None or not pane.overlay_item.isVisible() else pane.overlay_item.image


def test_findings_grouped_sorted_filtered(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    show_result(window, make_result(volume))
    proxy = window.findings_panel.proxy
    organs = [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
    assert organs == ["Left lung", "Heart", "Right lung"]  # sorted by best probability
    # the most probable finding is selected on arrival and its map shown
    assert window.state.label == 0
    for typed in ("c", "ca", "cardio"):  # typing narrows the list, never changes the selection
        window.findings_panel.filter_edit.setText(typed)
        assert window.state.label == 0
    assert proxy.rowCount() == 1 and proxy.index(0, 0).data() == "Heart"
    window.findings_panel.filter_edit.clear()
    assert proxy.rowCount() == 3 and window.state.label == 0


def test_selecting_a_finding_jumps_to_peak_and_overlays_it(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    result = make_result(volume)
    show_result(window, result)
    panel = window.findings_panel
    idx = panel.proxy_index_of(2)  # heart / cardiomegaly
    panel.tree.setCurrentIndex(idx)
    assert window.state.label == 2
    peak = np.array(np.unravel_index(np.argmax(result.maps["hirescam"][2]), result.maps["hirescam"][2].shape))
    expect = result.map_affine[:3, :3] @ peak + result.map_affine[:3, 3]
    np.testing.assert_allclose(window.state.cursor, expect, atol=1e-6)
    # keyboard navigation: Down walks to the next finding (past the "Right lung" group row)
    panel.tree.setFocus()
    for _ in range(2):
        qtbot.keyClick(panel.tree, QtCore.Qt.Key.Key_Down)
    assert window.state.label == 1 and panel.tree.currentIndex().data(INDEX_ROLE) == 1
    assert "Positive map mass inside" in panel.readout.text()


def test_overlay_lies_on_left_lung_on_screen_right_and_changes_with_method(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    show_result(window, make_result(volume))
    window.state.update(label=0, outlines=False, threshold=0.3, opacity=1.0)
    window.state.cursor = volume.world(np.array(LESION_IJK, float))
    ax = window.view_area.views["axial"]
    hires = _overlay_rgba(ax).copy()
    assert hires[..., 3].any()
    ii, jj = np.nonzero(hires[..., 3])
    organs = volume.meta["organs"][:, :, LESION_IJK[2]]
    assert np.mean(organs[ii, jj] == 3) > 0.9  # on the left lung (code 3)
    # on screen: the coloured pixels are right of the centre in the axial view
    window.state.outlines = False
    before = grab_rgb(ax.gv).astype(int)
    window.state.opacity = 0.0
    plain = grab_rgb(ax.gv).astype(int)
    changed = np.argwhere(np.abs(before - plain).sum(axis=2) > 30)
    assert len(changed) > 20 and changed[:, 1].mean() > before.shape[1] * 0.55
    window.state.opacity = 1.0
    window.state.method = "gradcam"
    grad = _overlay_rgba(ax)
    assert not np.array_equal(grad, hires)
    window.state.method = "difference"
    diff = _overlay_rgba(ax)
    assert not np.array_equal(diff, grad)
    # the colour bar says what is shown
    assert window.controls.colour_bar.diverging and window.controls.colour_bar.caption.count("HiResCAM − Grad-CAM") == 1
    text = window.probe_label.text()
    assert "HiResCAM" in text and "Grad-CAM" in text and "Left lung" in text


def test_threshold_and_outlines(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    show_result(window, make_result(volume))
    window.state.cursor = volume.world(np.array(LESION_IJK, float))
    ax = window.view_area.views["axial"]
    window.state.threshold = 0.1
    n_low = int((_overlay_rgba(ax)[..., 3] > 0).sum())
    window.state.threshold = 0.8
    n_high = int((_overlay_rgba(ax)[..., 3] > 0).sum())
    assert 0 < n_high < n_low
    window.state.outlines = True
    settle()
    assert ax.outline_item.isVisible()
    outline = ax.outline_item.image
    colours = {tuple(c) for c in outline[outline[..., 3] > 0][:, :3]}
    assert len(colours) == 3  # one colour per organ (both lungs and the heart on this slice)
    window.state.outlines = False
    settle()
    assert not ax.outline_item.isVisible()


def test_identical_methods_notice_and_model_card(qtbot, window, volume, tmp_path):
    from viewer.qt.model_dialog import card_html

    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    show_result(window, make_result(volume, identical=True))
    assert window.controls.identical_notice.isVisibleTo(window.controls)
    assert "synthetic" in card_html(window.state.result.card)
    import json

    from engine.resources import bundled_model_paths

    bundled = json.loads(bundled_model_paths()[1].read_text(encoding="utf-8"))
    assert f" {len(bundled['test_time_shifts'])} times, its input rolled" in card_html(bundled)
    assert "is read 3 times" in card_html({"test_time_shifts": [[0, 0, 0], [4, 0, 0], [0, 4, 1]]})
    ensemble = card_html({"weights": {"file": "a.safetensors"}, "test_time_shifts": [[0, 0, 0], [4, 0, 0]],
                          "ensemble_members": [{"file": "b.safetensors", "sha256": "0" * 64}]})
    assert "ensemble of 2 networks" in ensemble and "b.safetensors" in ensemble
    assert "Each network reads the scan 2 times" in ensemble
    assert "Inference" not in card_html({"weights": {"file": "a.safetensors"}})
    window.show_model_card()
    from viewer.qt.model_dialog import ModelCardDialog

    dlg = window.findChild(ModelCardDialog)
    assert dlg is not None and "synthetic" in dlg.summary.toPlainText()
    dlg.close()


def test_exports_csv_json_nifti_png(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    result = make_result(volume)
    show_result(window, result)
    out = tmp_path / "out"
    out.mkdir()
    window.export_findings_dialog("csv", str(out / "f.csv"))
    qtbot.waitUntil(lambda: not window.runner.is_busy(), timeout=5000)
    window.export_findings_dialog("json", str(out / "f.json"))
    qtbot.waitUntil(lambda: not window.runner.is_busy(), timeout=5000)
    window.export_maps([0], ["hirescam", "gradcam"], str(out))
    qtbot.waitUntil(lambda: not window.runner.is_busy(), timeout=10000)
    window.export_screenshot(str(out / "shot.png"))
    qtbot.waitUntil(lambda: not window.runner.is_busy(), timeout=5000)
    rows = list(csv.DictReader(open(out / "f.csv")))
    assert [r["label"] for r in rows] == [lab.name for lab in result.labels]
    assert float(rows[0]["probability"]) == 0.9
    doc = json.loads((out / "f.json").read_text())
    assert doc["labels"][0]["organ_share"]["hirescam"] > 0.9
    img = nib.load(out / "maps" / "hirescam" / "left_lung__nodule.nii.gz")
    assert img.shape == volume.shape
    np.testing.assert_allclose(img.affine, volume.affine, atol=1e-5)
    data = np.asarray(img.dataobj)
    assert np.abs(np.array(np.unravel_index(np.argmax(data), data.shape)) - LESION_IJK).max() <= 1
    assert (out / "maps" / "gradcam" / "left_lung__nodule.nii.gz").exists()
    assert (out / "shot.png").stat().st_size > 1000


def test_label_set_right_after_set_result_before_findings(qtbot, volume):
    """Regression: ``state.label`` set between ``set_result`` and ``set_findings`` raised
    AttributeError ('FindingsPanel' object has no attribute 'findings') on a fresh panel, and
    on a used panel described the *previous* result's finding."""
    from viewer.model.findings import summarise
    from viewer.model.state import ViewerState
    from viewer.qt.findings_panel import FindingsPanel

    state = ViewerState()
    panel = FindingsPanel(state)
    qtbot.addWidget(panel)
    state.set_scan(volume, "scan-a")
    result = make_result(volume)
    state.set_result(result)
    state.label = 0  # raised AttributeError before the fix
    assert panel.readout.text() == ""
    panel.set_findings(summarise(result, volume.affine))
    state.label = 1
    assert "Right lung" in panel.readout.text()
    # a second result: the first one's rows are gone before its own findings arrive
    other = make_result(volume)
    other.probabilities = np.array([0.1, 0.7, 0.3])
    state.set_result(other)
    assert panel.findings == [] and panel.model.rowCount() == 0
    state.label = 1
    assert panel.readout.text() == ""


def test_map_without_positive_values_is_named_not_shown_as_zero_share(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    result = make_result(volume)
    result.maps["gradcam"][1] = -np.abs(result.maps["gradcam"][1]) - 0.01  # all negative
    show_result(window, result)
    panel = window.findings_panel
    row = panel.proxy_index_of(1)
    g_share = row.siblingAtColumn(4).data()  # columns: finding, probability, call, H, G
    assert g_share == "—" and row.siblingAtColumn(3).data().endswith("%")
    window.state.update(label=1, side_by_side=True)
    settle()
    right = window.view_area.right_panes["axial"]
    assert "no positive values" in right.method_label.text()
    assert "no positive values" not in window.view_area.views["axial"].method_label.text()
    # narrow panes: the method label never covers the slice title
    title, method = right.title_label.geometry(), right.method_label.geometry()
    assert not title.intersects(method)


def test_result_warnings_show_in_the_status_bar(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    show_result(window, make_result(volume))
    assert window.statusBar().currentMessage().startswith("Model done")
    result = make_result(volume)
    result.extra["warnings"] = ["case.nii.gz covers only 8 x 8 x 12 mm; not meaningful."]
    show_result(window, result)
    msg = window.statusBar().currentMessage()
    assert msg.startswith("Warning: ") and "covers only 8 x 8 x 12 mm" in msg
    assert window.findings_panel.proxy.rowCount() == 3  # the findings still show


def test_finding_names_stay_readable_in_a_narrow_panel(qtbot, window, volume, tmp_path):
    """The name column is never squeezed below its text (the numbers scroll instead)."""
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    show_result(window, make_result(volume))
    panel = window.findings_panel
    panel.resize(320, 500)
    tree, proxy = panel.tree, panel.proxy
    names = [proxy.index(c, 0, proxy.index(r, 0)).data()
             for r in range(proxy.rowCount()) for c in range(proxy.rowCount(proxy.index(r, 0)))]
    widest = max(tree.fontMetrics().horizontalAdvance(n) for n in names if n)
    qtbot.waitUntil(lambda: tree.columnWidth(0) >= widest, timeout=2000)  # after the resize settles


def test_a_result_is_shown_over_several_turns_and_a_stale_step_does_nothing(qtbot, window, volume, tmp_path):
    """The result handler sets the state at once; the findings table and the selected
    finding follow in turns of their own (viewer/qt/redraw_queue.py), each checking that
    its result is still the one shown."""
    from viewer.model.findings import summarise
    from viewer.qt.redraw_queue import redraw_queue

    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    result = make_result(volume)
    window._on_result((result, summarise(result, window.state.volume.affine)))
    assert window.state.result is result and window.state.label is None
    assert window.findings_panel.proxy.rowCount() == 0  # not in the result's own turn
    assert redraw_queue().pending_calls() == 1
    for _ in range(10):  # the views' redraws, then a turn of its own: the table
        if window.findings_panel.proxy.rowCount():
            break
        redraw_queue()._next()
    assert window.findings_panel.proxy.rowCount() == 3 and window.state.label is None
    settle()  # the next: the most probable finding
    assert window.state.label == 0

    # a result whose steps are still queued when another scan opens fills nothing in
    stale = make_result(volume)
    window._on_result((stale, summarise(stale, window.state.volume.affine)))
    open_and_wait(qtbot, window, write_case(tmp_path, volume, "other.nii.gz"))
    assert window.state.result is None
    settle()
    assert window.findings_panel.proxy.rowCount() == 0 and window.state.label is None
