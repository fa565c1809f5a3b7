"""Heart of the classical organ segmentation (step 4 of :func:`engine.organs.segment`): soft
tissue inside the lungs' per-slice convex hull, opened, grown back and widened by the sac."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from engine.organs.morphology import ball, bbox, fill_slices


def hull_slices(mask: np.ndarray) -> np.ndarray:
    """Per axial slice, the convex hull of the mask's pixels (pixel centres on or inside)."""
    from scipy.spatial import ConvexHull, QhullError

    out = np.zeros_like(mask)
    for k in range(mask.shape[2]):
        pts = np.argwhere(mask[:, :, k])
        if len(pts) < 4:
            continue
        try:
            eq = ConvexHull(pts).equations  # rows (a, b, c): a*i + b*j + c <= 0 inside
        except (QhullError, ValueError):  # all points on a line
            continue
        lo, hi = pts.min(0), pts.max(0)
        # each row i of the box meets the polygon in one run of j: intersect the half-planes
        gi = np.arange(lo[0], hi[0] + 1, dtype=np.float64)[:, None]
        a, b, c = eq[:, 0], eq[:, 1], eq[:, 2] - 1e-9
        rest = -(gi * a + c)  # b * j <= rest, per row and facet
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = rest / b
        j_hi = np.where(b > 1e-12, bound, np.inf).min(1)
        j_lo = np.where(b < -1e-12, bound, -np.inf).max(1)
        flat_ok = np.all((np.abs(b) > 1e-12) | (rest >= 0), axis=1)  # facets parallel to j
        gj = np.arange(lo[1], hi[1] + 1, dtype=np.float64)[None, :]
        inside = (gj >= j_lo[:, None] - 1e-6) & (gj <= j_hi[:, None] + 1e-6) & flat_ok[:, None]
        out[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, k] = inside
    return out


def heart_mask(hu, lungs, body, spacing, hull=None) -> np.ndarray:
    """Heart organ mask (full grid); the work happens in the box around the lungs' hull
    (``hull``: :func:`hull_slices` of ``lungs``, computed when not given)."""
    hull = hull_slices(lungs) if hull is None else hull
    out = np.zeros_like(lungs)
    mediastinum = hull & ~lungs
    if not mediastinum.any():
        return out
    box = bbox(mediastinum, pad=[int(round(8 / s)) for s in spacing])
    out[box] = heart_in_box(hu[box], lungs[box], body[box], hull[box], spacing)
    return out


def heart_in_box(hu, lungs, body, hull, spacing, target=None) -> np.ndarray:
    """Heart (with its pericardial sac) inside the box around the mediastinum.

    ``target``: the expected heart position (box voxel indices); by default from the
    lungs' bounding box as in step 2.

    1. Soft tissue (-30..130 HU) in the lungs' hull, away from bone (6 mm).
    2. Seed: the local maximum of the distance to the tissue's edge that is deep (thick)
       and near the expected heart position (between the lungs, anterior, lower third).
    3. Heart: opening by a ball of radius r = min(12 mm, depth/2) through distance maps,
       keeping the part connected to the seed; thin attachments (great vessels, the
       oesophagus, the diaphragm through a fat pad) fall away.
    4. Sac: the heart grown toward the lungs by the gap measured between its surface and
       the lungs (epicardial fat, pericardium and any pericardial fluid).
    """
    sp = np.asarray(spacing)
    bone = ndimage.binary_dilation(hu > 180, structure=ball(6.0, spacing))
    soft = (hu > -30) & (hu < 130) & hull & ~lungs & body & ~bone
    soft = ndimage.binary_opening(soft, structure=ball(2.0, spacing))
    empty = np.zeros_like(soft)
    if soft.sum() * np.prod(spacing) < 50_000:  # < 50 mL
        return empty
    edt = ndimage.distance_transform_edt(soft, sampling=spacing).astype(np.float32)
    size = [max(3, int(round(24.0 / s)) | 1) for s in spacing]
    peaks = (edt == ndimage.maximum_filter(edt, size=size)) & (edt >= 10.0)
    pts = np.argwhere(peaks)
    if len(pts) == 0:
        return empty
    depth = edt[tuple(pts.T)]
    if target is None:
        bb = bbox(lungs)
        lo = np.array([sl.start for sl in bb])
        hi = np.array([sl.stop - 1 for sl in bb])
        target = np.array([(lo[0] + hi[0]) / 2, lo[1] + 0.62 * (hi[1] - lo[1]), lo[2] + 0.35 * (hi[2] - lo[2])])
    dist = np.linalg.norm((pts - target) * sp, axis=1)
    best = int(np.argmin(dist / np.maximum(depth, 1.0) ** 1.5))
    seed = tuple(pts[best])
    r = float(min(12.0, 0.5 * depth[best]))
    core = edt >= r
    lab, _ = ndimage.label(core)
    core = lab == lab[seed]
    del lab, edt
    heart = (ndimage.distance_transform_edt(~core, sampling=spacing) <= r) & soft
    heart = fill_slices(ndimage.binary_closing(heart, structure=ball(3.0, spacing)) | heart)
    # above its widest slice, drop the thin great-vessel stumps (aorta, pulmonary trunk)
    area = heart.sum((0, 1))
    kmax = int(np.argmax(area))
    above = np.arange(heart.shape[2]) > kmax
    heart[:, :, above & (area < 0.3 * area[kmax])] = False
    if not heart.any():
        return heart
    # Pericardial sac: the heart grown toward the lungs by the typical gap between its
    # surface and the lungs (epicardial fat, pericardium, any pericardial fluid), less the
    # pleural line.  The gap is the 30th percentile of the lung distance over the heart's
    # surface, i.e. measured on the sides that face the lungs.
    # (one float64 distance map alive at a time: large scans stay within their memory budget)
    to_lung = ndimage.distance_transform_edt(~lungs, sampling=spacing)
    surface = heart & ~ndimage.binary_erosion(heart)
    gap = float(np.clip(np.percentile(to_lung[surface], 30) - 2.0, 2.0, 25.0))
    off_lung = to_lung > 1.0
    del to_lung, surface
    near = ndimage.distance_transform_edt(~heart, sampling=spacing) <= gap
    sac = near & ~lungs & (hu < 130) & (hu > -200) & hull & ~bone & off_lung
    return fill_slices(heart | sac)
