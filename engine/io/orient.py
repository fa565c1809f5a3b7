"""Exact reorientation of arrays between axis-code orders (permutations and flips only).

``engine.volume.canonicalize`` brings any array to RAS+ order; :func:`reorient` is the general
form used by the writers (and tests) to store a volume in another order, e.g. ``"LPS"``.
"""

from __future__ import annotations

import numpy as np
from nibabel import orientations as ornt

from engine.volume import axcodes


def orientation_string(affine: np.ndarray) -> str:
    """Axis codes of an affine as one string, e.g. ``"LPS"`` (index i grows toward Left...)."""
    return "".join(axcodes(affine))


def reorient(data: np.ndarray, affine: np.ndarray, codes: str) -> tuple[np.ndarray, np.ndarray]:
    """Permute/flip ``data`` so its axes follow ``codes`` (e.g. "LPS", "PIR"); exact affine.

    Any trailing axes beyond the first three are kept.  The world coordinate of every voxel
    is unchanged: ``new_affine @ new_index == affine @ old_index``.
    """
    codes = codes.upper()
    if len(codes) != 3 or {c for c in codes} - set("RLAPSI"):
        raise ValueError(f"orientation must be 3 letters from RLAPSI, got {codes!r}")
    current = ornt.io_orientation(np.asarray(affine, dtype=np.float64))
    target = ornt.axcodes2ornt(tuple(codes))
    transform = ornt.ornt_transform(current, target)
    out = ornt.apply_orientation(data, transform)
    new_affine = np.asarray(affine, dtype=np.float64) @ ornt.inv_ornt_aff(transform, data.shape[:3])
    return np.ascontiguousarray(out), new_affine
