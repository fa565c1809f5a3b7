"""What the 3D view draws, as VTK poly data: heat-map iso-surfaces, organ surfaces, cursor.

Everything here is pure (arrays in, ``vtkPolyData`` out) and thread-safe, so organ
surfaces are computed in a worker; :class:`viewer.render3d.scene.Scene3D` only attaches them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from vtkmodules.vtkCommonCore import vtkPoints, vtkUnsignedCharArray
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import (
    vtkFlyingEdges3D,
    vtkPolyDataNormals,
    vtkWindowedSincPolyDataFilter,
)

from viewer.render3d import data
from viewer.render3d.data import Render3DError, check_grid
from viewer.render3d.style import DEFAULT_RELU_COLORMAP, DEFAULT_SIGNED_COLORMAP, colormap_rgb


@dataclass
class MapLayer:
    """One heat map for the 3D view, shown as nested iso-surfaces.

    ``values`` are the raw map (mi, mj, mk) on its own grid, ``affine`` its voxel -> RAS mm
    matrix.  Display range ``[vmin, vmax]`` (defaults: ``[0, max]`` for ReLU display,
    ``[-m, m]`` with ``m = max|values|`` when ``signed``).  Levels are fractions ``f``:
    ReLU surfaces at ``vmin + f (vmax - vmin)`` coloured ``cmap(f)``; signed surfaces at
    ``f vmax`` coloured ``cmap(0.5 + f/2)`` and at ``f vmin`` coloured ``cmap(0.5 - f/2)``,
    i.e. the colours the 2D overlay gives those values.  Outer levels are translucent,
    the innermost nearly opaque.
    """

    values: np.ndarray
    affine: np.ndarray
    vmin: float | None = None
    vmax: float | None = None
    colormap: object = None
    signed: bool = False
    levels: tuple[float, ...] = (0.5, 0.75)
    title: str = ""

    def iso_surfaces(self) -> list[tuple[float, tuple[float, float, float], float]]:
        """[(iso value, rgb, opacity)] for the levels that exist in this map."""
        v = np.asarray(self.values, dtype=np.float32)
        finite = v[np.isfinite(v)]
        if finite.size == 0:
            return []
        levels = sorted(float(f) for f in self.levels if 0.0 < float(f) < 1.0)
        if not levels:
            raise Render3DError(f"map levels must be fractions in (0, 1), got {self.levels!r}")
        opac = np.linspace(0.3, 0.85, len(levels)) if len(levels) > 1 else np.array([0.6])
        out: list[tuple[float, tuple[float, float, float], float]] = []
        if self.signed:
            cmap = self.colormap if self.colormap is not None else DEFAULT_SIGNED_COLORMAP
            m = float(np.max(np.abs(finite)))
            vmax = float(self.vmax) if self.vmax is not None else m
            vmin = float(self.vmin) if self.vmin is not None else -m
            for f, a in zip(levels, opac):
                if vmax > 0 and finite.max() > f * vmax:
                    out.append((f * vmax, colormap_rgb(cmap, 0.5 + 0.5 * f), float(a)))
                if vmin < 0 and finite.min() < f * vmin:
                    out.append((f * vmin, colormap_rgb(cmap, 0.5 - 0.5 * f), float(a)))
        else:
            cmap = self.colormap if self.colormap is not None else DEFAULT_RELU_COLORMAP
            vmin = float(self.vmin) if self.vmin is not None else 0.0
            vmax = float(self.vmax) if self.vmax is not None else float(finite.max())
            if not vmax > vmin:
                return []
            for f, a in zip(levels, opac):
                iso = vmin + f * (vmax - vmin)
                if finite.max() > iso:
                    out.append((iso, colormap_rgb(cmap, f), float(a)))
        return out


def as_map_layer(spec) -> MapLayer:
    """A :class:`MapLayer`, a dict of its fields, ``(values, affine)`` or ``(values, affine, {opts})``."""
    if isinstance(spec, MapLayer):
        return spec
    if isinstance(spec, dict):
        return MapLayer(**spec)
    if isinstance(spec, (tuple, list)) and len(spec) in (2, 3):
        opts = dict(spec[2]) if len(spec) == 3 else {}
        return MapLayer(spec[0], spec[1], **opts)
    raise Render3DError(
        "a side-by-side map must be a MapLayer, a dict, (values, affine) or (values, affine, options); "
        f"got {type(spec).__name__}"
    )


def _smooth_surface(poly_port, iterations: int = 12):
    smooth = vtkWindowedSincPolyDataFilter()
    smooth.SetInputConnection(poly_port)
    smooth.SetNumberOfIterations(iterations)
    smooth.SetPassBand(0.08)
    smooth.NonManifoldSmoothingOn()
    smooth.NormalizeCoordinatesOn()
    normals = vtkPolyDataNormals()
    normals.SetInputConnection(smooth.GetOutputPort())
    normals.SetFeatureAngle(80.0)
    normals.Update()
    out = vtkPolyData()
    out.DeepCopy(normals.GetOutput())
    return out


def iso_surface(values: np.ndarray, iso: float, smooth_iterations: int = 12) -> vtkPolyData:
    """Iso-surface (flying edges) of a float grid in *index* coordinates, smoothed, with normals."""
    fe = vtkFlyingEdges3D()
    fe.SetInputData(data.to_vtk_image(values, np.float32))
    fe.SetValue(0, float(iso))
    fe.ComputeNormalsOff()
    fe.ComputeGradientsOff()
    if smooth_iterations <= 0:
        fe.Update()
        out = vtkPolyData()
        out.DeepCopy(fe.GetOutput())
        return out
    return _smooth_surface(fe.GetOutputPort(), smooth_iterations)


def cursor_polydata(center, half: float) -> vtkPolyData:
    pts = vtkPoints()
    lines = vtkCellArray()
    colors = vtkUnsignedCharArray()
    colors.SetNumberOfComponents(3)
    axis_rgb = ((230, 60, 60), (60, 210, 60), (80, 130, 255))  # R, A, S axes
    c = np.asarray(center, dtype=np.float64)
    for ax in range(3):
        d = np.zeros(3)
        d[ax] = half
        a = pts.InsertNextPoint(*(c - d))
        b = pts.InsertNextPoint(*(c + d))
        lines.InsertNextCell(2)
        lines.InsertCellPoint(a)
        lines.InsertCellPoint(b)
        colors.InsertNextTuple3(*axis_rgb[ax])
    poly = vtkPolyData()
    poly.SetPoints(pts)
    poly.SetLines(lines)
    poly.GetCellData().SetScalars(colors)
    return poly


_SURFACES: list[tuple[tuple, weakref.ref, tuple]] = []  # recent organ_surfaces results


def organ_surfaces(labelmap: np.ndarray, affine: np.ndarray, codes, max_dim: int
                   ) -> tuple[dict[int, vtkPolyData], np.ndarray | None]:
    """Smooth surfaces of the organ codes in a label map, in block-index coordinates, and
    the affine that places them: ({code: polydata}, affine or None when no organ is there).

    Pure and thread-safe (VTK's filters release the GIL), so the viewer computes it in a
    worker thread (``View3DLink``); the last two results are kept, keyed by the label map
    object, so ``Scene3D.set_organs`` on the GUI thread then only attaches them.
    """
    key = (id(labelmap), np.shape(labelmap), np.asarray(affine, np.float64).tobytes(),
           tuple(sorted(int(c) for c in codes)), int(max_dim))
    for k, ref, value in _SURFACES:
        if k == key and ref() is labelmap:
            return value
    arr, aff = check_grid(labelmap, affine, "the organ map")
    factors = data.block_factors(arr.shape, max_dim)
    small_aff = data.block_affine(aff, factors)
    polys: dict[int, vtkPolyData] = {}
    matrix_affine = None
    for code in sorted(int(c) for c in codes):
        frac = data.block_mean(arr == code, factors)
        if not frac.max(initial=0.0) > 0.5:
            continue
        frac, padded_aff = data.pad_with(frac, small_aff, 0.0)
        polys[code] = iso_surface(frac, 0.5, smooth_iterations=15)
        matrix_affine = padded_aff
    value = (polys, matrix_affine)
    try:
        _SURFACES.insert(0, (key, weakref.ref(labelmap), value))
        del _SURFACES[2:]
    except TypeError:  # an object without weak references (not a numpy array): no cache
        pass
    return value
