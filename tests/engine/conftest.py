"""Shared fixtures for engine tests (the ``io_*`` ones belong to the volume I/O tests)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.volume import CTVolume

IO_SHAPE = (32, 28, 20)
IO_SPACING = (0.9, 0.8, 2.5)
IO_ORIGIN = (-14.0, -11.0, 40.0)  # RAS mm of voxel (0, 0, 0)


def make_io_volume(seed: int = 0) -> CTVolume:
    """A small RAS+ chest-like volume with a lesion in the patient's *left* half only.

    Air (-1000) outside an elliptic body (~40 HU with noise), and a 300 HU blob centred at
    i = 8 of 32: index i grows toward the patient's right, so small i is the patient's left.
    """
    rng = np.random.default_rng(seed)
    i, j, k = np.meshgrid(*(np.arange(n) for n in IO_SHAPE), indexing="ij")
    body = ((i - 15.5) / 14) ** 2 + ((j - 13.5) / 12) ** 2 <= 1
    hu = np.where(body, 40, -1000) + rng.integers(-20, 21, IO_SHAPE)
    blob = (i - 8) ** 2 + (j - 12) ** 2 + ((k - 10) * 2.5 / 0.9) ** 2 <= 9
    hu[blob] = 300
    hu[0, 0, 0] = -1024  # full range of typical CT storage
    hu[31, 27, 19] = 1500
    affine = np.diag([*IO_SPACING, 1.0])
    affine[:3, 3] = IO_ORIGIN
    return CTVolume(hu.astype(np.int16), affine, {"source_path": "fixture"})


def io_blob_centroid(vol: CTVolume) -> np.ndarray:
    """World (RAS mm) centroid of the 300 HU blob."""
    idx = np.argwhere(vol.hu == 300)
    return vol.world(idx).mean(axis=0)


@pytest.fixture
def io_volume() -> CTVolume:
    return make_io_volume()


@pytest.fixture
def io_centroid():
    """The blob-centroid function (world RAS mm of the 300 HU voxels)."""
    return io_blob_centroid
