"""One viewport of the 3D scene (its renderer and the props drawn in it), the orientation
cube in the corner, and the software-OpenGL check."""

from __future__ import annotations

import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (OpenGL factory overrides)
import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: F401  (GPU volume mapper overrides)
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkCamera,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkRenderWindow,
    vtkTextActor,
    vtkVolume,
)
from vtkmodules.vtkRenderingVolume import vtkGPUVolumeRayCastMapper

from viewer.render3d.surfaces import MapLayer

BACKGROUND = (0.04, 0.04, 0.06)
SOFTWARE_GL_SAMPLE_DISTANCE = 2.0  # pixels per ray on software OpenGL (ordinary frames)
_SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "swiftshader", "software rasterizer")


def is_software_gl(window: vtkRenderWindow) -> bool:
    """True when the window's OpenGL renderer is a CPU rasteriser (Mesa llvmpipe etc.)."""
    caps = (window.ReportCapabilities() or "").lower()
    return any(name in caps for name in _SOFTWARE_GL)


class Pane:
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

    def show_organs(self, polys: dict, matrix, colors: dict, opacity: float, visible) -> None:
        """Replace the organ surfaces: one translucent actor per code (``visible(code)``)."""
        for actor in self.organ_actors.values():
            self.renderer.RemoveActor(actor)
        self.organ_actors = {}
        for code, poly in polys.items():
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(poly)
            mapper.ScalarVisibilityOff()
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.SetUserMatrix(matrix)
            prop = actor.GetProperty()
            prop.SetColor(*colors[code])
            prop.SetOpacity(opacity)
            prop.SetSpecular(0.2)
            prop.BackfaceCullingOff()
            actor.SetVisibility(visible(code))
            self.renderer.AddActor(actor)
            self.organ_actors[code] = actor

    def add_map_surface(self, poly, matrix, rgb, alpha: float) -> None:
        """Add one iso-surface of a heat map (placed by ``matrix``, coloured ``rgb``)."""
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
        self.renderer.AddActor(actor)
        self.map_actors.append(actor)

    def clear_maps(self) -> None:
        for a in self.map_actors:
            self.renderer.RemoveActor(a)
        self.map_actors = []
        self.layer = None
        self.title.SetInput("")


def orientation_marker() -> tuple[vtkRenderer, vtkCamera]:
    """The corner renderer with the annotated orientation cube (R/L/A/P/S/I in RAS) and
    its camera (the scene points it like the shared camera before every frame)."""
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
