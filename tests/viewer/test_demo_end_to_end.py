"""The real thing: demo case + bundled model through the model process, then the overlays.

Skipped (with the reason) only when the bundled demo case or model is not in this checkout.
"""

import numpy as np
import pytest
from PySide6 import QtWidgets

from engine.resources import bundled_model_paths, demo_case_path, demo_organs_path

MISSING = [str(p) for p in (demo_case_path(), demo_organs_path(), *bundled_model_paths()) if not p.exists()]


@pytest.mark.slow
@pytest.mark.skipif(bool(MISSING), reason=f"bundled resources missing: {MISSING}")
def test_demo_left_lung_finding_on_screen_right(qtbot, window):
    window.run_model = True
    window.open_demo()
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=120000)
    result = window.state.result
    assert "cpu" in window.device_label.text().lower() or "gpu" in window.device_label.text().lower()
    left = [f for f in window.findings if f.organ == "left_lung"]
    best = max(left, key=lambda f: f.probability)
    window.findings_panel.select_label(best.index)
    QtWidgets.QApplication.processEvents()
    assert window.state.label == best.index
    window.state.update(outlines=False, threshold=0.5, opacity=1.0)
    ax = window.view_area.views["axial"]
    QtWidgets.QApplication.processEvents()
    hires = ax.overlay_item.image.copy()
    ii, jj = np.nonzero(hires[..., 3])
    assert len(ii) > 0
    organs = result.organ_map[:, :, ax.slice_index]
    assert np.mean(organs[ii, jj] == 3) > 0.5  # mostly on the left lung (code 3)
    # small i = patient's left = the screen's right half of the axial view (x-inverted view box)
    x_mm = ii.mean() * window.state.volume.spacing[0]
    on_screen = ax.map_scene_to_widget(x_mm, jj.mean() * window.state.volume.spacing[1])
    assert on_screen.x() > ax.width() / 2, "the left-lung map is not on the screen's right"
    window.state.method = "gradcam"
    QtWidgets.QApplication.processEvents()
    assert result.methods_identical or not np.array_equal(ax.overlay_item.image, hires)
