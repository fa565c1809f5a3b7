"""Reading tools driven as a user would: truth outlines on the lesion's voxels (also from a mask
on another grid), a clear message for a mask of another scan, the truth column and readout,
the live probe, a ruler on an anisotropic scan, ROI statistics by hand, contours, the overlay
key and the annotated screenshot."""

import json

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets
from viewer_case import LESION_IJK, make_result
from viewer_helpers import (
    grab_rgb,
    open_and_wait,
    scene_to_viewport,
    settle,
    show_result,
    write_case,
)

from engine.io.nifti import write_nifti
from viewer.model import geometry, measure
from viewer.qt.slice_tools import TRUTH_COLOUR

Qt = QtCore.Qt


def lesion_mask(volume):
    return (volume.hu == 30)


def tools_of(window, view):
    return next(t for t in window.reading_tools.tools if t.view is window.view_area.views[view])


def open_with_truth(qtbot, window, volume, tmp_path, mask_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    window.reading_tools.load_truth(str(mask_path))
    qtbot.waitUntil(lambda: window.state.truth is not None, timeout=10000)
    window.state.cursor = volume.world(np.array(LESION_IJK, float))
    settle()


def expected_box(mask, view, spacing):
    """Scene mm of the voxel edges enclosing the lesion on the cursor's slice."""
    _, h, v = geometry.VIEW_AXES[view]
    plane = geometry.slice_plane(mask, view, LESION_IJK[geometry.VIEW_AXES[view][0]])
    a, b = np.nonzero(plane)
    sx, sy = spacing[h], spacing[v]
    return (a.min() - 0.5) * sx, (a.max() + 0.5) * sx, (b.min() - 0.5) * sy, (b.max() + 0.5) * sy


def test_truth_outline_on_lesion_voxel_edges_and_pixels(qtbot, window, volume, tmp_path):
    mask = lesion_mask(volume)
    write_nifti(tmp_path / "left_lung__nodule.nii.gz", mask.astype(np.uint8), volume.affine)
    open_with_truth(qtbot, window, volume, tmp_path, tmp_path / "left_lung__nodule.nii.gz")
    assert list(window.state.truth.masks) == ["left_lung/nodule"]
    for view in ("axial", "coronal", "sagittal"):
        x, y = tools_of(window, view).truth_segments()
        x0, x1, y0, y1 = expected_box(mask, view, volume.spacing)
        # on the voxel edges: exactly half a voxel outside the outermost lesion voxel centres
        assert np.isclose(x.min(), x0) and np.isclose(x.max(), x1)
        assert np.isclose(y.min(), y0) and np.isclose(y.max(), y1)
    # and on screen: magenta pixels span the widget positions of those edges
    ax = window.view_area.views["axial"]
    rgb = grab_rgb(ax.gv.viewport())
    hit = np.all(np.abs(rgb.astype(int) - TRUTH_COLOUR) < 40, axis=-1)
    rows, cols = np.nonzero(hit)
    assert len(rows) > 20
    x0, x1, y0, y1 = expected_box(mask, "axial", volume.spacing)
    p0, p1 = scene_to_viewport(ax, x0, y0), scene_to_viewport(ax, x1, y1)
    assert abs(cols.min() - min(p0.x(), p1.x())) <= 2 and abs(cols.max() - max(p0.x(), p1.x())) <= 2
    assert abs(rows.min() - min(p0.y(), p1.y())) <= 2 and abs(rows.max() - max(p0.y(), p1.y())) <= 2


def test_mask_on_another_grid_lands_on_the_same_voxels(qtbot, window, volume, tmp_path):
    """The mask stored flipped (L->R reversed) on a grid twice as fine: resampled through world
    coordinates, the outline encloses the same voxels."""
    mask = lesion_mask(volume)
    fine = np.repeat(np.repeat(np.repeat(mask, 2, 0), 2, 1), 2, 2)[::-1]
    aff = volume.affine @ np.diag([0.5, 0.5, 0.5, 1.0])
    aff[:3, 3] = volume.world(np.array([-0.25, -0.25, -0.25]))
    flip = aff.copy()
    flip[:3, 0] = -aff[:3, 0]
    flip[:3, 3] = aff[:3, 3] + aff[:3, 0] * (fine.shape[0] - 1)
    write_nifti(tmp_path / "nodule_fine.nii.gz", fine.astype(np.uint8), flip)
    open_with_truth(qtbot, window, volume, tmp_path, tmp_path / "nodule_fine.nii.gz")
    got = window.state.truth.masks["nodule_fine"]
    np.testing.assert_array_equal(got, mask)
    x, y = tools_of(window, "axial").truth_segments()
    x0, x1, y0, y1 = expected_box(mask, "axial", volume.spacing)
    assert np.isclose(x.min(), x0) and np.isclose(x.max(), x1) and np.isclose(y.min(), y0)
    window.state.show_truth = False
    settle()
    assert tools_of(window, "axial").truth_segments()[0].size == 0


def test_mask_of_another_scan_gives_a_message_naming_it(qtbot, window, volume, tmp_path):
    far = volume.affine.copy()
    far[:3, 3] += 500.0
    write_nifti(tmp_path / "other_patient.nii.gz", lesion_mask(volume).astype(np.uint8), far)
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    window.reading_tools.load_truth(str(tmp_path / "other_patient.nii.gz"))
    qtbot.waitUntil(lambda: bool(window.last_message), timeout=10000)
    assert "other_patient.nii.gz" in window.last_message and "inside the scan" in window.last_message
    assert "Traceback" not in window.last_message and window.state.truth is None
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.ones((4, 4, 4, 2), np.uint8), np.eye(4)), str(tmp_path / "flat.nii.gz"))
    window.last_message = ""
    window.reading_tools.load_truth(str(tmp_path / "flat.nii.gz"))
    qtbot.waitUntil(lambda: bool(window.last_message), timeout=10000)
    assert "flat.nii.gz" in window.last_message and "3D" in window.last_message


