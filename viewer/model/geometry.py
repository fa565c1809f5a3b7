"""Slice-view geometry, Qt-free: which array axes a view shows and where they go on screen.

Scene coordinates of a view are millimetres along the two in-plane *array* axes:
``scene = index * spacing`` (pixel centres), so the aspect ratio follows the voxel spacing and
an oblique affine is shown in its own voxel grid (as ITK-SNAP does).

Radiological convention (docs/architecture.md, "Geometry and display conventions"): on every view the in-plane array axis shown
horizontally grows toward the screen's *left* (the view box is x-inverted).  For a canonical
(R, A, S) volume that puts the patient's right on the screen's left in axial and coronal
views, anterior on the left in sagittal views, anterior up in axial views and superior up in
coronal and sagittal views.  The edge letters are computed from the affine, so they say the
truth even for a volume that is not canonical.
"""

from __future__ import annotations

import numpy as np

from engine.volume import OPPOSITE, axcodes

# view -> (normal axis, horizontal axis, vertical axis) in array order (i, j, k)
VIEW_AXES: dict[str, tuple[int, int, int]] = {
    "axial": (2, 0, 1),
    "coronal": (1, 0, 2),
    "sagittal": (0, 1, 2),
}


def slice_plane(array: np.ndarray, view: str, index: int) -> np.ndarray:
    """2D slice of a (I, J, K) array with shape (n_horizontal, n_vertical) (x-major)."""
    normal, h, v = VIEW_AXES[view]
    sl = np.take(array, int(index), axis=normal)
    # remaining axes keep their order; transpose when the horizontal axis is not first
    rest = [a for a in range(3) if a != normal]
    return sl if rest == [h, v] else sl.T


def in_plane_spacing(spacing: tuple[float, float, float], view: str) -> tuple[float, float]:
    _, h, v = VIEW_AXES[view]
    return float(spacing[h]), float(spacing[v])


def ijk_to_scene(ijk: np.ndarray, spacing: tuple[float, float, float], view: str) -> tuple[float, float]:
    _, h, v = VIEW_AXES[view]
    return float(ijk[h] * spacing[h]), float(ijk[v] * spacing[v])


def scene_to_ijk(
    x: float, y: float, slice_index: float, spacing: tuple[float, float, float], view: str
) -> np.ndarray:
    normal, h, v = VIEW_AXES[view]
    ijk = np.zeros(3)
    ijk[normal] = slice_index
    ijk[h] = x / spacing[h]
    ijk[v] = y / spacing[v]
    return ijk


def edge_letters(affine: np.ndarray, view: str) -> dict[str, str]:
    """Anatomical direction at each screen edge: keys left, right, top, bottom."""
    codes = axcodes(affine)
    _, h, v = VIEW_AXES[view]
    return {
        "left": codes[h],  # x-inverted: the horizontal index grows toward the left edge
        "right": OPPOSITE[codes[h]],
        "top": codes[v],
        "bottom": OPPOSITE[codes[v]],
    }


def plane_world(affine: np.ndarray, shape: tuple[int, int, int], view: str, index: int):
    """World coordinates (RAS mm) of every pixel centre of a slice, shape (nh, nv, 3)."""
    normal, h, v = VIEW_AXES[view]
    ih = np.arange(shape[h], dtype=np.float64)
    iv = np.arange(shape[v], dtype=np.float64)
    ijk = np.zeros((shape[h], shape[v], 3))
    ijk[..., normal] = index
    ijk[..., h] = ih[:, None]
    ijk[..., v] = iv[None, :]
    a = np.asarray(affine, dtype=np.float64)
    return ijk @ a[:3, :3].T + a[:3, 3]
