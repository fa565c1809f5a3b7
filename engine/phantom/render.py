"""Rasterise an :class:`~engine.phantom.anatomy.Anatomy` and its lesions onto a grid.

Painter's order: air -> skin/fat -> muscle -> mediastinal fat -> abdomen -> heart and
mediastinal tubes -> lungs (which never overlap the mediastinum) -> pulmonary vessels and
airways -> bones -> lung lesions -> scanner noise and blur.  Ground truth comes from the
signed distances at voxel centres, never from the painted intensities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from engine.labels import ORGAN_CODES

from .anatomy import PLEURA, Anatomy
from .geometry import (
    F32,
    Capsules,
    Grid,
    occupancy,
    paint,
    paint_sparse,
    union_occupancy,
    union_sdf,
)
from .lesions import Lesion


@dataclass
class Style:
    """Tissue intensities and scanner settings drawn per case."""

    fat: float
    muscle: float
    med_fat: float
    liver: float
    spleen: float
    blood: float
    effusion: float
    bone_cortex: float
    bone_marrow: float
    noise: float  # HU standard deviation after blur
    blur_xy: float  # gaussian sigma of the scanner's point-spread function (mm, in-plane)
    blur_z: float  # gaussian sigma along the slice axis (mm)

    @staticmethod
    def draw(rng: np.random.Generator, grid: Grid) -> Style:
        u = rng.uniform
        vol = float(np.prod(grid.spacing))
        # Noise falls with voxel volume (fewer photons per voxel at thin slices).
        noise = u(13, 22) * (0.5 / vol) ** 0.35
        return Style(
            fat=u(-112, -88), muscle=u(42, 58), med_fat=u(-100, -75), liver=u(52, 65), spleen=u(40, 50),
            blood=u(35, 45), effusion=u(2, 18), bone_cortex=u(900, 1200), bone_marrow=u(170, 280),
            noise=max(noise, 2.0), blur_xy=u(0.6, 1.1), blur_z=u(0.5, 1.0),
        )


def _gauss_kernel_sq_sum(sigma: float) -> float:
    if sigma <= 0:
        return 1.0
    r = int(4 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    return float((k * k).sum())


def _paint_tubes(hu, grid, caps: Capsules, value, h, grow=0.0, min_r=0.0, within=None):
    """Paint the union of tubes (radii grown by ``grow`` mm); returns its sparse occupancy.

    ``within`` (an occupancy array on the grid) confines the paint, e.g. intrapulmonary
    airways to the lungs.
    """
    if min_r > 0:
        caps = caps.select(np.maximum(caps.ra, caps.rb) + grow >= min_r)
    if grow:
        caps = caps.offset(grow)
    lin, occ = union_occupancy(caps, grid, h)
    if within is not None:
        occ = occ * within.reshape(-1)[lin]
    paint_sparse(hu, lin, occ, value)
    return lin, occ


def render(anat: Anatomy, trees: dict, lesions: list[Lesion], grid: Grid, style: Style, noise_rng, parts=None):
    """Returns (hu int16, organs uint8, masks {label: bool array}).

    Anatomy and lesions are drawn in the box around the body only (air elsewhere), then
    scanner noise and blur are applied to the whole field of view.
    """
    b = anat.body
    box = grid.box(np.array([b.cx - b.a - 3, b.cy - b.b - 3, -1e9]), np.array([b.cx + b.a + 3, b.cy + b.b + 3, 1e9]))
    if box is None:
        hu_c, organs_c, masks_c = None, None, {}
    else:
        start = [sl.start for sl in box]
        sub = Grid(
            tuple(sl.stop - sl.start for sl in box),
            grid.spacing,
            tuple(o + i * s for o, i, s in zip(grid.origin, start, grid.spacing)),
        )
        hu_c, organs_c, masks_c = _render_body(anat, trees, lesions, sub, style, parts)
    hu = np.full(grid.shape, -1000.0, dtype=F32)
    organs = np.zeros(grid.shape, np.uint8)
    masks = {}
    if box is not None:
        hu[box] = hu_c
        organs[box] = organs_c
        for label, m in masks_c.items():
            full = np.zeros(grid.shape, bool)
            full[box] = m
            masks[label] = full
    del hu_c, organs_c, masks_c
    if parts is not None:  # arms, shoulders, chest wall, table: outside the rib cage
        parts.paint_outside(hu, grid, style)

    # -- scanner: correlated noise, then blur ------------------------------------------------
    # the point-spread function is a property of the scanner, in mm: the same sigma at
    # every voxel size (in voxels it would blur a 4 mm grid four times wider than a 1 mm one)
    sig = tuple(float(b / s) for b, s in zip((style.blur_xy, style.blur_xy, style.blur_z), grid.spacing))
    gain = math.sqrt(np.prod([_gauss_kernel_sq_sum(s) for s in sig]))
    noise = noise_rng.standard_normal(grid.shape, dtype=F32)
    noise *= F32(style.noise / gain)
    hu += noise
    del noise
    out = np.empty_like(hu)
    ndimage.gaussian_filter(hu, sig, output=out, mode="nearest", truncate=3.0)
    del hu
    np.clip(out, -1024, 3071, out=out)
    np.rint(out, out=out)
    return out.astype(np.int16), organs, masks


def _render_body(anat: Anatomy, trees: dict, lesions: list[Lesion], grid: Grid, style: Style, parts=None):
    """Noise-free HU, organ map and lesion masks on ``grid`` (float32 HU)."""
    h = grid.h
    x, y, z = grid.coords()
    shape = grid.shape
    hu = np.full(shape, -1000.0, dtype=F32)

    # -- body wall ---------------------------------------------------------------------
    d = anat.body.sdf(x, y, z)
    paint(hu, occupancy(d, h), 25.0)  # skin
    d += F32(1.5)
    paint(hu, occupancy(d, h), style.fat)
    d = anat.muscle_outline.sdf(x, y, z)
    for sx in (1, -1):  # paraspinal muscles
        px, py = (x - F32(sx * (anat.r_vb[0] + 14))) * F32(1 / 24), (y - F32(anat.y_canal - 8)) * F32(1 / 26)
        d = np.minimum(d, (np.sqrt(px * px + py * py) - F32(1)) * F32(24))
    np.maximum(d, anat.body.sdf(x, y, z) + F32(3.0), out=d)  # under the skin and some fat
    paint(hu, occupancy(d, h), style.muscle)
    d_cav = anat.cavity.sdf(x, y, z)
    paint(hu, occupancy(d_cav, h), style.med_fat)
    dome = anat.dome(x, y)
    d = np.maximum(d_cav, z - dome)
    if parts is None:
        paint(hu, occupancy(d, h), np.where(x > F32(-25), F32(style.liver), F32(style.spleen)))
    else:
        parts.paint_abdomen(hu, grid, style, x, y, z, d, h)

    # -- lung region: max(cavity, below dome, above apex, -mediastinum) -------------------
    # (max(a, -min(b, c)) = max(a, -b, -c): the mediastinum's parts are folded in one by one)
    d = np.maximum(d_cav, dome - z)
    np.maximum(d, z - anat.apex(x, y), out=d)
    np.maximum(d, -anat.med_static(x, y, z), out=d)
    hbox = grid.box(*anat.heart_box(pad=PLEURA + h))
    hs = None
    if hbox is not None:
        hx, hy, hz = grid.coords(hbox)
        hs = anat.heart_sdf(hx, hy, hz)
        sub = d[hbox]
        np.maximum(sub, F32(anat.sac_offset + PLEURA) - hs, out=sub)
    tubes = Capsules.concat([t for _, t in anat.mediastinal_tubes()])
    lin, dd = union_sdf(tubes.offset(PLEURA), grid, pad=1.0 + h)
    flat = d.reshape(-1)
    flat[lin] = np.maximum(flat[lin], -dd)
    d += anat.deformation(x, y, z)

    # heart (outermost layer first)
    if hs is not None:
        sub = hu[hbox]
        paint(sub, occupancy(hs - F32(anat.sac_offset), h), 25.0)  # pericardium
        if anat.peri_eff > 0:
            paint(sub, occupancy(hs - F32(anat.epi_fat + anat.peri_eff), h), style.effusion)
        paint(sub, occupancy(hs - F32(anat.epi_fat), h), style.med_fat)
        paint(sub, occupancy(hs, h), anat.heart_hu)
        paint(sub, occupancy(hs + F32(9.0), h), style.blood)
    # tubes
    _paint_tubes(hu, grid, anat.esophagus, 35.0, h)
    for caps in (anat.aorta, anat.arch_branches, anat.svc, anat.pa, anat.pv):
        _paint_tubes(hu, grid, caps, style.blood, h)
    for caps in (anat.trachea, anat.bronchi):
        _paint_tubes(hu, grid, caps, 20.0, h, grow=2.0)
        _paint_tubes(hu, grid, caps, -1000.0, h)

    # -- lungs -------------------------------------------------------------------------
    lung_occ = occupancy(d, h)
    side_code = np.where(x > F32(anat.x_mid), ORGAN_CODES["right_lung"], ORGAN_CODES["left_lung"]).astype(np.uint8)
    organs = (d < 0).view(np.uint8) * side_code
    del d
    if hs is not None:
        sub = organs[hbox]
        sub[hs < F32(anat.sac_offset)] = ORGAN_CODES["heart"]
    dep = np.clip((F32(anat.ycc) - y) * F32(1 / anat.cav_b), -1, 1)
    paint(hu, lung_occ, F32(anat.lung_hu) + F32(anat.lung_grad) * dep)

    # -- pulmonary vessels and airways ------------------------------------------------------
    vessels = Capsules.concat([c for side in ("right", "left") for c in trees[side]["vessels"]])
    _paint_tubes(hu, grid, vessels, style.blood, h, min_r=0.25 * h)
    aw = Capsules.concat([trees[side]["airways"] for side in ("right", "left")])
    aw = aw.select(np.maximum(aw.ra, aw.rb) >= 0.4 * h)
    wall_a, wall_b = np.maximum(0.5, 0.18 * aw.ra), np.maximum(0.5, 0.18 * aw.rb)
    _paint_tubes(hu, grid, Capsules(aw.a, aw.b, aw.ra + wall_a, aw.rb + wall_b), 0.0, h, within=lung_occ)
    air = _paint_tubes(hu, grid, aw, -1000.0, h, within=lung_occ)

    # -- bones -------------------------------------------------------------------------
    _paint_spine(hu, grid, anat, style, x, y, z, h)
    _paint_ribs(hu, grid, anat, style, x, y, z, d_cav, h)
    _paint_sternum(hu, grid, anat, style, h)
    del d_cav

    # -- lesions -----------------------------------------------------------------------
    masks: dict[str, np.ndarray] = {}
    # Diffuse findings first, then dependent fluid, then focal lesions on top.  A later
    # lesion that paints over an earlier one takes those voxels out of the earlier mask,
    # so every mask shows where its finding is actually visible.
    order = {"emphysema": 0, "ground_glass_opacity": 1, "consolidation": 2, "atelectasis": 3, "pleural_effusion": 4,
             "nodule": 10, "calcified_granuloma": 11}  # small spots last: never swallowed by a bigger lesion
    for les in sorted(lesions, key=lambda le: order.get(le.label.split("/")[1], 9)):
        organ_name, abn = les.label.split("/")
        code = ORGAN_CODES[organ_name]
        mask = np.zeros(shape, bool)
        if organ_name == "heart":
            for p in les.parts:
                box = grid.box(p.lo, p.hi)
                if box is None:
                    continue
                dd = p.sdf(*grid.coords(box))
                paint(hu[box], occupancy(dd, h) * (organs[box] == code), p.value)
                mask[box] |= dd < 0
        else:
            side_x = (x > F32(anat.x_mid)) if organ_name == "right_lung" else (x <= F32(anat.x_mid))
            for p in les.parts:
                box = grid.box(p.lo, p.hi)
                if box is None:
                    continue
                dd = p.sdf(*grid.coords(box))
                o = occupancy(dd, h) * lung_occ[box] * side_x[box[0]]
                sub = hu[box]
                if p.mode == "max":
                    sub += o * (np.maximum(sub, F32(p.value)) - sub)
                elif p.mode == "min":
                    sub += o * (np.minimum(sub, F32(p.value)) - sub)
                else:
                    paint(sub, o, p.value)
                mask[box] |= dd < 0
        for p in les.parts:  # a lesion smaller than a voxel still owns the voxel at its centre
            if p.centre is not None:
                ijk = np.rint((np.asarray(p.centre) - grid.origin) / grid.spacing).astype(int)
                if np.all(ijk >= 0) and np.all(ijk < shape):
                    mask[tuple(ijk)] = True
        mask &= organs == code
        if les.air_bronchograms:
            sel = mask.reshape(-1)[air[0]]
            paint_sparse(hu, air[0][sel], air[1][sel], -1000.0)
        for other in masks.values():
            other &= ~mask
        masks[les.label] = mask

    if hs is not None:
        if anat.cardiomegaly_present:
            m = np.zeros(shape, bool)
            m[hbox] = hs < 0
            masks["heart/cardiomegaly"] = m & (organs == ORGAN_CODES["heart"])
        if anat.peri_eff > 0:
            m = np.zeros(shape, bool)
            m[hbox] = (hs >= F32(anat.epi_fat)) & (hs < F32(anat.epi_fat + anat.peri_eff))
            masks["heart/pericardial_effusion"] = m & (organs == ORGAN_CODES["heart"])

    return hu, organs, masks


def _paint_spine(hu, grid, a: Anatomy, st: Style, x, y, z, h):
    box = grid.box(
        np.array([-50.0, a.y_canal - 45.0, -1e9]), np.array([50.0, a.y_vb + a.r_vb[1] + 5.0, 1e9])
    )
    if box is None:
        return
    hu = hu[box]
    x, y, z = grid.coords(box)
    rx, ry = a.r_vb
    ex, ey = x * F32(1 / rx), (y - F32(a.y_vb)) * F32(1 / ry)
    rho = np.sqrt(ex * ex + ey * ey)
    body = (rho - F32(1)) * F32(min(rx, ry))
    # intervertebral discs: a periodic band in z
    ph = np.mod(z - F32(a.disc_phase), F32(a.disc_pitch))
    disc = (np.abs(ph - F32(a.disc_pitch / 2)) < F32(3.5)).astype(F32)  # (1,1,nz)
    cortex = occupancy(body, h)
    paint(hu, cortex * (F32(1) - disc), st.bone_cortex * 0.8)
    paint(hu, occupancy(body + F32(2.0), h) * (F32(1) - disc), st.bone_marrow)
    paint(hu, cortex * disc, 85.0)
    # posterior arch around the canal, spinous and transverse processes
    cy = a.y_canal
    r = np.sqrt(x * x + (y - F32(cy)) ** 2)
    arch = np.abs(r - F32(10.5)) - F32(3.0)
    arch = np.maximum(arch, (y - F32(cy + 4)))  # only behind/beside the canal
    sp = np.maximum(np.abs(x) - F32(4.0), np.abs(y - F32(cy - 24)) - F32(12.0))
    tp = np.maximum(np.abs(np.abs(x) - F32(21)) - F32(7.0), np.abs(y - F32(cy + 1)) - F32(4.0))
    post = np.minimum(np.minimum(arch, sp), tp)
    o = occupancy(post, h) * (F32(1) - disc)
    paint(hu, o, st.bone_cortex * 0.7)
    canal = np.sqrt(x * x + (y - F32(cy)) ** 2) - F32(7.5)
    paint(hu, occupancy(canal, h), 20.0)


def _paint_ribs(hu, grid, a: Anatomy, st: Style, x, y, z, d_cav, h):
    """Ribs: oval sections in the chest wall, sloping down from the spine to the front.

    With psi the angle from the posterior midline (0 behind, pi in front), rib n is centred
    at height z_n(psi) = top - n * pitch - drop * psi / pi and at wall depth e_c.
    """
    e = d_cav  # mm outside the cavity outline (3D)
    band = (e > F32(-1)) & (e < F32(a.wall + 2))
    idx = np.nonzero(band)
    if len(idx[0]) == 0:
        return
    xs = x[idx[0], 0, 0]
    ys = y[0, idx[1], 0] - F32(a.ycc)
    zs = z[0, 0, idx[2]]
    es = e[idx]
    psi = np.arctan2(np.abs(xs), -ys) * F32(1 / math.pi)  # 0 posterior .. 1 anterior
    base = F32(a.rib_top) - F32(a.rib_drop) * psi
    n = np.clip(np.rint((base - zs) / F32(a.rib_pitch)), 0, 11)
    v = zs - (base - n * F32(a.rib_pitch))
    ec = F32(a.wall * 0.45)
    q = np.sqrt(((es - ec) / F32(a.rib_t)) ** 2 + (v / F32(a.rib_h)) ** 2)
    dist = (q - F32(1)) * F32(a.rib_t)
    psi_end = np.array([0.92] * 7 + [0.88, 0.85, 0.62, 0.45, 0.3], dtype=F32)[n.astype(int)]
    dist = np.maximum(dist, (psi - psi_end) * F32(300))
    cart = psi > F32(0.78)
    o = occupancy(dist, h)
    val = np.where(cart, F32(130.0), F32(st.bone_cortex * 0.85))
    inner = occupancy(dist + F32(1.4), h)
    cur = hu[idx]
    cur += o * (val - cur)
    marrow = np.where(cart, F32(110.0), F32(st.bone_marrow))
    cur += inner * (marrow - cur)
    hu[idx] = cur


def _paint_sternum(hu, grid, a: Anatomy, st: Style, h):
    w, t = a.sternum_w, 6.0
    lo = np.array([-w - 3 - 10, a.y_st - t - 3, a.sternum_z[0]])
    hi = np.array([w + 3 + 10, a.y_st + t + 3, a.sternum_z[1]])
    box = grid.box(lo, hi)
    if box is None:
        return
    x, y, z = grid.coords(box)
    zt = (z - F32(a.sternum_z[0])) * F32(1 / (a.sternum_z[1] - a.sternum_z[0]))
    ww = F32(w) * (F32(1) + F32(0.5) * np.clip((zt - F32(0.75)) * F32(4), 0, 1))  # manubrium wider
    ex, ey = x / ww, (y - F32(a.y_st)) * F32(1 / t)
    d = (np.sqrt(ex * ex + ey * ey) - F32(1)) * F32(t)
    sub = hu[box]
    paint(sub, occupancy(d, h), st.bone_cortex * 0.8)
    paint(sub, occupancy(d + F32(1.5), h), st.bone_marrow)
