"""Organ-gated evidence channels: small findings made visible to the first layer
(``{"stat": "evidence", "feature": F, "organ": O}`` entries of a card's ``channels``).

Why (docs/training.md, "Evidence channels"): the network did not learn the four small
findings from the HU statistics alone, although one hand rule per finding separates them
when it is read *inside the finding's organ* (200 validation phantoms, the rule's maximum
inside the organ): calcified granuloma 0.92 / 1.00, coronary calcification 1.00,
ground-glass opacity 0.96 / 0.92 — but only 0.57-0.72 anywhere in the body, because ribs,
sternum and spine are as bright as a calcification and the chest wall's edge is as grey as a
ground-glass patch.  Each evidence channel is such a rule, computed on the model grid from
the footprint statistics, times the finding's organ (dilated), so it is zero everywhere
else.  The network still decides; the rule only tells it where to look.

Each feature is a number in [0, 1] per model voxel, computed from the other channels
(``mean`` = block mean HU, ``max`` = block maximum HU, ``bright`` = share of the block's
voxels >= 200 HU; the card must hold those three)::

    ground_glass      band(mean) averaged over 5 x 5 x 3 voxels (20 x 20 x 22 mm);
                      band = 1 for -700..-350 HU, ramps of 100 HU on both sides (hazy patch)
    lung_spot         [max >= 200 HU] x ramp(dark share of the 5 x 5 x 3 neighbourhood,
                      0.5 -> 0.8)   (a calcified spot with lung around it, not a rib)
    isolated_calcium  bright x ramp(1 - neighbours' bright voxels / 1.5)   (a spot, not a bone)
    lung_blob         Hessian blobness of the mean HU (clipped to -1000..100) at 6 mm:
                      -largest eigenvalue, scaled by 1/300 HU and clipped   (a round solid
                      lesion, not a vessel: a tube has one eigenvalue near 0)
    lung_nodule       multi-scale Hessian ball-ness read on a grid finer than the model's,
                      inside the exact lung (not dilated): :mod:`engine.model.nodule_evidence`;
                      computed from the scan itself, not from the channels above
    lung_bronchogram  air enclosed by solid lung, read on the same finer grid inside the
                      exact lung: :mod:`engine.model.bronchogram_evidence`
    lung_solid_depth  distance from solid lung to the nearest voxel that is not (a mass's
                      centre lies deeper than any nodule's), same grid and lung:
                      :mod:`engine.model.solid_depth_evidence`

The organ is the map's ``organ_codes[organ]`` on the model grid, dilated by
``EVIDENCE_DILATE`` voxels per axis so a lesion on the organ's edge (a coronary calcification
on the heart's surface, which the classical segmentation leaves out) is kept.  At inference
the map is the one the pipeline uses (shipped with the scan or the classical segmentation);
in training, the phantom's true organs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

FEATURES = ("ground_glass", "lung_spot", "isolated_calcium", "lung_blob", "lung_nodule",
            "lung_bronchogram", "lung_solid_depth")
FROM_SCAN = ("lung_nodule", "lung_bronchogram", "lung_solid_depth")  # read from the scan on a finer grid (engine.model.fine_evidence)
EVIDENCE_DILATE = (2, 2, 1)  # model voxels per axis (8, 8, 7.5 mm on the bundled grid)
DARK_HU = -500.0
BLOB_SCALE_MM = 6.0
BLOB_UNIT_HU = 300.0


def _ramp(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0)


def ground_glass(mean_hu: np.ndarray) -> np.ndarray:
    band = _ramp(mean_hu, -800.0, -700.0) * _ramp(-mean_hu, 250.0, 350.0)
    return ndimage.uniform_filter(band, size=(5, 5, 3), mode="nearest")


def dark_context(mean_hu: np.ndarray) -> np.ndarray:
    return ndimage.uniform_filter((mean_hu < DARK_HU).astype(np.float32), size=(5, 5, 3),
                                  mode="nearest")


def lung_spot(max_hu: np.ndarray, mean_hu: np.ndarray) -> np.ndarray:
    return (max_hu >= 200.0).astype(np.float32) * _ramp(dark_context(mean_hu), 0.5, 0.8)


def isolated_calcium(bright: np.ndarray) -> np.ndarray:
    neighbours = ndimage.uniform_filter(bright, size=3, mode="nearest") * 27.0 - bright
    return bright * np.clip(1.0 - neighbours / 1.5, 0.0, 1.0)


def lung_blob(mean_hu: np.ndarray, spacing: tuple[float, float, float],
              where: np.ndarray | None = None, scale_mm: float = BLOB_SCALE_MM) -> np.ndarray:
    """Blobness per voxel at ``scale_mm``; with ``where`` (bool) only there (0 elsewhere):
    the eigenvalues are most of the cost and the channel is gated by an organ anyway."""
    v = np.clip(mean_hu, -1000.0, 100.0).astype(np.float32)
    s = float(scale_mm)
    sig = tuple(s / float(d) for d in spacing)
    sel = np.ones(v.shape, bool) if where is None else where
    h = np.empty((int(sel.sum()), 3, 3), np.float32)
    for a in range(3):
        for b in range(a, 3):
            order = [0, 0, 0]
            order[a] += 1
            order[b] += 1
            d = ndimage.gaussian_filter(v, sig, order=order, mode="nearest")
            h[:, a, b] = h[:, b, a] = d[sel] * (s * s) / (spacing[a] * spacing[b])
    out = np.zeros(v.shape, np.float32)
    out[sel] = np.clip(-np.linalg.eigvalsh(h)[:, 2] / BLOB_UNIT_HU, 0.0, 1.0)
    return out


def is_evidence(channel: dict[str, Any]) -> bool:
    """True for an evidence entry of a card's ``channels``."""
    return channel.get("stat") == "evidence"


