"""Measurements on slice views, Qt-free: rulers and ROIs (ellipse, rectangle), kept per scan.

A measurement lives on one slice of one view (as Slicer's and OHIF's "length" and ROI
annotations do) and is stored in *world* coordinates (RAS mm), so its numbers do not depend
on zoom, pane or screen.  Lengths are Euclidean distances in mm between the two world points,
so an anisotropic voxel grid is measured correctly.

ROI statistics: the voxels of the slice whose *centres* lie inside the shape; HU mean, SD
(population, ddof 0), min, max; the area of the shape itself in mm² (pi a b or w h, as OHIF
reports it) and the number of voxels counted; and each method's mean displayed map value at
those voxel centres (in the units of the current normalisation).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from viewer.model import geometry

KINDS = ("ruler", "ellipse", "rectangle")
_ids = itertools.count(1)


@dataclass
class Measurement:
    kind: str  # one of KINDS
    view: str
    slice_index: int
    p0: np.ndarray  # world RAS mm (ruler ends; ROI: two opposite corners of its bounding box)
    p1: np.ndarray
    id: int = field(default_factory=lambda: next(_ids))

    def length_mm(self) -> float:
        return float(np.linalg.norm(np.asarray(self.p1, float) - np.asarray(self.p0, float)))


def scene_point(volume, view: str, ras) -> tuple[float, float]:
    return geometry.ijk_to_scene(volume.index(np.asarray(ras, float)), volume.spacing, view)


def world_point(volume, view: str, slice_index: int, x: float, y: float) -> np.ndarray:
    return volume.world(geometry.scene_to_ijk(x, y, slice_index, volume.spacing, view))


def roi_mask(m: Measurement, volume) -> np.ndarray:
    """Voxels (x-major 2D, as ``slice_plane``) of the slice whose centres are inside the ROI."""
    _, h, v = geometry.VIEW_AXES[m.view]
    (x0, y0), (x1, y1) = scene_point(volume, m.view, m.p0), scene_point(volume, m.view, m.p1)
    sx, sy = geometry.in_plane_spacing(volume.spacing, m.view)
    xs = np.arange(volume.shape[h]) * sx
    ys = np.arange(volume.shape[v]) * sy
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    lo_x, hi_x, lo_y, hi_y = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    if m.kind == "rectangle":
        return (X >= lo_x) & (X <= hi_x) & (Y >= lo_y) & (Y <= hi_y)
    cx, cy = (lo_x + hi_x) / 2, (lo_y + hi_y) / 2
    ax, ay = max((hi_x - lo_x) / 2, 1e-9), max((hi_y - lo_y) / 2, 1e-9)
    return ((X - cx) / ax) ** 2 + ((Y - cy) / ay) ** 2 <= 1.0


def roi_area_mm2(m: Measurement, volume) -> float:
    (x0, y0), (x1, y1) = scene_point(volume, m.view, m.p0), scene_point(volume, m.view, m.p1)
    w, h = abs(x1 - x0), abs(y1 - y0)
    return float(np.pi * w * h / 4 if m.kind == "ellipse" else w * h)


def roi_stats(m: Measurement, volume, overlay=None) -> dict:
    """Numbers of an ROI (see the module docstring); ``overlay`` (an ``OverlayModel``) adds the
    map means when a finding's map is shown."""
    sel = roi_mask(m, volume)
    plane = geometry.slice_plane(volume.hu, m.view, m.slice_index).astype(np.float64)
    vals = plane[sel]
    out: dict = {"n_voxels": int(sel.sum()), "area_mm2": roi_area_mm2(m, volume)}
    if vals.size:
        out.update(mean=float(vals.mean()), sd=float(vals.std()), min=float(vals.min()), max=float(vals.max()))
    if overlay is not None and overlay.has_map() and vals.size:
        world = geometry.plane_world(volume.affine, volume.shape, m.view, m.slice_index)[sel]
        maps = overlay.values_at_points(world)
        out["maps"] = {k: float(np.mean(v)) for k, v in maps.items() if k != "units"}
        out["units"] = maps.get("units")
    return out


def describe(m: Measurement, volume, overlay=None) -> str:
    """One-line text of a measurement, as drawn beside it."""
    if m.kind == "ruler":
        return f"{m.length_mm():.1f} mm"
    s = roi_stats(m, volume, overlay)
    if "mean" not in s:
        return f"{s['area_mm2']:.0f} mm² (no voxel centre inside)"
    text = (f"mean {s['mean']:.0f} HU  SD {s['sd']:.0f}  min {s['min']:.0f}  max {s['max']:.0f}\n"
            f"area {s['area_mm2']:.0f} mm² ({s['n_voxels']} voxels)")
    if s.get("maps"):
        text += "\nmap mean: HiResCAM {:.3g}  Grad-CAM {:.3g}".format(s["maps"]["hirescam"], s["maps"]["gradcam"])
    return text


class MeasurementStore:
    """Measurements per scan (keyed by the scan's source path, so reopening a scan finds its
    measurements again)."""

    def __init__(self) -> None:
        self._by_scan: dict[str, list[Measurement]] = {}
        self.listeners: list = []

    def _changed(self) -> None:
        for cb in list(self.listeners):
            cb()

    def items(self, scan_key: str | None) -> list[Measurement]:
        return list(self._by_scan.get(scan_key or "", []))

    def on_slice(self, scan_key: str | None, view: str, index: int) -> list[Measurement]:
        return [m for m in self.items(scan_key) if m.view == view and m.slice_index == index]

    def add(self, scan_key: str | None, m: Measurement) -> Measurement:
        self._by_scan.setdefault(scan_key or "", []).append(m)
        self._changed()
        return m

    def remove(self, scan_key: str | None, mid: int) -> bool:
        items = self._by_scan.get(scan_key or "", [])
        keep = [m for m in items if m.id != mid]
        self._by_scan[scan_key or ""] = keep
        if len(keep) != len(items):
            self._changed()
        return len(keep) != len(items)

    def clear(self, scan_key: str | None) -> None:
        self._by_scan.pop(scan_key or "", None)
        self._changed()
