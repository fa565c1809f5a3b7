"""What the slice views draw on top of the CT: heat-map colours and organ outlines.

The numbers come from the engine (``engine.cam.sampling``: trilinear sampling of the raw
model-grid maps at world points, ReLU/signed and the normalisation modes); this module only
turns them into RGBA pixels and keeps a small cache so scrolling back and forth is cheap.

Colour mapping: with a display range ``[vmin, vmax]`` a value ``v`` gets the colour
``lut[(v - vmin) / (vmax - vmin)]``.  It is transparent when ``|v| < threshold * max(|vmin|,
|vmax|)`` (signed/diverging display) or ``(v - vmin) / (vmax - vmin) < threshold`` (ReLU).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from viewer.model import geometry, sampling_adapter
from viewer.model.colormaps import DIVERGING_CMAP, lookup_table
from viewer.model.state import ViewerState

# one colour per organ code (RGB), cycled
ORGAN_COLOURS = [(80, 200, 255), (255, 90, 90), (120, 255, 120), (255, 210, 60), (220, 120, 255),
                 (255, 150, 40)]


def organ_colour(code: int) -> tuple[int, int, int]:
    return ORGAN_COLOURS[(int(code) - 1) % len(ORGAN_COLOURS)]


def colourise(values: np.ndarray, vmin: float, vmax: float, cmap: str, opacity: float,
              threshold: float, diverging: bool) -> np.ndarray:
    """Values (2D) -> RGBA uint8 with the transparency rule of the module docstring."""
    lut = lookup_table(DIVERGING_CMAP if diverging else cmap)
    span = vmax - vmin if vmax > vmin else 1.0
    t = np.clip((values - vmin) / span, 0.0, 1.0)
    rgba = np.empty(values.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = lut[(t * 255).astype(np.uint8)]
    if diverging:
        m = max(abs(vmin), abs(vmax)) or 1.0
        visible = np.abs(values) >= max(threshold * m, 1e-12)
    else:
        visible = (t >= threshold) & (values > vmin)
    rgba[..., 3] = np.where(visible, np.uint8(round(255 * opacity)), np.uint8(0))
    return rgba


def outline_mask(codes2d: np.ndarray) -> np.ndarray:
    """Boundary pixels of every labelled region: a non-zero pixel whose 4-neighbour differs."""
    c = codes2d
    edge = np.zeros(c.shape, dtype=bool)
    edge[1:, :] |= c[1:, :] != c[:-1, :]
    edge[:-1, :] |= c[:-1, :] != c[1:, :]
    edge[:, 1:] |= c[:, 1:] != c[:, :-1]
    edge[:, :-1] |= c[:, :-1] != c[:, 1:]
    return edge & (c > 0)


class OverlayModel:
    """Heat-map and outline pixels for the slice views of one :class:`ViewerState`."""

    def __init__(self, state: ViewerState, cache_size: int = 48) -> None:
        self.state = state
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = cache_size
        for name in ("result", "volume", "label", "signed", "normalisation", "map_display"):
            state.events.connect(name, self._clear)

    def _clear(self, _v=None) -> None:
        self._cache.clear()

    def has_map(self) -> bool:
        s = self.state
        return (s.result is not None and s.label is not None and s.volume is not None
                and not s.maps_hidden())

    def has_positive(self, method: str) -> bool:
        """Whether the displayed map of ``method`` can show anything: always for signed and
        difference displays; for ReLU only when the raw map has a positive value."""
        if not self.has_map():
            return False
        if self.diverging(method):
            return True
        return bool(np.any(self.state.result.maps[method][self.state.label] > 0))

    def joint_ratio(self, method: str) -> float | None:
        """Under a joint normalisation in the comparison, the peak of ``method``'s displayed
        map over the other method's (None when not comparing jointly or nothing to compare)."""
        s = self.state
        if (not s.side_by_side or s.normalisation == "per_map" or method not in ("hirescam", "gradcam")
                or not self.has_map()):
            return None
        other = "gradcam" if method == "hirescam" else "hirescam"

        def peak(m: str) -> float:
            raw = s.result.maps[m][s.label]
            return float(np.max(np.abs(raw))) if s.signed else max(float(np.max(raw)), 0.0)

        p_other = peak(other)
        return None if p_other <= 0 else peak(method) / p_other

    def joint_notice(self, method: str) -> str | None:
        """What a comparison pane says when joint scaling leaves it (nearly) empty: its
        method's values are below the display threshold's fraction of the other's."""
        from viewer.model.state import METHOD_TITLES

        ratio = self.joint_ratio(method)
        visible = max(self.state.threshold, 0.05)
        if ratio is None or ratio >= visible:
            return None
        other = "gradcam" if method == "hirescam" else "hirescam"
        pct = f"{100 * ratio:.1f}%" if ratio < 0.1 else f"{100 * ratio:.0f}%"
        return (f"{METHOD_TITLES[method]} peaks at {pct} of {METHOD_TITLES[other]} under joint "
                f"scaling, below the {100 * visible:.0f}% display threshold: little or nothing is "
                "drawn. Normalise per map to see its shape.")

    def diverging(self, method: str) -> bool:
        return method == "difference" or self.state.signed

    # -- numbers (engine) ---------------------------------------------------------------
    def slice_values(self, view: str, index: int, method: str):
        """(values (nh, nv) float32, vmin, vmax, units) on one slice, or None."""
        if not self.has_map():
            return None
        s = self.state
        key = (view, int(index), method, s.label, s.signed, s.normalisation, s.map_display)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        out = sampling_adapter.sample_slice(s.result, method, s.label, s.volume,
                                            geometry.VIEW_AXES[view][0], index, signed=s.signed,
                                            normalisation=s.normalisation,
                                            nearest=s.map_display == "cells")
        self._cache[key] = out
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return out

    def colour_range(self, method: str):
        """(vmin, vmax, units) of the current display of ``method``, or None."""
        if not self.has_map():
            return None
        s = self.state
        return sampling_adapter.display_range(s.result, method, s.label, signed=s.signed,
                                              normalisation=s.normalisation)

    def slice_rgba(self, view: str, index: int, method: str) -> np.ndarray | None:
        """Filled overlay pixels; None when the overlay is off or drawn as contours."""
        if not self.state.overlay_visible or self.state.map_style != "filled":
            return None
        got = self.slice_values(view, index, method)
        if got is None:
            return None
        values, vmin, vmax, _units = got
        s = self.state
        return colourise(values, vmin, vmax, s.colormap, s.opacity, s.threshold,
                         self.diverging(method))

    def values_at(self, ras: np.ndarray) -> dict[str, float]:
        """Displayed value of each method at one world point."""
        got = self.values_at_points(np.asarray(ras, dtype=np.float64).reshape(1, 3))
        return {k: (v if k == "units" else float(v[0])) for k, v in got.items()}

    def values_at_points(self, pts: np.ndarray) -> dict:
        """Displayed values of each method at world points (N, 3): {method: (N,), "units": str}."""
        if not self.has_map():
            return {}
        s = self.state
        out: dict = {}
        for m in ("hirescam", "gradcam"):
            v, _, _, units = sampling_adapter.sample(s.result, m, s.label, np.asarray(pts, np.float64),
                                                     signed=s.signed, normalisation=s.normalisation)
            out[m] = np.asarray(v, np.float64).reshape(-1)
        out["units"] = units
        return out

    # -- organs -------------------------------------------------------------------------
    def organ_names(self) -> dict[int, str]:
        res = self.state.result
        if res is None:
            return {}
        codes = res.card.get("organ_codes") or {lab.organ: lab.organ_code for lab in res.labels}
        return {int(c): str(n) for n, c in codes.items()}

    def organ_at(self, ijk: np.ndarray) -> str:
        res = self.state.result
        if res is None or res.organ_map is None:
            return ""
        i, j, k = (int(v) for v in ijk)
        code = int(res.organ_map[i, j, k])
        return self.organ_names().get(code, "") if code else "outside organs"

    def outline_rgba(self, view: str, index: int) -> np.ndarray | None:
        res = self.state.result
        if res is None or res.organ_map is None:
            return None
        codes = geometry.slice_plane(res.organ_map, view, index)
        edge = outline_mask(codes)
        if not edge.any():
            return None
        rgba = np.zeros(codes.shape + (4,), dtype=np.uint8)
        for code in np.unique(codes[edge]):
            sel = edge & (codes == code)
            rgba[sel, :3] = organ_colour(code)
            rgba[sel, 3] = 230
        return rgba