def test_truth_folder_marks_findings_and_readout(qtbot, window, volume, tmp_path):
    case = write_case(tmp_path, volume)
    (tmp_path / "masks" / "left_lung").mkdir(parents=True)
    write_nifti(tmp_path / "masks/left_lung/nodule.nii.gz", lesion_mask(volume).astype(np.uint8), volume.affine)
    doc = {"labels": {"left_lung/nodule": 1, "right_lung/nodule": 0, "heart/cardiomegaly": 0},
           "masks": {"left_lung/nodule": "masks/left_lung/nodule.nii.gz"}}
    (tmp_path / "labels.json").write_text(json.dumps(doc))
    open_and_wait(qtbot, window, case)  # labels.json beside the scan: read automatically
    qtbot.waitUntil(lambda: window.state.truth is not None, timeout=10000)
    show_result(window, make_result(volume))
    qtbot.waitUntil(lambda: window.state.truth_stats is not None, timeout=10000)
    window.findings_panel.select_label(0)
    settle()
    panel = window.findings_panel
    texts = {}
    for r in range(panel.model.rowCount()):
        parent = panel.model.item(r, 0)
        for c in range(parent.rowCount()):
            texts[(parent.text(), parent.child(c, 0).text())] = parent.child(c, 5).text()
    assert texts[("Left lung", "Nodule")] == "✔ present"
    assert texts[("Right lung", "Nodule")] == "absent" and not panel.tree.isColumnHidden(5)
    st = window.state.truth_stats["left_lung/nodule"]
    assert st["hirescam"]["peak_mm"] == 0.0  # the HiResCAM peak cell lies on the lesion
    assert st["gradcam"]["peak_mm"] > 4.0  # Grad-CAM's blob is shifted by 3 cells (9 mm)
    assert st["hirescam"]["in_lesion"] > st["gradcam"]["in_lesion"]
    html = panel.readout.text()
    assert "true lesion" in html and "peak in the lesion" in html and "mm from it" in html


