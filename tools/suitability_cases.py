"""Scans for calibrating and testing the suitability checks (``engine.suitability``).

Each maker takes a phantom (``engine.phantom.generate``) and returns a ``CTVolume`` that is
*not* a chest CT the model can read, or a head-like volume made from scratch.  Used by
``tools/suitability_calibration.py`` and ``tests/engine/test_suitability.py``.
"""

from __future__ import annotations

import numpy as np

from engine.labels import ORGAN_CODES
from engine.volume import CTVolume


def _crop(vol: CTVolume, sl: tuple[slice, slice, slice], tag: str) -> CTVolume:
    start = np.array([s.start or 0 for s in sl] + [1.0])
    affine = vol.affine.copy()
    affine[:, 3] = vol.affine @ start
    meta = dict(vol.meta, source_path=f"{tag}.nii.gz", warnings=[])
    return CTVolume(np.ascontiguousarray(vol.hu[sl]), affine, meta)


def lung_z_range(case) -> tuple[int, int]:
    lungs = np.isin(case.organs, (ORGAN_CODES["right_lung"], ORGAN_CODES["left_lung"]))
    z = np.flatnonzero(lungs.any((0, 1)))
    return int(z[0]), int(z[-1])


def abdomen_crop(case) -> CTVolume:
    """Below the heart: the lung bases' lowest quarter and the upper abdomen."""
    lo, hi = lung_z_range(case)
    top = lo + (hi - lo) // 5
    return _crop(case.volume, (slice(None), slice(None), slice(0, top)), "abdomen")


def above_lungs_crop(case) -> CTVolume:
    """The apices and what lies above them: the top fifth of the lungs and up."""
    lo, hi = lung_z_range(case)
    return _crop(case.volume, (slice(None), slice(None), slice(hi - (hi - lo) // 5, None)), "above_lungs")


def upper_chest_crop(case) -> CTVolume:
    """The upper half of the chest only (ends above the lung bases)."""
    lo, hi = lung_z_range(case)
    return _crop(case.volume, (slice(None), slice(None), slice((lo + hi) // 2, None)), "upper_chest")


def tiny_crop(case) -> CTVolume:
    """A 40 x 40 x 10 voxel block from the middle of the chest."""
    c = np.array(case.volume.shape) // 2
    return _crop(case.volume, (slice(c[0] - 20, c[0] + 20), slice(c[1] - 20, c[1] + 20),
                               slice(c[2] - 5, c[2] + 5)), "tiny")


def water_lungs(case, seed: int = 0) -> CTVolume:
    """The lungs filled with water (0 HU plus noise)."""
    vol = case.volume
    hu = vol.hu.copy()
    lungs = np.isin(case.organs, (ORGAN_CODES["right_lung"], ORGAN_CODES["left_lung"]))
    rng = np.random.default_rng(seed)
    hu[lungs] = np.rint(rng.normal(5.0, 12.0, int(lungs.sum()))).astype(np.int16)
    return CTVolume(hu, vol.affine.copy(), dict(vol.meta, source_path="water_lungs.nii.gz", warnings=[]))


def as_mr(case) -> CTVolume:
    """An MR-like series: the same anatomy as unsigned intensities, modality MR."""
    vol = case.volume
    hu = vol.hu.astype(np.float32)
    mr = np.where(hu < -500, 0.0, np.clip(600.0 - np.abs(hu - 40.0), 20.0, 1200.0))
    return CTVolume(mr.astype(np.int16), vol.affine.copy(),
                    dict(vol.meta, modality="MR", source_path="mr_series", warnings=[]))


def head_like(shape=(200, 200, 120), spacing=(1.0, 1.0, 1.5), seed: int = 0) -> CTVolume:
    """A head-like CT: skull (bone shell), brain, two large air-filled maxillary sinuses (about
    50 mL each, so the classical segmentation takes them for lungs) and the nasal cavity,
    surrounded by air; 200 x 200 mm in-plane."""
    rng = np.random.default_rng(seed)
    sp = np.asarray(spacing, float)
    g = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, sp)], indexing="ij")
    x, y, z = g
    r = np.sqrt((x / 75) ** 2 + (y / 90) ** 2 + (z / 85) ** 2)
    hu = np.full(shape, -1000.0, np.float32)
    hu[r < 1.0] = 900.0  # skull
    hu[r < 0.93] = 35.0  # brain
    hu[(r >= 1.0) & (r < 1.06)] = 30.0  # scalp
    for cx in (-22.0, 22.0):  # maxillary sinuses, low and anterior
        hu[((x - cx) / 22) ** 2 + ((y - 50) / 22) ** 2 + ((z + 40) / 24) ** 2 < 1] = -980.0
    hu[(x / 8) ** 2 + ((y - 65) / 12) ** 2 + ((z + 40) / 25) ** 2 < 1] = -960.0  # nasal cavity
    hu += rng.normal(0, 10, shape).astype(np.float32)
    affine = np.diag([sp[0], sp[1], sp[2], 1.0])
    affine[:3, 3] = -sp * (np.asarray(shape) - 1) / 2
    return CTVolume(np.rint(hu).astype(np.int16), affine,
                    {"source_path": "head.nii.gz", "source_format": "nifti", "warnings": []})
