"""The organ surfaces and heat-map panes of the 3D scene.

:class:`OrganAndMapLayers` is one part of :class:`viewer.render3d.scene.Scene3D` (its base
class), kept apart so each file holds one responsibility: the scene builds the panes, the
CT, the cursor, the clip plane and the camera; this part puts the organ surfaces and the
heat maps (one pane, or two side by side with one shared camera) into those panes.
"""

from __future__ import annotations

import numpy as np

from viewer.render3d import data
from viewer.render3d.data import Render3DError, check_grid
from viewer.render3d.pane import Pane
from viewer.render3d.style import normalise_rgb
from viewer.render3d.surfaces import MapLayer, as_map_layer, iso_surface, organ_surfaces


class OrganAndMapLayers:
    """Organ and heat-map methods of :class:`~viewer.render3d.scene.Scene3D` (uses its
    ``_panes``, ``camera``, ``max_dim``, ``_scan_affine``/``_scan_shape`` and its
    ``_attach_ct``, ``_apply_clip``, ``_update_cursor``, ``_apply_layout``, ``_fit_camera``)."""

    # -- organs --------------------------------------------------------------------------
    def set_organs(self, labelmap: np.ndarray, names: dict[int, str], colors: dict[int, tuple],
                   affine: np.ndarray | None = None) -> None:
        """Semi-transparent surfaces of each organ code in ``names``.

        ``labelmap`` is uint8 on the scan grid (``affine`` defaults to the CT's).  Each organ's
        indicator is block-averaged like the CT and contoured at 0.5 (sub-voxel, smooth), so
        a downsampled surface still follows the full-resolution boundary.
        """
        if affine is None:
            if self._scan_affine is None:
                raise Render3DError("set_organs needs the scan's affine: call set_volume first or pass affine=")
            affine = self._scan_affine
            if tuple(np.shape(labelmap)) != self._scan_shape:
                raise Render3DError(
                    f"the organ map has shape {np.shape(labelmap)} but the scan has {self._scan_shape}; "
                    "an organ map must lie on the scan grid"
                )
        polys, matrix_affine = organ_surfaces(labelmap, affine, names, self.max_dim)
        self._organ_polys = dict(polys)
        if matrix_affine is not None:
            self._organ_matrix_affine = matrix_affine
        self._organ_matrix = data.to_vtk_matrix(self._organ_matrix_affine) if self._organ_polys else None
        self.organ_names = {int(k): str(v) for k, v in names.items()}
        self._organ_colors = {int(k): normalise_rgb(colors.get(k, (0.8, 0.8, 0.8))) for k in names}
        for pane in self._panes:
            self._attach_organs(pane)

    def clear_organs(self) -> None:
        self._organ_polys = {}
        for pane in self._panes:
            self._attach_organs(pane)

    def set_organ_visible(self, code: int, visible: bool) -> None:
        self._organ_visible[int(code)] = bool(visible)
        for pane in self._panes:
            actor = pane.organ_actors.get(int(code))
            if actor is not None:
                actor.SetVisibility(bool(visible))

    def organ_visible(self, code: int) -> bool:
        return self._organ_visible.get(int(code), True)

    def set_organ_opacity(self, opacity: float) -> None:
        self.organ_opacity = float(np.clip(opacity, 0.0, 1.0))
        for pane in self._panes:
            for actor in pane.organ_actors.values():
                actor.GetProperty().SetOpacity(self.organ_opacity)

    def _attach_organs(self, pane: Pane) -> None:
        pane.show_organs(self._organ_polys, self._organ_matrix, self._organ_colors,
                         self.organ_opacity, self.organ_visible)
        self._apply_clip(pane)

    # -- heat maps -----------------------------------------------------------------------
    def set_map(self, values: np.ndarray, map_affine: np.ndarray, *, vmin: float | None = None,
                vmax: float | None = None, colormap=None, signed: bool = False,
                levels: tuple[float, ...] = (0.5, 0.75), title: str = "") -> None:
        """Show one heat map (see :class:`MapLayer`); switches to the single-pane layout."""
        self.set_single()
        self._set_pane_map(0, MapLayer(values, map_affine, vmin, vmax, colormap, signed, tuple(levels), title))

    def clear_map(self) -> None:
        for pane in self._panes:
            pane.clear_maps()

    def set_maps_side_by_side(self, left, right) -> None:
        """Two panes (e.g. HiResCAM | Grad-CAM) with one shared camera; specs as :func:`as_map_layer`."""
        left_layer, right_layer = as_map_layer(left), as_map_layer(right)
        if len(self._panes) == 1:
            self._panes.append(Pane(self.camera))
            self._attach_ct(self._panes[1])
            self._attach_organs(self._panes[1])
            self._update_cursor(self._panes[1])
            self._apply_layout()
            self._fit_camera()
        self._set_pane_map(0, left_layer)
        self._set_pane_map(1, right_layer)

    def set_single(self) -> None:
        """Back to one pane (it keeps the left map)."""
        if len(self._panes) > 1:
            for pane in self._panes[1:]:
                pane.clear_maps()
                pane.renderer.RemoveAllViewProps()
            self._panes = self._panes[:1]
            self._apply_layout()
            self._fit_camera()

    @property
    def side_by_side(self) -> bool:
        return len(self._panes) > 1

    def _set_pane_map(self, idx: int, layer: MapLayer) -> None:
        values, affine = check_grid(layer.values, layer.affine, "the heat map")
        pane = self._panes[idx]
        pane.clear_maps()
        padded, paff = data.pad_with(values, affine, 0.0)
        matrix = data.to_vtk_matrix(paff)
        for iso, rgb, alpha in layer.iso_surfaces():
            pane.add_map_surface(iso_surface(padded, iso, smooth_iterations=10), matrix, rgb, alpha)
        pane.layer = layer
        pane.title.SetInput(layer.title or "")
