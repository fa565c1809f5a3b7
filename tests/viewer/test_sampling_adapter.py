"""The viewer's separable slice sampling equals the engine's trilinear sampling."""

import numpy as np
import pytest

from engine.cam import sampling
from viewer.sampling_adapter import separable_slice


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_separable_slice_matches_engine(axis):
    rng = np.random.default_rng(axis)
    m = rng.normal(size=(5, 6, 4)).astype(np.float32)
    maff = np.diag([9.0, 8.0, 12.0, 1.0])
    maff[:3, 3] = [-20.0, -22.0, -15.0]
    saff = np.diag([1.3, 1.1, 2.5, 1.0])
    saff[:3, 3] = [-30.0, -31.0, -25.0]  # the scan reaches beyond the map: outside -> 0
    shape = (50, 61, 26)
    for index in (0, 7, 12, shape[axis] - 1):
        ref = sampling.sample_slice(m, maff, saff, shape, axis, index)
        got = separable_slice(m, maff, saff, shape, axis, index)
        np.testing.assert_allclose(got, ref, atol=1e-5)
        if index == 12:  # a slice through the map, with scan pixels beyond its edge
            assert (ref == 0).any() and (ref != 0).any()


def test_oblique_grids_fall_back():
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(0.2), -np.sin(0.2)], [np.sin(0.2), np.cos(0.2)]]
    assert separable_slice(np.zeros((3, 3, 3), np.float32), rot, np.eye(4), (8, 8, 8), 2, 1) is None
