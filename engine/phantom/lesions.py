"""The eleven abnormalities as implicit shapes placed in a seeded anatomy.

Each lesion is a list of :class:`Part` (a world box, a signed distance function and a
paint rule).  Its ground-truth mask is the union of its parts' insides intersected with
its organ's region (the label's allowed region), so a mask can never leave its organ.

HU, size and place (diameters in mm; ``res`` is the grid's voxel size, which sets the
smallest size so every finding stays visible at the model resolution):

==========================  ===============  ==================  ==============================
abnormality                 HU               size                place / shape
==========================  ===============  ==================  ==============================
nodule                      0..60            max(4, 2 res)..30   anywhere in the lung, round
mass                        15..50           32..70              lobulated, spiculated solid
ground_glass_opacity        -700..-400       18..60              hazy patch; vessels stay seen
consolidation               5..50            25..70              dense patch, air bronchograms
pleural_effusion            0..20            depth 15..45        dependent (posterior) base, crescent
emphysema                   -1000..-950      pockets 4..16       scattered pockets, upper zones
atelectasis                 25..60           band/wedge          base plate or posterior wedge
calcified_granuloma         600..1200        max(4, 1.5 res)..9  tiny dense round spot
cardiomegaly                heart 38..50     heart x1.2..1.4     the enlarged heart
pericardial_effusion        0..20            rim 6..20           fluid rim inside the sac
coronary_calcification      400..1100        max(3, 1.1 res)..7  spots on coronary paths
==========================  ===============  ==================  ==============================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .anatomy import Anatomy
from .geometry import F32, ellipsoid_sdf, sphere_sdf


@dataclass
class Part:
    lo: np.ndarray
    hi: np.ndarray
    sdf: Callable  # (x, y, z) -> signed distance (mm)
    value: float
    mode: str = "paint"  # "paint" | "max" (raise only, vessels stay visible) | "min"
    centre: np.ndarray | None = None  # small round parts: the voxel holding it is always in the mask


@dataclass
class Lesion:
    label: str  # "<organ>/<abnormality>"
    parts: list[Part] = field(default_factory=list)
    air_bronchograms: bool = False


def sphere(c, r):
    """Signed distance function of a sphere (a closure over its centre and radius)."""
    c = np.asarray(c, float).copy()

    def sdf(x, y, z):
        return sphere_sdf(x, y, z, c, r)

    return sdf


def _unit(rng, n):
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _rot(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q.T


def lobulated(c, r, rng, amp=0.12, nterm=3, spikes=0.0):
    """Sphere of radius r with low-frequency lobulation (relative amplitude ``amp``)."""
    c = np.asarray(c, float)
    vs = _unit(rng, nterm)
    fr = rng.uniform(1.0, 3.0, nterm)
    ph = rng.uniform(0, 2 * math.pi, nterm)
    am = rng.uniform(0.3, 1.0, nterm) * amp / nterm * 2
    sp = _unit(rng, 24) if spikes > 0 else None

    def sdf(x, y, z):
        dx, dy, dz = x - F32(c[0]), y - F32(c[1]), z - F32(c[2])
        dist = np.sqrt(dx * dx + dy * dy + dz * dz) + F32(1e-6)
        rad = F32(1.0)
        for k in range(nterm):
            cosang = (dx * F32(vs[k, 0]) + dy * F32(vs[k, 1]) + dz * F32(vs[k, 2])) / dist
            rad = rad + F32(am[k]) * np.cos(cosang * F32(fr[k] * math.pi) + F32(ph[k]))
        if sp is not None:
            cosmax = None
            for k in range(len(sp)):
                cs = (dx * F32(sp[k, 0]) + dy * F32(sp[k, 1]) + dz * F32(sp[k, 2])) / dist
                cosmax = cs if cosmax is None else np.maximum(cosmax, cs)
            rad = rad + F32(spikes) * np.clip((cosmax - F32(0.985)) * F32(1 / 0.015), 0, 1) ** 2
        return dist - F32(r) * rad

    ext = r * (1 + amp + spikes) + 1
    return c - ext, c + ext, sdf


def ellipsoid_cluster(centres, semis, rots, wobble, rng):
    ph = rng.uniform(0, 2 * math.pi, 3)
    k = rng.uniform(0.08, 0.2, 3)

    def sdf(x, y, z):
        d = None
        for c, s, rt in zip(centres, semis, rots):
            e = ellipsoid_sdf(x, y, z, c, rt, s)
            d = e if d is None else np.minimum(d, e)
        return d + F32(wobble) * np.sin(x * F32(k[0]) + F32(ph[0])) * np.sin(y * F32(k[1]) + F32(ph[1])) * np.sin(
            z * F32(k[2]) + F32(ph[2])
        )

    ext = np.array([max(s) for s in semis]).max() + wobble + 1
    cs = np.asarray(centres)
    return cs.min(0) - ext, cs.max(0) + ext, sdf


class LesionSampler:
    """Draws lesion geometry for one case.  ``res`` is the grid's voxel size (mm)."""

    def __init__(self, anat: Anatomy, rng: np.random.Generator, res: float):
        self.anat, self.rng, self.res = anat, rng, res
        self._pts: dict[str, np.ndarray] = {}

    def points(self, side: str, margin: float) -> np.ndarray:
        if side not in self._pts:
            p = self.anat.sample_lung_points(self.rng, side, 600, 0.0)
            self._pts[side] = np.column_stack([p, -self.anat.lung_sdf_points(p)])
        p = self._pts[side]
        ok = p[p[:, 3] >= margin]
        if len(ok) == 0:
            ok = p[np.argsort(-p[:, 3])[:5]]
        return ok

    def pick(self, side, margin, weight: Callable | None = None) -> np.ndarray:
        p = self.points(side, margin)
        if weight is not None:
            w = np.maximum(weight(p[:, :3]), 1e-6)
            i = self.rng.choice(len(p), p=w / w.sum())
        else:
            i = self.rng.integers(len(p))
        return p[i, :3]

    # -- lung abnormalities ----------------------------------------------------------------
    def lung(self, side: str, kind: str) -> Lesion:
        return getattr(self, "_" + kind)(side, f"{side}_lung/{kind}")

    def _nodule(self, side, label):
        rng = self.rng
        dmin = max(4.0, 2.0 * self.res)
        d = math.exp(rng.uniform(math.log(dmin), math.log(30.0)))
        c = self.pick(side, 0.6 * d / 2 + 2)
        lo, hi, sdf = lobulated(c, d / 2, rng, amp=0.08)
        return Lesion(label, [Part(lo, hi, sdf, rng.uniform(0, 60), centre=c)])

    def _mass(self, side, label):
        rng = self.rng
        d = rng.uniform(32, 70)
        c = self.pick(side, 0.3 * d)
        lo, hi, sdf = lobulated(c, d / 2, rng, amp=0.22, nterm=4, spikes=rng.uniform(0.1, 0.3))
        parts = [Part(lo, hi, sdf, rng.uniform(20, 50))]
        if rng.random() < 0.4:  # necrotic centre
            lo2, hi2, sdf2 = lobulated(c, d * rng.uniform(0.12, 0.22), rng, amp=0.1)
            parts.append(Part(lo2, hi2, sdf2, rng.uniform(5, 18)))
        return Lesion(label, parts)

    def _cluster(self, side, n, size_lo, size_hi, weight=None):
        rng = self.rng
        c0 = self.pick(side, size_lo * 0.3, weight)
        centres, semis, rots = [], [], []
        for i in range(n):
            s = rng.uniform(size_lo, size_hi) / 2 * np.array([1.0, rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)])
            cc = c0 if i == 0 else c0 + rng.normal(scale=size_hi * 0.3, size=3)
            centres.append(cc)
            semis.append(s)
            rots.append(_rot(rng))
        return ellipsoid_cluster(centres, semis, rots, min(4.0, size_lo * 0.15), rng)

    def _ground_glass_opacity(self, side, label):
        lo, hi, sdf = self._cluster(side, int(self.rng.integers(1, 4)), max(18.0, 4 * self.res), 60.0)
        return Lesion(label, [Part(lo, hi, sdf, self.rng.uniform(-700, -400), mode="max")])

    def _consolidation(self, side, label):
        a = self.anat
        # dependent / lower zones are favoured
        w = lambda p: 1.0 + np.clip((a.ycc - p[:, 1]) / a.cav_b, 0, 1) + np.clip(1 - p[:, 2] / a.H, 0, 1)  # noqa: E731
        lo, hi, sdf = self._cluster(side, int(self.rng.integers(2, 5)), 25.0, 70.0, w)
        return Lesion(label, [Part(lo, hi, sdf, self.rng.uniform(5, 50))], air_bronchograms=True)

    def _pleural_effusion(self, side, label):
        a, rng = self.anat, self.rng
        depth = rng.uniform(max(15.0, 3 * self.res), 45.0)
        height = rng.uniform(45, 110)
        y_bot = a.ycc - a.cav_b
        zd = a.z_dome_r if side == "right" else a.z_dome_l
        z_low = zd - a.recess_post - 5
        xc = a.dome_x[0] if side == "right" else a.dome_x[1]
        k = 0.8 * depth / 70.0**2

        def sdf(x, y, z):
            t = np.clip((z - F32(z_low)) * F32(1 / height), 0, 1)
            level = F32(y_bot) + F32(depth) * (F32(1) - t) ** F32(0.8) + F32(k) * (x - F32(xc)) ** 2 * (F32(1) - t)
            return y - level

        if side == "right":
            lo = np.array([a.x_mid, y_bot - 5, z_low - 5])
            hi = np.array([a.cav_a + 5, y_bot + depth * 2.2 + 5, z_low + height + 5])
        else:
            lo = np.array([-a.cav_a - 5, y_bot - 5, z_low - 5])
            hi = np.array([a.x_mid, y_bot + depth * 2.2 + 5, z_low + height + 5])
        return Lesion(label, [Part(lo, hi, sdf, rng.uniform(0, 20))])

    def _emphysema(self, side, label):
        a, rng = self.anat, self.rng
        upper = lambda p: np.clip(p[:, 2] / a.H, 0.05, 1) ** 2  # noqa: E731
        c0 = self.pick(side, 5.0, upper)
        zone = rng.uniform(30, 55)
        n = int(rng.integers(20, 55))
        rmin = max(2.0, 0.6 * self.res)
        parts = []
        pts = self.points(side, rmin)
        near = pts[np.linalg.norm(pts[:, :3] - c0, axis=1) < zone * 1.3]
        if len(near) < 5:
            near = pts
        value = rng.uniform(-1000, -960)
        for _ in range(n):
            p = near[rng.integers(len(near)), :3] + rng.normal(scale=4.0, size=3)
            r = rng.uniform(rmin, max(rmin + 1, 8.0))
            lo, hi = p - r - 1, p + r + 1
            parts.append(Part(lo, hi, sphere(p, r), value, centre=p))
        return Lesion(label, parts)

    def _atelectasis(self, side, label):
        a, rng = self.anat, self.rng
        if rng.random() < 0.55:  # plate-like band at the base
            w = lambda p: np.clip(1 - p[:, 2] / (0.5 * a.H), 0.02, 1) ** 2  # noqa: E731
            c = self.pick(side, 6.0, w)
            th = max(4.0, 0.9 * self.res)
            semi = np.array([rng.uniform(22, 40), rng.uniform(15, 30), th])
            tilt = rng.uniform(-0.5, 0.5)
            ax3 = np.array([0, math.sin(tilt), math.cos(tilt)])
            ax1 = np.array([1.0, 0, 0])
            ax2 = np.cross(ax3, ax1)
            rots = [np.array([ax1, ax2, ax3])]
            lo, hi, sdf = ellipsoid_cluster([c], [semi], rots, 1.5, rng)
        else:  # posteromedial lower-lobe wedge against the spine
            xs = 1 if side == "right" else -1
            c = np.array([a.x_mid + xs * (a.w_c + rng.uniform(25, 40)), a.y_vb + rng.uniform(-5, 10), rng.uniform(-10, 30)])
            semi = np.array([rng.uniform(18, 28), rng.uniform(22, 34), rng.uniform(30, 50)])
            lo, hi, sdf = ellipsoid_cluster([c], [semi], [np.eye(3)], 2.0, rng)
        return Lesion(label, [Part(lo, hi, sdf, rng.uniform(25, 60))])

    def _calcified_granuloma(self, side, label):
        rng = self.rng
        d = rng.uniform(max(4.0, 1.5 * self.res), max(9.0, 1.5 * self.res + 2))
        c = self.pick(side, d / 2 + 1.5)
        return Lesion(label, [Part(c - d, c + d, sphere(c, d / 2), rng.uniform(600, 1200), centre=c)])

    # -- heart abnormalities ---------------------------------------------------------------
    def coronary_calcification(self) -> Lesion:
        a, rng = self.anat, self.rng
        parts = []
        n = int(rng.integers(2, 7))
        ax, s, c = a.heart_axes, a.heart_semi, a.heart_c
        for _ in range(n):
            vessel = rng.integers(3)
            if vessel == 2:  # LAD: anterior interventricular groove, base -> apex
                t = rng.uniform(-0.2, 0.8)
                q = np.array([t, math.sqrt(max(0.0, 1 - t * t)) * 0.98, 0.0])
                q[1] = abs(q[1])
                # anterior side: pick the sign of axis 2/3 facing +y
                v = q[1] * (ax[1] if ax[1][1] >= 0 else -ax[1])
                p_local = c + q[0] * s[0] * ax[0] + v * s[1]
            else:  # RCA (right AV groove) or LCx (left AV groove)
                q1 = -0.35
                rr = math.sqrt(1 - q1 * q1)
                th = rng.uniform(0, math.pi) + (0 if vessel == 0 else math.pi)
                p_local = c + q1 * s[0] * ax[0] + rr * (math.cos(th) * s[1] * ax[1] + math.sin(th) * s[2] * ax[2])
            if p_local[2] < a.heart_floor + 4:
                p_local[2] = a.heart_floor + 4
            # push onto the surface + half the epicardial fat, with a few Newton steps
            p = p_local.copy()
            for _ in range(4):
                d = float(a.heart_sdf(*(np.float32([v]) for v in p))[0])
                g = p - c
                g /= np.linalg.norm(g)
                p = p - (d - a.epi_fat * 0.5) * g
            r = rng.uniform(max(1.5, 0.55 * self.res), max(3.5, 0.55 * self.res + 1.5))
            parts.append(Part(p - r - 1, p + r + 1, sphere(p, r), rng.uniform(400, 1100), centre=p))
        return Lesion("heart/coronary_calcification", parts)
