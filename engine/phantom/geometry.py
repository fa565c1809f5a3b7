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
from functools import cached_property

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
        return self._axes[a]

    @cached_property
    def _axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = []
        for a in range(3):
            n = self.shape[a]
            v = (self.origin[a] + np.arange(n) * self.spacing[a]).astype(F32)
            shp = [1, 1, 1]
            shp[a] = n
            v = v.reshape(shp)
            v.flags.writeable = False
            out.append(v)
        return tuple(out)

    def coords(self, box: tuple[slice, slice, slice] | None = None):
        x, y, z = self._axes
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
    tmp = np.subtract(np.asarray(value, dtype=F32), hu, dtype=F32)
    tmp *= occ
    hu += tmp


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
        out = np.full(len(p), np.inf)
        if len(self) == 0:
            return out
        r = np.maximum(self.ra, self.rb).max()
        lo = np.minimum(self.a, self.b).min(0) - r - 20
        hi = np.maximum(self.a, self.b).max(0) + r + 20
        near = np.all((p >= lo) & (p <= hi), axis=1)
        if not near.any():
            return out
        out[near] = self._sdf_points(p[near])
        return out

    def _sdf_points(self, p: np.ndarray) -> np.ndarray:
        ba = self.b - self.a  # (M,3)
        l2 = np.maximum((ba * ba).sum(1), 1e-9)
        pa = p[:, None, :] - self.a[None]  # (N,M,3)
        t = np.clip((pa * ba[None]).sum(2) / l2, 0, 1)
        d = np.linalg.norm(pa - t[..., None] * ba[None], axis=2) - (self.ra + t * (self.rb - self.ra))
        return d.min(1)


def _reduce_sorted(lin: np.ndarray, val: np.ndarray, op) -> tuple[np.ndarray, np.ndarray]:
    """Combine values that share a voxel index with ``op`` (np.maximum / np.minimum)."""
    if len(lin) == 0:
        return lin, val
    order = np.argsort(lin, kind="stable")
    lin, val = lin[order], val[order]
    starts = np.flatnonzero(np.r_[True, lin[1:] != lin[:-1]])
    return lin[starts], op.reduceat(val, starts)


def subdivide(caps: Capsules, h: float) -> Capsules:
    """Split long segments into pieces about two radii long, so their boxes stay tight."""
    if len(caps) == 0:
        return caps
    length = np.linalg.norm(caps.b - caps.a, axis=1)
    piece = np.maximum(2.5 * np.maximum(caps.ra, caps.rb), max(2.0 * h, 2.0))
    k = np.maximum(1, np.ceil(length / piece)).astype(int)
    seg = np.repeat(np.arange(len(caps)), k)
    j = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    t0, t1 = (j / k[seg])[:, None], ((j + 1) / k[seg])[:, None]
    a, b = caps.a[seg], caps.b[seg]
    ra, rb = caps.ra[seg], caps.rb[seg]
    return Capsules(a + t0 * (b - a), a + t1 * (b - a), ra + t0[:, 0] * (rb - ra), ra + t1[:, 0] * (rb - ra))


