"""Sampling grid and signed-distance primitives for the phantom renderer.

Every anatomical structure and lesion is an implicit shape: a function ``d(x, y, z)`` in
world millimetres (RAS) that is negative inside and roughly the distance to the surface
(mm) near it.  Rendering samples ``d`` at voxel centres:

* ground truth: ``inside = d < 0`` (exact at voxel centres, the same on every grid);
* intensity: fractional occupancy ``occ = clip(0.5 - d / h, 0, 1)`` with ``h`` the voxel
  size, an anti-aliased partial-volume approximation, and paint
  ``hu <- hu + occ * (value - hu)`` (painter's algorithm).

Coordinates are passed as broadcastable arrays: ``x`` of shape (nx, 1, 1), ``y`` (1, ny, 1),
``z`` (1, 1, nz), so terms that depend on fewer axes stay small (a body outline per slice
is an (nx, ny, 1) field scaled by a (1, 1, nz) profile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

F32 = np.float32


@dataclass(frozen=True)
class Grid:
    """A canonical RAS voxel grid: diagonal affine, ``world = origin + index * spacing``."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    @property
    def affine(self) -> np.ndarray:
        aff = np.eye(4)
        aff[0, 0], aff[1, 1], aff[2, 2] = self.spacing
        aff[:3, 3] = self.origin
        return aff

    @property
    def h(self) -> float:
        """Characteristic voxel size (mm) used for partial-volume edges."""
        sx, sy, sz = self.spacing
        return float((sx * sy * sz) ** (1.0 / 3.0))

    def axis(self, a: int) -> np.ndarray:
        n = self.shape[a]
        v = (self.origin[a] + np.arange(n) * self.spacing[a]).astype(F32)
        shp = [1, 1, 1]
        shp[a] = n
        return v.reshape(shp)

    def coords(self, box: tuple[slice, slice, slice] | None = None):
        x, y, z = self.axis(0), self.axis(1), self.axis(2)
        if box is None:
            return x, y, z
        return x[box[0]], y[:, box[1]], z[:, :, box[2]]

    def box(self, lo, hi) -> tuple[slice, slice, slice] | None:
        """Index slices covering the world box [lo, hi] (mm); None when it misses the grid."""
        out = []
        for a in range(3):
            s, o, n = self.spacing[a], self.origin[a], self.shape[a]
            i0 = max(0, math.floor((lo[a] - o) / s))
            i1 = min(n, math.ceil((hi[a] - o) / s) + 1)
            if i1 <= i0:
                return None
            out.append(slice(i0, i1))
        return tuple(out)  # type: ignore[return-value]


def occupancy(d: np.ndarray, h: float) -> np.ndarray:
    """Partial-volume fraction from a signed distance (mm): 1 inside, 0 outside, ramp of width h."""
    o = np.multiply(d, F32(-1.0 / h), dtype=F32)
    o += F32(0.5)
    np.clip(o, 0.0, 1.0, out=o)
    return o


def paint(hu: np.ndarray, occ: np.ndarray, value) -> None:
    """In place: ``hu <- hu + occ * (value - hu)``."""
    hu += occ * (np.asarray(value, dtype=F32) - hu)


def smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def ellipsoid_sdf(x, y, z, centre, axes, semi):
    """Approximate signed distance (mm) to a rotated ellipsoid.

    ``axes`` rows are the unit axis vectors, ``semi`` the semi-axis lengths.  With
    ``q_i = u_i . (p - c) / s_i`` and ``rho = |q|``, the first-order distance is
    ``(rho - 1) / |grad rho|`` with ``grad rho = sum_i q_i u_i / (s_i rho)``.
    """
    px, py, pz = x - F32(centre[0]), y - F32(centre[1]), z - F32(centre[2])
    q = []
    for i in range(3):
        u = axes[i]
        q.append((px * F32(u[0]) + py * F32(u[1]) + pz * F32(u[2])) * F32(1.0 / semi[i]))
    rho2 = q[0] * q[0] + q[1] * q[1] + q[2] * q[2]
    g2 = 0.0
    for j in range(3):
        gj = sum(q[i] * F32(axes[i][j] / semi[i]) for i in range(3))
        g2 = g2 + gj * gj
    rho = np.sqrt(rho2)
    # |grad rho| = sqrt(g2)/rho;  d = (rho - 1) * rho / sqrt(g2)
    return (rho - F32(1.0)) * rho / np.sqrt(np.maximum(g2, F32(1e-12)))


