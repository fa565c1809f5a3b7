"""Array helpers for the 3D view: exact downsampling and numpy -> VTK conversion.

Every grid the 3D view draws (the CT, organ fractions, heat maps) is a plain VTK image with
unit spacing and zero origin, placed in the world by a 4x4 *user matrix* that is the
grid's exact voxel -> RAS mm affine.  So nothing is resampled into a common grid and the CT,
organs and maps line up wherever their affines say.

Block downsampling by integer factors ``f = (fi, fj, fk)`` keeps the affine exact: output
voxel ``b`` is the mean of input voxels ``f*b .. f*b + f - 1``, whose centre is input index
``f*b + (f - 1)/2``, hence ``A_out = A_in @ S`` with ``S = [[diag(f), (f - 1)/2], [0, 1]]``.
"""

from __future__ import annotations

import math

import numpy as np
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4

from engine.errors import CTCamError


class Render3DError(CTCamError):
    """A 3D-view failure the user can act on (bad input array, unwritable export path)."""


def block_factors(shape: tuple[int, ...], max_dim: int) -> tuple[int, int, int]:
    """Smallest integer factor per axis so that every downsampled axis is <= ``max_dim``."""
    return tuple(max(1, math.ceil(int(n) / max_dim)) for n in shape[:3])  # type: ignore[return-value]


def block_affine(affine: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Exact affine of a block-mean downsampled grid (see module docstring)."""
    f = np.asarray(factors, dtype=np.float64)
    s = np.eye(4)
    s[:3, :3] = np.diag(f)
    s[:3, 3] = (f - 1.0) / 2.0
    return np.asarray(affine, dtype=np.float64) @ s


def block_mean(arr: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Mean over non-overlapping ``factors`` blocks (trailing partial blocks are dropped), float32."""
    fi, fj, fk = factors
    if (fi, fj, fk) == (1, 1, 1):
        return np.asarray(arr, dtype=np.float32)
    ni, nj, nk = (arr.shape[0] // fi, arr.shape[1] // fj, arr.shape[2] // fk)
    if min(ni, nj, nk) < 1:
        raise ValueError(f"array of shape {arr.shape} is smaller than one block {factors}")
    out = np.zeros((ni, nj, nk), dtype=np.float32)
    # Accumulate strided sub-grids: no large temporary copies of the input.
    for a in range(fi):
        for b in range(fj):
            for c in range(fk):
                out += arr[a : ni * fi : fi, b : nj * fj : fj, c : nk * fk : fk]
    out /= float(fi * fj * fk)
    return out


def downsample(arr: np.ndarray, affine: np.ndarray, max_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Block-mean ``arr`` so no axis exceeds ``max_dim``; returns (float32 array, exact affine)."""
    factors = block_factors(arr.shape, max_dim)
    return block_mean(arr, factors), block_affine(affine, factors)


def to_vtk_image(arr: np.ndarray, dtype=None) -> vtkImageData:
    """(I, J, K) numpy array -> vtkImageData with unit spacing, zero origin (VTK x = axis 0)."""
    a = np.asarray(arr, dtype=dtype) if dtype is not None else np.asarray(arr)
    img = vtkImageData()
    img.SetDimensions(*(int(n) for n in a.shape[:3]))
    img.SetSpacing(1.0, 1.0, 1.0)
    img.SetOrigin(0.0, 0.0, 0.0)
    flat = np.ascontiguousarray(a.ravel(order="F"))  # VTK point order: i fastest
    vtk_arr = numpy_support.numpy_to_vtk(flat, deep=True)
    vtk_arr.SetName("values")
    img.GetPointData().SetScalars(vtk_arr)
    return img


def to_vtk_matrix(affine: np.ndarray) -> vtkMatrix4x4:
    m = vtkMatrix4x4()
    a = np.asarray(affine, dtype=np.float64).reshape(4, 4)
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(a[r, c]))
    return m


def world_bounds(shape: tuple[int, ...], affine: np.ndarray) -> tuple[float, ...]:
    """Axis-aligned RAS bounds (xmin, xmax, ymin, ymax, zmin, zmax) of a grid's voxel centres."""
    n = np.asarray(shape[:3], dtype=np.float64) - 1.0
    corners = np.array([[i, j, k] for i in (0, n[0]) for j in (0, n[1]) for k in (0, n[2])])
    a = np.asarray(affine, dtype=np.float64)
    w = corners @ a[:3, :3].T + a[:3, 3]
    lo, hi = w.min(axis=0), w.max(axis=0)
    return (lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])


def pad_with(arr: np.ndarray, affine: np.ndarray, value: float) -> tuple[np.ndarray, np.ndarray]:
    """Pad one voxel of ``value`` on every side (closes iso-surfaces at the grid edge)."""
    out = np.pad(np.asarray(arr, dtype=np.float32), 1, mode="constant", constant_values=value)
    shift = np.eye(4)
    shift[:3, 3] = -1.0
    return out, np.asarray(affine, dtype=np.float64) @ shift


def check_grid(values: np.ndarray, affine: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The array and affine of a grid to draw, or a :class:`Render3DError` naming ``what``."""
    values = np.asarray(values)
    affine = np.asarray(affine, dtype=np.float64)
    if values.ndim != 3 or min(values.shape) < 1:
        raise Render3DError(f"{what} must be a 3D array (I, J, K); got shape {values.shape}")
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise Render3DError(f"{what} needs an invertible 4x4 voxel->RAS affine; got {affine.tolist()}")
    return values, affine
