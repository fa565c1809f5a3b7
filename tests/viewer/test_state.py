"""Qt-free tests of the evented state and the slice geometry."""

import numpy as np
import pytest

from viewer.model import geometry
from viewer.model.state import WL_PRESETS, ViewerState


def test_events_fire_on_change_only():
    s = ViewerState()
    seen = []
    s.events.connect("opacity", seen.append)
    s.opacity = 0.7
    s.opacity = 0.7
    s.opacity = 3.0  # clipped to 1
    assert seen == [0.7, 1.0]
    s.events.disconnect("opacity", seen.append)
    s.opacity = 0.1
    assert seen == [0.7, 1.0]


def test_choices_are_validated_and_cursor_is_read_only():
    s = ViewerState()
    with pytest.raises(ValueError):
        s.method = "gradcam++"
    with pytest.raises(AttributeError):
        s.update(nonsense=1)
    s.cursor = [1, 2, 3]
    with pytest.raises(ValueError):
        s.cursor[0] = 5.0
    seen = []
    s.events.connect("cursor", seen.append)
    s.cursor = np.array([1.0, 2.0, 3.0])
    assert seen == []  # equal array: no event


def test_presets_and_new_scan(volume):
    s = ViewerState()
    s.apply_preset("bone")
    assert (s.window, s.level) == WL_PRESETS["bone"] == (2000.0, 400.0)
    s.label = 2
    s.set_scan(volume, "scan-a")
    assert s.label is None and s.result is None and s.scan_id == "scan-a"
    np.testing.assert_allclose(s.cursor, volume.center_world())
    np.testing.assert_array_equal(s.cursor_index(), np.rint((np.array(volume.shape) - 1) / 2))


def test_edge_letters_are_radiological_for_ras_volume(volume):
    assert geometry.edge_letters(volume.affine, "axial") == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert geometry.edge_letters(volume.affine, "coronal") == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    assert geometry.edge_letters(volume.affine, "sagittal") == {"left": "A", "right": "P", "top": "S", "bottom": "I"}
    flipped = volume.affine.copy()
    flipped[:3, 0] *= -1  # an array whose i grows toward the patient's left
    assert geometry.edge_letters(flipped, "axial")["left"] == "L"


def test_slice_plane_orders_and_scene_roundtrip(volume):
    a = np.arange(np.prod(volume.shape)).reshape(volume.shape)
    assert geometry.slice_plane(a, "axial", 3).shape == (48, 40)
    assert geometry.slice_plane(a, "coronal", 3).shape == (48, 24)
    assert geometry.slice_plane(a, "sagittal", 3).shape == (40, 24)
    assert geometry.slice_plane(a, "coronal", 3)[5, 7] == a[5, 3, 7]
    ijk = np.array([4.0, 9.0, 11.0])
    x, y = geometry.ijk_to_scene(ijk, volume.spacing, "coronal")
    np.testing.assert_allclose(geometry.scene_to_ijk(x, y, 9.0, volume.spacing, "coronal"), ijk)
    pts = geometry.plane_world(volume.affine, volume.shape, "sagittal", 7)
    np.testing.assert_allclose(pts[2, 5], volume.world([7, 2, 5]))


def test_state_holds_findings_organs_model_and_device():
    """What the main window used to keep beside the state (findings, organ map source, model,
    device) is state too: set_scan clears the findings, set_result sets them."""
    from viewer_case import make_volume

    s = ViewerState()
    seen = []
    s.events.connect("findings", seen.append)
    s.update(organs="organs.nii.gz", model="m.safetensors", device="cpu")
    assert (s.organs, s.model, s.device) == ("organs.nii.gz", "m.safetensors", "cpu")
    s.set_result(object(), ["f1", "f2"])
    assert s.findings == ("f1", "f2") and seen == [("f1", "f2")]
    s.set_scan(make_volume(), "scan-2")
    assert s.findings == () and s.result is None and s.organs == "organs.nii.gz"
