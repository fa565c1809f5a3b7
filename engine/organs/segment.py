"""Classical lung and heart segmentation of a chest CT (:func:`segment`).

The steps run on a working grid of about 4 mm in-plane and 3 mm between slices (every n-th
voxel of a finer scan); the labels are then copied back to the scan grid, the lungs' edges
are redrawn at the scan's own resolution by the air threshold, and the heart is redone on a
2 mm grid in a box around it.  A 512 x 512 x 400 scan is thus segmented on 1.6 million
voxels plus the heart's box, and the scan grid is touched only by block-wise copies
(benchmarks/organ_speed.py has the times).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from engine.organs.heart import heart_in_box, heart_mask, hull_slices
from engine.organs.labelmap import HEART, LEFT, RIGHT
from engine.organs.lungs import AIR_HU, MIN_LUNG_ML, body_mask, remove_airways, split_two
from engine.organs.morphology import ball, bbox, check, fill_slices
from engine.volume import CTVolume

WORK_MM = (4.0, 3.0)  # working grid: voxels of about this size in-plane, and between slices
HEART_MM = (2.0, 2.5)  # the heart's grid (its step is tuned at about 2 mm)


@dataclass
class OrganSegmentation:
    labelmap: np.ndarray  # uint8 on the scan grid
    message: str


def working_steps(shape, spacing, mm=WORK_MM) -> tuple[int, int, int]:
    """Voxel strides that bring a scan near ``mm`` (in-plane, between slices; rounded; grids
    under 256 x 256 in-plane or 64 slices keep that axis as it is)."""
    sxy = min(spacing[0], spacing[1])
    s_ij = max(1, round(mm[0] / sxy)) if min(shape[:2]) >= 256 else 1
    s_k = max(1, round(mm[1] / spacing[2])) if shape[2] >= 64 else 1
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

    Steps 1-4 run on a working grid of about 4 x 4 x 3 mm (:func:`working_steps`).  On the
    scan grid each voxel takes its block's label, except within one block of a lung's edge,
    where it is lung when it is air (below -450 HU) and next to that lung; the heart (step 4)
    is then redone on a grid of about 2 x 2 x 2.5 mm in the box around the working grid's
    heart, aimed at its centre.

    A scan without lungs returns an empty map and a message saying so.
    """
    hu = volume.hu
    steps = working_steps(hu.shape, volume.spacing)
    if steps == (1, 1, 1):
        return _segment_grid(volume, cancel)
    # every n-th voxel, the one nearest each block's centre; the last block may be partial
    offs = [(s - 1) // 2 for s in steps]
    idx = [np.minimum(np.arange(-(-n // s)) * s + o, n - 1) for n, s, o in zip(hu.shape, steps, offs)]
    small_hu = hu[np.ix_(*idx)]
    affine = volume.affine @ np.array([[steps[0], 0, 0, offs[0]], [0, steps[1], 0, offs[1]],
                                       [0, 0, steps[2], offs[2]], [0, 0, 0, 1]], float)
    keep: dict = {}
    res = _segment_grid(CTVolume(small_hu, affine, {}), cancel, keep)
    check(cancel)
    labelmap = _refine(res.labelmap, hu, steps)
    if keep:
        check(cancel)
        _redo_heart(labelmap, res.labelmap == HEART, hu, volume.spacing, steps, keep)
    return OrganSegmentation(labelmap, res.message)


def _redo_heart(labelmap, coarse_heart, hu, spacing, steps, keep) -> None:
    """Step 4 again on a finer grid (about :data:`HEART_MM`), in the box around the working
    grid's heart (25 mm margin), aimed at that heart's centre; ``labelmap`` is updated in place."""
    if not coarse_heart.any():
        return
    pad = [int(np.ceil(25.0 / (sp * s))) for sp, s in zip(spacing, steps)]
    cbox = bbox(coarse_heart, pad=pad)
    box = tuple(slice(c.start * s, min(n, c.stop * s)) for c, s, n in zip(cbox, steps, hu.shape))
    fine = working_steps(hu.shape, spacing, HEART_MM)
    # the finer grid's voxels (the one nearest each block's centre) in scan indices
    at = [np.minimum(np.arange(b.start + (f - 1) // 2, b.stop, f), b.stop - 1) for b, f in zip(box, fine)]
    ix = np.ix_(*at)
    cix = np.ix_(*[a // s for a, s in zip(at, steps)])  # and the working grid's blocks they lie in
    sub = labelmap[ix]
    lungs = (sub == RIGHT) | (sub == LEFT)
    centre = np.array(ndimage.center_of_mass(coarse_heart)) * np.array(steps) + (np.array(steps) - 1) / 2
    target = (centre - np.array([b.start for b in box])) / np.array(fine)
    heart = heart_in_box(hu[ix], lungs, keep["body"][cix], keep["hull"][cix], np.asarray(spacing) * fine,
                         target=target)
    if not heart.any():
        return  # keep the working grid's heart
    # back onto the box's scan voxels: each takes the value of its finer-grid block
    heart = heart[np.ix_(*[np.arange(b.stop - b.start) // f for b, f in zip(box, fine)])]
    out = labelmap[box]
    out[out == HEART] = 0
    out[heart & (out == 0)] = HEART


def _refine(coarse: np.ndarray, hu: np.ndarray, steps) -> np.ndarray:
    """The working grid's labels on the scan grid, the lungs' edges redrawn at its resolution.

    Every scan voxel belongs to one block of the working grid and takes its label, except
    within one block of a lung's edge: there it is the neighbouring lung when it is air; if
    not, it keeps the block's label, lung becoming heart (next to the heart) or background.
    Done one block offset at a time, so every operation is on arrays of the working grid's
    size.
    """
    st = np.ones((3, 3, 3), bool)
    lung_lab = np.where((coarse == RIGHT) | (coarse == LEFT), coarse, 0).astype(np.uint8)
    lung = lung_lab > 0
    near_lung = ndimage.grey_dilation(lung_lab, footprint=st)  # the lung next to each block (0: none)
    band = (near_lung > 0) & ~ndimage.binary_erosion(lung, structure=st, border_value=1)
    near_heart = ndimage.binary_dilation(coarse == HEART, structure=st)
    not_air = np.where(lung, np.where(near_heart, HEART, 0), coarse).astype(np.uint8)
    box = bbox(band)
    out = np.empty(hu.shape, np.uint8)
    si, sj, sk = steps
    for a, b, c in itertools.product(range(si), range(sj), range(sk)):
        dst = out[a::si, b::sj, c::sk]
        n = tuple(slice(0, m) for m in dst.shape)
        dst[...] = coarse[n]
        # the band's box, clipped to this offset's blocks
        bx = tuple(slice(x.start, min(x.stop, m)) for x, m in zip(box, dst.shape))
        air = hu[a::si, b::sj, c::sk][bx] < AIR_HU
        d = dst[bx]
        d[...] = np.where(band[bx], np.where(air, near_lung[bx], not_air[bx]), d)
    return out


def _segment_grid(volume: CTVolume, cancel, keep: dict | None = None) -> OrganSegmentation:
    """Steps 1-4 of :func:`segment` on the volume's own grid (``keep`` receives the body and
    the lungs' hull)."""
    hu = volume.hu
    spacing = volume.spacing
    shape = hu.shape
    empty = np.zeros(shape, np.uint8)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    body = body_mask(hu)
    check(cancel)
    if not body.any():
        return OrganSegmentation(empty, "No lungs found: the scan holds no body (nothing brighter than -500 HU); the organ map is empty.")
    air = (hu < AIR_HU) & body
    air = remove_airways(air, hu, body, spacing)
    check(cancel)
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
        parts = split_two(parts[0], spacing)
    check(cancel)
    closing = ball(2.0, spacing)
    lungs = []
    for p in parts:
        box = bbox(p, pad=closing.shape)
        out = np.zeros_like(p)
        sub = p[box]
        out[box] = fill_slices(ndimage.binary_closing(sub, structure=closing, border_value=0) | sub)
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
    check(cancel)
    hull = hull_slices(labelmap > 0)
    if keep is not None:
        keep.update(body=body, hull=hull)
    heart = heart_mask(hu, labelmap > 0, body, spacing, hull)
    labelmap[heart & (labelmap == 0)] = HEART
    vols = {c: float((labelmap == c).sum()) * voxel_ml for c in (RIGHT, HEART, LEFT)}
    msg = (
        f"Classical segmentation: right lung {vols[RIGHT] / 1000:.2f} L, left lung {vols[LEFT] / 1000:.2f} L, "
        f"heart {vols[HEART] / 1000:.2f} L.{note}"
    )
    if vols[HEART] == 0:
        msg += " No heart found between the lungs."
    return OrganSegmentation(labelmap, msg)
