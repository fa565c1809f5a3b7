"""The real thing: demo case + bundled model through the model process, then the overlays.

What is asserted holds for *any* bundled model, weak or strong: the selected map is drawn,
changes with the method, and its maximum lands on the screen half where the patient side of
its own peak belongs (radiological convention: the patient's left on the screen's right).
The map is the one of a left-lung finding whose HiResCAM peak lies in the left lung when the
model has one, else the map whose peak lies furthest to the patient's left; either way the
geometry chain (engine map -> world -> scan slice -> screen) is checked on real output.

Skipped (with the reason) only when the bundled demo case or model is not in this checkout.
"""

import numpy as np
import pytest
from viewer_helpers import settle

from engine.resources import bundled_model_paths, demo_case_path, demo_organs_path
from viewer.model import geometry

MISSING = [str(p) for p in (demo_case_path(), demo_organs_path(), *bundled_model_paths()) if not p.exists()]


def _overlay(pane):
    settle()  # views redraw on the next event-loop turn
    img = pane.overlay_item.image
    if img is None or not pane.overlay_item.isVisible():
        return np.zeros((1, 1, 4), np.uint8)
    return img.copy()


def _pick_left_map(window):
    """(finding, why): a left-lung finding whose peak is in the left lung, else the finding
    whose HiResCAM peak has the smallest world x (furthest toward the patient's left)."""
    vol, res = window.state.volume, window.state.result
    left_code = int(res.card["organ_codes"]["left_lung"])

    def organ_at(f):
        ijk = np.clip(np.rint(vol.index(np.array(f.peak_ras))).astype(int), 0, np.array(vol.shape) - 1)
        return int(res.organ_map[tuple(ijk)])

    in_left = [f for f in window.findings if f.organ == "left_lung" and organ_at(f) == left_code]
    if in_left:
        return max(in_left, key=lambda f: f.probability), "left-lung finding with its peak in the left lung"
    return min(window.findings, key=lambda f: f.peak_ras[0]), "peak furthest to the patient's left"


@pytest.mark.slow
@pytest.mark.skipif(bool(MISSING), reason=f"bundled resources missing: {MISSING}")
def test_demo_map_is_drawn_on_the_screen_side_of_its_peak(qtbot, window):
    window.run_model = True
    window.open_demo()
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=120000)
    settle()  # the findings table fills in the event-loop turns after the result
    state, result, vol = window.state, window.state.result, window.state.volume
    assert result.organ_map is not None and len(window.findings) == len(result.labels)
    assert "cpu" in window.device_label.text().lower() or "gpu" in window.device_label.text().lower()

    chosen, why = _pick_left_map(window)
    centre_x = float(vol.center_world()[0])
    assert chosen.peak_ras[0] < centre_x, f"no map peaks on the patient's left ({why})"
    window.findings_panel.select_label(chosen.index)
    settle()
    assert state.label == chosen.index
    # the cursor jumped to the map's peak (clamped to the scan)
    np.testing.assert_allclose(state.cursor, vol.world(np.clip(vol.index(np.array(chosen.peak_ras)), 0,
                                                               np.array(vol.shape) - 1)), atol=1e-6)

    state.update(outlines=False, threshold=0.3, opacity=1.0, method="hirescam", signed=False)
    ax = window.view_area.views["axial"]
    hires = _overlay(ax)
    assert hires[..., 3].any(), "the selected map draws nothing on its own peak slice"

    # where the overlay is strongest on this slice, on screen
    values, *_ = window.overlay.slice_values("axial", ax.slice_index, "hirescam")
    hi, vi = np.unravel_index(int(np.argmax(values)), values.shape)
    assert hires[hi, vi, 3] > 0  # the maximum itself is drawn (above the threshold)
    ijk = np.zeros(3)  # axial view: horizontal = i, vertical = j, normal = k
    ijk[list(geometry.VIEW_AXES["axial"])] = (ax.slice_index, hi, vi)
    peak_world_x = float(vol.world(ijk)[0])
    on_screen = ax.map_scene_to_widget(*geometry.ijk_to_scene(ijk, vol.spacing, "axial"))
    centre_on_screen = ax.map_scene_to_widget(*geometry.ijk_to_scene(vol.index(vol.center_world()),
                                                                     vol.spacing, "axial"))
    assert abs(peak_world_x - chosen.peak_ras[0]) < 20.0  # the slice maximum is the map's peak region
    assert peak_world_x < centre_x  # patient's left ...
    assert on_screen.x() > ax.width() / 2, f"left-side map drawn on the screen's left ({why})"  # ... screen right
    assert on_screen.x() > centre_on_screen.x()
    # and the pixels really are painted there: grab with and without the overlay
    from viewer_helpers import grab_rgb

    with_map = grab_rgb(ax).astype(int)
    state.opacity = 0.0
    without = grab_rgb(ax).astype(int)
    state.opacity = 1.0
    x, y = on_screen.x(), on_screen.y()
    patch = np.abs(with_map - without)[max(0, y - 3): y + 4, max(0, x - 3): x + 4].sum(axis=2)
    assert patch.max() > 30, "no overlay colour on screen at the map's maximum"

    # the methods give different pictures unless the model makes them identical (then it says so)
    state.method = "gradcam"
    grad = _overlay(ax)
    state.method = "difference"
    diff = _overlay(ax)
    assert diff[..., 3].any() or result.methods_identical
    if result.methods_identical:
        assert window.controls.identical_notice.isVisibleTo(window.controls)
    else:
        assert not np.array_equal(grad, hires) and not np.array_equal(diff, hires)
