"""Qt-free 3D scene of the chest: CT volume, organ surfaces, heat-map iso-surfaces, cursor.

:class:`Scene3D` owns everything drawn in the 3D view and is given a ``vtkRenderWindow`` to
draw into: the Qt widget (``viewer.render3d.Render3DView``) passes its
``QVTKRenderWindowInteractor`` window, :class:`OffscreenRenderer` an offscreen (EGL) one.
So the scene logic lives here once and is tested headless.

World frame: patient RAS+ mm.  Every grid (downsampled CT, organ fractions, heat map) is a
unit-spacing ``vtkImageData`` placed by a user matrix equal to its exact voxel -> RAS affine
(see ``render3d_data``), so maps on the coarse model grid and the CT line up exactly.

Layout: one pane, or two side-by-side panes (left/right viewport halves) sharing ONE
``vtkCamera`` so rotating either rotates both.  A small corner renderer shows an annotated
orientation cube (R/L/A/P/S/I in RAS) whose camera follows the shared camera.

Nothing renders by itself: :meth:`Scene3D.render` is the only call that draws (plus any
interactor the caller attaches).
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (OpenGL factory overrides)
import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: F401  (GPU volume mapper overrides)
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import vtkPoints, vtkUnsignedCharArray
from vtkmodules.vtkCommonDataModel import (
    vtkCellArray,
    vtkPiecewiseFunction,
    vtkPlane,
    vtkPolyData,
)
from vtkmodules.vtkFiltersCore import (
    vtkFlyingEdges3D,
    vtkPolyDataNormals,
    vtkWindowedSincPolyDataFilter,
)
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkCamera,
    vtkColorTransferFunction,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkRenderWindow,
    vtkTextActor,
    vtkVolume,
    vtkVolumeProperty,
    vtkWindowToImageFilter,
)
from vtkmodules.vtkRenderingVolume import vtkGPUVolumeRayCastMapper

from engine.errors import CTCamError
from viewer import render3d_data as data
from viewer.render3d_style import (
    DEFAULT_PRESET,
    DEFAULT_RELU_COLORMAP,
    DEFAULT_SIGNED_COLORMAP,
    PRESETS,
    colormap_rgb,
    normalise_rgb,
)

BACKGROUND = (0.04, 0.04, 0.06)
# Direction from the focal point to the camera, and view-up, per named view (RAS world).
VIEWS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    # Radiological anterior view: camera in front of the patient (+y) looking toward -y,
    # head up; the patient's left (-x) lands on the screen's right.
    "anterior": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "posterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "left": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "right": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "superior": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    # From the feet with anterior up, like an axial slice in radiological convention.
    "inferior": ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),
}
# Preset opacities are per this many mm of tissue, whatever the (downsampled) voxel size.
OPACITY_UNIT_MM = 10.0
CLIP_AXES = {"x": 0, "y": 1, "z": 2, "sagittal": 0, "coronal": 1, "axial": 2}


_AXIS_LETTERS = (("R", "L"), ("A", "P"), ("S", "I"))


def direction_letters(vec) -> str:
    """Anatomical letters of a RAS direction, strongest first, as 3D Slicer writes them:
    (-1, 0, 0) -> "L"; (0.7, 0.7, 0) -> "RA" (components under 0.35 of the length left out)."""
    v = np.asarray(vec, dtype=np.float64).reshape(3)
    n = float(np.linalg.norm(v))
    if n == 0:
        return ""
    v = v / n
    order = np.argsort(-np.abs(v))
    return "".join(_AXIS_LETTERS[a][0 if v[a] > 0 else 1] for a in order if abs(v[a]) >= 0.35)


class Render3DError(CTCamError):
    """A 3D-view failure the user can act on (bad input array, unwritable export path)."""


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


def check_grid(values: np.ndarray, affine: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values)
    affine = np.asarray(affine, dtype=np.float64)
    if values.ndim != 3 or min(values.shape) < 1:
        raise Render3DError(f"{what} must be a 3D array (I, J, K); got shape {values.shape}")
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise Render3DError(f"{what} needs an invertible 4x4 voxel->RAS affine; got {affine.tolist()}")
    return values, affine


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


def _cursor_polydata(center, half: float) -> vtkPolyData:
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


SOFTWARE_GL_SAMPLE_DISTANCE = 2.0  # pixels per ray on software OpenGL (ordinary frames)
_SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "swiftshader", "software rasterizer")


def is_software_gl(window: vtkRenderWindow) -> bool:
    """True when the window's OpenGL renderer is a CPU rasteriser (Mesa llvmpipe etc.)."""
    caps = (window.ReportCapabilities() or "").lower()
    return any(name in caps for name in _SOFTWARE_GL)