def drag(pane, a, b, steps=6):
    """A real left-button drag on a pane's viewport between two scene points (mm)."""
    vp = pane.gv.viewport()
    p0, p1 = scene_to_viewport(pane, *a), scene_to_viewport(pane, *b)

    def send(kind, pos, button, buttons):
        ev = QtGui.QMouseEvent(kind, QtCore.QPointF(pos), QtCore.QPointF(vp.mapToGlobal(pos)), button, buttons,
                               Qt.KeyboardModifier.NoModifier)
        QtWidgets.QApplication.sendEvent(vp, ev)

    send(QtCore.QEvent.Type.MouseButtonPress, p0, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton)
    for t in np.linspace(0, 1, steps + 1)[1:]:
        p = QtCore.QPoint(round(p0.x() + t * (p1.x() - p0.x())), round(p0.y() + t * (p1.y() - p0.y())))
        send(QtCore.QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton)
    send(QtCore.QEvent.Type.MouseButtonRelease, p1, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)
    settle()


def test_ruler_on_anisotropic_scan_and_delete(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    cor = window.view_area.views["coronal"]  # in-plane spacing 1.5 (i) x 3.0 (k) mm
    window.state.tool = "ruler"
    a = geometry.ijk_to_scene(np.array([10, 0, 4]), volume.spacing, "coronal")
    b = geometry.ijk_to_scene(np.array([30, 0, 16]), volume.spacing, "coronal")
    drag(cor, a, b)
    items = window.reading_tools.store.items(window.reading_tools.scan_key())
    assert len(items) == 1 and items[0].kind == "ruler" and items[0].view == "coronal"
    expected = np.hypot(20 * 1.5, 12 * 3.0)  # 46.9 mm
    # the drag ends land on screen pixels: within a pixel's worth of mm of the exact points
    mm_per_px = (cor.vb.viewRange()[0][1] - cor.vb.viewRange()[0][0]) / cor.vb.width()
    assert abs(items[0].length_mm() - expected) < 2 * mm_per_px + 1e-6
    label = next(it for it in tools_of(window, "coronal").measure_items[0][1] if hasattr(it, "textItem"))
    assert label.textItem.toPlainText() == f"{items[0].length_mm():.1f} mm"
    # kept per scan: another slice does not show it, coming back does
    cor.step(2)
    settle()
    assert tools_of(window, "coronal").measure_items == []
    cor.step(-2)
    settle()
    assert len(tools_of(window, "coronal").measure_items) == 1
    cor.setFocus()
    qtbot.keyClick(cor, Qt.Key.Key_Delete)
    assert window.reading_tools.store.items(window.reading_tools.scan_key()) == []


def test_roi_statistics_by_hand(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    show_result(window, make_result(volume))
    window.findings_panel.select_label(0)
    window.state.cursor = volume.world(np.array(LESION_IJK, float))
    ax = window.view_area.views["axial"]
    settle()
    window.state.tool = "rectangle"
    lo, hi = np.array([8, 14, 12]), np.array([20, 26, 12])
    a = geometry.ijk_to_scene(lo - 0.4, volume.spacing, "axial")
    b = geometry.ijk_to_scene(hi + 0.4, volume.spacing, "axial")
    drag(ax, a, b)
    m = window.reading_tools.store.items(window.reading_tools.scan_key())[0]
    st = measure.roi_stats(m, window.state.volume, window.overlay)
    block = volume.hu[8:21, 14:27, 12].astype(float)  # the voxel centres inside the drawn box
    assert st["n_voxels"] == block.size
    assert np.isclose(st["mean"], block.mean()) and np.isclose(st["sd"], block.std())
    assert st["min"] == block.min() == -850 and st["max"] == block.max()
    assert abs(st["area_mm2"] - (12.8 * 1.5) * (12.8 * 1.5)) < 3 * 1.5 * 12.8 * 0.2
    assert st["maps"]["hirescam"] > 0
    text = next(it for it in tools_of(window, "axial").measure_items[0][1] if hasattr(it, "textItem"))
    assert f"mean {st['mean']:.0f} HU" in text.textItem.toPlainText() and "map mean" in text.textItem.toPlainText()
    # an ellipse in the same box counts only the voxel centres inside it
    e = measure.Measurement("ellipse", "axial", 12, m.p0, m.p1)
    est = measure.roi_stats(e, window.state.volume)
    assert est["n_voxels"] < st["n_voxels"] and np.isclose(est["area_mm2"], np.pi / 4 * st["area_mm2"])


def test_live_probe_follows_the_mouse(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    ax = window.view_area.views["axial"]
    x, y = geometry.ijk_to_scene(np.array([10, 30, 12]), volume.spacing, "axial")
    qtbot.mouseMove(ax.gv.viewport(), scene_to_viewport(ax, x, y))
    qtbot.waitUntil(lambda: "Mouse:" in window.probe_label.text(), timeout=2000)
    assert "voxel (10, 30, 12)" in window.probe_label.text()
    assert window.state.cursor_index()[0] == 24  # hovering does not move the crosshair


def test_contours_overlay_key_and_info(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    show_result(window, make_result(volume))
    window.findings_panel.select_label(0)
    window.state.cursor = volume.world(np.array(LESION_IJK, float))
    settle()
    ax = window.view_area.views["axial"]
    assert ax.overlay_item.isVisible()
    window.state.map_style = "contours"
    settle()
    tools = tools_of(window, "axial")
    assert not ax.overlay_item.isVisible() and len(tools.contour_items) == 3
    # the 50 % isoline surrounds the HiResCAM peak on the lesion
    x, y = tools.contour_items[1].xData, tools.contour_items[1].yData
    lx, ly = geometry.ijk_to_scene(np.array(LESION_IJK), volume.spacing, "axial")
    assert x.min() < lx < x.max() and y.min() < ly < y.max()
    ax.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_O)
    settle()
    assert window.state.overlay_visible is False and tools.contour_items == []
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert window.state.overlay_visible is True
    assert tools.info_label.isVisible() and "Slice 3.00 mm" in tools.info_label.text()
    window.reading_tools.actions["show_info"].trigger()
    settle()
    assert not tools.info_label.isVisible()


def test_annotated_screenshot(qtbot, window, volume, tmp_path):
    from viewer.qt.annotated_export import caption_lines, image_array, render_annotated

    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    show_result(window, make_result(volume))
    window.findings_panel.select_label(0)
    settle()
    img = render_annotated(window, 2048)
    assert img.width() == 2048 and img.height() > 2048 * window.view_area.height() / window.view_area.width()
    lines = caption_lines(window.state, window.overlay, window.findings)
    assert "Left lung — Nodule" in lines[0] and "p = 0.90" in lines[0]
    assert "HiResCAM" in lines[1] and "per map" in lines[1]
    rgb = image_array(img)
    band = rgb[int(2048 * window.view_area.height() / window.view_area.width()) + 5:]
    # the inferno colour bar's bright yellow end is burned into the caption band
    assert np.any((band[..., 0] > 230) & (band[..., 1] > 200) & (band[..., 2] < 150))
    assert render_annotated(window, 100).width() == 1024  # never smaller than 1024 px
    path = tmp_path / "shot.png"
    assert window.reading_tools.annotated_action.text().startswith("Screenshot with finding")
    from viewer.qt.annotated_export import export_dialog

    export_dialog(window, str(path), 1200)
    qtbot.waitUntil(lambda: path.exists() and not window.runner.is_busy("export"), timeout=5000)
    assert QtGui.QImage(str(path)).width() == 1200


def test_html_report_with_truth(qtbot, window, volume, tmp_path):
    from viewer.qt.annotated_export import export_report

    mask = lesion_mask(volume)
    write_nifti(tmp_path / "left_lung__nodule.nii.gz", mask.astype(np.uint8), volume.affine)
    open_with_truth(qtbot, window, volume, tmp_path, tmp_path / "left_lung__nodule.nii.gz")
    show_result(window, make_result(volume))
    qtbot.waitUntil(lambda: window.state.truth_stats is not None, timeout=10000)
    window.findings_panel.select_label(0)
    path = tmp_path / "report.html"
    export_report(window, str(path))
    qtbot.waitUntil(lambda: path.exists() and not window.runner.is_busy("export"), timeout=10000)
    text = path.read_text(encoding="utf-8")
    assert "Left lung — Nodule" in text and "90.0%" in text and "present" in text
    assert "data:image/png;base64," in text and "synthetic chest CT phantoms" in text
    assert "peak 0.0 mm" in text  # HiResCAM's peak cell lies on the true lesion
