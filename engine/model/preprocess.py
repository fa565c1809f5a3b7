"""Bring a CTVolume in any geometry onto the fixed model grid (docs/model.md).

Model grid
----------
Shape (X, Y, Z) and spacing (sx, sy, sz) come from the card.  Its axes follow the volume's
own (canonical, RAS-ordered) direction cosines, so for an axis-aligned scan the model grid
is axis-aligned in RAS.  It is centred on the centre of the body's bounding box in-plane and
on the volume centre along k (``centre: "body"``), or on the volume centre (``"volume"``)::

    model_affine = [[R diag(s), o], [0, 1]],   o = c - R diag(s) (shape - 1) / 2

``model_affine`` maps a model voxel index (i, j, k) to RAS mm; it is returned with the tensor
so that heat maps go back to patient space exactly.

Resampling
----------
If the scan is much finer than the model grid, it is first block-averaged by the integer
factor floor(model spacing / scan spacing) per axis (anti-aliasing; done in slabs so memory
stays small, block centres are tracked in the affine), then sampled trilinearly
(``scipy.ndimage.map_coordinates``, order 1) at the model voxel centres.  Points outside
the scan read ``outside_hu`` (air).  Intensities: clip to the HU window [lo, hi], scale to
[0, 1], subtract the card's constant ``mean``.

Input channels
--------------
A card with ``channels`` gives the model several values per model voxel, each computed from
the scan's own voxels in the block *before* the block is averaged away, so that evidence
smaller than a model voxel survives (a 5 mm calcification is +700 HU in a 1.4 mm scan but
about -300 HU once averaged into a 4 x 4 x 7.5 mm voxel; scattered emphysema likewise)::

    {"stat": "mean"}                     block mean HU, windowed as above
    {"stat": "max"}                      block maximum HU, windowed as above
    {"stat": "fraction", "hu": [lo, hi]} share of the block's voxels with lo <= HU < hi

Each channel is then sampled trilinearly like the mean and centred by its own entry of the
card's ``mean`` (a list, one value per channel).  A card with ``"interpolation":
"footprint"`` instead takes each statistic over exactly the scan voxels inside each model
voxel, with no interpolation (``engine/model/footprint.py``; trilinear sampling would average
a one-block spot with its neighbours), falling back to the path above for a scan coarser
than the model grid.  The model input is (1, C, X, Y, Z).
Without ``channels`` the input is the mean alone, (1, X, Y, Z).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import ndimage

from engine.model.errors import PreprocessError
from engine.model.evidence import FROM_SCAN, evidence_channels, has_evidence, is_evidence
from engine.model.fine_evidence import fine_evidence
from engine.model.footprint import footprint_applies, footprint_stats
from engine.volume import CTVolume

BODY_HU = -500.0


def _unit_directions(affine: np.ndarray) -> np.ndarray:
    rot = np.asarray(affine, dtype=np.float64)[:3, :3]
    return rot / np.linalg.norm(rot, axis=0, keepdims=True)


def body_centre(volume: CTVolume) -> np.ndarray:
    """RAS centre used to place the model grid: body bounding box in-plane, volume centre in k.

    The body is every voxel above -500 HU on a coarse subsample (about 64 samples per axis).
    Falls back to the volume centre when nothing is above the threshold.
    """
    hu = volume.hu
    step = [max(1, s // 64) for s in hu.shape]
    sub = hu[:: step[0], :: step[1], :: step[2]] > BODY_HU
    centre_idx = (np.array(hu.shape, dtype=np.float64) - 1) / 2
    if sub.any():
        for ax in (0, 1):
            other = tuple(a for a in range(3) if a != ax)
            prof = np.flatnonzero(sub.any(axis=other))
            centre_idx[ax] = (prof[0] + prof[-1]) / 2 * step[ax]
    return volume.world(centre_idx)


def model_grid_affine(volume: CTVolume, prep: dict[str, Any]) -> np.ndarray:
    """4x4 affine of the model grid (model voxel index -> RAS mm) for this volume."""
    shape = np.asarray(prep["shape"], dtype=np.float64)
    spacing = np.asarray(prep["spacing_mm"], dtype=np.float64)
    if prep.get("centre", "body") == "body":
        c = body_centre(volume)
    else:
        c = volume.center_world()
    rot = _unit_directions(volume.affine) * spacing[None, :]
    aff = np.eye(4)
    aff[:3, :3] = rot
    aff[:3, 3] = c - rot @ ((shape - 1) / 2)
    return aff


def block_average(hu: np.ndarray, affine: np.ndarray, factors: tuple[int, int, int],
                  slab: int | None = None, slab_bytes: int = 32 << 20
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Mean over blocks of ``factors`` voxels (float32), with the affine of block centres.

    Trailing voxels that do not fill a block are dropped.  Works slab by slab along k
    (``slab`` output slices at a time; by default as many as fit ``slab_bytes`` of float32
    input) so peak memory stays near the output size.
    """
    if slab is not None:
        slab_bytes = slab * (hu.shape[0] // factors[0] * factors[0]) * (
            hu.shape[1] // factors[1] * factors[1]) * factors[2] * 4
    out, aff = block_stats(hu, affine, factors, [{"stat": "mean"}], slab_bytes)
    return out[0], aff


def sample_on_grid(data: np.ndarray, data_affine: np.ndarray, grid_affine: np.ndarray,
                   shape: tuple[int, ...], order: int = 1, cval: float = 0.0,
                   output: Any = np.float32) -> np.ndarray:
    """Sample ``data`` (on ``data_affine``) at the voxel centres of another grid.

    ``order`` 1 = trilinear (intensities), 0 = nearest (label maps).  Vectorised: one
    ``map_coordinates`` call over all grid points.
    """
    t = np.linalg.inv(np.asarray(data_affine, dtype=np.float64)) @ grid_affine
    idx = np.indices(shape, dtype=np.float32).reshape(3, -1)
    coords = (t[:3, :3].astype(np.float32) @ idx) + t[:3, 3:4].astype(np.float32)
    out = ndimage.map_coordinates(data, coords, order=order, mode="constant", cval=cval,
                                  output=output, prefilter=False)
    return out.reshape(shape)


def _channel_stat(chunk: np.ndarray, shape6: tuple[int, ...], ch: dict[str, Any]) -> np.ndarray:
    """One channel statistic of a (ni*fi, nj*fj, k*fk) float32 chunk over its blocks."""
    blocks = chunk.reshape(shape6)
    stat = ch["stat"]
    if stat == "mean":
        return blocks.mean(axis=(1, 3, 5))
    if stat == "max":
        return blocks.max(axis=(1, 3, 5))
    lo, hi = (float(v) for v in ch["hu"])
    return ((blocks >= lo) & (blocks < hi)).mean(axis=(1, 3, 5), dtype=np.float32)


def block_stats(hu: np.ndarray, affine: np.ndarray, factors: tuple[int, int, int],
                channels: list[dict[str, Any]], slab_bytes: int = 32 << 20
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per-block statistics (C, ni, nj, nk) float32 (see the module docstring) and the
    affine of block centres.  Trailing voxels that do not fill a block are dropped; works
    slab by slab along k (as many output slices at a time as fit ``slab_bytes`` of float32
    input) so peak memory stays near the output size."""
    fi, fj, fk = factors
    ni, nj, nk = (s // f for s, f in zip(hu.shape, factors))
    if min(ni, nj, nk) < 1:
        raise PreprocessError(
            f"the scan ({' x '.join(map(str, hu.shape))} voxels) is smaller than one model voxel "
            f"({' x '.join(map(str, factors))} of its voxels) along an axis; open a scan that "
            "covers the chest")
    slab = max(1, slab_bytes // (ni * fi * nj * fj * fk * 4))
    out = np.empty((len(channels), ni, nj, nk), dtype=np.float32)
    for k0 in range(0, nk, slab):
        k1 = min(nk, k0 + slab)
        chunk = hu[: ni * fi, : nj * fj, k0 * fk : k1 * fk].astype(np.float32)
        shape6 = (ni, fi, nj, fj, k1 - k0, fk)
        for c, ch in enumerate(channels):
            out[c, :, :, k0:k1] = _channel_stat(chunk, shape6, ch)
    scale = np.eye(4)
    scale[:3, :3] = np.diag(factors)
    scale[:3, 3] = (np.asarray(factors) - 1) / 2.0
    return out, np.asarray(affine, dtype=np.float64) @ scale


def block_factors(volume: CTVolume, prep: dict[str, Any]) -> tuple[int, int, int]:
    """Integer anti-aliasing factors floor(model spacing / scan spacing) per axis (>= 1)."""
    spacing = np.asarray(prep["spacing_mm"], dtype=np.float64)
    return tuple(int(max(1, np.floor(t / s + 1e-6))) for t, s in zip(spacing, volume.spacing))  # type: ignore[return-value]


def input_channels(volume: CTVolume, model_affine: np.ndarray, prep: dict[str, Any],
                   organs: np.ndarray | None = None,
                   organ_codes: dict[str, int] | None = None,
                   exact_organs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The card's channels on the model grid, (C, X, Y, Z) float32 in [0, 1], not centred.

    ``organs``: the organ map on the model grid, needed by evidence channels
    (:mod:`engine.model.evidence`) and ignored otherwise.  ``exact_organs``: the same map on
    its own grid, (labels, affine), read by the channels computed on a finer grid
    (:mod:`engine.model.fine_evidence`); without it they read ``organs``."""
    channels = prep["channels"]
    if has_evidence(channels):
        if organs is None or organ_codes is None:
            raise PreprocessError(
                "this model's input needs an organ map (its evidence channels are read inside "
                "the lungs and the heart); turn organ segmentation on or give the scan's organ map")
        base = [i for i, ch in enumerate(channels) if not is_evidence(ch)]
        out = np.zeros((len(channels), *organs.shape), dtype=np.float32)
        out[base] = input_channels(volume, model_affine, dict(prep, channels=[channels[i] for i in base]))
        spacing = tuple(float(v) for v in prep["spacing_mm"])
        evidence_channels(out, channels, organs, organ_codes,
                          tuple(float(v) for v in prep["hu_window"]), spacing)  # type: ignore[arg-type]
        fine = [i for i, ch in enumerate(channels) if is_evidence(ch) and ch["feature"] in FROM_SCAN]
        if fine:
            labels, labels_affine = exact_organs if exact_organs is not None else (organs, model_affine)
            labels = np.ascontiguousarray(labels, dtype=np.uint8)
            outside = float(prep.get("outside_hu", -1000.0))
            ev = fine_evidence(
                lambda a, s: sample_on_grid(volume.hu, volume.affine, a, s, order=1, cval=outside),
                lambda a, s: sample_on_grid(labels, labels_affine, a, s, order=0, cval=0, output=np.uint8),
                organs, organ_codes, sorted({(channels[i]["feature"], channels[i]["organ"]) for i in fine}),
                model_affine)
            for i in fine:
                out[i] = ev[channels[i]["feature"], channels[i]["organ"]]
        return out
    shape = tuple(int(s) for s in prep["shape"])
    outside = float(prep.get("outside_hu", -1000.0))
    if prep.get("interpolation") == "footprint" and footprint_applies(volume, model_affine):
        out = footprint_stats(volume, model_affine, shape, channels, outside)
        for c, ch in enumerate(channels):
            if ch["stat"] != "fraction":
                out[c] = window(out[c], prep)
        return out
    stats, aff = block_stats(volume.hu, volume.affine, block_factors(volume, prep), channels)
    out = np.empty((len(channels), *shape), dtype=np.float32)
    for c, ch in enumerate(channels):
        if ch["stat"] == "fraction":
            lo, hi = (float(v) for v in ch["hu"])
            out[c] = sample_on_grid(stats[c], aff, model_affine, shape, order=1,
                                    cval=float(lo <= outside < hi))
        else:
            out[c] = window(sample_on_grid(stats[c], aff, model_affine, shape, order=1,
                                           cval=outside), prep)
    return out


def windows_in_input_units(windows_hu: list[list[float]], prep: dict[str, Any],
                           centre: float = 0.0) -> list[list[float]]:
    """[low, high] HU pairs (``ctcam train --input-windows-hu``) in the units of the mean-HU
    channel: scaled like :func:`window` (not clipped) and centred by ``centre``."""
    lo, hi = (float(v) for v in prep["hu_window"])
    return [[round((w_lo - lo) / (hi - lo) - centre, 6), round((w_hi - lo) / (hi - lo) - centre, 6)]
            for w_lo, w_hi in windows_hu]


def window(hu: np.ndarray, prep: dict[str, Any]) -> np.ndarray:
    """Clip to the HU window and scale to [0, 1] (float32); no centring."""
    lo, hi = (float(v) for v in prep["hu_window"])
    out = np.clip(hu, lo, hi, out=np.empty_like(hu, dtype=np.float32))
    out -= lo
    out *= 1.0 / (hi - lo)
    return out


def model_input_array(volume: CTVolume, model_affine: np.ndarray, prep: dict[str, Any],
                      organs: np.ndarray | None = None,
                      organ_codes: dict[str, int] | None = None,
                      exact_organs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(C, X, Y, Z) with ``channels``, else (X, Y, Z); float32 in [0, 1], not centred.
    ``organs`` on the model grid, ``exact_organs`` (labels, affine) on their own (evidence
    channels only; :func:`input_channels`)."""
    if prep.get("channels"):
        return input_channels(volume, model_affine, prep, organs, organ_codes, exact_organs)
    return input_channels(volume, model_affine, dict(prep, channels=[{"stat": "mean"}]))[0]


def channel_means(prep: dict[str, Any], ndim: int) -> np.ndarray | float:
    """The card's centring constant(s), shaped to broadcast over a (C, X, Y, Z) input."""
    mean = prep["mean"]
    if isinstance(mean, (list, tuple)):
        return np.asarray(mean, dtype=np.float32).reshape(-1, *([1] * (ndim - 1)))
    return float(mean)


def preprocess(volume: CTVolume, card: dict[str, Any],
               organs: np.ndarray | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """CTVolume -> (model input (1, C, X, Y, Z) or (1, X, Y, Z) float32, model-grid affine).

    ``organs``: the organ label map on the scan's grid (codes of the card's ``organ_codes``),
    needed when the card has evidence channels."""
    prep = card["preprocessing"]
    if min(volume.shape) < 1:
        raise PreprocessError(f"volume {volume!r} is empty")
    model_affine = model_grid_affine(volume, prep)
    org = None
    if organs is not None and organs.shape != volume.shape:
        raise PreprocessError(f"organ map shape {organs.shape} differs from the scan's {volume.shape}")
    if organs is not None and has_evidence(prep.get("channels")):  # only such inputs read it
        org = resample_labelmap(organs, volume.affine, model_affine, tuple(int(s) for s in prep["shape"]))
    x = model_input_array(volume, model_affine, prep, org, card.get("organ_codes"),
                          None if org is None else (organs, volume.affine))
    x -= channel_means(prep, x.ndim)
    return torch.from_numpy(x)[None], model_affine


def resample_labelmap(labels: np.ndarray, labels_affine: np.ndarray, model_affine: np.ndarray,
                      shape: tuple[int, ...]) -> np.ndarray:
    """Organ label map (any grid) -> model grid, nearest neighbour, uint8 (0 outside)."""
    return sample_on_grid(np.ascontiguousarray(labels, dtype=np.uint8), labels_affine,
                          model_affine, shape, order=0, cval=0, output=np.uint8)
