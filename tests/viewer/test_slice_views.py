"""Slice views: opening, linked cursor, stepping, W/L keys, radiological orientation, panes."""

import numpy as np
from PySide6 import QtCore
from viewer_helpers import grab_rgb, open_and_wait, scene_to_viewport, wheel, write_case

from engine.volume import CTVolume
from viewer.model import geometry


def test_open_nifti_shows_scan_centred(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    s = window.state
    np.testing.assert_array_equal(s.volume.hu, volume.hu)
    ax = window.view_area.views["axial"]
    assert ax.slice_index == 12 and ax.ct_item.image.shape == (48, 40)
    assert ax.letters["left"].text() == "R" and ax.letters["top"].text() == "A"
    assert "Axial 13/24" in ax.title_label.text()
    assert "HU" in window.probe_label.text() and "voxel (24, 20, 12)" in window.probe_label.text()
    assert "case.nii.gz" in window.recent_files()[0]


def test_click_moves_cursor_in_all_views(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    ax = window.view_area.views["axial"]
    cor, sag = window.view_area.views["coronal"], window.view_area.views["sagittal"]
    x, y = geometry.ijk_to_scene(np.array([10, 30, 12]), volume.spacing, "axial")
    qtbot.mouseClick(ax.gv.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=scene_to_viewport(ax, x, y))
    ijk = window.state.cursor_index()
    assert abs(ijk[0] - 10) <= 1 and abs(ijk[1] - 30) <= 1 and ijk[2] == 12
    assert cor.slice_index == ijk[1] and sag.slice_index == ijk[0]
    # the axial crosshair sits where we clicked, the coronal one at the same i
    i_mm = volume.index(window.state.cursor)[0] * volume.spacing[0]
    assert abs(ax.vline.value() - x) < 0.75 and abs(ax.vline.value() - i_mm) < 1e-6
    assert abs(cor.vline.value() - i_mm) < 1e-6


def test_wheel_and_keys_step_slices_and_wl_presets(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    ax = window.view_area.views["axial"]
    wheel(window, ax, +3)
    assert ax.slice_index == 15
    wheel(window, ax, -1)
    assert ax.slice_index == 14
    ax.setFocus()
    qtbot.keyClick(ax, QtCore.Qt.Key.Key_Down)
    assert ax.slice_index == 13
    qtbot.keyClick(ax, QtCore.Qt.Key.Key_PageUp)
    assert ax.slice_index == 23  # clamped at the last slice
    qtbot.keyClick(ax, QtCore.Qt.Key.Key_2)
    assert (window.state.window, window.state.level) == (350.0, 40.0)
    assert tuple(ax.ct_item.levels) == (40 - 175, 40 + 175)
    # corner text is redrawn on a later event-loop turn
    qtbot.waitUntil(lambda: "W 350  L 40" in window.view_area.views["sagittal"].wl_label.text(),
                    timeout=2000)
    qtbot.keyClick(ax, QtCore.Qt.Key.Key_4)
    assert (window.state.window, window.state.level) == (2000.0, 400.0)
    # right-drag: window follows horizontal motion
    ax._on_wl_drag(50, 0)
    assert window.state.window > 2000.0


def test_left_blob_is_on_screen_right_in_axial_and_coronal(qtbot, window, tmp_path):
    shape = (40, 30, 20)
    hu = np.full(shape, -1000, np.int16)
    hu[5:12, 12:18, 8:12] = 1500  # small i: the patient's LEFT
    aff = np.diag([1.0, 1.0, 2.0, 1.0])
    open_and_wait(qtbot, window, write_case(tmp_path, CTVolume(hu, aff)))
    window.state.cursor = window.state.volume.world([8, 15, 10])
    for view in ("axial", "coronal"):
        pane = window.view_area.views[view]
        rgb = grab_rgb(pane.gv).astype(int)
        bright = np.argwhere(rgb.sum(axis=2) > 700)
        assert len(bright) > 20, view
        assert bright[:, 1].mean() > rgb.shape[1] * 0.6, f"{view}: left-side blob not on screen right"


def test_zoom_reset_and_aspect_follow_spacing(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    cor = window.view_area.views["coronal"]
    r = cor.ct_item.mapRectToView(cor.ct_item.boundingRect())
    assert abs(r.width() - 48 * 1.5) < 1e-6 and abs(r.height() - 24 * 3.0) < 1e-6  # mm, not voxels
    cor.vb.scaleBy((0.5, 0.5))
    (x0, x1), _ = cor.vb.viewRange()
    assert x1 - x0 < 50
    cor.setFocus()
    qtbot.keyClick(cor, QtCore.Qt.Key.Key_R)
    (x0, x1), (y0, y1) = cor.vb.viewRange()
    assert x0 <= -0.75 and x1 >= 71.25 and y0 <= -1.5 and y1 >= 70.5


def test_side_by_side_panes_stay_linked(qtbot, window, volume, tmp_path):
    open_and_wait(qtbot, window, write_case(tmp_path, volume))
    window.set_layout("compare")
    left, right = window.view_area.views["axial"], window.view_area.right_panes["axial"]
    qtbot.waitUntil(lambda: left.isVisible() and right.isVisible(), timeout=2000)
    assert (left.pane_method, right.pane_method) == ("hirescam", "gradcam")
    wheel(window, right, +2)
    assert left.slice_index == right.slice_index == 14
    left.vb.scaleBy((0.5, 0.5))
    np.testing.assert_allclose(left.vb.viewRange(), right.vb.viewRange(), atol=1e-6)
    right.vb.translateBy(x=5.0)
    np.testing.assert_allclose(left.vb.viewRange(), right.vb.viewRange(), atol=1e-6)
    window.set_layout("single")
    assert not right.isVisible() and left.isVisible()
    assert not window.view_area.views["coronal"].isVisible()


def test_the_crosshair_sits_on_the_centre_of_the_voxel_it_names(qtbot, window, tmp_path):
    """The image rectangle is pinned to voxel centres: a voxel's centre is at index * spacing
    in the view, so the crosshair on a bright voxel hits the middle of its pixel (an image
    shifted by half a voxel would put the crosshair on a pixel edge)."""
    hu = np.full((30, 26, 18), -1000, np.int16)
    ijk = (7, 19, 11)
    hu[ijk] = 1500
    open_and_wait(qtbot, window, write_case(tmp_path, CTVolume(hu, np.diag([0.8, 1.3, 2.5, 1.0]))))
    window.state.cursor = window.state.volume.world(list(ijk))
    for name in ("axial", "coronal", "sagittal"):
        pane = window.view_area.views[name]
        qtbot.waitUntil(lambda p=pane: p.ct_item.image is not None, timeout=2000)
        px = pane.ct_item.mapFromView(QtCore.QPointF(pane.vline.value(), pane.hline.value()))
        fx, fy = px.x(), px.y()
        assert abs(fx % 1 - 0.5) < 1e-6 and abs(fy % 1 - 0.5) < 1e-6, name
        img = pane.ct_item.image
        assert img[int(fx), int(fy)] == img.max(), name  # ... of the bright voxel's pixel


def test_the_method_menu_ticks_the_method_shown(qtbot, window):
    acts = window.method_actions
    assert acts["hirescam"].isChecked() and not acts["gradcam"].isChecked()
    window.state.method = "gradcam"  # changed elsewhere (the overlay panel, a key)
    assert acts["gradcam"].isChecked() and not acts["hirescam"].isChecked()
    acts["difference"].trigger()  # chosen from the menu
    assert window.state.method == "difference" and acts["difference"].isChecked()