def sphere_sdf(x, y, z, c, r):
    return np.sqrt((x - F32(c[0])) ** 2 + (y - F32(c[1])) ** 2 + (z - F32(c[2])) ** 2) - F32(r)


@dataclass
class Capsules:
    """Tapered tube segments a->b with radii ra->rb (mm), e.g. a vessel tree."""

    a: np.ndarray  # (M, 3)
    b: np.ndarray  # (M, 3)
    ra: np.ndarray  # (M,)
    rb: np.ndarray  # (M,)

    @staticmethod
    def empty() -> Capsules:
        return Capsules(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0))

    @staticmethod
    def polyline(points, radii) -> Capsules:
        p = np.asarray(points, float)
        r = np.asarray(radii, float)
        return Capsules(p[:-1], p[1:], r[:-1], r[1:])

    def __len__(self) -> int:
        return len(self.ra)

    def select(self, keep: np.ndarray) -> Capsules:
        return Capsules(self.a[keep], self.b[keep], self.ra[keep], self.rb[keep])

    def offset(self, dr: float) -> Capsules:
        return Capsules(self.a, self.b, self.ra + dr, self.rb + dr)

    def scale_r(self, f: float) -> Capsules:
        return Capsules(self.a, self.b, self.ra * f, self.rb * f)

    @staticmethod
    def concat(items: list[Capsules]) -> Capsules:
        items = [c for c in items if len(c)]
        if not items:
            return Capsules.empty()
        return Capsules(
            np.concatenate([c.a for c in items]),
            np.concatenate([c.b for c in items]),
            np.concatenate([c.ra for c in items]),
            np.concatenate([c.rb for c in items]),
        )

    def sdf_points(self, p: np.ndarray) -> np.ndarray:
        """Signed distance (N,) from points (N, 3) to the union of all segments."""
        if len(self) == 0:
            return np.full(len(p), np.inf)
        ba = self.b - self.a  # (M,3)
        l2 = np.maximum((ba * ba).sum(1), 1e-9)
        pa = p[:, None, :] - self.a[None]  # (N,M,3)
        t = np.clip((pa * ba[None]).sum(2) / l2, 0, 1)
        d = np.linalg.norm(pa - t[..., None] * ba[None], axis=2) - (self.ra + t * (self.rb - self.ra))
        return d.min(1)

    def segment_sdf(self, m: int, x, y, z):
        """Signed distance of segment m on broadcast coordinate arrays."""
        a, b = self.a[m], self.b[m]
        ba = b - a
        l2 = max(float(ba @ ba), 1e-9)
        px, py, pz = x - F32(a[0]), y - F32(a[1]), z - F32(a[2])
        t = (px * F32(ba[0] / l2) + py * F32(ba[1] / l2) + pz * F32(ba[2] / l2))
        np.clip(t, 0.0, 1.0, out=t)
        dx = px - t * F32(ba[0])
        dy = py - t * F32(ba[1])
        dz = pz - t * F32(ba[2])
        d = np.sqrt(dx * dx + dy * dy + dz * dz)
        d -= F32(self.ra[m]) + t * F32(self.rb[m] - self.ra[m])
        return d

    def segment_box(self, m: int, pad: float):
        r = max(self.ra[m], self.rb[m]) + pad
        lo = np.minimum(self.a[m], self.b[m]) - r
        hi = np.maximum(self.a[m], self.b[m]) + r
        return lo, hi

    def render_min(self, grid: Grid, field: np.ndarray, pad: float, min_radius: float = 0.0) -> None:
        """In place: ``field = min(field, sdf)`` within each segment's box (+pad mm)."""
        for m in range(len(self)):
            if max(self.ra[m], self.rb[m]) < min_radius:
                continue
            box = grid.box(*self.segment_box(m, pad))
            if box is None:
                continue
            x, y, z = grid.coords(box)
            d = self.segment_sdf(m, x, y, z)
            sub = field[box]
            np.minimum(sub, d, out=sub)
