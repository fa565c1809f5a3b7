"""The viewer's one door to the engine's map sampling (``engine.cam.sampling``).

Trilinear sampling in world coordinates, ReLU/signed and the normalisation modes are the
engine's; this adapter fixes the calling convention the rest of the viewer uses and adds
the *difference* display (HiResCAM − Grad-CAM, signed, on the two methods' joint scale, so
it reads in the same units as the side-by-side panes).

Sampling is linear, so sampling ``H - G`` equals ``sample(H) - sample(G)``.

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
localisation = _LazyModule("engine.cam.localisation")


def preload() -> None:
    """Import the sampling code now (called from a worker after a scan loads, so the first
    heat map does not pay for importing scipy on the GUI thread)."""
    sampling.display_scale  # noqa: B018 - attribute access triggers the import
    import scipy.ndimage  # noqa: F401 - the engine imports it lazily, on first sampling


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


def _raw_slice(result, method: str, label: int, volume, axis: int, index: int) -> np.ndarray:
    if method == "difference":
        return (_raw_slice(result, "hirescam", label, volume, axis, index)
                - _raw_slice(result, "gradcam", label, volume, axis, index))
    m = result.maps[method][label]
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
    """Organ code at each map voxel centre, or None without an organ map."""
    if result.organ_map is None:
        return None
    shape = next(iter(result.maps.values())).shape[1:]
    return localisation.organ_codes_on_map_grid(result.organ_map, scan_affine, result.map_affine, shape)


def organ_mass_share(result, label: int, method: str, organ_codes: np.ndarray | None) -> float | None:
    """Share of the positive map mass in the label's organ (engine.cam.localisation); None
    without an organ map or when the map has no positive value (there is no mass to share, so
    "0 %" would wrongly read as "all of it outside the organ")."""
    if organ_codes is None:
        return None
    if not np.any(result.maps[method][label] > 0):
        return None
    return localisation.mass_in_organ(result.maps[method][label], organ_codes,
                                      result.labels[label].organ_code)


def raw_range(result, method: str, label: int, *, signed: bool, normalisation: str):
    """Display range in *raw* map units (vmin, vmax, divisor), for views that take raw maps."""
    s = _scale(result, method, label, signed, normalisation)
    return s.vmin * s.divisor, s.vmax * s.divisor, s.divisor
