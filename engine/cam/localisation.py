"""Where a map puts its evidence, relative to the organs (threshold-free readouts).

Used by the viewer's per-finding readout; the evaluation's OrganIoU and in-organ mass on the
model grid live in :mod:`engine.model.metrics`.
"""

from __future__ import annotations

import numpy as np


def organ_codes_on_map_grid(organ_map: np.ndarray, scan_affine: np.ndarray,
                            map_affine: np.ndarray, map_shape) -> np.ndarray:
    """Organ code at each map voxel centre (nearest scan voxel; 0 outside the scan)."""
    shape = tuple(int(n) for n in map_shape)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    world = grid @ np.asarray(map_affine)[:3, :3].T + np.asarray(map_affine)[:3, 3]
    inv = np.linalg.inv(scan_affine)
    sidx = np.rint(world @ inv[:3, :3].T + inv[:3, 3]).astype(int)
    inside = np.all((sidx >= 0) & (sidx < np.array(organ_map.shape)), axis=1)
    codes = np.zeros(len(sidx), dtype=np.uint8)
    s = sidx[inside]
    codes[inside] = organ_map[s[:, 0], s[:, 1], s[:, 2]]
    return codes.reshape(shape)


def mass_in_organ(map3d: np.ndarray, organ_codes: np.ndarray, code: int) -> float:
    """Share of the positive map mass inside the organ: ``sum(relu(M)[organ]) / sum(relu(M))``
    (threshold-free, docs/methods.md); 0 when the map has no positive value."""
    pos = np.maximum(np.asarray(map3d, dtype=np.float64), 0)
    total = float(pos.sum())
    if total <= 0:
        return 0.0
    return float(pos[organ_codes == code].sum() / total)
