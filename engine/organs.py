"""Organ label maps (0 background, 1 right lung, 2 heart, 3 left lung) for any scan.

Three sources:

* :func:`from_phantom` - the exact truth of a synthetic case;
* :func:`from_labelmap` - a user's label map (NIfTI path or array) with a code mapping,
  resampled onto the scan grid by nearest neighbour in world coordinates;
* :func:`segment` - classical segmentation of a chest CT (thresholds, connected
  components, morphology), described step by step in its docstring.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from engine.errors import Cancelled, CTCamError
from engine.labels import ORGAN_CODES
from engine.volume import CTVolume, canonicalize

RIGHT, HEART, LEFT = ORGAN_CODES["right_lung"], ORGAN_CODES["heart"], ORGAN_CODES["left_lung"]

# Code mappings: label value in the file -> organ code.
#
# "totalsegmentator": the "total" task of TotalSegmentator v2 (>= 2.0; class ids from
#   totalsegmentator/map_to_binary.py, class_map["total"], github.com/wasserth/TotalSegmentator):
#   10 lung_upper_lobe_left, 11 lung_lower_lobe_left -> left lung; 12 lung_upper_lobe_right,
#   13 lung_middle_lobe_right, 14 lung_lower_lobe_right -> right lung; 51 heart -> heart.
# "totalsegmentator_v1": TotalSegmentator 1.x (class_map["total_v1"]): 13, 14 left lobes;
#   15, 16, 17 right lobes; 44 heart_myocardium, 45-48 heart atria/ventricles -> heart.
# "ctcam": our own codes (1 right lung, 2 heart, 3 left lung), e.g. a phantom's organs.nii.gz.
MAPPINGS: dict[str, dict[int, int]] = {
    "ctcam": {RIGHT: RIGHT, HEART: HEART, LEFT: LEFT},
    "totalsegmentator": {10: LEFT, 11: LEFT, 12: RIGHT, 13: RIGHT, 14: RIGHT, 51: HEART},
    "totalsegmentator_v1": {13: LEFT, 14: LEFT, 15: RIGHT, 16: RIGHT, 17: RIGHT, 44: HEART, 45: HEART, 46: HEART, 47: HEART, 48: HEART},
}


class OrganMapError(CTCamError):
    """A label-map file or array that cannot be used as an organ map."""


@dataclass
class OrganSegmentation:
    labelmap: np.ndarray  # uint8 on the scan grid
    message: str


def from_phantom(case) -> np.ndarray:
    """The exact organ map of a :class:`engine.phantom.PhantomCase`."""
    return np.asarray(case.organs, dtype=np.uint8).copy()


def _lut(mapping: dict[int, int], max_value: int) -> np.ndarray:
    lut = np.zeros(max_value + 1, np.uint8)
    for k, v in mapping.items():
        if 0 <= int(k) <= max_value:
            lut[int(k)] = int(v)
    return lut


def from_labelmap(path_or_array, volume: CTVolume, mapping: dict[int, int] | str = "ctcam") -> np.ndarray:
    """Organ map on ``volume``'s grid from a label map.

    ``path_or_array``: a NIfTI label map (any orientation; its own affine is used, and it is
    resampled to the scan grid by nearest neighbour through world coordinates), or an array
    already on the scan grid (same shape as ``volume.hu``).  ``mapping``: a preset name of
    :data:`MAPPINGS` or a dict {file value: organ code}; unmapped values become 0.
    """
    if isinstance(mapping, str):
        if mapping not in MAPPINGS:
            raise OrganMapError(f"unknown label-map mapping {mapping!r}; use one of {sorted(MAPPINGS)} or a dict of codes.")
        mapping = MAPPINGS[mapping]
    if isinstance(path_or_array, (str, Path)):
        data, affine = _read_labelmap(Path(path_or_array))
        where = str(path_or_array)
    else:
        data = np.asarray(path_or_array)
        affine = None
        where = "the label-map array"
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise OrganMapError(f"{where}: a label map must be 3D, got shape {data.shape}. Export one 3D integer label volume.")
    if data.dtype.kind == "f":
        if not np.all(np.isfinite(data)) or not np.all(data == np.round(data)):
            raise OrganMapError(f"{where}: label values must be whole numbers, found fractional or non-finite values. Save the label map as an integer image.")
    data = data.astype(np.int64)
    if data.size and data.min() < 0:
        raise OrganMapError(f"{where}: label values must not be negative (found {int(data.min())}).")
    if affine is None:
        if data.shape != volume.shape:
            raise OrganMapError(
                f"{where}: shape {data.shape} differs from the scan's {volume.shape}; pass a NIfTI file (with its affine) or an array on the scan grid."
            )
        resampled = data
    else:
        data, affine = canonicalize(data, affine)
        resampled = _nearest(data, np.linalg.inv(affine) @ volume.affine, volume.shape)
    lut = _lut(mapping, int(resampled.max()) if resampled.size else 0)
    return lut[resampled]


def _nearest(data: np.ndarray, m: np.ndarray, shape) -> np.ndarray:
    """Nearest-neighbour resampling: out[ijk] = data[rint(m @ ijk)], 0 outside ``data``.

    ``m`` maps output voxel indices to input voxel indices (scan voxel -> world -> label
    voxel).  Done one output slice at a time to bound memory.
    """
    out = np.zeros(shape, data.dtype)
    gi, gj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    base = m[:3, 0, None, None] * gi + m[:3, 1, None, None] * gj + m[:3, 3, None, None]  # (3, ni, nj)
    lim = np.array(data.shape)[:, None, None]
    for k in range(shape[2]):
        idx = np.rint(base + m[:3, 2, None, None] * k).astype(np.int64)
        ok = np.all((idx >= 0) & (idx < lim), axis=0)
        out[:, :, k][ok] = data[idx[0][ok], idx[1][ok], idx[2][ok]]
    return out


def _read_labelmap(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from engine.io.nifti_limits import load_bounded

    if not path.exists():
        raise OrganMapError(f"{path}: no such file. Check the path of the label map.")
    try:
        img = load_bounded(path)  # size announced by the header checked before reading
        data = np.asarray(img.dataobj)
        affine = img.affine
    except Exception as exc:  # nibabel raises many types for bad files
        raise OrganMapError(f"{path}: not a readable NIfTI label map ({exc}). Export the label map as .nii or .nii.gz.") from exc
    if affine is None or not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise OrganMapError(f"{path}: the label map has no usable affine (voxel to world). Re-export it with its geometry.")
    return data, np.asarray(affine, float)


# -- classical segmentation ----------------------------------------------------------------

AIR_HU = -450.0  # lung / soft tissue boundary (half-way between about -850 and 0)
BODY_HU = -500.0
AIRWAY_HU = -950.0  # trachea and bronchial lumen
MIN_LUNG_ML = 40.0


def _check(cancel):
    if cancel is not None and cancel():
        raise Cancelled()


def _ball(radius_mm: float, spacing) -> np.ndarray:
    r = [max(0, int(round(radius_mm / s))) for s in spacing]
    g = np.ogrid[tuple(slice(-k, k + 1) for k in r)]
    d = sum((gi * s / max(radius_mm, 1e-6)) ** 2 for gi, s in zip(g, spacing))
    return d <= 1.0


def _fill_slices(mask: np.ndarray) -> np.ndarray:
    """Fill holes in every axial slice (in-plane connectivity only)."""
    padded = np.pad(mask, ((0, 0), (0, 0), (1, 1)))
    st = np.zeros((3, 3, 3), bool)
    st[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_fill_holes(padded, structure=st)[:, :, 1:-1]


def _body(hu: np.ndarray) -> np.ndarray:
    body = hu > BODY_HU
    lab, n = ndimage.label(body)
    if n == 0:
        return body
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    body = lab == int(np.argmax(sizes))
    return _fill_slices(body)


def _remove_airways(air: np.ndarray, hu: np.ndarray, body: np.ndarray, spacing) -> np.ndarray:
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


def _split_two(comp: np.ndarray, spacing, max_iter: int = 12) -> list[np.ndarray]:
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
                box = _bbox(comp, pad=(1, 1, 1))
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


def _hull_slices(mask: np.ndarray) -> np.ndarray:
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


def _segmentation_steps(shape, spacing) -> tuple[int, int, int]:
    """Voxel strides that bring a scan near 1.4 mm in-plane and 2.5 mm between slices
    (rounded: at most 2.1 mm and 3.75 mm; grids under 256 x 256 x 64 are left alone)."""
    sxy = min(spacing[0], spacing[1])
    s_ij = max(1, round(1.4 / sxy)) if min(shape[:2]) >= 256 else 1
    s_k = max(1, round(2.5 / spacing[2])) if shape[2] >= 64 else 1
    return (s_ij, s_ij, s_k)


def segment(volume: CTVolume, cancel: Callable[[], bool] | None = None) -> OrganSegmentation:
    """Classical lung and heart segmentation of a chest CT.

    1. Body: the largest component brighter than -500 HU, holes filled per slice.
    2. Air: voxels below -450 HU inside the body; the trachea and main bronchi (lumen below
       -950 HU, grown from the trachea found in the upper slices) are removed.
    3. Lungs: the two largest air components (at least 40 mL each).  When the lungs touch
       (one component), it is eroded until it splits and every voxel goes to the nearest
       part.  Right and left are assigned by the centroid's world x (RAS: larger x is the
       patient's right), not by the image midline.  Each lung is closed (2 mm) and its holes
       (vessels, nodules) filled per slice.
    4. Heart: soft tissue (-30..130 HU) inside the per-slice convex hull of the lungs and
       outside them, opened by 4 mm to cut bridges; the component nearest the expected heart
       position (between the lungs, anterior, lower half) is kept, grown back, filled and
       widened by 3 mm of pericardial fat.

    A scan without lungs returns an empty map and a message saying so.
    """
    hu = volume.hu
    spacing = volume.spacing
    steps = _segmentation_steps(hu.shape, spacing)
    if steps != (1, 1, 1):
        # thin pixels or slices: segment on every n-th voxel (about 1.4 x 1.4 x 2.5 mm, the
        # resolution benchmarks/organ_dice.py measures), then copy each label to the block
        # of voxels it stands for; keeps time and memory of large scans down
        si, sj, sk = steps
        small = CTVolume(hu[::si, ::sj, ::sk], volume.affine @ np.diag([si, sj, sk, 1]), {})
        res = segment(small, cancel)
        lm = np.empty(hu.shape, np.uint8)
        for a, b, c in itertools.product(range(si), range(sj), range(sk)):
            dst = lm[a::si, b::sj, c::sk]
            dst[...] = res.labelmap[: dst.shape[0], : dst.shape[1], : dst.shape[2]]
        return OrganSegmentation(lm, res.message)

    shape = hu.shape
    empty = np.zeros(shape, np.uint8)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    body = _body(hu)
    _check(cancel)
    if not body.any():
        return OrganSegmentation(empty, "No lungs found: the scan holds no body (nothing brighter than -500 HU); the organ map is empty.")
    air = (hu < AIR_HU) & body
    air = _remove_airways(air, hu, body, spacing)
    _check(cancel)
    lab, n = ndimage.label(air)
    sizes = np.bincount(lab.ravel()) * voxel_ml
    sizes[0] = 0
    order = np.argsort(sizes)[::-1]
    big = [int(i) for i in order[:2] if sizes[i] >= MIN_LUNG_ML]
    if not big:
        return OrganSegmentation(
            empty, f"No lungs found: no air-filled region of at least {MIN_LUNG_ML:.0f} mL inside the body; the organ map is empty."
        )
    parts = [lab == i for i in big]
    if len(parts) == 1 or sizes[big[1]] < 0.15 * sizes[big[0]]:
        parts = _split_two(parts[0], spacing)
    _check(cancel)
    closing = _ball(2.0, spacing)
    lungs = []
    for p in parts:
        box = _bbox(p, pad=closing.shape)
        out = np.zeros_like(p)
        sub = p[box]
        out[box] = _fill_slices(ndimage.binary_closing(sub, structure=closing, border_value=0) | sub)
        lungs.append(out)
    labelmap = np.zeros(shape, np.uint8)
    if len(lungs) == 2:
        xs = [volume.world(np.array(ndimage.center_of_mass(m)))[0] for m in lungs]
        right_i = int(np.argmax(xs))
        labelmap[lungs[1 - right_i]] = LEFT
        labelmap[lungs[right_i]] = RIGHT
        note = ""
    else:
        # one lung only: side from its centroid relative to the body's centre
        cx = volume.world(np.array(ndimage.center_of_mass(lungs[0])))[0]
        bx = volume.world(np.array(ndimage.center_of_mass(body)))[0]
        labelmap[lungs[0]] = RIGHT if cx > bx else LEFT
        note = " Only one lung was found."
    _check(cancel)
    heart = _heart(hu, labelmap > 0, body, spacing, volume)
    labelmap[heart & (labelmap == 0)] = HEART
    vols = {c: float((labelmap == c).sum()) * voxel_ml for c in (RIGHT, HEART, LEFT)}
    msg = (
        f"Classical segmentation: right lung {vols[RIGHT] / 1000:.2f} L, left lung {vols[LEFT] / 1000:.2f} L, "
        f"heart {vols[HEART] / 1000:.2f} L.{note}"
    )
    if vols[HEART] == 0:
        msg += " No heart found between the lungs."
    return OrganSegmentation(labelmap, msg)


def _bbox(mask: np.ndarray, pad=(0, 0, 0)) -> tuple[slice, slice, slice]:
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


def _heart(hu, lungs, body, spacing, volume) -> np.ndarray:
    """Heart organ mask (full grid); the work happens in the box around the lungs' hull."""
    hull = _hull_slices(lungs)
    out = np.zeros_like(lungs)
    mediastinum = hull & ~lungs
    if not mediastinum.any():
        return out
    box = _bbox(mediastinum, pad=[int(round(8 / s)) for s in spacing])
    out[box] = _heart_in_box(hu[box], lungs[box], body[box], hull[box], spacing, volume, box)
    return out


def _heart_in_box(hu, lungs, body, hull, spacing, volume, box) -> np.ndarray:
    """Heart (with its pericardial sac) inside the box around the mediastinum.

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
    bone = ndimage.binary_dilation(hu > 180, structure=_ball(6.0, spacing))
    soft = (hu > -30) & (hu < 130) & hull & ~lungs & body & ~bone
    soft = ndimage.binary_opening(soft, structure=_ball(2.0, spacing))
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
    bb = _bbox(lungs)
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
    heart = _fill_slices(ndimage.binary_closing(heart, structure=_ball(3.0, spacing)) | heart)
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
    return _fill_slices(heart | sac)
