"""Keeps the 3D view (``viewer.render3d.widget.Render3DView``, data-driven) in step with the state.

The 3D view receives raw maps with their own affine and a display range in raw units taken
from the engine's display scale (``vmin/vmax * divisor``), so its iso-surface colours match
the 2D overlay's colour bar.
"""

from __future__ import annotations

import logging

import numpy as np

from viewer.model.overlay import DIVERGING_CMAP, OverlayModel, lookup_table, organ_colour
from viewer.model.state import METHOD_TITLES, ViewerState
from viewer.qt.workers import JobRunner

log = logging.getLogger(__name__)

TRUTH_CODE = 250  # the true lesions, drawn with the organ surfaces (never an organ code)
TRUTH_COLOUR = (255, 0, 255)  # the slice views' truth outline colour


def with_truth(organ_map: np.ndarray, truth, max_dim: int) -> np.ndarray:
    """The organ map with every present lesion of ``truth`` (on the scan grid) set to
    TRUTH_CODE, dilated by half a 3D block so a lesion smaller than one block of the 3D
    view still gets a surface; the organ map itself when there is nothing to add."""
    from scipy import ndimage

    from engine.truth import mask_box
    from viewer.render3d.data import block_factors

    masks = [m for name, m in truth.masks.items()
             if truth.present.get(name) and np.shape(m) == np.shape(organ_map)]
    if not masks:
        return organ_map
    union = np.logical_or.reduce(masks)
    out = np.array(organ_map, dtype=np.uint8, copy=True)
    grow = max(block_factors(organ_map.shape, max_dim)) // 2
    if not grow:
        out[union] = TRUTH_CODE
        return out
    # Dilate only the lesions' bounding box plus ``grow`` voxels (the furthest the cross-shaped
    # dilation reaches): the same result, but scipy's dilation holds the GIL, and on the whole
    # scan grid (7 M voxels for the demo) it stalled the GUI thread ~100 ms after each result.
    box = mask_box(union, pad=grow)
    if box is None:  # present lesions with empty masks: nothing to add
        return out
    grown = ndimage.binary_dilation(union[box], iterations=grow)
    out[box][grown] = TRUTH_CODE
    return out


def iso_levels(threshold: float) -> tuple[float, float]:
    """Iso-surface levels (fractions of the colour range) for the 2D overlay's threshold ``t``:
    an outer translucent surface where the 2D overlay starts (``t``) and an inner one half way
    to the maximum, so the 3D view shows the region the slices colour (fixed levels of 0.5
    and 0.75 showed only a voxel or two of a broad map on the coarse model grid)."""
    t = float(min(0.9, max(0.05, threshold)))
    return t, t + (1.0 - t) / 2.0