def has_evidence(channels: list[dict[str, Any]] | None) -> bool:
    """True when a card's ``channels`` hold evidence entries (its input needs an organ map)."""
    return any(is_evidence(ch) for ch in channels or [])


def _stat_index(channels: list[dict[str, Any]]) -> dict[str, int]:
    """Positions of the mean, max and bright (fraction [200, 4000]) channels; evidence entries
    are skipped."""
    idx: dict[str, int] = {}
    for i, ch in enumerate(channels):
        if ch["stat"] in ("mean", "max") and ch["stat"] not in idx:
            idx[ch["stat"]] = i
        elif ch["stat"] == "fraction" and list(ch["hu"]) == [200, 4000] and "bright" not in idx:
            idx["bright"] = i
    return idx


def evidence_problems(channels: list[dict[str, Any]], organ_names: set[str]) -> list[str]:
    """What is wrong with a card's evidence channels (empty: nothing)."""
    out = []
    ev = [ch for ch in channels if is_evidence(ch)]
    if not ev:
        return out
    need = {"mean", "max", "bright"} - set(_stat_index(channels))
    if need:
        out.append("preprocessing.channels: evidence channels need mean, max and fraction "
                   f"[200, 4000] channels (missing: {', '.join(sorted(need))})")
    for ch in ev:
        if ch.get("feature") not in FEATURES:
            out.append(f"preprocessing.channels: evidence feature {ch.get('feature')!r} is not one "
                       f"of {', '.join(FEATURES)}")
        if ch.get("organ") not in organ_names:
            out.append(f"preprocessing.channels: evidence organ {ch.get('organ')!r} is not one of "
                       f"the card's organs ({', '.join(sorted(organ_names))})")
    return out


def evidence_channels(stats: np.ndarray, channels: list[dict[str, Any]], organs: np.ndarray,
                      organ_codes: dict[str, int], hu_window: tuple[float, float],
                      spacing: tuple[float, float, float]) -> np.ndarray:
    """Fill the evidence entries of ``stats`` (C, X, Y, Z), whose other channels are computed
    (windowed to [0, 1]); ``organs`` (X, Y, Z) the organ map on the model grid.  In place.
    Features in :data:`FROM_SCAN` are left to the caller (they need the scan itself)."""
    idx = _stat_index(channels)
    lo, hi = hu_window
    mean_hu = stats[idx["mean"]] * (hi - lo) + lo
    max_hu = stats[idx["max"]] * (hi - lo) + lo
    cache: dict[str, np.ndarray] = {}
    size = tuple(2 * d + 1 for d in EVIDENCE_DILATE)
    inside = {ch["organ"]: ndimage.maximum_filter(organs == organ_codes[ch["organ"]], size=size,
                                                  mode="constant")
              for ch in channels if is_evidence(ch)}
    where = np.zeros(organs.shape, bool)
    for ch in channels:
        if is_evidence(ch) and ch["feature"] == "lung_blob":
            where |= inside[ch["organ"]]

    def feature(name: str) -> np.ndarray:
        if name not in cache:
            if name == "ground_glass":
                cache[name] = ground_glass(mean_hu)
            elif name == "lung_spot":
                cache[name] = lung_spot(max_hu, mean_hu)
            elif name == "isolated_calcium":
                cache[name] = isolated_calcium(stats[idx["bright"]])
            else:
                cache[name] = lung_blob(mean_hu, spacing, where)
        return cache[name]

    for c, ch in enumerate(channels):
        if is_evidence(ch) and ch["feature"] not in FROM_SCAN:
            stats[c] = feature(ch["feature"]) * inside[ch["organ"]]
    return stats
