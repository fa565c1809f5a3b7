"""Qt-free 3D scene of the chest: CT volume, organ surfaces, heat-map iso-surfaces, cursor.

:class:`Scene3D` owns everything drawn in the 3D view and is given a ``vtkRenderWindow`` to
draw into: the Qt widget (``viewer.render3d.widget.Render3DView``) passes its
``QVTKRenderWindowInteractor`` window, :class:`viewer.render3d.offscreen.OffscreenRenderer` an offscreen (EGL) one.
So the scene logic lives here once and is tested headless.

World frame: patient RAS+ mm.  Every grid (downsampled CT, organ fractions, heat map) is a
unit-spacing ``vtkImageData`` placed by a user matrix equal to its exact voxel -> RAS affine
(see ``viewer.render3d.data``), so maps on the coarse model grid and the CT line up exactly.

Layout: one pane, or two side-by-side panes (left/right viewport halves) sharing ONE
``vtkCamera`` so rotating either rotates both.  A small corner renderer shows an annotated
orientation cube (R/L/A/P/S/I in RAS) whose camera follows the shared camera.

Nothing renders by itself: :meth:`Scene3D.render` is the only call that draws (plus any
interactor the caller attaches).
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkPiecewiseFunction, vtkPlane, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkCamera,
    vtkColorTransferFunction,
    vtkRenderWindow,
    vtkVolumeProperty,
)

from viewer.render3d import data, frames
from viewer.render3d.camera import VIEWS, direction_letters
from viewer.render3d.data import Render3DError, check_grid
from viewer.render3d.layers import OrganAndMapLayers
from viewer.render3d.pane import (
    SOFTWARE_GL_SAMPLE_DISTANCE,
    Pane,
    is_software_gl,
    orientation_marker,
)
from viewer.render3d.style import DEFAULT_PRESET, PRESETS
from viewer.render3d.surfaces import (
    cursor_polydata,
)

# Preset opacities are per this many mm of tissue, whatever the (downsampled) voxel size.
OPACITY_UNIT_MM = 10.0
CLIP_AXES = {"x": 0, "y": 1, "z": 2, "sagittal": 0, "coronal": 1, "axial": 2}


class Scene3D(OrganAndMapLayers):
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
        self._panes: list[Pane] = [Pane(self.camera)]
        self._marker_renderer, self._marker_camera = orientation_marker()
        self._camera_view: str | None = None
        # Depth peeling (translucent surfaces inside the volume) needs alpha, no multisampling.
        self.window.SetAlphaBitPlanes(1)
        self.window.SetMultiSamples(0)
        self.window.SetNumberOfLayers(2)
        self._apply_layout()
        self._apply_preset()
        self._observer = self._add_start_observer()

    # -- construction helpers ------------------------------------------------------------
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

    def _attach_ct(self, pane: Pane) -> None:
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

    def _apply_blend(self, pane: Pane) -> None:
        if PRESETS[self.preset].blend == "mip":
            pane.ct_mapper.SetBlendModeToMaximumIntensity()
        else:
            pane.ct_mapper.SetBlendModeToComposite()

    # -- cursor, clipping, camera --------------------------------------------------------
    def set_cursor(self, ras_xyz) -> None:
        """Small three-axis cursor (R red, A green, S blue) at a RAS mm point; None hides it."""
        self._cursor = None if ras_xyz is None else np.asarray(ras_xyz, dtype=np.float64).reshape(3)
        for pane in self._panes:
            self._update_cursor(pane)

    def _update_cursor(self, pane: Pane) -> None:
        if self._cursor is None:
            pane.cursor_actor.VisibilityOff()
            return
        b = self.bounds()
        half = self.cursor_half_mm
        if b is not None:  # small scans get a proportionally small cursor
            half = float(np.clip(0.08 * max(b[1] - b[0], b[3] - b[2], b[5] - b[4]), 3.0, half))
        pane.cursor_actor.GetMapper().SetInputData(cursor_polydata(self._cursor, half))
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

    def _apply_clip(self, pane: Pane) -> None:
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
        return frames.capture(self, full_quality)

    def screenshot(self, path) -> Path:
        """Write the current view as PNG."""
        return frames.screenshot(self, path)

    def turntable(self, path, n_frames: int = 36, fps: float = 12.0) -> Path:
        """Write an animated GIF of the scene rotating 360 degrees about the view-up axis
        (the camera is restored afterwards)."""
        return frames.turntable(self, path, n_frames, fps)

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
