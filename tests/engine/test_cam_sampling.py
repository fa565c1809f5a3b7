"""World-space sampling of maps and display transforms."""

from __future__ import annotations

import numpy as np
import pytest

from engine.cam.sampling import (
    display,
    display_scale,
    sample_on_grid,
    sample_points,
    sample_slice,
    to_display,
)


def _affine(spacing, origin, flip=()):
    a = np.diag([*spacing, 1.0])
    a[:3, 3] = origin
    for ax in flip:
        a[:, ax] *= -1
    return a


@pytest.fixture
def map3d():
    rng = np.random.default_rng(0)
    return rng.normal(size=(4, 5, 3)).astype(np.float32)


MAP_AFF = _affine((10.0, 8.0, 12.0), (-20.0, 5.0, 100.0))


def test_values_at_voxel_centres_and_midpoints(map3d):
    idx = np.array([[0, 0, 0], [3, 4, 2], [1, 2, 1]])
    world = idx @ MAP_AFF[:3, :3].T + MAP_AFF[:3, 3]
    np.testing.assert_allclose(sample_points(map3d, MAP_AFF, world), map3d[tuple(idx.T)], rtol=1e-6)
    mid = (np.array([1, 2, 1]) + np.array([2, 2, 1])) / 2
    w = MAP_AFF[:3, :3] @ mid + MAP_AFF[:3, 3]
    np.testing.assert_allclose(sample_points(map3d, MAP_AFF, w), (map3d[1, 2, 1] + map3d[2, 2, 1]) / 2, rtol=1e-5)


def test_outside_and_half_voxel_border(map3d):
    corner = MAP_AFF[:3, 3]
    # 0.4 voxel beyond the first centre: still inside the map voxel -> edge value
    inside = corner - np.array([0.4 * 10, 0, 0])
    np.testing.assert_allclose(sample_points(map3d, MAP_AFF, inside), map3d[0, 0, 0], rtol=1e-6)
    beyond = corner - np.array([0.6 * 10, 0, 0])
    assert sample_points(map3d, MAP_AFF, beyond) == 0.0
    assert np.isnan(sample_points(map3d, MAP_AFF, beyond, outside=np.nan))


def test_grid_equal_to_map_grid_is_identity(map3d):
    out = sample_on_grid(map3d, MAP_AFF, MAP_AFF, map3d.shape)
    np.testing.assert_allclose(out, map3d, rtol=1e-6)


def test_scan_grid_with_flipped_axes_matches_point_sampling(map3d, monkeypatch):
    import engine.cam.sampling as s

    monkeypatch.setattr(s, "SLAB_VOXELS", 50)  # force several slabs
    scan_aff = _affine((3.0, 2.5, 4.0), (30.0, 45.0, 91.0), flip=(0, 1))
    shape = (17, 19, 11)
    full = sample_on_grid(map3d, MAP_AFF, scan_aff, shape)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    world = ijk @ scan_aff[:3, :3].T + scan_aff[:3, 3]
    ref = sample_points(map3d, MAP_AFF, world).reshape(shape)
    np.testing.assert_allclose(full, ref, rtol=1e-6, atol=1e-7)
    assert np.abs(full).max() > 0 and (full == 0).any()  # partly inside, partly outside
    for axis, index in ((0, 5), (1, 0), (2, 10)):
        sl = sample_slice(map3d, MAP_AFF, scan_aff, shape, axis, index)
        np.testing.assert_allclose(sl, np.take(full, index, axis=axis), rtol=1e-6, atol=1e-7)


def test_display_scales():
    maps = {"hirescam": np.array([[[[2.0, -4.0]]], [[[1.0, 0.5]]]]),
            "gradcam": np.array([[[[8.0, -1.0]]], [[[0.2, 0.1]]]])}
    s = display_scale(maps, "hirescam", 0, "relu", "per_map")
    assert (s.vmin, s.vmax, s.divisor) == (0.0, 1.0, 2.0)
    np.testing.assert_allclose(to_display(maps["hirescam"][0], s), [[[1.0, 0.0]]])
    s = display_scale(maps, "hirescam", 0, "signed", "per_map")
    assert (s.vmin, s.vmax, s.divisor) == (-1.0, 1.0, 4.0)
    assert display_scale(maps, "hirescam", 0, "relu", "joint_methods").divisor == 8.0
    assert display_scale(maps, "gradcam", 1, "relu", "joint_methods").divisor == 1.0
    assert display_scale(maps, "hirescam", 1, "relu", "joint_labels").divisor == 8.0
    vals, (lo, hi, units) = display(maps["hirescam"][0], maps, "hirescam", 0, "signed", "none")
    np.testing.assert_allclose(vals, maps["hirescam"][0])
    assert (lo, hi, units) == (-8.0, 8.0, "logit contribution")
    _, (_, _, units) = display(maps["gradcam"][1], maps, "gradcam", 1, "relu", "joint_methods")
    assert "both methods" in units
    with pytest.raises(ValueError):
        display_scale(maps, "hirescam", 0, "abs", "per_map")
