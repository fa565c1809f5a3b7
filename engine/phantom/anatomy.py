"""Seeded chest anatomy as implicit shapes in world millimetres (RAS).

Frame: the body's axial centre is x = y = 0; z = 0 is the top of the right hemidiaphragm
dome and the lungs reach up to z = H (the apices).  +x is the patient's right, +y anterior.

The anatomy is drawn once per seed, independently of the sampling grid, so the same seed
gives the same patient at every size (only lesion minimum sizes depend on the grid).

Lung region (one implicit function for both lungs, split at the midline x = x_mid)::

    lung_sdf = max(cavity, diaphragm, apex, -mediastinum) + smooth deformation

* ``cavity``: inside of the rib cage, a superellipse per slice (semi-axes a, b, exponent n)
  that narrows toward the apex: e = r - s(z) R(phi);
* ``diaphragm``: z_dia(x, y) - z with a dome per side (right higher), deepest in the
  posterior and lateral costophrenic recesses;
* ``apex``: z - z_apex(x, y), a dome over each lung;
* ``mediastinum``: union (min) of a central band (keeps the lungs apart), the spine and
  paravertebral tissue, the upper mediastinum, the pericardial sac and the great vessels,
  trachea, main bronchi and oesophagus, each dilated by a 2 mm pleural margin.
"""

from __future__ import annotations

import math

import numpy as np

from .geometry import F32, Capsules, ellipsoid_sdf, smoothstep

PLEURA = 2.0  # mm kept between the lungs and mediastinal structures


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _catmull(points: np.ndarray, per: int = 4) -> np.ndarray:
    """Catmull-Rom resampling of a polyline (smooth tube centre lines)."""
    p = np.asarray(points, float)
    ext = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    out = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        for t in np.linspace(0, 1, per, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(
                0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t3)
            )
    out.append(p[-1])
    return np.array(out)


def _smooth_tube(points, radii, per=4) -> Capsules:
    pts = _catmull(points, per)
    r = np.interp(np.linspace(0, 1, len(pts)), np.linspace(0, 1, len(radii)), radii)
    return Capsules.polyline(pts, r)


class Superellipse:
    """Per-slice outline ``r - s(z) * R(phi)`` around a centre (cx, cy)."""

    def __init__(self, cx, cy, a, b, n, taper=0.0, z1=0.0, z2=1.0):
        self.cx, self.cy, self.a, self.b, self.n = cx, cy, a, b, n
        self.taper, self.z1, self.z2 = taper, z1, z2

    def radius2d(self, x, y):
        dx, dy = x - F32(self.cx), y - F32(self.cy)
        r = np.sqrt(dx * dx + dy * dy) + F32(1e-6)
        c, s = np.abs(dx) / r, np.abs(dy) / r
        n = self.n
        big = (c * F32(1 / self.a)) ** F32(n) + (s * F32(1 / self.b)) ** F32(n)
        return r, big ** F32(-1.0 / n)

    def scale(self, z):
        t = (z - F32(self.z1)) * F32(1.0 / (self.z2 - self.z1))
        return F32(1.0) - F32(self.taper) * smoothstep(t).astype(F32)

    def sdf(self, x, y, z, offset=0.0):
        """Radial signed distance (mm) to the outline grown by ``offset`` mm."""
        r, big_r = self.radius2d(x, y)
        return r - (self.scale(z) * big_r + F32(offset))


