"""Anatomy around the thorax: arms and shoulders, upper abdomen, chest-wall soft tissue, table.

Drawn from its own random stream (after :class:`~engine.phantom.anatomy.Anatomy`'s body
frame), so adding it changes no lung, heart or lesion of a seed.  Every structure here is
organ code 0 and is painted only outside the rib cage (arms, scapulae, clavicles, breasts,
pectorals, table) or below the diaphragm (abdomen), so the lungs, heart and their lesions
keep their HU, place and truth.

* arms: elliptical upper arms beside the chest (skin, fat, muscle, humerus with cortex and
  marrow), separated from the chest wall by an air gap that is open in front and behind (no
  enclosed air: classical segmentation sees outside air); at the shoulders each arm moves in
  and merges with the body, with the humeral head beside the glenoid;
* shoulders: scapular blades posterolateral on the rib cage inside their muscles, clavicles
  from the manubrium to the acromion in the top slices;
* chest wall: pectoral muscles anterolaterally, breasts (fat with glandular tissue) in some
  patients;
* abdomen (below the diaphragm): liver (right, with a left lobe reaching across the midline
  in front), stomach (left upper abdomen, air anterior over fluid in a supine patient),
  spleen (left posterior), kidneys in perirenal fat at the lowest slices, fat between;
* a curved CT table under the patient: a thin carbon-fibre shell around a foam core.
"""

from __future__ import annotations

import math

import numpy as np

from .anatomy import Anatomy
from .geometry import F32, Grid, occupancy, paint, paint_sparse, smoothstep, union_occupancy


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _ell2(x, y, cx, cy, a, b, a_min):
    """Approximate signed distance (mm) to an axis-aligned ellipse (a may vary per slice)."""
    ex, ey = (x - cx) / a, (y - cy) * F32(1 / b)
    return (np.sqrt(ex * ex + ey * ey) - F32(1)) * F32(min(a_min, b))


def _ell3(x, y, z, c, s):
    ex, ey, ez = (x - F32(c[0])) * F32(1 / s[0]), (y - F32(c[1])) * F32(1 / s[1]), (z - F32(c[2])) * F32(1 / s[2])
    return (np.sqrt(ex * ex + ey * ey + ez * ez) - F32(1)) * F32(min(s))


