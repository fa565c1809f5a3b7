"""The viewer's one evented model of what is shown (docs/architecture.md).

Qt-free on purpose: views and controls *observe* a :class:`ViewerState` through plain Python
callbacks, and tests can drive it without a display.  Every field is a :class:`Field`; setting
a field to a new value emits ``events[name](value)`` to each connected callback, setting it to
an equal value emits nothing (so observers may write back without loops).

Fields
------
scan_id, volume, result          what is loaded (``result`` is an ``ExplainResult`` or None)
cursor                           RAS mm, shape (3,), the crosshair shared by every view
window, level                    display W/L in HU
label                            index of the selected label in ``result.labels`` or None
method                           "hirescam" | "gradcam" | "difference"
layout                           "quad" (3 slices + 3D) | "single" (one large view)
single_view                      which view "single" shows: "axial" | "coronal" | "sagittal"
side_by_side                     comparison: two linked panes per view, HiResCAM | Grad-CAM
opacity, threshold               overlay opacity 0..1; threshold 0..1 of the colour range
colormap                         name of a sequential colormap (diverging is automatic)
signed                           show signed maps (True) or ReLU (False)
normalisation                    "per_map" (default: both methods visible side by side) |
                                 "joint_methods" (equal colours = equal values) |
                                 "joint_labels" | "none"
map_display                      "smooth" (trilinear between map cells) | "cells" (nearest: the
                                 model's true grid, one flat colour per cell)
show_anyway                      the user chose to see the maps of a scan the engine found
                                 unsuitable (``result.suitability["ok"]`` False); reset per scan
outlines                         draw organ outlines (2D) and organ surfaces (3D)
preset3d                         3D CT transfer function (a name of ``viewer.render3d.style.PRESETS``)
clip3d, clip3d_position          3D clip plane: None | "axial" | "coronal" | "sagittal", and its
                                 place as a fraction 0..1 of the CT's extent along that axis
clip3d_flip                      False keeps the part below the plane (smaller RAS coordinate:
                                 a coronal cut removes the anterior part), True the part above
organs3d_hidden                  organ codes whose 3D surfaces are hidden
findings                         the findings of ``result`` (``viewer.model.findings.Finding``,
                                 a tuple; empty until the model has run)
organs                           where the organ map of the scan comes from: a label-map path,
                                 or None (the engine segments the lungs and heart)
truth, show_truth                ground truth of the scan (``engine.truth.GroundTruth`` or None;
                                 reset per scan) and whether its lesion outlines are drawn
truth_stats                      per label: each method's share of positive map mass in the true
                                 lesion and its peak's distance from it (``engine.truth.readouts``)
overlay_visible, map_style       heat map on/off (key O); "filled" | "contours" (isolines at
                                 ``contour_levels``, fractions of the colour range)
tool                             what a left drag on a slice does: "pan" | "ruler" | "ellipse" |
                                 "rectangle"
show_info                        patient / series text in the view corners
model, device                    the model to run (None: the bundled one; a weights path or a
                                 loaded model) and the device (None: the best available)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.cam.registry import METHODS, title
from engine.cam.sampling import DIFFERENCE, DIFFERENCE_OF, NORMALISATIONS

# The methods, their titles and the normalisations are the engine's (engine/cam/registry.py,
# engine/cam/sampling.py); the viewer adds the difference display.
METHOD_CHOICES = (*METHODS, DIFFERENCE)
METHOD_TITLES = {**{m: title(m) for m in METHODS},
                 DIFFERENCE: " − ".join(title(m) for m in DIFFERENCE_OF)}
NORMALISATION_TITLES = {
    "per_map": "per map",
    "joint_methods": "joint across methods",
    "joint_labels": "joint across labels",
    "none": "none (logit contribution)",
}
MAP_DISPLAYS = ("smooth", "cells")
MAP_STYLES = ("filled", "contours")
TOOLS = ("pan", "ruler", "ellipse", "rectangle")
LAYOUTS = ("quad", "single")
VIEWS = ("axial", "coronal", "sagittal")
COLORMAPS = ("inferno", "magma", "viridis", "plasma", "turbo", "CET-L3")
# name -> (window, level) in HU (docs/user_guide.md); keys 1-4 in this order
WL_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (1500.0, -600.0),
    "mediastinum": (350.0, 40.0),
    "soft tissue": (400.0, 40.0),
    "bone": (2000.0, 400.0),
}


def _equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return bool(np.array_equal(a, b))
        except Exception:
            return False
    try:
        return bool(a == b)
    except Exception:
        return False


class Events:
    """Named callback lists: ``events.connect("cursor", cb)``; ``cb(new_value)`` on change."""

    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callable[[Any], None]]] = defaultdict(list)

    def connect(self, name: str, callback: Callable[[Any], None]) -> None:
        if callback not in self._callbacks[name]:
            self._callbacks[name].append(callback)

    def disconnect(self, name: str, callback: Callable[[Any], None]) -> None:
        if callback in self._callbacks[name]:
            self._callbacks[name].remove(callback)

    def emit(self, name: str, value: Any) -> None:
        for cb in list(self._callbacks[name]):
            cb(value)


class Field:
    """A state attribute that emits an event when its value changes."""

    def __init__(self, default: Any, coerce: Callable[[Any], Any] | None = None) -> None:
        self.default = default
        self.coerce = coerce
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._values.get(self.name, self.default)

    def __set__(self, obj: Any, value: Any) -> None:
        if self.coerce is not None:
            value = self.coerce(value)
        if _equal(self.__get__(obj), value):
            return
        obj._values[self.name] = value
        obj.events.emit(self.name, value)


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def coerce(v: Any) -> str:
        if v not in options:
            raise ValueError(f"{v!r} is not one of {options}")
        return str(v)

    return coerce


def _unit(v: Any) -> float:
    return float(min(1.0, max(0.0, float(v))))


def _cursor(v: Any) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64).reshape(3).copy()
    a.setflags(write=False)
    return a


CLIP_CHOICES = (None, "axial", "coronal", "sagittal")


def _clip(v: Any) -> str | None:
    if v not in CLIP_CHOICES:
        raise ValueError(f"{v!r} is not one of {CLIP_CHOICES}")
    return v


def _codes(v: Any) -> frozenset:
    return frozenset(int(c) for c in (v or ()))


def _optional_int(v: Any) -> int | None:
    return None if v is None else int(v)


class ViewerState:
    """What the viewer shows; see the module docstring for the fields."""

    scan_id = Field(None)
    volume = Field(None)
    result = Field(None)
    cursor = Field(np.zeros(3), _cursor)
    window = Field(WL_PRESETS["lung"][0], lambda v: max(1.0, float(v)))
    level = Field(WL_PRESETS["lung"][1], float)
    label = Field(None, _optional_int)
    method = Field("hirescam", _choice(METHOD_CHOICES))
    layout = Field("quad", _choice(LAYOUTS))
    single_view = Field("axial", _choice(VIEWS))
    side_by_side = Field(False, bool)
    opacity = Field(0.5, _unit)
    threshold = Field(0.2, _unit)
    colormap = Field("inferno", str)
    signed = Field(False, bool)
    normalisation = Field("per_map", _choice(NORMALISATIONS))
    map_display = Field("smooth", _choice(MAP_DISPLAYS))
    show_anyway = Field(False, bool)
    outlines = Field(True, bool)
    preset3d = Field("soft tissue chest", str)
    clip3d = Field(None, _clip)
    clip3d_position = Field(0.5, _unit)
    clip3d_flip = Field(False, bool)
    organs3d_hidden = Field(frozenset(), _codes)
    findings = Field((), tuple)
    truth = Field(None)
    show_truth = Field(True, bool)
    truth_stats = Field(None)
    overlay_visible = Field(True, bool)
    map_style = Field("filled", _choice(MAP_STYLES))
    contour_levels = Field((0.25, 0.5, 0.75), lambda v: tuple(sorted(_unit(x) for x in v)))
    tool = Field("pan", _choice(TOOLS))
    show_info = Field(True, bool)
    organs = Field(None)
    model = Field(None)
    device = Field(None)

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self.events = Events()

    # -- helpers ------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [k for k, v in vars(cls).items() if isinstance(v, Field)]

    def update(self, **values: Any) -> None:
        """Set several fields; unknown names raise ``AttributeError``."""
        names = set(self.field_names())
        for k, v in values.items():
            if k not in names:
                raise AttributeError(f"ViewerState has no field {k!r}")
            setattr(self, k, v)

    def set_scan(self, volume: Any, scan_id: str) -> None:
        """Show a new scan: clears the result, its findings and the selection, centres the cursor."""
        self.findings = ()
        self.truth_stats = None
        self.truth = None
        self.result = None
        self.label = None
        self.show_anyway = False
        self.scan_id = scan_id
        self.volume = volume
        self.cursor = volume.center_world()

    def set_result(self, result: Any, findings: Any = None) -> None:
        """Show an explanation result and, when given, its findings (the caller checked it
        belongs to ``scan_id``)."""
        if findings is not None:
            self.findings = findings
        self.label = None
        self.result = result

    def unsuitable(self) -> bool:
        """The result's scan failed the engine's suitability checks (engine.suitability)."""
        r = self.result
        return r is not None and (getattr(r, "suitability", None) or {}).get("ok") is False

    def maps_hidden(self) -> bool:
        """Heat maps stay off for an unsuitable scan until the user chooses "show anyway"."""
        return self.unsuitable() and not self.show_anyway

    def apply_preset(self, name: str) -> None:
        self.window, self.level = WL_PRESETS[name]

    def cursor_index(self) -> np.ndarray | None:
        """Cursor as integer voxel indices of the current volume (clamped), or None."""
        vol = self.volume
        if vol is None:
            return None
        ijk = np.rint(vol.index(self.cursor)).astype(int)
        return np.clip(ijk, 0, np.array(vol.shape) - 1)
