"""Argument checks of the 3D view's scene calls, made when a call is made (even when it is
applied later, e.g. while the view is hidden), so a bad call fails where it was made."""

from __future__ import annotations

from viewer.render3d.camera import VIEWS
from viewer.render3d.data import Render3DError, check_grid
from viewer.render3d.scene import CLIP_AXES
from viewer.render3d.style import PRESETS
from viewer.render3d.surfaces import as_map_layer


def check_call(name: str, args: tuple, kwargs: dict) -> None:
    """Raise Render3DError for an unknown preset, view or clip axis, or a map off its grid."""
    _check_names(name, args, kwargs)
    _check_maps(name, args, kwargs)


def _check_names(name: str, args: tuple, kwargs: dict) -> None:
    """Cheap argument checks done at call time even when the call is deferred."""
    if name == "set_preset":
        preset = args[0] if args else kwargs.get("name")
        if preset not in PRESETS:
            raise Render3DError(f"unknown 3D preset {preset!r}; choose one of {', '.join(PRESETS)}")
    elif name == "reset_camera":
        view = args[0] if args else kwargs.get("view", "anterior")
        if view not in VIEWS:
            raise Render3DError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    elif name == "set_clip":
        axis = args[0] if args else kwargs.get("axis")
        if axis is not None and axis not in CLIP_AXES:
            raise Render3DError(f"unknown clip axis {axis!r}; use one of {', '.join(CLIP_AXES)} or None")


def _check_maps(name: str, args: tuple, kwargs: dict) -> None:
    if name == "set_map":
        values = args[0] if args else kwargs.get("values")
        affine = args[1] if len(args) > 1 else kwargs.get("map_affine")
        check_grid(values, affine, "the heat map")
    elif name == "set_maps_side_by_side":
        for key, spec in zip(("left", "right"), args + tuple(kwargs[k] for k in ("left", "right") if k in kwargs)):
            layer = as_map_layer(spec)
            check_grid(layer.values, layer.affine, f"the {key} heat map")