class View3DLink:
    def __init__(self, state: ViewerState, overlay: OverlayModel, view,
                 runner: JobRunner | None = None) -> None:
        self.state, self.overlay, self.view = state, overlay, view
        # background work (organ surfaces) goes through the viewer's job runner, which drops
        # results of superseded requests and of other scans
        self.runner = runner if runner is not None else JobRunner(lambda: state.scan_id)
        ev = state.events
        ev.connect("volume", self._on_volume)
        ev.connect("result", self._on_result)
        ev.connect("truth", self._on_truth)
        ev.connect("show_truth", self._on_truth)
        ev.connect("cursor", self._on_cursor)
        ev.connect("outlines", self._on_outlines)
        ev.connect("organs3d_hidden", self._on_outlines)
        ev.connect("preset3d", self._on_preset)
        for name in ("clip3d", "clip3d_position", "clip3d_flip"):
            ev.connect(name, self._on_clip)
        self._on_preset(state.preset3d)
        self._on_clip(None)
        for name in ("label", "method", "side_by_side", "signed", "normalisation", "colormap", "threshold",
                     "show_anyway"):
            ev.connect(name, self._on_map)
        if state.volume is not None:
            self._on_volume(state.volume)
            self._on_result(state.result)

    def _guard(fn):  # noqa: N805 - decorator inside the class body
        def wrapped(self, *a):
            try:
                fn(self, *a)
            except Exception:  # the 3D view must never take the 2D viewer down
                log.exception("3D view update failed")

        return wrapped

    @_guard
    def _on_volume(self, vol) -> None:
        # the old scan's map and surfaces go first, so nothing of it outlives a failing or
        # slow set_volume
        self.view.clear_map()
        self.view.clear_organs()
        if vol is None:
            self.view.clear_volume()
            self.view.render()
            return
        self.view.set_volume(vol)
        self.view.set_cursor(self.state.cursor)
        self.view.render()

    @_guard
    def _on_result(self, result) -> None:
        self.view.clear_organs()
        if result is not None and result.organ_map is not None and self.state.volume is not None:
            # Organ surfaces (flying edges + smoothing, ~0.15 s for the demo) are extracted in
            # a worker (VTK's filters release the GIL) and cached; set_organs then only
            # attaches them on the GUI thread.
            from viewer.render3d.surfaces import organ_surfaces

            organ_map, affine = result.organ_map, self.state.volume.affine
            names, max_dim = self._surface_names(), self.view.max_dim
            truth = self.state.truth if self.state.show_truth else None

            def work():
                labelmap = organ_map if truth is None else with_truth(organ_map, truth, max_dim)
                try:
                    organ_surfaces(labelmap, affine, names, max_dim)
                except Exception:  # noqa: BLE001 - set_organs on the GUI thread reports it
                    log.exception("organ surfaces failed")
                return labelmap

            self.runner.submit("organs3d", work, lambda lm: self._on_surfaces_ready(result, lm),
                               scan_id=self.state.scan_id, description="3D organ surfaces")
        self._on_map(None)

    def _surface_names(self) -> dict[int, str]:
        return {**self.overlay.organ_names(), TRUTH_CODE: "true lesion"}

    @_guard
    def _on_truth(self, _v=None) -> None:
        if self.state.result is not None:
            self._on_result(self.state.result)  # surfaces again, with or without the lesions

    @_guard
    def _on_surfaces_ready(self, result, labelmap=None) -> None:
        if result is not self.state.result:
            return  # a newer result arrived meanwhile
        names = self._surface_names()
        colours = {c: (TRUTH_COLOUR if c == TRUTH_CODE else organ_colour(c)) for c in names}
        self.view.set_organs(result.organ_map if labelmap is None else labelmap, names, colours)
        self._on_outlines(self.state.outlines)

    @_guard
    def _on_cursor(self, cursor) -> None:
        self.view.set_cursor(cursor)

    @_guard
    def _on_outlines(self, _v=None) -> None:
        s = self.state
        for code in self.overlay.organ_names():
            self.view.set_organ_visible(code, bool(s.outlines) and code not in s.organs3d_hidden)
        self.view.set_organ_visible(TRUTH_CODE, bool(s.show_truth))
        self.view.render()

    @_guard
    def _on_preset(self, name) -> None:
        self.view.set_preset(name)
        self.view.render()

    @_guard
    def _on_clip(self, _v=None) -> None:
        s = self.state
        self.view.set_clip(s.clip3d, s.clip3d_position, "above" if s.clip3d_flip else "below")
        self.view.render()

    def reset_camera(self) -> None:
        """Anterior view (radiological: the patient's left on the screen's right), fitted."""
        self.view.reset_camera("anterior")
        self.view.render()

    def _layer(self, method: str) -> dict:
        from viewer.model import sampling_adapter

        s, r = self.state, self.state.result
        values = sampling_adapter.raw_map(r, method, s.label)
        vmin, vmax, divisor = sampling_adapter.raw_range(r, method, s.label, signed=s.signed,
                                                         normalisation=s.normalisation)
        signed = s.signed or method == "difference"
        return {"values": np.asarray(values, np.float32), "affine": r.map_affine, "vmin": vmin,
                "vmax": vmax, "signed": signed, "levels": iso_levels(s.threshold),
                "colormap": lookup_table(DIVERGING_CMAP if signed else s.colormap),
                "title": METHOD_TITLES[method]}

    @_guard
    def _on_map(self, _v) -> None:
        s = self.state
        if not self.overlay.has_map():
            self.view.clear_map()
        elif s.side_by_side:
            self.view.set_maps_side_by_side(self._layer("hirescam"), self._layer("gradcam"))
        else:
            layer = self._layer(s.method)
            values, affine = layer.pop("values"), layer.pop("affine")
            self.view.set_map(values, affine, **layer)
        self.view.render()
