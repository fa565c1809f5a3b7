"""Named camera directions of the 3D view and the anatomical letters of a direction."""

from __future__ import annotations

import numpy as np

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

_AXIS_LETTERS = (("R", "L"), ("A", "P"), ("S", "I"))


def camera_state(camera) -> dict:
    """A vtkCamera's pose as a plain, picklable dict (position, focal point, view-up, view angle)."""
    return {"position": tuple(camera.GetPosition()), "focal_point": tuple(camera.GetFocalPoint()),
            "view_up": tuple(camera.GetViewUp()), "view_angle": float(camera.GetViewAngle())}


def apply_camera_state(camera, state: dict) -> None:
    """Set a vtkCamera to a :func:`camera_state` dict."""
    camera.SetPosition(*state["position"])
    camera.SetFocalPoint(*state["focal_point"])
    camera.SetViewUp(*state["view_up"])
    camera.SetViewAngle(float(state["view_angle"]))


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
