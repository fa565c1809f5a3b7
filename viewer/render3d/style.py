"""Looks of the 3D view: CT transfer-function presets (in HU) and heat-map colormaps.

Presets are plain data so they can be listed, tested and tuned without touching the scene.
Each preset gives colour points ``(hu, r, g, b)`` and opacity points ``(hu, alpha)`` that are
linearly interpolated by VTK, a blend mode (``"composite"`` or ``"mip"``) and whether the
volume is shaded (gradient lighting).  Opacities are per 10 mm of tissue
(``viewer.render3d.scene.OPACITY_UNIT_MM``); VTK corrects them for the actual sample distance, so
the look does not depend on how much the scan was downsampled.

Colormaps map t in [0, 1] to RGB.  Named ones are small anchor tables interpolated linearly
(``inferno`` / ``hot`` for ReLU maps, ``RdBu_r`` / ``coolwarm`` / ``bwr`` diverging for signed
and difference maps), so the 3D iso-surfaces take the same colours as the 2D overlay at the
same normalised value.  A caller that uses its own lookup table can pass it as an (N, 3) or
(N, 4) array (floats in [0, 1] or uint8) instead of a name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Preset:
    colors: tuple[tuple[float, float, float, float], ...]  # (hu, r, g, b)
    opacity: tuple[tuple[float, float], ...]  # (hu, alpha)
    blend: str = "composite"  # "composite" | "mip"
    shade: bool = True
    ambient: float = 0.25
    diffuse: float = 0.75
    specular: float = 0.15


PRESETS: dict[str, Preset] = {
    # Skin and muscle nearly clear, fat faint, heart/vessels tinted, bone solid: the chest's
    # shape with its contents visible through the wall.
    "soft tissue chest": Preset(
        colors=(
            (-1000, 0.0, 0.0, 0.0),
            (-500, 0.55, 0.35, 0.25),
            (-100, 0.85, 0.68, 0.45),
            (40, 0.80, 0.30, 0.25),
            (150, 0.92, 0.60, 0.50),
            (350, 1.00, 0.94, 0.84),
            (1500, 1.00, 1.00, 1.00),
        ),
        opacity=(
            (-1000, 0.0),
            (-400, 0.0),
            (-120, 0.004),
            (-20, 0.012),
            (60, 0.03),
            (200, 0.12),
            (400, 0.55),
            (1500, 0.85),
        ),
    ),
    # Aerated lung as a faint blue haze, the lung/vessel boundaries brighter, soft tissue of
    # the chest wall almost clear so the lungs' shape and content read from outside.
    "lung": Preset(
        colors=(
            (-1000, 0.0, 0.0, 0.0),
            (-900, 0.25, 0.45, 0.80),
            (-650, 0.65, 0.80, 1.00),
            (-400, 0.95, 0.85, 0.80),
            (100, 0.90, 0.55, 0.45),
            (400, 1.00, 0.97, 0.90),
        ),
        opacity=(
            (-1000, 0.0),
            (-960, 0.0),
            (-880, 0.01),
            (-700, 0.03),
            (-550, 0.12),
            (-350, 0.02),
            (-200, 0.0),
            (200, 0.0),
            (500, 0.15),
            (1500, 0.3),
        ),
        specular=0.3,
    ),
    "bone": Preset(
        colors=(
            (-1000, 0.0, 0.0, 0.0),
            (150, 0.75, 0.60, 0.45),
            (400, 0.97, 0.92, 0.82),
            (1500, 1.0, 1.0, 1.0),
        ),
        opacity=((-1000, 0.0), (160, 0.0), (300, 0.35), (600, 0.85), (1500, 0.95)),
        specular=0.3,
    ),
    # Maximum intensity projection: greyscale, window -1000..1500 HU.
    "MIP": Preset(
        colors=((-1000, 0.0, 0.0, 0.0), (-200, 0.15, 0.15, 0.15), (1500, 1.0, 1.0, 1.0)),
        opacity=((-1000, 0.0), (-900, 0.45), (1500, 0.75)),
        blend="mip",
        shade=False,
    ),
}

DEFAULT_PRESET = "soft tissue chest"

# t -> RGB anchor tables.
_COLORMAPS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "hot": (
        (0.0, 0.04, 0.0, 0.0),
        (0.365, 1.0, 0.0, 0.0),
        (0.746, 1.0, 1.0, 0.0),
        (1.0, 1.0, 1.0, 1.0),
    ),
    "inferno": (
        (0.0, 0.001, 0.000, 0.014),
        (0.125, 0.122, 0.047, 0.282),
        (0.25, 0.258, 0.039, 0.406),
        (0.375, 0.416, 0.090, 0.433),
        (0.5, 0.578, 0.148, 0.404),
        (0.625, 0.736, 0.216, 0.330),
        (0.75, 0.865, 0.317, 0.226),
        (0.875, 0.978, 0.557, 0.035),
        (1.0, 0.988, 0.998, 0.645),
    ),
    "RdBu_r": (
        (0.0, 0.020, 0.188, 0.380),
        (0.25, 0.263, 0.576, 0.765),
        (0.5, 0.969, 0.969, 0.969),
        (0.75, 0.839, 0.376, 0.302),
        (1.0, 0.404, 0.000, 0.122),
    ),
    "coolwarm": (
        (0.0, 0.230, 0.299, 0.754),
        (0.5, 0.865, 0.865, 0.865),
        (1.0, 0.706, 0.016, 0.150),
    ),
    "bwr": ((0.0, 0.0, 0.0, 1.0), (0.5, 1.0, 1.0, 1.0), (1.0, 1.0, 0.0, 0.0)),
}
COLORMAPS: tuple[str, ...] = tuple(_COLORMAPS)
DEFAULT_RELU_COLORMAP = "inferno"
DEFAULT_SIGNED_COLORMAP = "RdBu_r"


def colormap_table(colormap, n: int = 256) -> np.ndarray:
    """(n, 3) float RGB table for a colormap name or a caller's (N, 3|4) lookup table."""
    if isinstance(colormap, str):
        key = colormap if colormap in _COLORMAPS else colormap.lower()
        if key not in _COLORMAPS:
            raise ValueError(f"unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}")
        anchors = np.asarray(_COLORMAPS[key], dtype=np.float64)
    else:
        lut = np.asarray(colormap)
        if lut.ndim != 2 or lut.shape[1] not in (3, 4) or lut.shape[0] < 2:
            raise ValueError(f"a colormap table must have shape (N, 3) or (N, 4), got {lut.shape}")
        rgb = lut[:, :3].astype(np.float64)
        if lut.dtype == np.uint8 or rgb.max() > 1.0:
            rgb = rgb / 255.0
        anchors = np.column_stack([np.linspace(0.0, 1.0, len(rgb)), rgb])
    t = np.linspace(0.0, 1.0, n)
    return np.column_stack([np.interp(t, anchors[:, 0], anchors[:, c]) for c in (1, 2, 3)])


def colormap_rgb(colormap, t: float) -> tuple[float, float, float]:
    """Colour of normalised value ``t`` (clipped to [0, 1])."""
    table = colormap_table(colormap, 1024)
    idx = int(round(float(np.clip(t, 0.0, 1.0)) * (len(table) - 1)))
    r, g, b = table[idx]
    return (float(r), float(g), float(b))


def normalise_rgb(color) -> tuple[float, float, float]:
    """Accept (r, g, b) as floats in [0, 1] or ints in [0, 255] (alpha ignored)."""
    c = np.asarray(color, dtype=np.float64).ravel()[:3]
    if c.max(initial=0.0) > 1.0:
        c = c / 255.0
    return (float(c[0]), float(c[1]), float(c[2]))
