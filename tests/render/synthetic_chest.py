"""A small, fast chest-like CT for 3D-view tests: body, two lungs, heart, spine, ribs, sternum.

Built in canonical RAS array order (index i grows toward the patient's Right, j Anterior,
k Superior), so the *left* lung (organ code 3) has the smaller x.  Not the project phantom:
just enough anatomy to make the 3D renders recognisable and the left/right checks honest.
"""

from __future__ import annotations

import numpy as np

from engine.volume import CTVolume

RIGHT_LUNG_CENTER = np.array([70.0, -5.0, 15.0])
LEFT_LUNG_CENTER = np.array([-70.0, -5.0, 15.0])
HEART_CENTER = np.array([-20.0, 35.0, -35.0])
ORGAN_NAMES = {1: "right lung", 2: "heart", 3: "left lung"}
ORGAN_COLORS = {1: (90, 160, 230), 2: (230, 90, 90), 3: (90, 200, 140)}


def _grid_affine(shape, spacing) -> np.ndarray:
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = -(np.asarray(shape) - 1) / 2.0 * np.asarray(spacing)
    return aff


def make_chest(shape=(112, 96, 64), spacing=(3.0, 3.0, 5.0), seed: int = 0):
    """Return (CTVolume, organ labelmap uint8) of a synthetic chest."""
    aff = _grid_affine(shape, spacing)
    i, j, k = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    x = aff[0, 0] * i + aff[0, 3]
    y = aff[1, 1] * j + aff[1, 3]
    z = aff[2, 2] * k + aff[2, 3]
    hu = np.full(shape, -1000.0, dtype=np.float32)
    body_r = (x / 155.0) ** 2 + (y / 110.0) ** 2
    body = body_r <= 1.0
    hu[body] = -90.0  # subcutaneous fat
    hu[(x / 143.0) ** 2 + (y / 99.0) ** 2 <= 1.0] = 45.0  # muscle / mediastinum
    # ribs: elliptical bands inside the body wall, every 25 mm
    rib_ring = ((x / 138.0) ** 2 + (y / 94.0) ** 2 <= 1.0) & ((x / 128.0) ** 2 + (y / 85.0) ** 2 > 1.0)
    hu[rib_ring & (np.mod(z + 400.0, 25.0) < 8.0) & (y > -90)] = 650.0
    labels = np.zeros(shape, dtype=np.uint8)
    for code, c in ((1, RIGHT_LUNG_CENTER), (3, LEFT_LUNG_CENTER)):
        lung = ((x - c[0]) / 55.0) ** 2 + ((y - c[1]) / 72.0) ** 2 + ((z - c[2]) / 115.0) ** 2 <= 1.0
        hu[lung] = -850.0
        labels[lung] = code
    heart = ((x - HEART_CENTER[0]) / 58.0) ** 2 + ((y - HEART_CENTER[1]) / 50.0) ** 2 + (
        (z - HEART_CENTER[2]) / 48.0
    ) ** 2 <= 1.0
    hu[heart] = 40.0
    labels[heart] = 2
    # spine and sternum
    hu[((x / 18.0) ** 2 + ((y + 78.0) / 18.0) ** 2 <= 1.0)] = 700.0
    hu[(np.abs(x) < 12.0) & (np.abs(y - 93.0) < 6.0) & (z > -90) & (z < 60)] = 600.0
    # lung vessels: a few tubes
    for cx, cy in ((60.0, 10.0), (85.0, -20.0), (-60.0, 10.0), (-85.0, -20.0)):
        tube = ((x - cx) ** 2 + (y - cy) ** 2 <= 25.0) & np.isin(labels, (1, 3))
        hu[tube] = 30.0
    rng = np.random.default_rng(seed)
    hu += rng.normal(0.0, 12.0, size=shape).astype(np.float32)
    return CTVolume(hu.astype(np.int16), aff, {"source_path": "synthetic"}), labels


def map_grid(shape=(24, 24, 8), extent=(336.0, 288.0, 320.0)):
    """Coarse map grid covering the chest box, as the model grid would: (shape, affine)."""
    spacing = np.asarray(extent) / np.asarray(shape)
    return shape, _grid_affine(shape, spacing)


def blob_map(center, sigma_mm: float = 28.0, amplitude: float = 1.0, shape=(24, 24, 8), extent=(336.0, 288.0, 320.0)):
    """A Gaussian heat map blob centred at a RAS point, on the coarse map grid: (values, affine)."""
    shape, aff = map_grid(shape, extent)
    idx = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), axis=-1).astype(np.float64)
    world = idx @ aff[:3, :3].T + aff[:3, 3]
    d2 = np.sum((world - np.asarray(center)) ** 2, axis=-1)
    return (amplitude * np.exp(-d2 / (2 * sigma_mm**2))).astype(np.float32), aff
