"""The viewer's one door to the engine's map sampling (``engine.cam.sampling``).

Trilinear sampling in world coordinates, ReLU/signed and the normalisation modes are the
engine's, and so is the *difference* display (``engine.cam.sampling.method_map``:
HiResCAM − Grad-CAM, signed, on the two methods' joint scale); this adapter fixes the
calling convention the rest of the viewer uses.

``engine.cam.sampling`` needs only numpy/scipy: importing it never loads torch.
"""

from __future__ import annotations

import importlib

import numpy as np


class _LazyModule:
    """A module imported on first attribute access, so opening the window does not pay for
    scipy; ``preload()`` triggers it from a worker."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._mod = None

    def __getattr__(self, attr: str):
        if self._mod is None:
            self._mod = importlib.import_module(self._name)
        return getattr(self._mod, attr)


sampling = _LazyModule("engine.cam.sampling")  # numpy/scipy only: no torch


def preload() -> None:
    """Import the sampling code now (called from a worker after a scan loads, so the first
    heat map does not pay for importing scipy on the GUI thread)."""
    sampling.display_scale  # noqa: B018 - attribute access triggers the import
    import scipy.ndimage  # noqa: F401 - the engine imports it lazily, on first sampling


def _mode(signed: bool, method: str) -> str:
    return "signed" if signed or method == "difference" else "relu"


def _scale(result, method: str, label: int, signed: bool, normalisation: str):
    return sampling.display_scale(result.maps, method, label, _mode(signed, method), normalisation)


def raw_map(result, method: str, label: int) -> np.ndarray:
    """The raw signed map shown for ``method`` (a method of the result, or "difference")."""
    return sampling.method_map(result.maps, method, label)


def display_range(result, method: str, label: int, *, signed: bool, normalisation: str):
    """(vmin, vmax, units) of the colour scale."""
    s = _scale(result, method, label, signed, normalisation)
    units = f"HiResCAM − Grad-CAM, {s.units}" if method == "difference" else s.units
    return s.vmin, s.vmax, units


def _raw_points(result, method: str, label: int, pts: np.ndarray) -> np.ndarray:
    return sampling.sample_points(raw_map(result, method, label), result.map_affine, pts)


def sample(result, method: str, label: int, points: np.ndarray, *, signed: bool, normalisation: str):
    """Display values at RAS points (..., 3) -> (values, vmin, vmax, units)."""
    s = _scale(result, method, label, signed, normalisation)
    vals = sampling.to_display(_raw_points(result, method, label, np.asarray(points, float)), s)
    vmin, vmax, units = display_range(result, method, label, signed=signed, normalisation=normalisation)
    return vals, vmin, vmax, units


def nearest_slice(map3d: np.ndarray, map_affine: np.ndarray, scan_affine: np.ndarray,
                  scan_shape, axis: int, index: int) -> np.ndarray:
    """Like ``engine.cam.sampling.sample_slice`` but nearest-neighbour: every scan voxel takes
    the value of the map cell it lies in (0 outside the map), so the true grid shows."""
    rest = [a for a in range(3) if a != axis]
    gi, gj = np.meshgrid(np.arange(scan_shape[rest[0]]), np.arange(scan_shape[rest[1]]), indexing="ij")
    ijk = np.empty((gi.size, 3), dtype=np.float64)
    ijk[:, axis] = index
    ijk[:, rest[0]] = gi.ravel()
    ijk[:, rest[1]] = gj.ravel()
    t = np.linalg.inv(np.asarray(map_affine, np.float64)) @ np.asarray(scan_affine, np.float64)
    idx = np.rint(ijk @ t[:3, :3].T + t[:3, 3]).astype(np.int64)
    shape = np.asarray(map3d.shape)
    inside = np.all((idx >= 0) & (idx < shape), axis=1)
    vals = np.zeros(len(idx), np.float32)
    vals[inside] = np.asarray(map3d, np.float32)[tuple(idx[inside].T)]
    return vals.reshape(gi.shape)


def _raw_slice(result, method: str, label: int, volume, axis: int, index: int,
               nearest: bool = False) -> np.ndarray:
    m = raw_map(result, method, label)
    if nearest:
        return nearest_slice(m, result.map_affine, volume.affine, volume.shape, axis, index)
    return sampling.sample_slice(m, result.map_affine, volume.affine, volume.shape, axis, index)


def sample_slice(result, method: str, label: int, volume, axis: int, index: int, *, signed: bool,
                 normalisation: str, nearest: bool = False):
    """Display values on the scan slice ``axis = index`` in scan array order (axis removed);
    ``nearest``: one flat value per map cell instead of trilinear interpolation."""
    s = _scale(result, method, label, signed, normalisation)
    vals = sampling.to_display(_raw_slice(result, method, label, volume, axis, index, nearest), s)
    vmin, vmax, units = display_range(result, method, label, signed=signed, normalisation=normalisation)
    return vals, vmin, vmax, units


def sample_on_grid(result, method: str, label: int, shape, affine) -> np.ndarray:
    """Raw signed map resampled onto a scan grid (for NIfTI export), float32 (I, J, K)."""
    return sampling.sample_on_grid(result.maps[method][label], result.map_affine, affine, shape)


def cell_size_mm(result) -> tuple[float, float, float]:
    """Size of one map cell in mm along the map's three axes (from the map affine)."""
    a = np.asarray(result.map_affine, float)[:3, :3]
    return tuple(float(v) for v in np.linalg.norm(a, axis=0))


def cell_at(result, ras) -> tuple[int, int, int] | None:
    """Index of the map cell holding a world point (nearest cell centre), None outside."""
    inv = np.linalg.inv(np.asarray(result.map_affine, float))
    idx = np.rint(np.asarray(ras, float) @ inv[:3, :3].T + inv[:3, 3]).astype(int)
    shape = next(iter(result.maps.values())).shape[1:]
    if np.any(idx < 0) or np.any(idx >= np.asarray(shape)):
        return None
    return tuple(int(v) for v in idx)


def raw_range(result, method: str, label: int, *, signed: bool, normalisation: str):
    """Display range in *raw* map units (vmin, vmax, divisor), for views that take raw maps."""
    s = _scale(result, method, label, signed, normalisation)
    return s.vmin * s.divisor, s.vmax * s.divisor, s.divisor
