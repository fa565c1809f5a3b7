"""Offscreen (EGL) renders of a synthetic chest with heat maps.

The left/right test is the one a radiologist cares about: with the standard anterior camera
a map in the patient's LEFT lung (smaller RAS x) must land on the image's RIGHT half.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from synthetic_chest import LEFT_LUNG_CENTER, ORGAN_COLORS, ORGAN_NAMES, RIGHT_LUNG_CENTER, blob_map

from engine.errors import CTCamError
from viewer.render3d.data import Render3DError


def mad(a, b) -> float:
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def changed_fraction(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pixels whose colour changed visibly."""
    return float(np.mean(np.abs(a.astype(int) - b.astype(int)).sum(axis=2) > 30))


def changed_columns_centroid(with_map: np.ndarray, without: np.ndarray) -> float:
    """Mean column (0..1 of the width) of the pixels a map changed."""
    diff = np.abs(with_map.astype(int) - without.astype(int)).sum(axis=2) > 30
    assert diff.sum() > 50, "the map changed almost no pixels"
    cols = np.nonzero(diff)[1]
    return float(cols.mean() / with_map.shape[1])


def test_left_lung_map_lands_on_the_image_right_in_the_anterior_view(chest, renderer):
    vol, _ = chest
    r = renderer()
    r.set_volume(vol)
    r.reset_camera("anterior")
    base = r.capture()
    r.set_map(*blob_map(LEFT_LUNG_CENTER), title="")
    left_lung = changed_columns_centroid(r.capture(), base)
    r.set_map(*blob_map(RIGHT_LUNG_CENTER), title="")
    right_lung = changed_columns_centroid(r.capture(), base)
    assert left_lung > 0.6, f"left-lung map centred at {left_lung:.2f} of the width"
    assert right_lung < 0.4, f"right-lung map centred at {right_lung:.2f} of the width"
    # seen from behind the sides swap
    r.clear_map()
    r.reset_camera("posterior")
    base = r.capture()
    r.set_map(*blob_map(LEFT_LUNG_CENTER), title="")
    assert changed_columns_centroid(r.capture(), base) < 0.4


def test_edge_letters_follow_the_camera(chest, renderer):
    from viewer.render3d.camera import direction_letters

    assert direction_letters((-1, 0, 0)) == "L" and direction_letters((0.7, 0.7, 0.05)) in ("RA", "AR")
    vol, _ = chest
    r = renderer()
    r.set_volume(vol)
    expect = {"anterior": {"left": "R", "right": "L", "top": "S", "bottom": "I"},
              "posterior": {"left": "L", "right": "R", "top": "S", "bottom": "I"},
              "inferior": {"left": "R", "right": "L", "top": "A", "bottom": "P"},  # like an axial slice
              "left": {"left": "A", "right": "P", "top": "S", "bottom": "I"}}
    for view, letters in expect.items():
        r.reset_camera(view)
        assert r.edge_letters() == letters, view
    r.reset_camera("anterior")
    r.camera.Azimuth(45)  # oblique: two letters, strongest first
    assert len(r.edge_letters()["left"]) == 2


def test_hirescam_and_gradcam_maps_give_different_images(chest, renderer):
    vol, lab = chest
    r = renderer()
    r.set_volume(vol)
    r.set_organs(lab, ORGAN_NAMES, ORGAN_COLORS)
    hires = blob_map(LEFT_LUNG_CENTER, sigma_mm=20.0)
    grad = blob_map(LEFT_LUNG_CENTER + np.array([35.0, 25.0, -40.0]), sigma_mm=45.0)
    r.set_map(*hires)
    a1 = r.capture()
    a2 = r.capture()
    assert mad(a1, a2) == 0.0  # rendering is deterministic, so a difference means something
    r.set_map(*grad)
    b = r.capture()
    assert changed_fraction(a1, b) > 0.01
    r.clear_map()
    assert changed_fraction(r.capture(), a1) > 0.005


def test_presets_change_the_image(chest, renderer):
    vol, _ = chest
    r = renderer()
    r.set_volume(vol)
    images = {}
    for name in ("soft tissue chest", "lung", "bone", "MIP"):
        r.set_preset(name)
        images[name] = r.capture()
        assert images[name].std() > 5, f"preset {name} drew an empty picture"
    names = list(images)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert mad(images[a], images[b]) > 2.0, f"{a} and {b} look the same"
    with pytest.raises(Render3DError):
        r.set_preset("cinematic")


def test_organ_toggle_changes_the_image_on_the_organs_side(chest, renderer):
    vol, lab = chest
    r = renderer()
    r.set_volume(vol)
    r.set_organs(lab, ORGAN_NAMES, ORGAN_COLORS)
    shown = r.capture()
    r.set_organ_visible(3, False)  # left lung
    hidden = r.capture()
    assert changed_columns_centroid(shown, hidden) > 0.55  # the left lung is on the image right
    r.set_organ_visible(3, True)
    assert mad(r.capture(), shown) == 0.0


