"""Frames out of a 3D scene: an RGB array, a PNG screenshot, a turntable GIF.

Each function takes a :class:`viewer.render3d.scene.Scene3D` (or anything with its
``render(full_quality)``, ``window`` and ``camera``) and renders at full quality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from vtkmodules.util import numpy_support
from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter

from viewer.render3d.data import Render3DError


def capture(scene, full_quality: bool = True) -> np.ndarray:
    """Render and return the window as an (H, W, 3) uint8 RGB array (row 0 at the top)."""
    scene.render(full_quality)
    grab = vtkWindowToImageFilter()
    grab.SetInput(scene.window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.ShouldRerenderOff()
    grab.Update()
    img = grab.GetOutput()
    w, h, _ = img.GetDimensions()
    arr = numpy_support.vtk_to_numpy(img.GetPointData().GetScalars()).reshape(h, w, -1)
    return np.ascontiguousarray(arr[::-1, :, :3])


def screenshot(scene, path) -> Path:
    """Write the current view as PNG."""
    from PIL import Image

    path = Path(path)
    try:
        Image.fromarray(scene.capture()).save(path, format="PNG")
    except OSError as exc:
        raise Render3DError(f"could not write the 3D screenshot {path}: {exc}. Choose a writable folder.") from exc
    return path


def turntable(scene, path, n_frames: int = 36, fps: float = 12.0) -> Path:
    """Write an animated GIF of the scene rotating 360 degrees about the view-up axis.

    The camera is restored afterwards.
    """
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise Render3DError(f"turntable export writes GIF files; {path} should end in .gif")
    n_frames = max(2, int(n_frames))
    camera = scene.camera
    saved = (camera.GetPosition(), camera.GetFocalPoint(), camera.GetViewUp())
    frames = []
    try:
        for _ in range(n_frames):
            frames.append(Image.fromarray(scene.capture()))
            camera.Azimuth(360.0 / n_frames)
            camera.OrthogonalizeViewUp()
    finally:
        camera.SetPosition(*saved[0])
        camera.SetFocalPoint(*saved[1])
        camera.SetViewUp(*saved[2])
    try:
        frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:],
                       duration=int(round(1000.0 / fps)), loop=0)
    except OSError as exc:
        raise Render3DError(f"could not write the turntable {path}: {exc}. Choose a writable folder.") from exc
    return path