class BodyParts:
    """Parameters of the extra anatomy for one seed (see module docstring)."""

    def __init__(self, anat: Anatomy, rng: np.random.Generator):
        u = lambda lo, hi: _u(rng, lo, hi)  # noqa: E731
        a, H = anat, anat.H
        self.anat = a
        b = a.body
        self.ra, self.rb = u(34, 44), u(42, 54)  # upper arm semi-axes (x, y)
        self.gap = u(4, 14)  # air between arm and chest wall
        self.arm_y = b.cy + u(-14, 6)
        self.arm_fat = u(3, 10)
        self.hum_r = u(10, 12.5)
        self.hum_cortex = u(2.5, 3.8)
        self.hum_dx = u(-4, 4)
        self.head_z = min(H + u(-5, 10), a.z_hi - 10)
        self.head_r = u(20, 24)
        self.half_width = b.a + self.gap + 2 * self.ra  # arms at full gap, widest
        # Scapula: blade just outside the ribs, posterolateral.
        self.scap_psi = (u(0.17, 0.22), u(0.36, 0.42))
        self.scap_z = (H - u(110, 140), self.head_z + u(0, 8))
        self.scap_depth = min(u(6, 12), a.muscle + a.fat - 10)
        self.scap_t = u(2.5, 4.0)
        # Clavicles: medial end at the manubrium, lateral end over the humeral head.
        self.clav_z = min(a.sternum_z[1] + u(0, 12), a.z_hi - 8)
        self.clav_r = u(5.5, 7.5)
        self.z_sh = self.clav_z - u(30, 45)  # where the arm starts to merge into the shoulder
        # Chest wall.
        self.pec = u(6, 16)
        self.breast = rng.random() < 0.5
        self.breast_s = (u(45, 65), u(25, 50), u(45, 60))
        self.breast_x = u(60, 85)
        self.breast_z = u(0.25, 0.45) * H
        self.breast_gland = u(0.3, 0.8)
        # Abdomen.
        self.liver_split = u(-20, 0)
        self.liver_lobe = u(0.5, 1.0)  # how far the left lobe reaches across in front
        self.stomach_c = np.array([-a.cav_a * u(0.30, 0.45), a.ycc + a.cav_b * u(0.0, 0.3), a.z_dome_l - u(40, 55)])
        self.stomach_s = np.array([u(35, 48), u(30, 42), u(35, 50)])
        self.stomach_air = u(0.25, 0.6)  # fraction of the AP extent that is air (anterior)
        self.spleen_c = np.array([-a.cav_a * u(0.62, 0.72), a.ycc - a.cav_b * u(0.35, 0.5), a.z_dome_l - u(35, 50)])
        self.spleen_s = np.array([u(20, 28), u(40, 55), u(38, 55)])
        self.kidney_z = (-u(120, 145), -u(105, 130))  # right, left centre heights
        self.kidney_x = u(45, 60) + a.r_vb[0]
        self.kidney_s = np.array([u(24, 30), u(20, 26), u(50, 60)])
        # Table.
        self.table_gap = u(4, 10)
        self.table_t = u(8, 14)
        self.table_w = u(190, 230)
        self.table_curv = u(0.0008, 0.0016)
        self.table_y = b.cy - b.b - self.table_gap

    # -- helpers -----------------------------------------------------------------------
    def arm_centre_x(self, z, side):
        """Arm centre x (mm) per slice: beside the chest, moving in at the shoulder."""
        b = self.anat.body
        hw = F32(b.a) * b.scale(z)
        t = smoothstep((z - F32(self.z_sh)) * F32(1 / 35.0)).astype(F32)
        gap = F32(self.gap) - t * F32(self.gap + 0.85 * self.ra)
        return F32(side) * (hw + gap + F32(self.ra))

    def _psi(self, x, y):
        return np.arctan2(np.abs(x), -(y - F32(self.anat.ycc))) * F32(1 / math.pi)

    # -- painters (on the full grid, after the torso) ---------------------------------
    def paint_outside(self, hu: np.ndarray, grid: Grid, style) -> None:
        h = grid.h
        self._table(hu, grid, h)
        self._chest_wall(hu, grid, style, h)
        for side in (1, -1):
            self._arm(hu, grid, style, h, side)
        self._clavicles(hu, grid, style, h)

    def _table(self, hu, grid, h):
        lo = np.array([-self.table_w - 2, self.table_y - self.table_t - 5, -1e9])
        hi = np.array([self.table_w + 2, self.table_y + self.table_curv * self.table_w**2 + 5, 1e9])
        box = grid.box(lo, hi)
        if box is None:
            return
        x, y, _ = grid.coords(box)
        top = F32(self.table_y) + F32(self.table_curv) * x * x
        t = top - y  # depth below the top surface
        d = np.maximum(np.abs(t - F32(self.table_t / 2)) - F32(self.table_t / 2), np.abs(x) - F32(self.table_w))
        sub = hu[box]
        o = occupancy(d, h)
        paint(sub, o, F32(300.0))  # carbon-fibre shell
        paint(sub, occupancy(d + F32(3.0), h), F32(-850.0))  # foam core

    def _chest_wall(self, hu, grid, st, h):
        a = self.anat
        b = a.body
        # pectoral muscles: thicker muscle anterolaterally in the upper chest
        lo = np.array([-b.a - 2, a.ycc, 0.2 * a.H])
        hi = np.array([b.a + 2, b.cy + b.b + 2, a.z_hi])
        box = grid.box(lo, hi)
        if box is not None:
            x, y, z = grid.coords(box)
            e = a.cavity.sdf(x, y, z)
            psi = self._psi(x, y)
            zt = smoothstep((z - F32(0.35 * a.H)) * F32(1 / (0.3 * a.H)))
            th = F32(a.wall + a.muscle) + F32(self.pec) * zt * smoothstep((psi - F32(0.55)) * F32(6)) * smoothstep(
                (F32(0.97) - psi) * F32(8)
            )
            d = np.maximum(np.maximum(e - th, F32(a.wall) - e), b.sdf(x, y, z) + F32(3.0))
            paint(hu[box], occupancy(d, h), st.muscle)
        if self.breast:
            sx, sy, sz = self.breast_s
            for side in (1, -1):
                yb = b.cy + b.b * float(b.scale(np.float32(self.breast_z))) - 0.45 * sy
                c = (side * self.breast_x, yb, self.breast_z)
                box = grid.box(np.array(c) - [sx + 3, sy + 3, sz + 3], np.array(c) + [sx + 3, sy + 3, sz + 3])
                if box is None:
                    continue
                x, y, z = grid.coords(box)
                d = _ell3(x, y, z, c, (sx, sy, sz))
                d = np.maximum(d, F32(a.wall + a.muscle + 2) - a.cavity.sdf(x, y, z))
                sub = hu[box]
                keep = b.sdf(x, y, z) > F32(-2.0)  # only where the torso has no breast yet
                o = occupancy(d, h) * keep
                paint(sub, o, 25.0)
                paint(sub, occupancy(d + F32(1.5), h) * keep, st.fat)
                gl = _ell3(x, y, z, (c[0] - side * 5, c[1] - 0.2 * sy, c[2]), (0.6 * sx, 0.55 * sy, 0.6 * sz))
                wob = F32(4) * np.sin(x * F32(0.25)) * np.sin(y * F32(0.3) + z * F32(0.2))
                paint(sub, occupancy(gl + wob, h) * keep * F32(self.breast_gland), F32(35.0))

    def _arm(self, hu, grid, st, h, side):
        a = self.anat
        b = a.body
        x0 = side * (b.a * (1 - b.taper) - self.ra)
        x1 = side * (b.a + self.gap + 2 * self.ra + 3)
        lo = np.array([min(x0, x1), self.arm_y - self.rb - 3, -1e9])
        hi = np.array([max(x0, x1), self.arm_y + self.rb + 3, 1e9])
        box = grid.box(lo, hi)
        if box is None:
            return
        x, y, z = grid.coords(box)
        xc = self.arm_centre_x(z, side)
        grow = F32(1) + F32(0.15) * smoothstep((z - F32(self.z_sh)) * F32(1 / 45.0))  # deltoid
        d = _ell2(x, y, xc, F32(self.arm_y), F32(self.ra) * grow, self.rb, self.ra)
        outside_ribs = F32(a.wall + 3.0) - a.cavity.sdf(x, y, z)
        d = np.maximum(d, outside_ribs)
        sub = hu[box]
        paint(sub, occupancy(d, h), 25.0)  # skin
        paint(sub, occupancy(d + F32(1.5), h), st.fat)
        paint(sub, occupancy(d + F32(self.arm_fat), h), st.muscle)
        # humerus: shaft along the arm, head beside the glenoid
        hx = xc + F32(side * self.hum_dx)
        hy = F32(self.arm_y + 2)
        shaft = np.sqrt((x - hx) ** 2 + (y - hy) ** 2) - F32(self.hum_r)
        head = np.sqrt((x - hx) ** 2 + (y - hy) ** 2 + (z - F32(self.head_z)) ** 2) - F32(self.head_r)
        shaft = np.maximum(shaft, z - F32(self.head_z))
        k = F32(10.0)
        hh = np.clip(F32(0.5) + F32(0.5) * (head - shaft) / k, 0, 1)
        bone = shaft * hh + head * (1 - hh) - k * hh * (1 - hh)  # smooth union
        bone = np.maximum(bone, outside_ribs + F32(4.0))
        paint(sub, occupancy(bone, h), st.bone_cortex)
        near_head = smoothstep((z - F32(self.head_z - 45)) * F32(1 / 30.0))
        marrow = F32(st.bone_marrow * 0.45) + near_head * F32(st.bone_marrow * 0.55)
        paint(sub, occupancy(bone + F32(self.hum_cortex), h), marrow)
        self._scapula(hu, grid, st, h, side)

    def _scapula(self, hu, grid, st, h, side):
        a = self.anat
        b = a.body
        z0, z1 = self.scap_z
        lo = np.array([min(0, side * (b.a + 5)), b.cy - b.b - 2, z0 - 5])
        hi = np.array([max(0, side * (b.a + 5)), a.ycc + 0.2 * a.cav_b, z1 + 5])
        box = grid.box(lo, hi)
        if box is None:
            return
        x, y, z = grid.coords(box)
        if side > 0:
            xs = x
        else:
            xs = -x
        psi = self._psi(x, y)
        e = a.cavity.sdf(x, y, z)
        zt = (z - F32(z0)) * F32(1 / (z1 - z0))  # 0 inferior angle .. 1 glenoid
        # the blade narrows to the inferior angle; medial border parallel to the spine
        p0, p1 = self.scap_psi
        plat = F32(p0) + (F32(p1) - F32(p0)) * (F32(0.35) + F32(0.65) * np.sqrt(np.clip(zt, 0, 1)))
        ang = np.maximum(F32(p0) - psi, psi - plat) * F32(250.0)
        zz = np.maximum(F32(z0) - z, z - F32(z1))
        inside_body = b.sdf(x, y, z) + F32(4.0)
        depth = F32(a.wall + self.scap_depth)
        muscle = np.maximum(np.maximum(np.abs(e - depth) - F32(self.scap_t + 7), np.maximum(ang - F32(8), zz - F32(6))), inside_body)
        muscle = np.maximum(muscle, F32(a.wall + 1) - e)
        sub = hu[box]
        paint(sub, occupancy(muscle, h) * (xs > 0), st.muscle)
        t = F32(self.scap_t) * (F32(1) + F32(1.5) * smoothstep((psi - plat + F32(0.04)) * F32(25)))  # thicker lateral border
        blade = np.maximum(np.maximum(np.abs(e - depth) - t * F32(0.5), ang), zz)
        blade = np.maximum(blade, inside_body + F32(1.0))
        paint(sub, occupancy(blade, h) * (xs > 0), st.bone_cortex * 0.85)
        paint(sub, occupancy(blade + F32(1.2), h) * (xs > 0), st.bone_marrow)

    def _clavicles(self, hu, grid, st, h):
        from .anatomy import _smooth_tube

        a = self.anat
        zc = self.clav_z
        for side in (1, -1):
            xl = float(self.arm_centre_x(np.float32(zc), side)) - side * 0.2 * self.ra
            pts = [
                [side * (a.sternum_w * 1.3 + 4), a.y_st - 1, zc],
                [side * 0.45 * abs(xl), a.y_st + 1, zc + 4],
                [side * 0.75 * abs(xl), a.ycc + 0.5 * a.cav_b, zc + 10],
                [xl, self.arm_y + 10, zc + 14],
            ]
            tube = _smooth_tube(pts, [self.clav_r, self.clav_r * 0.85, self.clav_r * 0.8, self.clav_r])
            for caps, value in ((tube, st.bone_cortex * 0.85), (tube.offset(-2.0), st.bone_marrow)):
                lin, occ = union_occupancy(caps, grid, h)
                ijk = np.unravel_index(lin, grid.shape)
                p = [(grid.origin[i] + ijk[i] * grid.spacing[i]).astype(F32) for i in range(3)]
                occ = occ * occupancy(F32(a.wall + 1.0) - a.cavity.sdf(*p), h)  # outside the rib cage
                paint_sparse(hu, lin, occ, value)

    # -- abdomen (inside the torso, below the diaphragm; before the lungs) --------------
    def paint_abdomen(self, hu, grid, st, x, y, z, d_abd, h) -> None:
        """``d_abd``: signed distance of the region inside the rib cage below the dome."""
        a = self.anat
        zmax = max(a.z_dome_r, a.z_dome_l) + 2
        box = grid.box(np.array([-1e9, -1e9, -1e9]), np.array([1e9, 1e9, zmax]))
        if box is None:
            return
        sub, d = hu[box], d_abd[box]
        xs, ys, zs = grid.coords(box)
        paint(sub, occupancy(d, h), F32(st.fat + 15))  # retroperitoneal / omental fat
        # liver: right of a line that swings left in front (the left lobe)
        yr = (ys - F32(a.ycc)) * F32(1 / a.cav_b)
        xl = F32(self.liver_split) - F32(self.liver_lobe * 0.6 * a.cav_a) * np.clip(yr + F32(0.2), 0, 1.2)
        xl = xl + np.clip(F32(a.z_dome_l) - zs, 0, None) * F32(0.6)  # left lobe thins downward
        liver = np.maximum(d + F32(1.0), xl - xs)
        paint(sub, occupancy(liver, h), st.liver)
        # spleen, kidneys, stomach
        dsp = np.maximum(_ell3(xs, ys, zs, self.spleen_c, self.spleen_s), d + F32(2.0))
        paint(sub, occupancy(dsp, h), st.spleen)
        for side, zk in ((1, self.kidney_z[0]), (-1, self.kidney_z[1])):
            c = (side * self.kidney_x, a.y_vb + 2, zk)
            dk = _ell3(xs, ys, zs, c, self.kidney_s)
            paint(sub, occupancy(np.maximum(dk - F32(8), d), h), st.fat)
            paint(sub, occupancy(np.maximum(dk, d + F32(2)), h), F32(32.0))
        ds = _ell3(xs, ys, zs, self.stomach_c, self.stomach_s)
        ds = np.maximum(ds, np.maximum(d + F32(4), zs - (a.dome(xs, ys) - F32(15))))
        paint(sub, occupancy(ds, h), F32(40.0))  # wall
        paint(sub, occupancy(ds + F32(3.0), h), F32(15.0))  # fluid
        level = F32(self.stomach_c[1] + self.stomach_s[1] * (1 - 2 * self.stomach_air))
        paint(sub, occupancy(np.maximum(ds + F32(3.0), level - ys), h), F32(-1000.0))  # air, anterior
