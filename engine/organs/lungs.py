"""Body, airways and lungs of the classical organ segmentation (steps 1-3 of
:func:`engine.organs.segment`)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from engine.organs.morphology import bbox, fill_slices

AIR_HU = -450.0  # lung / soft tissue boundary (half-way between about -850 and 0)
BODY_HU = -500.0
AIRWAY_HU = -950.0  # trachea and bronchial lumen
MIN_LUNG_ML = 40.0


def body_mask(hu: np.ndarray) -> np.ndarray:
    body = hu > BODY_HU
    lab, n = ndimage.label(body)
    if n == 0:
        return body
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    body = lab == int(np.argmax(sizes))
    return fill_slices(body)


def remove_airways(air: np.ndarray, hu: np.ndarray, body: np.ndarray, spacing) -> np.ndarray:
    """Remove the trachea and the bronchi connected to it (lumen below AIRWAY_HU).

    The trachea is found in the upper slices as the air component nearest the body's
    midline with a cross-section of 0.8-8 cm2; it is grown in 3D through voxels darker than
    AIRWAY_HU and removed (dilated by one voxel to take the wall's partial volume).
    """
    nz = air.shape[2]
    px_area = spacing[0] * spacing[1] / 100.0  # cm2
    seed = None
    for k in range(nz - 1, int(nz * 0.55), -1):
        lab, n = ndimage.label(air[:, :, k])
        if n == 0:
            continue
        bi, bj = np.nonzero(body[:, :, k])
        if len(bi) == 0:
            continue
        cx = bi.mean()
        best = None
        idx = np.arange(1, n + 1)
        areas = ndimage.sum_labels(np.ones_like(lab), lab, idx) * px_area
        cents = ndimage.center_of_mass(np.ones_like(lab), lab, idx)
        for lb, area, c in zip(idx, areas, cents):
            if 0.8 <= area <= 8.0:
                dist = abs(c[0] - cx) * spacing[0]
                if dist < 35 and (best is None or dist < best[0]):
                    best = (dist, lb)
        if best is not None:
            seed = (lab == best[1], k)
            break
    if seed is None:
        return air
    lumen = (hu < AIRWAY_HU) & body
    start = np.zeros_like(air)
    start[:, :, seed[1]] = seed[0] & lumen[:, :, seed[1]]
    if not start.any():
        return air
    lab, _ = ndimage.label(lumen)
    ids = np.unique(lab[start])
    ids = ids[ids > 0]
    lut = np.zeros(int(lab.max()) + 1, bool)
    lut[ids] = True
    tree = lut[lab]
    if tree.sum() > 0.08 * air.sum():  # leaked into the lungs: keep the upper 80 mm only
        tree[:, :, : max(0, seed[1] - int(80 / spacing[2]))] = False
    tree = ndimage.binary_dilation(tree, structure=ndimage.generate_binary_structure(3, 1))
    return air & ~tree


def split_two(comp: np.ndarray, spacing, max_iter: int = 12) -> list[np.ndarray]:
    """Split a component holding both lungs by eroding until it falls apart."""
    st = ndimage.generate_binary_structure(3, 1)
    cur = comp
    for _ in range(max_iter):
        cur = ndimage.binary_erosion(cur, structure=st)
        lab, n = ndimage.label(cur)
        if n >= 2:
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            order = np.argsort(sizes)[::-1]
            if sizes[order[1]] > 0.15 * sizes[order[0]]:
                # give every voxel of the component to its nearest seed, in the component's box
                box = bbox(comp, pad=(1, 1, 1))
                seeds = np.zeros(comp[box].shape, np.uint8)
                sub = lab[box]
                seeds[sub == order[0]] = 1
                seeds[sub == order[1]] = 2
                del lab, sub, cur
                inds = ndimage.distance_transform_edt(seeds == 0, sampling=spacing,
                                                      return_distances=False, return_indices=True)
                near = seeds[tuple(inds)]
                del inds
                parts = []
                for v in (1, 2):
                    p = np.zeros_like(comp)
                    p[box] = comp[box] & (near == v)
                    parts.append(p)
                return parts
    return [comp]
