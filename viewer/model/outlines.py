"""Line geometry the slice views draw, Qt-free: lesion outlines on voxel edges and isolines
(contours) of a heat map.

Both return line segments in *scene* coordinates of a slice view (mm along the view's two
in-plane array axes, ``scene = index * spacing`` at voxel centres, see
:mod:`viewer.model.geometry`) as two flat arrays ``x, y`` where points ``2n`` and ``2n + 1``
are the ends of segment ``n`` (pyqtgraph's ``connect="pairs"``).

* :func:`mask_edges` traces a binary mask along the *edges* of its voxels: a voxel at index
  ``(a, b)`` covers ``[(a - 1/2) sx, (a + 1/2) sx] x [(b - 1/2) sy, (b + 1/2) sy]``, so the
  outline encloses exactly the lesion's voxels, neither half a voxel in nor out.
* :func:`contour_segments` is marching squares on the grid of voxel centres (linear
  interpolation along cell edges; the two saddle cases are split by the cell mean).
"""

from __future__ import annotations

import numpy as np

from viewer.model import geometry


def mask_edges(mask2d: np.ndarray, sx: float, sy: float) -> tuple[np.ndarray, np.ndarray]:
    """Segments on the voxel edges between mask and non-mask (image border counts as outside)."""
    m = np.pad(np.asarray(mask2d, bool), 1)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    # vertical edges: between column a-1 and a (padded indices) -> x = (a - 1.5) * sx
    a, b = np.nonzero(m[1:, :] != m[:-1, :])  # edge between padded a and a+1, row b
    x = (a - 0.5) * sx
    y0, y1 = (b - 1.5) * sy, (b - 0.5) * sy
    xs.append(np.stack([x, x], 1).ravel())
    ys.append(np.stack([y0, y1], 1).ravel())
    a, b = np.nonzero(m[:, 1:] != m[:, :-1])  # horizontal edges
    y = (b - 0.5) * sy
    x0, x1 = (a - 1.5) * sx, (a - 0.5) * sx
    xs.append(np.stack([x0, x1], 1).ravel())
    ys.append(np.stack([y, y], 1).ravel())
    return np.concatenate(xs).astype(np.float64), np.concatenate(ys).astype(np.float64)


# marching squares: corners 0 (a, b), 1 (a+1, b), 2 (a+1, b+1), 3 (a, b+1); edges
# 0: 0-1, 1: 1-2, 2: 2-3, 3: 3-0; case bit c set when corner c >= level
_CASES = {1: [(3, 0)], 2: [(0, 1)], 3: [(3, 1)], 4: [(1, 2)], 6: [(0, 2)], 7: [(3, 2)],
          8: [(2, 3)], 9: [(0, 2)], 11: [(1, 2)], 12: [(1, 3)], 13: [(0, 1)], 14: [(3, 0)]}
_SADDLE = {5: ([(3, 0), (1, 2)], [(3, 2), (1, 0)]), 10: ([(0, 1), (2, 3)], [(0, 3), (2, 1)])}
_EDGE_CORNERS = ((0, 1), (1, 2), (2, 3), (3, 0))
_CORNER_OFFSETS = np.array([(0, 0), (1, 0), (1, 1), (0, 1)], float)


def contour_segments(values: np.ndarray, level: float, sx: float, sy: float) -> tuple[np.ndarray, np.ndarray]:
    """Isoline of ``values`` (nh, nv) at ``level`` as segment pairs in scene mm."""
    v = np.asarray(values, np.float64)
    if v.ndim != 2 or min(v.shape) < 2:
        return np.zeros(0), np.zeros(0)
    c = np.stack([v[:-1, :-1], v[1:, :-1], v[1:, 1:], v[:-1, 1:]], -1)  # (na, nb, 4)
    above = c >= level
    case = (above * (1 << np.arange(4))).sum(-1)
    pts: list[np.ndarray] = []
    for k, pairs in list(_CASES.items()) + list(_SADDLE.items()):
        a, b = np.nonzero(case == k)
        if len(a) == 0:
            continue
        cc = c[a, b]
        if k in _SADDLE:
            high = cc.mean(-1) >= level
            groups = [(~high, _SADDLE[k][0]), (high, _SADDLE[k][1])]
        else:
            groups = [(np.ones(len(a), bool), pairs)]
        for sel, prs in groups:
            for e0, e1 in prs:
                p0 = _edge_point(a[sel], b[sel], cc[sel], e0, level)
                p1 = _edge_point(a[sel], b[sel], cc[sel], e1, level)
                pts.append(np.stack([p0, p1], 1).reshape(-1, 2))
    if not pts:
        return np.zeros(0), np.zeros(0)
    p = np.concatenate(pts)
    return p[:, 0] * sx, p[:, 1] * sy


def _edge_point(a: np.ndarray, b: np.ndarray, cc: np.ndarray, edge: int, level: float) -> np.ndarray:
    i, j = _EDGE_CORNERS[edge]
    vi, vj = cc[:, i], cc[:, j]
    d = vj - vi
    t = np.where(np.abs(d) > 1e-12, (level - vi) / np.where(np.abs(d) > 1e-12, d, 1.0), 0.5)
    t = np.clip(t, 0.0, 1.0)[:, None]
    base = np.stack([a, b], 1).astype(float)
    return base + _CORNER_OFFSETS[i] + t * (_CORNER_OFFSETS[j] - _CORNER_OFFSETS[i])


def truth_slices(truth, view: str, index: int) -> list[tuple[str, np.ndarray]]:
    """(label, 2D mask) of every truth lesion cut by this slice (x-major, as ``slice_plane``)."""
    if truth is None:
        return []
    out = []
    for label, mask in sorted(truth.masks.items()):
        plane = geometry.slice_plane(mask, view, index)
        if plane.any():
            out.append((label, plane))
    return out