def test_side_by_side_uses_one_camera_and_shows_both_maps(chest, renderer):
    vol, _ = chest
    r = renderer(size=(320, 160))
    r.set_volume(vol)
    hires = blob_map(LEFT_LUNG_CENTER, sigma_mm=20.0)
    r.set_maps_side_by_side(hires, hires)
    same = r.capture()[:120]  # rows above the orientation cube (bottom-left corner)
    w = same.shape[1] // 2
    assert mad(same[:, :w], same[:, w:]) < 0.2  # identical panes (no titles)
    panes = r._panes
    assert len(panes) == 2 and panes[0].renderer.GetActiveCamera() is panes[1].renderer.GetActiveCamera()
    grad = blob_map(RIGHT_LUNG_CENTER, sigma_mm=30.0)
    r.set_maps_side_by_side((hires[0], hires[1], {"title": "HiResCAM"}),
                            {"values": grad[0], "affine": grad[1], "title": "Grad-CAM"})
    both = r.capture()[:120]
    assert changed_fraction(both[:, :w], both[:, w:]) > 0.01
    # rotating the shared camera moves both panes
    r.camera.Azimuth(60)
    turned = r.capture()[:120]
    assert changed_fraction(turned[:, :w], both[:, :w]) > 0.01
    assert changed_fraction(turned[:, w:], both[:, w:]) > 0.01
    r.set_single()
    assert len(r._panes) == 1


def test_clip_and_cursor_change_the_image(chest, renderer):
    vol, _ = chest
    r = renderer()
    r.set_volume(vol)
    base = r.capture()
    r.set_clip("x", 0.5, keep="below")  # keep the patient's left half: image right half
    clipped = r.capture()
    left_half, right_half = clipped[:, :100], clipped[:, 100:]
    assert mad(left_half, base[:, :100]) > 3 * mad(right_half, base[:, 100:])
    r.set_clip(None)
    assert mad(r.capture(), base) == 0.0
    r.set_cursor(LEFT_LUNG_CENTER)
    assert changed_columns_centroid(r.capture(), base) > 0.55
    with pytest.raises(Render3DError):
        r.set_clip("w")


def test_screenshot_and_turntable_exports(chest, renderer, tmp_path):
    vol, _ = chest
    r = renderer(size=(120, 100))
    r.set_volume(vol)
    r.set_map(*blob_map(LEFT_LUNG_CENTER))
    before = r.camera.GetPosition()
    png = r.screenshot(tmp_path / "view.png")
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (120, 100)
    gif = r.turntable(tmp_path / "spin.gif", n_frames=4)
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 4
        im.seek(0)
        f0 = np.asarray(im.convert("RGB"))
        im.seek(1)
        f1 = np.asarray(im.convert("RGB"))
    assert mad(f0, f1) > 1.0  # the frames turn
    assert np.allclose(r.camera.GetPosition(), before)  # camera restored
    with pytest.raises(CTCamError):
        r.turntable(tmp_path / "spin.avi")
    with pytest.raises(CTCamError, match="could not write"):
        r.screenshot(tmp_path / "missing-dir" / "x.png")


def test_bad_inputs_raise_user_errors(chest, renderer):
    vol, lab = chest
    r = renderer()
    with pytest.raises(Render3DError, match="set_volume first"):
        r.set_organs(lab, ORGAN_NAMES, ORGAN_COLORS)
    r.set_volume(vol)
    with pytest.raises(Render3DError, match="scan grid"):
        r.set_organs(lab[:-1], ORGAN_NAMES, ORGAN_COLORS)
    with pytest.raises(Render3DError, match="3D array"):
        r.set_map(np.zeros((4, 4)), np.eye(4))
    with pytest.raises(Render3DError, match="affine"):
        r.set_map(np.zeros((4, 4, 4)), np.zeros((4, 4)))


def test_frames_with_a_budget_are_cheap_on_software_gl_and_exports_are_full_quality(chest, renderer):
    from viewer.render3d.pane import SOFTWARE_GL_SAMPLE_DISTANCE, is_software_gl

    vol, organs = chest
    r = renderer()
    r.frame_budget_s = 0.2
    r.set_volume(vol)
    r.set_organs(organs, ORGAN_NAMES, ORGAN_COLORS)
    assert r.software_gl is None  # unknown before the first frame
    r.render()
    assert r.software_gl == is_software_gl(r.window)
    pane = r._panes[0]
    fast = bool(r.software_gl)
    assert pane.renderer.GetUseDepthPeeling() == (0 if fast else 1)
    if fast:
        assert pane.ct_mapper.GetImageSampleDistance() == SOFTWARE_GL_SAMPLE_DISTANCE
    draft = r.capture(full_quality=False)
    full = r.capture(full_quality=True)
    assert pane.renderer.GetUseDepthPeeling() == 1
    assert pane.ct_mapper.GetImageSampleDistance() == 1.0
    if fast:
        assert mad(draft, full) > 0  # a visibly different (draft) frame
    r.frame_budget_s = None  # no budget: every frame is full quality
    r.render()
    assert pane.renderer.GetUseDepthPeeling() == 1
