"""Small morphology helpers of the classical organ segmentation (balls in mm, per-slice hole
filling, bounding boxes, cancellation checks)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from engine.errors import Cancelled


def check(cancel):
    if cancel is not None and cancel():
        raise Cancelled()


def ball(radius_mm: float, spacing) -> np.ndarray:
    r = [max(0, int(round(radius_mm / s))) for s in spacing]
    g = np.ogrid[tuple(slice(-k, k + 1) for k in r)]
    d = sum((gi * s / max(radius_mm, 1e-6)) ** 2 for gi, s in zip(g, spacing))
    return d <= 1.0


def fill_slices(mask: np.ndarray) -> np.ndarray:
    """Fill holes in every axial slice (in-plane connectivity only)."""
    padded = np.pad(mask, ((0, 0), (0, 0), (1, 1)))
    st = np.zeros((3, 3, 3), bool)
    st[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_fill_holes(padded, structure=st)[:, :, 1:-1]


def bbox(mask: np.ndarray, pad=(0, 0, 0)) -> tuple[slice, slice, slice]:
    """Bounding box of a mask, padded by ``pad`` voxels per axis (clipped to the array)."""
    out = []
    for ax in range(3):
        other = tuple(a for a in range(3) if a != ax)
        nz = np.flatnonzero(mask.any(other))
        if len(nz) == 0:
            return (slice(0, 0),) * 3
        p = int(pad[ax])
        out.append(slice(max(0, nz[0] - p), min(mask.shape[ax], nz[-1] + p + 1)))
    return tuple(out)