class _Pane:
    """One viewport: its renderer and the props drawn in it."""

    def __init__(self, camera: vtkCamera) -> None:
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(*BACKGROUND)
        self.renderer.SetActiveCamera(camera)
        self.renderer.SetUseDepthPeeling(1)
        self.renderer.SetUseDepthPeelingForVolumes(1)
        self.renderer.SetMaximumNumberOfPeels(6)
        self.renderer.SetOcclusionRatio(0.05)
        # The GPU ray caster (OpenGL implementation via the factory).  With automatic
        # adjustment it lowers the image sample distance (renders fewer rays, upscaled) when
        # a frame overruns the time the window allots to it (see Scene3D.frame_budget_s).
        self.ct_mapper = vtkGPUVolumeRayCastMapper()
        self.ct_mapper.AutoAdjustSampleDistancesOn()
        self.ct_mapper.SetMinimumImageSampleDistance(1.0)
        self.ct_mapper.SetMaximumImageSampleDistance(4.0)
        self.ct_volume = vtkVolume()
        self.ct_volume.SetMapper(self.ct_mapper)
        self.ct_volume.VisibilityOff()
        self.renderer.AddVolume(self.ct_volume)
        self.organ_actors: dict[int, vtkActor] = {}
        self.map_actors: list[vtkActor] = []
        self.layer: MapLayer | None = None
        self.cursor_actor = vtkActor()
        cm = vtkPolyDataMapper()
        cm.SetScalarModeToUseCellData()
        self.cursor_actor.SetMapper(cm)
        self.cursor_actor.GetProperty().SetLineWidth(2.5)
        self.cursor_actor.GetProperty().LightingOff()
        self.cursor_actor.VisibilityOff()
        self.renderer.AddActor(self.cursor_actor)
        self.title = vtkTextActor()
        self.title.GetTextProperty().SetFontSize(16)
        self.title.GetTextProperty().SetColor(0.9, 0.9, 0.9)
        self.title.GetTextProperty().SetJustificationToCentered()
        self.title.GetTextProperty().SetVerticalJustificationToTop()
        self.title.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.title.SetPosition(0.5, 0.97)
        self.renderer.AddViewProp(self.title)
        # orientation letters at the pane's edges (what lies toward each edge), from the camera
        self.edge_letters: dict[str, vtkTextActor] = {}
        for edge, (x, y, hj, vj) in {"left": (0.01, 0.5, "Left", "Centered"),
                                     "right": (0.99, 0.5, "Right", "Centered"),
                                     "top": (0.5, 0.90, "Centered", "Top"),
                                     "bottom": (0.5, 0.01, "Centered", "Bottom")}.items():
            t = vtkTextActor()
            tp = t.GetTextProperty()
            tp.SetFontSize(16)
            tp.BoldOn()
            tp.SetColor(0.95, 0.95, 0.95)
            getattr(tp, f"SetJustificationTo{hj}")()
            getattr(tp, f"SetVerticalJustificationTo{vj}")()
            t.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            t.SetPosition(x, y)
            self.renderer.AddViewProp(t)
            self.edge_letters[edge] = t

    def clear_maps(self) -> None:
        for a in self.map_actors:
            self.renderer.RemoveActor(a)
        self.map_actors = []
        self.layer = None
        self.title.SetInput("")


