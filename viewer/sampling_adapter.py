"""The viewer's one door to the engine's map sampling (``engine.cam.sampling``).

Trilinear sampling in world coordinates, ReLU/signed and the normalisation modes are the
engine's; this adapter fixes the calling convention the rest of the viewer uses and adds
the *difference* display (HiResCAM − Grad-CAM, signed, on the two methods' joint scale, so
it reads in the same units as the side-by-side panes).

Sampling is linear, so sampling ``H - G`` equals ``sample(H) - sample(G)``.

``engine.cam`` imports torch, so the engine module is loaded on first use, without torch
(see ``_Lazy``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np


class _Lazy:
    """``engine.cam.sampling`` on first use.

    ``engine/cam/__init__.py`` imports torch, which the viewer process must never load (the
    model runs in its own process; a torch import would block the GUI for seconds).  The
    sampling module itself needs only numpy/scipy, so when the package is not imported yet
    the module file is loaded on its own.  (Engine request: make ``engine.cam`` import its
    torch parts lazily; then this collapses to a plain import.)
    """

    _mod: ModuleType | None = None

    def __getattr__(self, name: str):
        if _Lazy._mod is None:
            import sys

            if "engine.cam" in sys.modules:
                _Lazy._mod = importlib.import_module("engine.cam.sampling")
            else:
                from importlib import util
                from pathlib import Path

                import engine

                modname = "ctcam_viewer_engine_sampling"
                spec = util.spec_from_file_location(modname, Path(engine.__file__).parent / "cam" / "sampling.py")
                mod = util.module_from_spec(spec)
                sys.modules[modname] = mod  # dataclasses look their module up while it executes
                spec.loader.exec_module(mod)
                _Lazy._mod = mod
        return getattr(_Lazy._mod, name)


sampling = _Lazy()


def preload() -> None:
    """Import the sampling code now (called from a worker after a scan loads, so the first
    heat map does not pay for importing scipy on the GUI thread)."""
    sampling.display_scale  # noqa: B018 - attribute access triggers the import


def _mode(signed: bool, method: str) -> str:
    return "signed" if signed or method == "difference" else "relu"


def _scale(result, method: str, label: int, signed: bool, normalisation: str):
    if method == "difference":
        norm = "joint_methods" if normalisation == "per_map" else normalisation
        return sampling.display_scale(result.maps, "hirescam", label, "signed", norm)
    return sampling.display_scale(result.maps, method, label, _mode(signed, method), normalisation)


def display_range(result, method: str, label: int, *, signed: bool, normalisation: str):
    """(vmin, vmax, units) of the colour scale."""
    s = _scale(result, method, label, signed, normalisation)
    units = f"HiResCAM − Grad-CAM, {s.units}" if method == "difference" else s.units
    return s.vmin, s.vmax, units


def _raw_points(result, method: str, label: int, pts: np.ndarray) -> np.ndarray:
    if method == "difference":
        return (_raw_points(result, "hirescam", label, pts) - _raw_points(result, "gradcam", label, pts))
    return sampling.sample_points(result.maps[method][label], result.map_affine, pts)


def sample(result, method: str, label: int, points: np.ndarray, *, signed: bool, normalisation: str):
    """Display values at RAS points (..., 3) -> (values, vmin, vmax, units)."""
    s = _scale(result, method, label, signed, normalisation)
    vals = sampling.to_display(_raw_points(result, method, label, np.asarray(points, float)), s)
    vmin, vmax, units = display_range(result, method, label, signed=signed, normalisation=normalisation)
    return vals, vmin, vmax, units


def _axis_weights(coords: np.ndarray, n: int) -> np.ndarray:
    """Linear-interpolation matrix (len(coords), n) along one map axis, with the engine's
    edge rule: inside ``[-0.5, n - 0.5]`` clamp to the edge voxel, outside give 0."""
    inside = (coords >= -0.5) & (coords <= n - 0.5)
    w = np.zeros((len(coords), n), dtype=np.float32)
    rows = np.arange(len(coords))
    if n == 1:
        w[:, 0] = 1.0
    else:
        c = np.clip(coords, 0.0, n - 1)
        i0 = np.minimum(np.floor(c).astype(int), n - 2)
        f = (c - i0).astype(np.float32)
        w[rows, i0] = 1.0 - f
        w[rows, i0 + 1] += f
    w[~inside] = 0.0
    return w


def separable_slice(map3d: np.ndarray, map_affine: np.ndarray, scan_affine: np.ndarray,
                    scan_shape, axis: int, index: int) -> np.ndarray | None:
    """Fast path of ``engine.cam.sampling.sample_slice`` when the scan and map grids are
    axis-aligned (``T = inv(map_affine) @ scan_affine`` has a diagonal 3x3 part).

    Trilinear interpolation is then separable: with per-axis interpolation matrices ``W_a``
    (scan index -> map index weights), ``slice = W_h @ (M x_n w_n) @ W_v.T``, a few small
    matrix products instead of one ``map_coordinates`` call per pixel (exactly the same
    values; tests compare with the engine).  Returns None when the grids are oblique.
    """
    t = np.linalg.inv(np.asarray(map_affine, np.float64)) @ np.asarray(scan_affine, np.float64)
    rot = t[:3, :3]
    if np.abs(rot - np.diag(np.diag(rot))).max() > 1e-9 * max(1.0, np.abs(rot).max()):
        return None
    rest = [a for a in range(3) if a != axis]
    coord = lambda a, idx: rot[a, a] * idx + t[a, 3]  # noqa: E731
    w_n = _axis_weights(np.array([coord(axis, float(index))]), map3d.shape[axis])[0]
    plane = np.tensordot(np.asarray(map3d, np.float32), w_n, axes=([axis], [0]))
    w_h = _axis_weights(coord(rest[0], np.arange(scan_shape[rest[0]], dtype=np.float64)), map3d.shape[rest[0]])
    w_v = _axis_weights(coord(rest[1], np.arange(scan_shape[rest[1]], dtype=np.float64)), map3d.shape[rest[1]])
    return (w_h @ plane @ w_v.T).astype(np.float32)


def _raw_slice(result, method: str, label: int, volume, axis: int, index: int) -> np.ndarray:
    if method == "difference":
        return (_raw_slice(result, "hirescam", label, volume, axis, index)
                - _raw_slice(result, "gradcam", label, volume, axis, index))
    m = result.maps[method][label]
    fast = separable_slice(m, result.map_affine, volume.affine, volume.shape, axis, index)
    if fast is not None:
        return fast
    return sampling.sample_slice(m, result.map_affine, volume.affine, volume.shape, axis, index)


def sample_slice(result, method: str, label: int, volume, axis: int, index: int, *, signed: bool,
                 normalisation: str):
    """Display values on the scan slice ``axis = index`` in scan array order (axis removed)."""
    s = _scale(result, method, label, signed, normalisation)
    vals = sampling.to_display(_raw_slice(result, method, label, volume, axis, index), s)
    vmin, vmax, units = display_range(result, method, label, signed=signed, normalisation=normalisation)
    return vals, vmin, vmax, units


def sample_on_grid(result, method: str, label: int, shape, affine) -> np.ndarray:
    """Raw signed map resampled onto a scan grid (for NIfTI export), float32 (I, J, K)."""
    return sampling.sample_on_grid(result.maps[method][label], result.map_affine, affine, shape)


def peak_world(result, label: int, method: str = "hirescam") -> np.ndarray:
    """RAS mm of the maximum of a raw map (the map voxel's centre)."""
    raw = result.maps[method][label]
    idx = np.array(np.unravel_index(int(np.argmax(raw)), raw.shape), dtype=np.float64)
    return idx @ result.map_affine[:3, :3].T + result.map_affine[:3, 3]


def organ_codes_on_map_grid(result, scan_affine: np.ndarray) -> np.ndarray | None:
    """Organ code at each map voxel centre (nearest scan voxel), or None without organs."""
    if result.organ_map is None:
        return None
    shape = next(iter(result.maps.values())).shape[1:]
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    world = grid @ result.map_affine[:3, :3].T + result.map_affine[:3, 3]
    inv = np.linalg.inv(scan_affine)
    sidx = np.rint(world @ inv[:3, :3].T + inv[:3, 3]).astype(int)
    inside = np.all((sidx >= 0) & (sidx < np.array(result.organ_map.shape)), axis=1)
    codes = np.zeros(len(sidx), dtype=np.uint8)
    s = sidx[inside]
    codes[inside] = result.organ_map[s[:, 0], s[:, 1], s[:, 2]]
    return codes.reshape(shape)


def organ_mass_share(result, label: int, method: str, organ_codes: np.ndarray | None) -> float | None:
    """Share of the positive (ReLU) map mass whose map voxel centre lies in the label's organ:
    ``sum(relu(M)[organ]) / sum(relu(M))`` (design section 8, threshold-free)."""
    if organ_codes is None:
        return None
    raw = np.maximum(result.maps[method][label], 0)
    total = float(raw.sum())
    if total <= 0:
        return 0.0
    return float(raw[organ_codes == result.labels[label].organ_code].sum() / total)


def raw_range(result, method: str, label: int, *, signed: bool, normalisation: str):
    """Display range in *raw* map units (vmin, vmax, divisor), for views that take raw maps."""
    s = _scale(result, method, label, signed, normalisation)
    return s.vmin * s.divisor, s.vmax * s.divisor, s.divisor
