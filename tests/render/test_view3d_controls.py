"""The 3D view's control bar in the main window (preset, clip, camera reset, organs) and the
3D exports, which render in a separate process behind a progress dialog with Cancel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6 import QtWidgets
from synthetic_chest import LEFT_LUNG_CENTER, blob_map

from engine.results import ExplainResult, LabelInfo


@pytest.fixture
def win(qtbot, tmp_path, chest):
    from PySide6 import QtCore

    from viewer.qt.main_window import MainWindow

    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(settings, run_model=False, with_3d=True)
    qtbot.addWidget(w)
    w.resize(900, 640)
    w.show()
    qtbot.waitUntil(lambda: w.view3d is not None, timeout=20000)
    w.view3d._max_dim = 48
    w.view3d.scene.max_dim = 48
    vol, lab = chest
    w.state.set_scan(vol, "scan-1")
    values, affine = blob_map(LEFT_LUNG_CENTER)
    labels = [LabelInfo("left_lung/nodule", "left_lung", "nodule", 3)]
    maps = {"hirescam": values[None].astype(np.float32), "gradcam": 0.5 * values[None].astype(np.float32)}
    result = ExplainResult(labels=labels, probabilities=np.array([0.9]), logits=np.array([2.0]),
                           biases=np.zeros(1), maps=maps, map_affine=affine, organ_map=lab,
                           card={"organ_codes": {"right_lung": 1, "heart": 2, "left_lung": 3}})
    w.state.set_result(result)
    w.state.label = 0
    qtbot.waitUntil(lambda: w.view3d.last_render_s is not None, timeout=20000)
    yield w
    w.runner.wait_all(10000)
    w.close()


def test_bar_drives_preset_clip_organs_and_camera(win, qtbot):
    bar, scene, s = win.view3d_panel.bar, win.view3d.scene, win.state
    assert win.view_area.view3d is win.view3d_panel and bar.isVisible()
    bar.preset.setCurrentIndex(bar.preset.findData("lung"))
    assert s.preset3d == "lung" and scene.preset == "lung"
    assert not bar.clip_pos.isEnabled()
    bar.clip.setCurrentIndex(bar.clip.findData("coronal"))
    bar.clip_pos.setValue(30)
    bar.clip_flip.setChecked(True)
    assert s.clip3d == "coronal" and scene._clip == ("coronal", 0.3, "above")
    assert bar.clip_pos.isEnabled()
    bar.clip.setCurrentIndex(bar.clip.findData(None))
    assert scene._clip is None
    # one menu entry per organ of the result; unticking hides that surface only
    assert sorted(bar.organ_actions) == [1, 2, 3]
    bar.organ_actions[3].setChecked(False)
    assert s.organs3d_hidden == {3}
    assert not scene.organ_visible(3) and scene.organ_visible(1)
    s.outlines = False  # the overlay's organ switch hides all of them, and the menu follows
    assert not any(scene.organ_visible(c) for c in (1, 2, 3))
    assert not bar.organ_actions[1].isChecked()
    bar.organ_actions[1].setChecked(True)
    assert s.outlines and scene.organ_visible(1) and not scene.organ_visible(3)
    # reset camera: back to the radiological anterior view from wherever the user rotated
    scene.camera.Azimuth(70)
    scene.camera.Elevation(20)
    bar.reset.click()
    assert np.allclose(scene.camera.GetDirectionOfProjection(), (0, -1, 0), atol=1e-6)
    assert scene.edge_letters()["right"] == "L"
    # the map's iso-surfaces start where the 2D overlay starts (its threshold)
    s.threshold = 0.3
    win.view3d.render_sync()
    assert scene._panes[0].layer.levels == pytest.approx((0.3, 0.65))
    n_low = len(scene._panes[0].map_actors)
    s.threshold = 0.95  # only the very top of the map is left
    win.view3d.render_sync()
    assert len(scene._panes[0].map_actors) <= n_low and n_low >= 1


def test_turntable_exports_in_a_process_with_progress(win, qtbot, tmp_path):
    out = tmp_path / "turn.gif"
    ticks = []
    timer = qtbot_timer(ticks)
    win.export_3d("turntable", str(out), n_frames=4)
    dlg = win.export3d_dialog
    assert isinstance(dlg, QtWidgets.QProgressDialog) and dlg.isVisible()
    values = []
    win.runner.progress.connect(lambda k, f, m: k == "export3d" and values.append(f))
    qtbot.waitUntil(lambda: out.exists() and win.export3d_dialog is None, timeout=60000)
    timer.stop()
    with Image.open(out) as im:
        assert im.n_frames == 4 and im.size == (win.view3d.width(), win.view3d.height())
    assert values == sorted(values) and len(values) >= 4  # per-frame progress, increasing
    assert len(ticks) > 5  # the event loop kept running while the frames were rendered
    assert win.last_exported == [str(out)]
    assert not list(tmp_path.glob(".*.part"))


def test_cancel_stops_the_export_and_leaves_no_file(win, qtbot, tmp_path):
    out = tmp_path / "never.gif"
    win.export_3d("turntable", str(out), n_frames=200)
    dlg = win.export3d_dialog
    qtbot.waitUntil(lambda: dlg.value() > 0, timeout=30000)
    dlg.findChild(QtWidgets.QPushButton).click()  # the dialog's Cancel button
    qtbot.waitUntil(lambda: win.export3d_dialog is None and not win.runner.is_busy(), timeout=10000)
    assert not out.exists() and not list(tmp_path.glob(".*.part"))
    # still usable: a PNG right after
    png = tmp_path / "view.png"
    win.export_3d("screenshot", str(png))
    qtbot.waitUntil(lambda: png.exists() and win.export3d_dialog is None, timeout=60000)
    with Image.open(png) as im:
        assert im.size == (win.view3d.width(), win.view3d.height())


def test_png_at_a_chosen_width_keeps_the_aspect_and_mp4_plays(win, qtbot, tmp_path):
    png = tmp_path / "big.png"
    win.export_3d("screenshot", str(png), width=1280)
    qtbot.waitUntil(lambda: png.exists() and win.export3d_dialog is None, timeout=60000)
    w, h = win.view3d.width(), win.view3d.height()
    with Image.open(png) as im:
        assert im.size[0] == 1280 and abs(im.size[1] - 1280 * h / w) <= 1
        assert np.asarray(im.convert("L")).std() > 5  # a picture, not a blank frame
    from viewer.render3d.export import mp4_available

    if not mp4_available():
        pytest.skip("imageio-ffmpeg not installed (pip install 'ctcam[video]'); GIF only")
    import imageio_ffmpeg

    mp4 = tmp_path / "turn.mp4"
    win.export_3d("turntable", str(mp4), n_frames=6, width=321)  # odd: padded to even
    qtbot.waitUntil(lambda: mp4.exists() and win.export3d_dialog is None, timeout=60000)
    reader = imageio_ffmpeg.read_frames(str(mp4))
    meta = next(reader)
    n = sum(1 for _ in reader)
    assert meta["size"][0] == 322 and meta["size"][1] % 2 == 0 and n == 6


def test_bad_export_path_is_a_dialog_not_a_crash(win, qtbot, tmp_path):
    win.export_3d("turntable", str(tmp_path / "no_such_dir" / "t.gif"), n_frames=2)
    qtbot.waitUntil(lambda: "does not exist" in win.last_message, timeout=10000)
    qtbot.waitUntil(lambda: win.export3d_dialog is None, timeout=10000)


def qtbot_timer(ticks):
    from PySide6 import QtCore

    t = QtCore.QTimer()
    t.setInterval(20)
    t.timeout.connect(lambda: ticks.append(1))
    t.start()
    return t


def test_truth_lesions_appear_in_3d_and_follow_the_truth_toggle(win, qtbot):
    from engine.truth import GroundTruth
    from viewer.qt.view3d_link import TRUTH_CODE

    vol = win.state.volume
    ijk = np.rint(vol.index(np.asarray(LEFT_LUNG_CENTER, float))).astype(int)
    mask = np.zeros(vol.shape, bool)
    mask[tuple(slice(c - 2, c + 3) for c in ijk)] = True  # a 5-voxel cube in the left lung
    win.state.truth = GroundTruth("test", {"left_lung/nodule": True}, {"left_lung/nodule": mask})
    scene = win.view3d.scene
    qtbot.waitUntil(lambda: TRUTH_CODE in scene._panes[0].organ_actors, timeout=20000)
    actor = scene._panes[0].organ_actors[TRUTH_CODE]
    assert actor.GetVisibility() and tuple(actor.GetProperty().GetColor()) == (1.0, 0.0, 1.0)
    b = actor.GetBounds()  # the surface sits on the lesion (world mm, through the actor's matrix)
    centre = np.array([(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2])
    assert np.linalg.norm(centre - vol.world(ijk)) < 2 * max(vol.spacing) * 4
    assert sorted(win.view3d_panel.bar.organ_actions) == [1, 2, 3]  # not an organ in the menu
    win.state.show_truth = False
    qtbot.waitUntil(lambda: TRUTH_CODE not in scene._panes[0].organ_actors
                    or not scene._panes[0].organ_actors[TRUTH_CODE].GetVisibility(), timeout=20000)
