"""A 3D scene in its own offscreen window: exports and tests without Qt."""

from __future__ import annotations

import os

from vtkmodules.vtkRenderingCore import vtkRenderWindow

from viewer.render3d.scene import Scene3D


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
