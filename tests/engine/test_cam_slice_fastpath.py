"""The separable slice fast path equals per-pixel trilinear sampling; localisation readout."""

import numpy as np
import pytest

from engine.cam import sampling
from engine.cam.localisation import mass_in_organ, organ_codes_on_map_grid


def _reference_slice(m, maff, saff, shape, axis, index):
    """Per-pixel map_coordinates path (outside=NaN forces it), NaN -> 0."""
    ref = sampling.sample_slice(m, maff, saff, shape, axis, index, outside=np.nan)
    return np.nan_to_num(ref, nan=0.0)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_separable_slice_matches_per_pixel_sampling(axis):
    rng = np.random.default_rng(axis)
    m = rng.normal(size=(5, 6, 4)).astype(np.float32)
    maff = np.diag([9.0, 8.0, 12.0, 1.0])
    maff[:3, 3] = [-20.0, -22.0, -15.0]
    saff = np.diag([1.3, 1.1, 2.5, 1.0])
    saff[:3, 3] = [-30.0, -31.0, -25.0]  # the scan reaches beyond the map: outside -> 0
    shape = (50, 61, 26)
    for index in (0, 7, 12, shape[axis] - 1):
        got = sampling.sample_slice(m, maff, saff, shape, axis, index)
        ref = _reference_slice(m, maff, saff, shape, axis, index)
        np.testing.assert_allclose(got, ref, atol=1e-5)
        if index == 12:  # a slice through the map, with scan pixels beyond its edge
            assert (ref == 0).any() and (ref != 0).any()


def test_oblique_grids_use_the_general_path():
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(0.2), -np.sin(0.2)], [np.sin(0.2), np.cos(0.2)]]
    t = np.linalg.inv(rot)
    assert sampling._separable_slice(np.zeros((3, 3, 3), np.float32), t, (8, 8, 8), 2, 1) is None
    m = np.arange(27, dtype=np.float32).reshape(3, 3, 3)
    out = sampling.sample_slice(m, rot, np.eye(4), (3, 3, 3), 2, 1)
    assert out.shape == (3, 3) and np.isfinite(out).all()


def test_mass_in_organ_counts_positive_mass_only():
    m = np.zeros((4, 4, 2), np.float32)
    m[0, 0, 0] = 3.0  # inside organ 3
    m[3, 3, 1] = 1.0  # outside
    m[1, 1, 1] = -5.0  # negative evidence is ignored
    organ_map = np.zeros((8, 8, 4), np.uint8)
    organ_map[:2, :2, :2] = 3
    codes = organ_codes_on_map_grid(organ_map, np.eye(4), np.diag([2.0, 2.0, 2.0, 1.0]), m.shape)
    assert codes[0, 0, 0] == 3 and codes[3, 3, 1] == 0
    assert mass_in_organ(m, codes, 3) == pytest.approx(0.75)
    assert mass_in_organ(-np.abs(m), codes, 3) == 0.0
