"""Footprint statistics (engine/model/footprint.py): exact per-model-voxel statistics."""

from __future__ import annotations

import numpy as np
import pytest

from engine.model.card_inputs import input_problems
from engine.model.footprint import footprint_applies, footprint_stats
from engine.model.preprocess import block_stats, input_channels, model_grid_affine
from engine.volume import CTVolume

CHANNELS = [{"stat": "mean"}, {"stat": "max"}, {"stat": "fraction", "hu": [-2000, -950]},
            {"stat": "fraction", "hu": [200, 4000]}]
PREP = {"shape": [8, 8, 6], "spacing_mm": [4.0, 4.0, 6.0], "hu_window": [-1000, 800],
        "mean": [0.0] * 4, "centre": "volume", "outside_hu": -1000, "channels": CHANNELS,
        "interpolation": "footprint"}


def _random_volume(seed=0, shape=(32, 32, 36), spacing=(1.0, 1.0, 1.0)):
    rng = np.random.default_rng(seed)
    hu = rng.integers(-1024, 1500, size=shape).astype(np.int16)
    return CTVolume(hu, np.diag([*spacing, 1.0]))


def test_aligned_grids_give_the_block_statistics_exactly():
    vol = _random_volume()
    aff = model_grid_affine(vol, PREP)  # 32 / 4 = 8 blocks per axis, centred: grids aligned
    got = footprint_stats(vol, aff, (8, 8, 6), CHANNELS, -1000.0)
    ref, _ = block_stats(vol.hu, vol.affine, (4, 4, 6), CHANNELS)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-3)


def test_a_one_voxel_spot_keeps_its_maximum_at_any_grid_offset():
    # lung at -850 HU with one 1 mm voxel at +800; the model grid is shifted by 0.5 model voxel,
    # so the trilinear path mixes the spot's block with its neighbours
    hu = np.full((40, 40, 48), -850, np.int16)
    hu[21, 18, 27] = 800
    vol = CTVolume(hu, np.diag([1.0, 1.0, 1.0, 1.0]))
    aff = model_grid_affine(vol, PREP)
    aff[:3, 3] += [2.0, 2.0, 3.0]
    got = input_channels(vol, aff, PREP)
    tri = input_channels(vol, aff, dict(PREP, interpolation="trilinear"))
    max_hu = got[1] * 1800 - 1000
    assert max_hu.max() == pytest.approx(800, abs=1e-3)
    # the spot's model voxel: footprint = centre +- 2 mm in-plane, +- 3 mm in k
    ijk = np.rint(np.linalg.inv(aff) @ [21, 18, 27, 1])[:3].astype(int)
    assert np.unravel_index(max_hu.argmax(), max_hu.shape) == tuple(ijk)
    assert got[3].sum() == pytest.approx(1 / 96, rel=1e-4)  # one voxel of a 4 x 4 x 6 footprint
    assert (tri[1] * 1800 - 1000).max() < 400  # what trilinear sampling left of it


def test_model_voxels_outside_the_scan_read_outside_hu():
    vol = _random_volume(shape=(16, 16, 12))
    aff = model_grid_affine(vol, PREP)  # 32 x 32 x 36 mm model grid around a 16 x 16 x 12 mm scan
    got = footprint_stats(vol, aff, (8, 8, 6), CHANNELS, -1000.0)
    assert np.all(got[0, 0] == -1000) and np.all(got[1, :, :, 0] == -1000)
    assert np.all(got[2, 0] == 1.0) and np.all(got[3, 0] == 0.0)  # outside air counts as < -950
    assert np.all(got[0, 2:6, 2:6, 2:4] > -1030)  # inside: a real mean of scan voxels


def test_a_coarser_scan_falls_back_to_interpolation():
    vol = _random_volume(shape=(32, 32, 4), spacing=(1.0, 1.0, 10.0))
    aff = model_grid_affine(vol, PREP)
    assert not footprint_applies(vol, aff)
    a = input_channels(vol, aff, PREP)
    b = input_channels(vol, aff, dict(PREP, interpolation="trilinear"))
    np.testing.assert_array_equal(a, b)


def test_the_card_names_a_known_interpolation():
    arch = {"in_channels": 4}
    assert input_problems(arch, PREP) == []
    assert any("interpolation" in p for p in input_problems(arch, dict(PREP, interpolation="cubic")))


def test_a_scan_larger_than_the_model_grid_gives_each_edge_voxel_only_its_own_footprint():
    # 64 x 64 x 72 mm scan, 32 x 32 x 36 mm model grid in its centre: the grid's edge voxels
    # must not take in the scan voxels beyond the grid (numpy's reduceat would, read naively)
    vol = _random_volume(seed=3, shape=(64, 64, 72))
    aff = model_grid_affine(vol, PREP)
    got = footprint_stats(vol, aff, (8, 8, 6), CHANNELS, -1000.0)
    hu = vol.hu.astype(np.float64)
    for i, j, k in [(0, 0, 0), (7, 7, 5), (7, 0, 5), (3, 7, 2)]:
        lo = np.rint(np.linalg.inv(vol.affine) @ aff @ [i - 0.5, j - 0.5, k - 0.5, 1])[:3].astype(int)
        block = hu[lo[0]:lo[0] + 4, lo[1]:lo[1] + 4, lo[2]:lo[2] + 6]
        assert block.size == 96
        assert got[0, i, j, k] == pytest.approx(block.mean(), abs=1e-2)
        assert got[1, i, j, k] == block.max()
        assert got[3, i, j, k] == pytest.approx(((block >= 200) & (block < 4000)).mean(), abs=1e-6)
    assert got[2:].max() <= 1.0


@pytest.mark.parametrize("slab_bytes", [1, 3 * 32 * 32 * 4, 5 * 30 * 34 * 4 + 7, 32 << 20])
def test_reading_the_scan_in_chunks_of_any_size_gives_the_same_numbers(slab_bytes):
    """The scan is read in chunks of whole slices; a model slab may straddle two chunks.
    A grid offset by a fraction of a voxel, slices that are not a whole number per model
    slab, model voxels outside the scan: every chunk size gives the same numbers, equal to
    the mean, maximum and share computed directly on each footprint."""
    vol = _random_volume(4, (30, 34, 37), (1.0, 1.0, 1.25))
    hu = vol.hu
    aff = model_grid_affine(vol, PREP)
    aff[:3, 3] += [1.3, -0.7, 2.1]
    got = footprint_stats(vol, aff, (8, 8, 6), CHANNELS, -1000.0, slab_bytes=slab_bytes)
    t = np.linalg.inv(aff) @ vol.affine
    owner = [np.floor(t[a, a] * np.arange(hu.shape[a]) + t[a, 3] + 0.5).astype(int) for a in range(3)]
    for m in [(0, 0, 0), (3, 4, 2), (7, 7, 5), (2, 6, 0), (5, 1, 4)]:
        sel = np.ix_(*[owner[a] == m[a] for a in range(3)])
        foot = hu[sel].astype(np.float64)
        if foot.size == 0:
            assert got[0][m] == -1000.0 and got[1][m] == -1000.0
            continue
        assert got[0][m] == pytest.approx(foot.mean(), rel=1e-5)
        assert got[1][m] == foot.max()
        assert got[2][m] == pytest.approx(np.mean(foot < -950))
        assert got[3][m] == pytest.approx(np.mean(foot >= 200))
    again = footprint_stats(vol, aff, (8, 8, 6), CHANNELS, -1000.0, slab_bytes=32 << 20)
    np.testing.assert_array_equal(got, again)