class Anatomy:
    """All anatomical parameters for one seed (see module docstring)."""

    def __init__(self, rng: np.random.Generator):
        """Draw the body frame (outline, cavity, scan coverage, lungs, spine, ribs).

        Call :meth:`finish` next to draw the heart and mediastinum, whose size depends on
        the heart abnormalities.
        """
        u = lambda lo, hi: _u(rng, lo, hi)  # noqa: E731
        self.H = H = u(185, 250)  # lung height, dome -> apex
        # Thoracic cavity (inside of the rib cage) and wall layers.
        cav_a = u(112, 148)
        cav_b = cav_a * u(0.60, 0.74)
        self.ycc = ycc = u(4, 14)
        self.cavity = Superellipse(0, ycc, cav_a, cav_b, u(2.0, 2.6), taper=u(0.3, 0.45), z1=0.3 * H, z2=1.12 * H)
        self.wall = u(9, 12)
        self.muscle = u(4, 12)
        self.fat = u(4, 30)
        ma, mb = cav_a + self.wall + self.muscle, cav_b + self.wall + self.muscle
        self.muscle_outline = Superellipse(0, ycc - 6, ma, mb + 3, u(2.0, 2.4), taper=u(0.05, 0.15), z1=0.5 * H, z2=1.1 * H)
        self.body = Superellipse(
            0, ycc - 6, ma + self.fat, mb + 3 + self.fat * u(0.6, 1.0), u(2.0, 2.4), taper=u(0.0, 0.12), z1=0.5 * H, z2=1.1 * H
        )
        self.cav_a, self.cav_b = cav_a, cav_b
        # Scan coverage (z).
        self.z_dome_r = 0.0
        self.z_dome_l = -u(6, 22)
        self.recess_post = u(38, 60)
        self.recess_lat = u(25, 42)
        self.recess_ant = u(15, 28)
        self.z_lo = min(self.z_dome_l, 0.0) - self.recess_post - u(8, 30)
        self.z_hi = H + u(8, 35)
        # Lungs.
        self.x_mid = u(-10, -2)  # the mediastinum leans left (heart, aortic arch)
        self.w_c = u(5, 8.5)
        self.dome_x = (u(55, 75), -u(55, 75))  # right, left dome x
        self.dome_y = u(-5, 15) + ycc
        self.apex_x = (u(35, 55), -u(35, 55))
        self.apex_y = ycc - u(5, 25)
        self.apex_k = u(0.010, 0.018)
        self.apex_drop = (0.0, u(-8, 8))  # left apex relative height
        self.deform = [
            (u(2, 5), rng.uniform(0.012, 0.035, 3), rng.uniform(0, 2 * math.pi, 3)) for _ in range(2)
        ]
        # Spine.
        self.r_vb = (u(17, 22), u(14, 18))
        self.y_vb = ycc - cav_b + self.r_vb[1] + u(4, 12)
        self.disc_pitch = u(24, 30)
        self.disc_phase = u(0, 30)
        self.y_canal = self.y_vb - self.r_vb[1] - 9
        # Sternum.
        self.y_st = float(ycc + cav_b * self.cavity.scale(np.float32(0.5 * H)) + 6)
        self.sternum_w = u(13, 19)
        self.sternum_z = (u(0.05, 0.2) * H, u(0.85, 0.95) * H)
        # Ribs.
        self.rib_pitch = (H + u(50, 70)) / 11.0
        self.rib_top = H + u(0, 15)
        self.rib_drop = u(95, 130)
        self.rib_t = u(3.2, 4.5)
        self.rib_h = u(4.0, 5.5)
        self.lung_hu = u(-875, -835)
        self.lung_grad = u(25, 60)  # dependent (posterior) density increase

    def finish(self, rng: np.random.Generator, cardiomegaly: float = 1.0, pericardial_effusion: float = 0.0) -> Anatomy:
        """Draw the heart (scaled by ``cardiomegaly``, with a pericardial fluid rim of
        ``pericardial_effusion`` mm) and the mediastinal tubes that attach to it."""
        self.cardiomegaly_present = cardiomegaly > 1.0
        self._heart(rng, cardiomegaly, pericardial_effusion)
        self._mediastinum(rng)
        return self

    # -- heart ---------------------------------------------------------------------------
    def _heart(self, rng, scale, effusion):
        u = lambda lo, hi: _u(rng, lo, hi)  # noqa: E731
        semi = np.array([u(58, 70), u(44, 52), u(36, 44)])
        self.heart_semi_normal = semi.copy()
        semi = semi * scale
        th = math.radians(u(30, 50))
        u1 = np.array([-math.cos(th), math.sin(th), -u(0.55, 0.9)])
        u1 /= np.linalg.norm(u1)
        u2 = np.cross(u1, [0, 0, 1.0])
        u2 /= np.linalg.norm(u2)
        u3 = np.cross(u1, u2)
        self.heart_axes = np.array([u1, u2, u3])
        self.heart_semi = semi
        # The heart stands on the diaphragm with a pericardial fat pad (3-8 mm) under it.
        pad = u(3, 8)
        self.heart_floor = self.z_dome_l + u(-6, 4)
        cx = -u(10, 26) - (scale - 1) * 40
        cy = self.ycc + self.cav_b * u(0.2, 0.35)
        ang = np.linspace(0, 2 * math.pi, 16, endpoint=False)
        rad = 0.8 * semi[1]
        fx = np.concatenate([[cx], cx + rad * np.cos(ang)]).astype(np.float32)
        fy = np.concatenate([[cy], cy + rad * np.sin(ang)]).astype(np.float32)
        self.heart_floor = max(self.heart_floor, float(self.dome(fx, fy).max()) + pad)
        self.heart_axes = np.array([u1, u2, u3])
        ext_z = float(np.sqrt(((semi[:, None] * self.heart_axes)[:, 2] ** 2).sum()))
        cz = self.heart_floor + 0.8 * ext_z
        self.heart_c = np.array([cx, cy, cz])
        self.epi_fat = u(2.0, 5.0)
        self.peri_eff = float(effusion)
        self.heart_hu = u(38, 50)

    def heart_sdf(self, x, y, z):
        """Heart surface: a rotated ellipsoid standing on the diaphragm and flattened
        against the anterior chest wall (kept 4 mm inside the rib cage)."""
        d = ellipsoid_sdf(x, y, z, self.heart_c, self.heart_axes, self.heart_semi)
        d = np.maximum(d, F32(self.heart_floor) - z)
        return np.maximum(d, self.cavity.sdf(x, y, z) + F32(4.0 + self.sac_offset))

    @property
    def sac_offset(self) -> float:
        """Distance (mm) from the heart surface to the outside of the pericardial sac."""
        return self.epi_fat + self.peri_eff + 1.5

    def heart_box(self, pad=0.0):
        r = float(self.heart_semi.max()) + self.sac_offset + pad
        c = self.heart_c
        return c - r, c + r

    # -- mediastinum ---------------------------------------------------------------------
    def _mediastinum(self, rng):
        u = lambda lo, hi: _u(rng, lo, hi)  # noqa: E731
        H = self.H
        self.z_car = u(0.52, 0.62) * H
        zc = self.z_car
        rt = u(8, 10.5)
        self.y_tr = ytr = self.y_vb + self.r_vb[1] + 10 + rt
        xtr = u(-1, 4)
        top = self.z_hi + 10
        bottom = self.z_lo - 10
        hc, hs = self.heart_c, self.heart_semi
        self.hilum = {
            "right": np.array([self.x_mid + self.w_c + u(24, 32), ytr - u(0, 10), zc - u(12, 22)]),
            "left": np.array([self.x_mid - self.w_c - u(28, 36), ytr - u(2, 12), zc - u(20, 30)]),
        }
        hr, hl = self.hilum["right"], self.hilum["left"]
        self.trachea = _smooth_tube([[xtr, ytr - 4, top], [xtr, ytr, zc + 40], [xtr + 1, ytr - 3, zc]], [rt, rt, rt * 0.95])
        self.bronchi = Capsules.concat(
            [
                _smooth_tube([[xtr + 1, ytr - 3, zc], [xtr + 14, ytr - 6, zc - 8], hr], [rt * 0.7, 6.0, 5.0]),
                _smooth_tube([[xtr + 1, ytr - 3, zc], [xtr - 18, ytr - 6, zc - 10], hl], [rt * 0.65, 5.5, 4.6]),
            ]
        )
        # Great vessels.
        r_asc, r_desc = u(13, 17), u(10, 13)
        y_asc = ytr + u(22, 34)
        x_asc = u(10, 22)
        z_arch = zc + u(22, 35)
        x_desc = -(self.r_vb[0] + r_desc - u(2, 8))
        y_desc = self.y_vb + u(2, 10)
        root = hc + np.array([hs[0] * 0.25, -5, hs[2] * 0.45])
        self.aorta = _smooth_tube(
            [
                root,
                [x_asc, y_asc, zc - 10],
                [x_asc * 0.4, ytr + 12, z_arch],
                [x_desc * 0.6, ytr - 6, z_arch - 4],
                [x_desc, y_desc, zc - 5],
                [x_desc + 6, y_desc + 4, bottom],
            ],
            [r_asc, r_asc, r_asc * 0.9, r_desc * 1.05, r_desc, r_desc],
        )
        arch_top = np.array([x_asc * 0.4, ytr + 12, z_arch])
        self.arch_branches = Capsules.concat(
            [
                _smooth_tube([arch_top + [6, 2, 4], [u(14, 24), ytr + 10, z_arch + 40], [u(20, 30), ytr + 5, top]], [6.5, 6, 5]),
                _smooth_tube([arch_top + [-6, 0, 4], [-u(6, 12), ytr + 12, top]], [4.5, 4.0]),
                _smooth_tube([arch_top + [-16, -10, 2], [-u(18, 28), ytr + 2, top]], [5.5, 5.0]),
            ]
        )
        self.svc = _smooth_tube(
            [[x_asc + 24, y_asc - 8, top], [x_asc + 22, y_asc - 6, zc], [hc[0] + hs[0] * 0.55, hc[1], hc[2] + hs[2] * 0.5]], [9, 9.5, 10]
        )
        bif = np.array([self.x_mid - 8, ytr + 14, zc - 6])
        pa_root = hc + np.array([-hs[0] * 0.1, hs[1] * 0.55, hs[2] * 0.55])
        self.pa = Capsules.concat(
            [
                _smooth_tube([pa_root, [pa_root[0] - 4, pa_root[1] - 6, zc - 14], bif], [13, 13, 12]),
                _smooth_tube([bif, [x_asc * 0.3, ytr + 8, zc - 8], hr + [0, 6, 6]], [10, 9.5, 9]),
                _smooth_tube([bif, [-20, ytr + 4, zc], hl + [0, 4, 12]], [10, 9.5, 9]),
            ]
        )
        self.pa_ends = {"right": hr + np.array([0, 6, 6]), "left": hl + np.array([0, 4, 12])}
        self.vein_roots = {
            "right": hr + np.array([u(-4, 2), u(-6, 2), -u(22, 32)]),
            "left": hl + np.array([u(-2, 4), u(-6, 2), -u(18, 28)]),
        }
        la = hc + np.array([hs[0] * 0.2, -hs[1] * 0.55, hs[2] * 0.25])
        self.pv = Capsules.concat(
            [_smooth_tube([self.vein_roots[s], la], [7.5, 8]) for s in ("right", "left")]
        )
        x_es = xtr - u(3, 7)
        self.esophagus = _smooth_tube([[x_es, ytr - rt - 7, top], [x_es - 4, ytr - rt - 6, zc], [x_desc * 0.3, y_desc + 14, bottom]], [7, 7.5, 7])
        self.upper_med = (self.x_mid + u(0, 5), ytr + u(4, 14), u(18, 25), self.cav_b * 0.95, zc + u(-10, 10))

    def mediastinal_tubes(self) -> list[tuple[str, Capsules]]:
        return [
            ("aorta", self.aorta),
            ("arch_branches", self.arch_branches),
            ("svc", self.svc),
            ("pa", self.pa),
            ("pv", self.pv),
            ("esophagus", self.esophagus),
            ("trachea", self.trachea),
            ("bronchi", self.bronchi),
        ]

    # -- lungs ---------------------------------------------------------------------------
    def dome(self, x, y):
        """Diaphragm height z_dia(x, y) under each lung (right where x > x_mid)."""
        right = x > F32(self.x_mid)
        xd = np.where(right, F32(self.dome_x[0]), F32(self.dome_x[1]))
        zd = np.where(right, F32(self.z_dome_r), F32(self.z_dome_l))
        dx = (x - xd) * F32(1 / 70.0)
        dy = (y - F32(self.dome_y)) * F32(1 / 90.0)
        ky = np.where(dy < 0, F32(self.recess_post), F32(self.recess_ant))
        return zd - F32(self.recess_lat) * dx * dx - ky * dy * dy

    def apex(self, x, y):
        right = x > F32(self.x_mid)
        xa = np.where(right, F32(self.apex_x[0]), F32(self.apex_x[1]))
        za = np.where(right, F32(self.H), F32(self.H + self.apex_drop[1]))
        dx, dy = x - xa, y - F32(self.apex_y)
        return za - F32(self.apex_k) * (dx * dx + dy * dy * 0.7)

    def med_static(self, x, y, z):
        """Mediastinum parts that need no boxes: central band, spine, upper mediastinum."""
        band = np.abs(x - F32(self.x_mid)) - F32(self.w_c)
        rx, ry = self.r_vb[0] + 9, self.r_vb[1] + 12
        ex, ey = x * F32(1 / rx), (y - F32(self.y_vb + 3)) * F32(1 / ry)
        spine = (np.sqrt(ex * ex + ey * ey) - F32(1.0)) * F32(min(rx, ry))
        mx, my, ra, rb, z0 = self.upper_med
        ux, uy = (x - F32(mx)) * F32(1 / ra), (y - F32(my)) * F32(1 / rb)
        upper = np.maximum((np.sqrt(ux * ux + uy * uy) - F32(1.0)) * F32(ra), F32(z0) - z)
        return np.minimum(np.minimum(band, spine), upper)

    def deformation(self, x, y, z):
        out = 0.0
        for amp, k, ph in self.deform:
            out = out + F32(amp) * np.sin(x * F32(k[0]) + F32(ph[0])) * np.sin(y * F32(k[1]) + F32(ph[1])) * np.sin(
                z * F32(k[2]) + F32(ph[2])
            )
        return out

    def lung_sdf_points(self, p: np.ndarray) -> np.ndarray:
        """Lung signed distance (mm) at world points (N, 3); side is sign(x - x_mid)."""
        x, y, z = (p[:, i].astype(F32) for i in range(3))
        med = self.med_static(x, y, z)
        med = np.minimum(med, self.heart_sdf(x, y, z) - F32(self.sac_offset + PLEURA))
        for _, tube in self.mediastinal_tubes():
            med = np.minimum(med, tube.sdf_points(p).astype(F32) - F32(PLEURA))
        d = np.maximum(self.cavity.sdf(x, y, z), self.dome(x, y) - z)
        d = np.maximum(d, z - self.apex(x, y))
        d = np.maximum(d, -med)
        return d + self.deformation(x, y, z)

    def lung_box(self, side: str):
        a, b = self.cavity.a, self.cavity.b
        zlo = min(self.z_dome_r, self.z_dome_l) - self.recess_post - self.recess_lat - 5
        if side == "right":
            return np.array([self.x_mid, self.ycc - b - 5, zlo]), np.array([a + 5, self.ycc + b + 5, self.H + 10])
        return np.array([-a - 5, self.ycc - b - 5, zlo]), np.array([self.x_mid, self.ycc + b + 5, self.H + 20])

    def sample_lung_points(self, rng, side: str, n: int, margin: float) -> np.ndarray:
        """Up to n random points inside one lung at least ``margin`` mm from its surface."""
        lo, hi = self.lung_box(side)
        out = []
        for _ in range(6):
            p = rng.uniform(lo, hi, size=(n * 3, 3))
            d = self.lung_sdf_points(p)
            out.append(p[d < -margin])
            if sum(len(o) for o in out) >= n:
                break
        pts = np.concatenate(out)[:n]
        return pts