class Scene3D:
    """Everything the 3D view draws, given a render window to draw into (see module docstring).

    Parameters
    ----------
    render_window:
        The ``vtkRenderWindow`` to fill (renderers are added and removed by the scene).
    max_dim:
        The CT and organ map are block-averaged so no axis exceeds this many voxels.
    frame_budget_s:
        Target seconds per ordinary frame.  When frames overrun it (software OpenGL, big
        windows) the volume is ray cast at up to 4x coarser pixel spacing and upscaled;
        fast GPUs stay at full resolution.  None: always full quality.  Exports
        (``capture``/``screenshot``/``turntable``) are always full quality.
    """

    def __init__(self, render_window: vtkRenderWindow, *, max_dim: int = 160,
                 frame_budget_s: float | None = None) -> None:
        self.window = render_window
        self.max_dim = int(max_dim)
        self.frame_budget_s = frame_budget_s
        self.software_gl: bool | None = None  # known after the first frame
        self.camera = vtkCamera()
        self._ct_image = None
        self._ct_affine: np.ndarray | None = None
        self._ct_shape: tuple[int, int, int] | None = None
        self._scan_affine: np.ndarray | None = None
        self._scan_shape: tuple[int, int, int] | None = None
        self._ct_matrix = None
        self._volume_property = vtkVolumeProperty()
        self._volume_property.SetInterpolationTypeToLinear()
        self.preset = DEFAULT_PRESET
        self._organ_polys: dict[int, vtkPolyData] = {}
        self._organ_colors: dict[int, tuple[float, float, float]] = {}
        self.organ_names: dict[int, str] = {}
        self._organ_matrix = None
        self._organ_visible: dict[int, bool] = {}
        self.organ_opacity = 0.28
        self._cursor: np.ndarray | None = None
        self.cursor_half_mm = 25.0
        self._clip_plane = vtkPlane()
        self._clip: tuple[str, float, str] | None = None
        self._panes: list[_Pane] = [_Pane(self.camera)]
        self._marker_renderer, self._marker_camera = self._make_marker()
        self._camera_view: str | None = None
        # Depth peeling (translucent surfaces inside the volume) needs alpha, no multisampling.
        self.window.SetAlphaBitPlanes(1)
        self.window.SetMultiSamples(0)
        self.window.SetNumberOfLayers(2)
        self._apply_layout()
        self._apply_preset()
        self._observer = self._add_start_observer()

    # -- construction helpers ------------------------------------------------------------
    def _make_marker(self):
        cube = vtkAnnotatedCubeActor()
        # RAS world: +x is the patient's Right, +y Anterior, +z Superior.
        cube.SetXPlusFaceText("R")
        cube.SetXMinusFaceText("L")
        cube.SetYPlusFaceText("A")
        cube.SetYMinusFaceText("P")
        cube.SetZPlusFaceText("S")
        cube.SetZMinusFaceText("I")
        cube.SetFaceTextScale(0.65)
        cube.GetCubeProperty().SetColor(0.32, 0.36, 0.42)
        cube.GetTextEdgesProperty().SetColor(0.9, 0.9, 0.9)
        cube.GetTextEdgesProperty().SetLineWidth(1.0)
        for prop, rgb in (
            (cube.GetXPlusFaceProperty(), (1.0, 0.45, 0.45)),
            (cube.GetXMinusFaceProperty(), (1.0, 0.45, 0.45)),
            (cube.GetYPlusFaceProperty(), (0.45, 1.0, 0.45)),
            (cube.GetYMinusFaceProperty(), (0.45, 1.0, 0.45)),
            (cube.GetZPlusFaceProperty(), (0.55, 0.7, 1.0)),
            (cube.GetZMinusFaceProperty(), (0.55, 0.7, 1.0)),
        ):
            prop.SetColor(*rgb)
        ren = vtkRenderer()
        ren.SetLayer(1)
        ren.InteractiveOff()
        ren.SetViewport(0.0, 0.0, 0.16, 0.16)
        ren.AddActor(cube)
        cam = ren.GetActiveCamera()
        return ren, cam

    def _add_start_observer(self):
        ref = weakref.ref(self)

        def on_start(_obj, _evt):
            scene = ref()
            if scene is not None:
                scene._sync_marker()

        return self.window.AddObserver("StartEvent", on_start)

    def _sync_marker(self) -> None:
        """Before every frame (whoever triggers it): fit the near/far planes to what is shown,
        and point the orientation cube's camera like the shared camera (cube at the origin)."""
        for pane in self._panes:
            pane.renderer.ResetCameraClippingRange()
        dop = np.array(self.camera.GetDirectionOfProjection())
        self._marker_camera.SetFocalPoint(0.0, 0.0, 0.0)
        self._marker_camera.SetPosition(*(-dop * 4.2))
        self._marker_camera.SetViewUp(*self.camera.GetViewUp())
        self._marker_camera.SetViewAngle(30.0)
        self._marker_renderer.ResetCameraClippingRange()
        self._sync_edge_letters(dop)

    def _sync_edge_letters(self, dop: np.ndarray) -> None:
        up = np.array(self.camera.GetViewUp())
        right = np.cross(dop, up)  # screen right in world coordinates
        letters = {"left": direction_letters(-right), "right": direction_letters(right),
                   "top": direction_letters(up), "bottom": direction_letters(-up)}
        for pane in self._panes:
            for edge, text in letters.items():
                pane.edge_letters[edge].SetInput(text)

    def edge_letters(self) -> dict[str, str]:
        """The letters shown at the pane edges now (e.g. anterior view: left "R", right "L")."""
        self._sync_edge_letters(np.array(self.camera.GetDirectionOfProjection()))
        return {k: t.GetInput() for k, t in self._panes[0].edge_letters.items()}

    def _apply_layout(self) -> None:
        rens = self.window.GetRenderers()
        for r in [rens.GetItemAsObject(i) for i in range(rens.GetNumberOfItems())]:
            self.window.RemoveRenderer(r)
        n = len(self._panes)
        for idx, pane in enumerate(self._panes):
            pane.renderer.SetViewport(idx / n, 0.0, (idx + 1) / n, 1.0)
            pane.renderer.SetLayer(0)
            self.window.AddRenderer(pane.renderer)
        self.window.AddRenderer(self._marker_renderer)

    # -- CT volume -----------------------------------------------------------------------
    def set_volume(self, vol) -> None:
        """Show a ``CTVolume`` (block-averaged to at most ``max_dim`` voxels per axis)."""
        hu, affine = check_grid(vol.hu, vol.affine, "the CT volume")
        small, small_aff = data.downsample(hu, affine, self.max_dim)
        # The CT image carries its voxel size as VTK spacing and the user matrix only the
        # direction and origin (affine = M @ diag(spacing)), so ray sample distances, opacity
        # unit distance and shading gradients are all in mm even for anisotropic voxels.
        spacing = np.linalg.norm(small_aff[:3, :3], axis=0)
        self._ct_image = data.to_vtk_image(np.clip(np.rint(small), -32768, 32767).astype(np.int16))
        self._ct_image.SetSpacing(*(float(v) for v in spacing))
        self._ct_affine = small_aff
        self._ct_shape = small.shape
        self._scan_affine = affine
        self._scan_shape = tuple(int(s) for s in hu.shape)
        self._ct_matrix = data.to_vtk_matrix(small_aff @ np.diag([*(1.0 / spacing), 1.0]))
        self._volume_property.SetScalarOpacityUnitDistance(OPACITY_UNIT_MM)
        self._sample_distance_mm = 0.5 * float(spacing.min())  # two samples per voxel
        for pane in self._panes:
            self._attach_ct(pane)
        self.reset_camera(self._camera_view or "anterior")  # a new scan: fit it

    def clear_volume(self) -> None:
        self._ct_image = self._ct_affine = self._ct_shape = self._ct_matrix = None
        for pane in self._panes:
            pane.ct_volume.VisibilityOff()

    def _attach_ct(self, pane: _Pane) -> None:
        if self._ct_image is None:
            pane.ct_volume.VisibilityOff()
            return
        pane.ct_mapper.SetInputData(self._ct_image)
        pane.ct_mapper.SetSampleDistance(self._sample_distance_mm)
        pane.ct_volume.SetUserMatrix(self._ct_matrix)
        pane.ct_volume.SetProperty(self._volume_property)
        pane.ct_volume.VisibilityOn()
        self._apply_blend(pane)
        self._apply_clip(pane)

    def set_preset(self, name: str) -> None:
        """Choose a CT transfer function from ``PRESETS`` ("soft tissue chest", "lung", "bone", "MIP")."""
        if name not in PRESETS:
            raise Render3DError(f"unknown 3D preset {name!r}; choose one of {', '.join(PRESETS)}")
        self.preset = name
        self._apply_preset()

    def _apply_preset(self) -> None:
        p = PRESETS[self.preset]
        ctf = vtkColorTransferFunction()
        for hu, r, g, b in p.colors:
            ctf.AddRGBPoint(hu, r, g, b)
        otf = vtkPiecewiseFunction()
        for hu, a in p.opacity:
            otf.AddPoint(hu, a)
        vp = self._volume_property
        vp.SetColor(ctf)
        vp.SetScalarOpacity(otf)
        vp.SetShade(1 if p.shade else 0)
        vp.SetAmbient(p.ambient)
        vp.SetDiffuse(p.diffuse)
        vp.SetSpecular(p.specular)
        vp.SetSpecularPower(12.0)
        for pane in self._panes:
            self._apply_blend(pane)

    def _apply_blend(self, pane: _Pane) -> None:
        if PRESETS[self.preset].blend == "mip":
            pane.ct_mapper.SetBlendModeToMaximumIntensity()
        else:
            pane.ct_mapper.SetBlendModeToComposite()

    # -- organs --------------------------------------------------------------------------
    def set_organs(self, labelmap: np.ndarray, names: dict[int, str], colors: dict[int, tuple],
                   affine: np.ndarray | None = None) -> None:
        """Semi-transparent surfaces of each organ code in ``names``.

        ``labelmap`` is uint8 on the scan grid (``affine`` defaults to the CT's).  Each organ's
        indicator is block-averaged like the CT and contoured at 0.5 (sub-voxel, smooth), so
        a downsampled surface still follows the full-resolution boundary.
        """
        if affine is None:
            if self._scan_affine is None:
                raise Render3DError("set_organs needs the scan's affine: call set_volume first or pass affine=")
            affine = self._scan_affine
            if tuple(np.shape(labelmap)) != self._scan_shape:
                raise Render3DError(
                    f"the organ map has shape {np.shape(labelmap)} but the scan has {self._scan_shape}; "
                    "an organ map must lie on the scan grid"
                )
        polys, matrix_affine = organ_surfaces(labelmap, affine, names, self.max_dim)
        self._organ_polys = dict(polys)
        if matrix_affine is not None:
            self._organ_matrix_affine = matrix_affine
        self._organ_matrix = data.to_vtk_matrix(self._organ_matrix_affine) if self._organ_polys else None
        self.organ_names = {int(k): str(v) for k, v in names.items()}
        self._organ_colors = {int(k): normalise_rgb(colors.get(k, (0.8, 0.8, 0.8))) for k in names}
        for pane in self._panes:
            self._attach_organs(pane)

    def clear_organs(self) -> None:
        self._organ_polys = {}
        for pane in self._panes:
            self._attach_organs(pane)

    def set_organ_visible(self, code: int, visible: bool) -> None:
        self._organ_visible[int(code)] = bool(visible)
        for pane in self._panes:
            actor = pane.organ_actors.get(int(code))
            if actor is not None:
                actor.SetVisibility(bool(visible))

    def organ_visible(self, code: int) -> bool:
        return self._organ_visible.get(int(code), True)

    def set_organ_opacity(self, opacity: float) -> None:
        self.organ_opacity = float(np.clip(opacity, 0.0, 1.0))
        for pane in self._panes:
            for actor in pane.organ_actors.values():
                actor.GetProperty().SetOpacity(self.organ_opacity)

    def _attach_organs(self, pane: _Pane) -> None:
        for actor in pane.organ_actors.values():
            pane.renderer.RemoveActor(actor)
        pane.organ_actors = {}
        for code, poly in self._organ_polys.items():
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(poly)
            mapper.ScalarVisibilityOff()
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.SetUserMatrix(self._organ_matrix)
            prop = actor.GetProperty()
            prop.SetColor(*self._organ_colors[code])
            prop.SetOpacity(self.organ_opacity)
            prop.SetSpecular(0.2)
            prop.BackfaceCullingOff()
            actor.SetVisibility(self.organ_visible(code))
            pane.renderer.AddActor(actor)
            pane.organ_actors[code] = actor
        self._apply_clip(pane)

    # -- heat maps -----------------------------------------------------------------------
    def set_map(self, values: np.ndarray, map_affine: np.ndarray, *, vmin: float | None = None,
                vmax: float | None = None, colormap=None, signed: bool = False,
                levels: tuple[float, ...] = (0.5, 0.75), title: str = "") -> None:
        """Show one heat map (see :class:`MapLayer`); switches to the single-pane layout."""
        self.set_single()
        self._set_pane_map(0, MapLayer(values, map_affine, vmin, vmax, colormap, signed, tuple(levels), title))

    def clear_map(self) -> None:
        for pane in self._panes:
            pane.clear_maps()

    def set_maps_side_by_side(self, left, right) -> None:
        """Two panes (e.g. HiResCAM | Grad-CAM) with one shared camera; specs as :func:`as_map_layer`."""
        left_layer, right_layer = as_map_layer(left), as_map_layer(right)
        if len(self._panes) == 1:
            self._panes.append(_Pane(self.camera))
            self._attach_ct(self._panes[1])
            self._attach_organs(self._panes[1])
            self._update_cursor(self._panes[1])
            self._apply_layout()
            self._fit_camera()
        self._set_pane_map(0, left_layer)
        self._set_pane_map(1, right_layer)

    def set_single(self) -> None:
        """Back to one pane (it keeps the left map)."""
        if len(self._panes) > 1:
            for pane in self._panes[1:]:
                pane.clear_maps()
                pane.renderer.RemoveAllViewProps()
            self._panes = self._panes[:1]
            self._apply_layout()
            self._fit_camera()

    @property
    def side_by_side(self) -> bool:
        return len(self._panes) > 1

    def _set_pane_map(self, idx: int, layer: MapLayer) -> None:
        values, affine = check_grid(layer.values, layer.affine, "the heat map")
        pane = self._panes[idx]
        pane.clear_maps()
        padded, paff = data.pad_with(values, affine, 0.0)
        matrix = data.to_vtk_matrix(paff)
        for iso, rgb, alpha in layer.iso_surfaces():
            poly = iso_surface(padded, iso, smooth_iterations=10)
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(poly)
            mapper.ScalarVisibilityOff()
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.SetUserMatrix(matrix)
            prop = actor.GetProperty()
            prop.SetColor(*rgb)
            prop.SetOpacity(alpha)
            prop.SetAmbient(0.25)
            prop.SetSpecular(0.3)
            pane.renderer.AddActor(actor)
            pane.map_actors.append(actor)
        pane.layer = layer
        pane.title.SetInput(layer.title or "")

    # -- cursor, clipping, camera --------------------------------------------------------
    def set_cursor(self, ras_xyz) -> None:
        """Small three-axis cursor (R red, A green, S blue) at a RAS mm point; None hides it."""
        self._cursor = None if ras_xyz is None else np.asarray(ras_xyz, dtype=np.float64).reshape(3)
        for pane in self._panes:
            self._update_cursor(pane)

    def _update_cursor(self, pane: _Pane) -> None:
        if self._cursor is None:
            pane.cursor_actor.VisibilityOff()
            return
        b = self.bounds()
        half = self.cursor_half_mm
        if b is not None:  # small scans get a proportionally small cursor
            half = float(np.clip(0.08 * max(b[1] - b[0], b[3] - b[2], b[5] - b[4]), 3.0, half))
        pane.cursor_actor.GetMapper().SetInputData(_cursor_polydata(self._cursor, half))
        pane.cursor_actor.VisibilityOn()

    def set_clip(self, axis: str | None, fraction: float = 0.5, keep: str = "below") -> None:
        """Cut the CT and organ surfaces with a plane normal to a RAS axis (heat maps stay whole).

        ``axis`` is "x"/"sagittal", "y"/"coronal", "z"/"axial" or None (no clipping); the
        plane sits at ``fraction`` of the CT's extent along that axis; ``keep`` "below" keeps
        the part with smaller coordinate (e.g. for "y": cut the anterior part away, so the
        anterior view looks inside), "above" the other part.
        """
        if axis is None:
            self._clip = None
        else:
            if axis not in CLIP_AXES:
                raise Render3DError(f"unknown clip axis {axis!r}; use one of {', '.join(CLIP_AXES)} or None")
            if keep not in ("below", "above"):
                raise Render3DError(f"clip keep must be 'below' or 'above', got {keep!r}")
            self._clip = (axis, float(np.clip(fraction, 0.0, 1.0)), keep)
        for pane in self._panes:
            self._apply_clip(pane)

    def _apply_clip(self, pane: _Pane) -> None:
        mappers = [pane.ct_mapper] + [a.GetMapper() for a in pane.organ_actors.values()]
        for m in mappers:
            m.RemoveAllClippingPlanes()
        if self._clip is None:
            return
        bounds = self.bounds()
        if bounds is None:
            return
        axis, frac, keep = self._clip
        ax = CLIP_AXES[axis]
        lo, hi = bounds[2 * ax], bounds[2 * ax + 1]
        origin = [0.0, 0.0, 0.0]
        origin[ax] = lo + frac * (hi - lo)
        normal = [0.0, 0.0, 0.0]
        normal[ax] = -1.0 if keep == "below" else 1.0  # VTK keeps normal . (x - origin) >= 0
        self._clip_plane.SetOrigin(*origin)
        self._clip_plane.SetNormal(*normal)
        for m in mappers:
            m.AddClippingPlane(self._clip_plane)

    def bounds(self) -> tuple[float, ...] | None:
        """RAS bounds of what is shown: the CT, else the organs/maps."""
        if self._ct_shape is not None:
            return data.world_bounds(self._ct_shape, self._ct_affine)
        for pane in self._panes:
            if pane.layer is not None:
                return data.world_bounds(np.shape(pane.layer.values), pane.layer.affine)
        return None

    def reset_camera(self, view: str = "anterior") -> None:
        """Fit everything and look from a named side (see ``VIEWS``; default radiological anterior)."""
        if view not in VIEWS:
            raise Render3DError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
        self._camera_view = view
        to_cam, up = VIEWS[view]
        b = self.bounds() or (-100.0, 100.0, -100.0, 100.0, -100.0, 100.0)
        center = np.array([(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2])
        self.camera.SetFocalPoint(*center)
        self.camera.SetPosition(*(center + 500.0 * np.asarray(to_cam)))
        self.camera.SetViewUp(*up)
        self.camera.SetViewAngle(30.0)
        self._fit_camera()

    def _fit_camera(self) -> None:
        """Keep the view direction; move the camera so the scene fills the (first) pane
        (VTK's fit takes the pane's aspect ratio into account)."""
        b = self.bounds() or (-100.0, 100.0, -100.0, 100.0, -100.0, 100.0)
        self._panes[0].renderer.ResetCamera(*b)
        self.camera.Zoom(1.15)

    # -- drawing and export --------------------------------------------------------------
    def render(self, full_quality: bool = False) -> None:
        """Draw one frame now (the only call that renders).

        Ordinary frames with a frame budget on *software* OpenGL (llvmpipe & co., found from
        the GL renderer string after the first frame) are drawn at half the ray density and
        without depth peeling: about 10x cheaper there (600 x 600 demo: 0.9 s -> 0.09 s), so
        the GUI thread is not blocked for a second per frame.  The very first frame is drawn
        that way too (the renderer is unknown until a context exists); on a hardware GPU it
        is redrawn at once at full quality.  Exports are always full quality.
        """
        budget = None if full_quality else self.frame_budget_s
        fast = budget is not None and self.software_gl is not False
        self._set_fast(fast, full_quality)
        self.window.SetDesiredUpdateRate(1.0 / budget if budget else 0.0001)
        self.window.Render()
        if self.software_gl is None:
            self.software_gl = is_software_gl(self.window)
            if fast and not self.software_gl:
                self._set_fast(False)
                self.window.Render()

    def _set_fast(self, fast: bool, full_quality: bool = False) -> None:
        for pane in self._panes:
            pane.renderer.SetUseDepthPeeling(0 if fast else 1)
            pane.renderer.SetUseDepthPeelingForVolumes(0 if fast else 1)
            if fast:  # automatic adjustment stays on: it also coarsens the ray step
                pane.ct_mapper.SetImageSampleDistance(SOFTWARE_GL_SAMPLE_DISTANCE)
            elif full_quality or pane.ct_mapper.GetImageSampleDistance() == SOFTWARE_GL_SAMPLE_DISTANCE:
                pane.ct_mapper.SetImageSampleDistance(1.0)

    def capture(self, full_quality: bool = True) -> np.ndarray:
        """Render and return the window as an (H, W, 3) uint8 RGB array (row 0 at the top)."""
        self.render(full_quality)
        grab = vtkWindowToImageFilter()
        grab.SetInput(self.window)
        grab.SetInputBufferTypeToRGB()
        grab.ReadFrontBufferOff()
        grab.ShouldRerenderOff()
        grab.Update()
        img = grab.GetOutput()
        w, h, _ = img.GetDimensions()
        arr = numpy_support.vtk_to_numpy(img.GetPointData().GetScalars()).reshape(h, w, -1)
        return np.ascontiguousarray(arr[::-1, :, :3])

    def screenshot(self, path) -> Path:
        """Write the current view as PNG."""
        from PIL import Image

        path = Path(path)
        try:
            Image.fromarray(self.capture()).save(path, format="PNG")
        except OSError as exc:
            raise Render3DError(f"could not write the 3D screenshot {path}: {exc}. Choose a writable folder.") from exc
        return path

    def turntable(self, path, n_frames: int = 36, fps: float = 12.0, axis_view_up: bool = True) -> Path:
        """Write an animated GIF of the scene rotating 360 degrees about the view-up axis.

        The camera is restored afterwards.
        """
        from PIL import Image

        path = Path(path)
        if path.suffix.lower() != ".gif":
            raise Render3DError(f"turntable export writes GIF files; {path} should end in .gif")
        n_frames = max(2, int(n_frames))
        saved = (self.camera.GetPosition(), self.camera.GetFocalPoint(), self.camera.GetViewUp())
        frames = []
        try:
            for _ in range(n_frames):
                frames.append(Image.fromarray(self.capture()))
                self.camera.Azimuth(360.0 / n_frames)
                self.camera.OrthogonalizeViewUp()
        finally:
            self.camera.SetPosition(*saved[0])
            self.camera.SetFocalPoint(*saved[1])
            self.camera.SetViewUp(*saved[2])
        try:
            frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:],
                           duration=int(round(1000.0 / fps)), loop=0)
        except OSError as exc:
            raise Render3DError(f"could not write the turntable {path}: {exc}. Choose a writable folder.") from exc
        return path

    def close(self) -> None:
        """Detach from the window (call before the window goes away)."""
        if self._observer is not None:
            self.window.RemoveObserver(self._observer)
            self._observer = None
        for pane in self._panes:
            pane.clear_maps()
            pane.renderer.RemoveAllViewProps()
            self.window.RemoveRenderer(pane.renderer)
        self.window.RemoveRenderer(self._marker_renderer)
        self._panes = []


def make_offscreen_window(size: tuple[int, int]) -> vtkRenderWindow:
    """An offscreen render window; EGL when there is no X display and nothing else was chosen."""
    if not os.environ.get("DISPLAY") and "VTK_DEFAULT_OPENGL_WINDOW" not in os.environ:
        os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkEGLRenderWindow"
    window = vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetSize(int(size[0]), int(size[1]))
    return window


class OffscreenRenderer(Scene3D):
    """A :class:`Scene3D` in its own offscreen window, for exports and tests without Qt.

    Headless machines render through EGL: if no X display is present and
    ``VTK_DEFAULT_OPENGL_WINDOW`` is unset, it is set to ``vtkEGLRenderWindow`` first.
    """

    def __init__(self, size: tuple[int, int] = (640, 640), *, max_dim: int = 160) -> None:
        super().__init__(make_offscreen_window(size), max_dim=max_dim)

    def close(self) -> None:
        super().close()
        self.window.Finalize()