def splat(caps: Capsules, grid: Grid, pad: float, max_pairs: int = 3_000_000):
    """Signed distances of every segment at every voxel of its box (+pad mm).

    Yields chunks ``(lin, d, r)``: linear voxel indices (C order), distances (mm) and the
    local tube radius (mm).  All
    segments are evaluated together with numpy, with no Python loop per segment.
    """
    if len(caps) == 0:
        return
    sp = np.array(grid.spacing)
    org = np.array(grid.origin)
    n = np.array(grid.shape)
    r = np.maximum(caps.ra, caps.rb)[:, None] + pad
    lo = np.minimum(caps.a, caps.b) - r
    hi = np.maximum(caps.a, caps.b) + r
    i0 = np.clip(np.floor((lo - org) / sp), 0, n).astype(np.int64)
    i1 = np.clip(np.ceil((hi - org) / sp) + 1, 0, n).astype(np.int64)
    ext = np.maximum(i1 - i0, 0)
    cnt = ext.prod(1)
    ba = caps.b - caps.a
    l2 = np.maximum((ba * ba).sum(1), 1e-9)
    segs = np.flatnonzero(cnt > 0)
    start = 0
    while start < len(segs):
        csum = np.cumsum(cnt[segs[start:]])
        stop = start + max(1, int(np.searchsorted(csum, max_pairs, side="right")))
        ids = segs[start:stop]
        start = stop
        c = cnt[ids]
        seg = np.repeat(ids, c)
        local = np.arange(int(c.sum()), dtype=np.int64) - np.repeat(np.cumsum(c) - c, c)
        ez, ey = ext[seg, 2], ext[seg, 1]
        kk = local % ez
        rest = local // ez
        jj = rest % ey
        ii = rest // ey
        ii += i0[seg, 0]
        jj += i0[seg, 1]
        kk += i0[seg, 2]
        lin = (ii * n[1] + jj) * n[2] + kk
        px = (org[0] + ii * sp[0] - caps.a[seg, 0]).astype(F32)
        py = (org[1] + jj * sp[1] - caps.a[seg, 1]).astype(F32)
        pz = (org[2] + kk * sp[2] - caps.a[seg, 2]).astype(F32)
        bx, by, bz = (ba[seg, q].astype(F32) for q in range(3))
        t = (px * bx + py * by + pz * bz) / l2[seg].astype(F32)
        np.clip(t, 0, 1, out=t)
        px -= t * bx
        py -= t * by
        pz -= t * bz
        d = np.sqrt(px * px + py * py + pz * pz)
        rad = caps.ra[seg].astype(F32) + t * (caps.rb[seg] - caps.ra[seg]).astype(F32)
        d -= rad
        yield lin, d, rad


def thin_tube_gain(r, h: float):
    """Partial-volume correction for tubes thinner than a voxel.

    The ramp occupancy ``clip(0.5 - d/h)`` of a tube of radius r < h/2 integrates over its
    cross-section to ``pi R^3 / (3h)`` with ``R = r + h/2``, more than the true ``pi r^2``;
    scaling by ``3 h r^2 / R^3`` (and by ``r^2 / (r^2 + h^2/12)`` for thicker tubes,
    continuous at r = h/2) conserves the tube's attenuation, so a thin
    vessel looks as faint on a coarse grid as on a fine grid averaged down.
    """
    rr = r + F32(0.5 * h)
    thin = F32(3.0 * h) * r * r / (rr * rr * rr)
    thick = r * r / (r * r + F32(h * h / 12.0))  # ramp area pi (r^2 + h^2/12) for r >= h/2
    return np.where(r < F32(0.5 * h), thin, thick).astype(F32)


def union_occupancy(caps: Capsules, grid: Grid, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Sparse partial-volume occupancy of the union of tubes: (voxel indices, occ).

    Overlapping tubes combine by max (a union), so a branching point is not painted twice.
    """
    lins, occs = [], []
    for lin, d, r in splat(subdivide(caps, h), grid, 0.5 * h):
        o = occupancy(d, h)
        o *= thin_tube_gain(r, h)
        keep = o > 0
        lins.append(lin[keep])
        occs.append(o[keep])
    if not lins:
        return np.zeros(0, np.int64), np.zeros(0, F32)
    return _reduce_sorted(np.concatenate(lins), np.concatenate(occs), np.maximum)


def union_sdf(caps: Capsules, grid: Grid, pad: float) -> tuple[np.ndarray, np.ndarray]:
    """Sparse signed distance (min over tubes) within ``pad`` mm of the tubes."""
    lins, ds = [], []
    for lin, d, _ in splat(subdivide(caps, grid.h), grid, pad):
        keep = d < pad
        lins.append(lin[keep])
        ds.append(d[keep])
    if not lins:
        return np.zeros(0, np.int64), np.zeros(0, F32)
    return _reduce_sorted(np.concatenate(lins), np.concatenate(ds), np.minimum)


def paint_sparse(hu: np.ndarray, lin: np.ndarray, occ: np.ndarray, value) -> None:
    flat = hu.reshape(-1)
    cur = flat[lin]
    cur += occ * (np.asarray(value, F32) - cur)
    flat[lin] = cur
