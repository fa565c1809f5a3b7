"""Input channels as exact statistics over each model voxel's footprint (``"interpolation":
"footprint"`` in a card's ``preprocessing``).

The model grid shares the scan's direction cosines (``model_grid_affine``), so the map from
a scan index to a continuous model index is, per axis, ``u = (t0 + i * ds) / s`` with no
mixing between axes.  Scan voxel ``i`` belongs to model voxel ``m = floor(u + 1/2)``: the
model voxel whose footprint (its centre +- half a model voxel) holds the scan voxel's centre.
Each channel is then the statistic over exactly those scan voxels:

    mean       mean HU of the footprint, windowed like the trilinear path
    max        maximum HU of the footprint, windowed
    fraction   share of the footprint's voxels with lo <= HU < hi

Why: the trilinear path (block statistics, then trilinear sampling at model voxel centres)
averages a one-block spot with up to seven neighbours when the two grids are offset, so a
5 mm calcification's block maximum of +800 HU reaches the model as about -150 HU.  Measured
on 200 test phantoms (docs/training.md) the granuloma's input maximum had a median of about
+350 HU under trilinear sampling.  Footprint statistics keep it (no interpolation).

All three statistics are separable (sums, counts and maxima of boxes), so the work is one
pass over the scan, slab by slab along k.  A model voxel whose footprint holds no scan
voxel (outside the scan) reads ``outside_hu``.  The footprint needs the scan to be at least
as fine as the model grid along every axis; :func:`footprint_applies` says when it is, and
``input_channels`` falls back to the trilinear path otherwise (one scan voxel per model
voxel or fewer: interpolation is then the right thing).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.volume import CTVolume

# 2: a model voxel at the grid's edge no longer takes in every scan voxel beyond it (numpy's
# reduceat reduces up to the next start, not to the range's stop); caches of version 1 differ.
FOOTPRINT_VERSION = 2


def index_map(volume: CTVolume, model_affine: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, offset) per axis with model index u = offset + scale * scan index, or None when
    the two grids' axes are not parallel (then no footprint exists)."""
    t = np.linalg.inv(np.asarray(model_affine, dtype=np.float64)) @ np.asarray(volume.affine, dtype=np.float64)
    rot = t[:3, :3]
    scale = np.diag(rot).copy()
    if np.abs(rot - np.diag(scale)).max() > 1e-6 * max(1.0, float(np.abs(scale).max())) or np.any(scale <= 0):
        return None
    return scale, t[:3, 3].copy()


def footprint_applies(volume: CTVolume, model_affine: np.ndarray) -> bool:
    """True when every model voxel's footprint can hold a scan voxel (scan spacing <= model
    spacing along every axis, axes parallel)."""
    m = index_map(volume, model_affine)
    return m is not None and bool(np.all(m[0] <= 1.0 + 1e-6))


def _bins(n_scan: int, n_model: int, scale: float, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """For one axis: the scan index range [start, stop) of each model voxel (empty: start == stop)."""
    # scan voxel i -> model voxel floor(offset + scale * i + 1/2); the first scan index of
    # model voxel m is the smallest i with offset + scale * i + 1/2 >= m.
    edges = np.ceil((np.arange(n_model + 1) - 0.5 - offset) / scale - 1e-9).astype(np.int64)
    edges = np.clip(edges, 0, n_scan)
    return edges[:-1], edges[1:]


def _reduce_axis(a: np.ndarray, starts: np.ndarray, stops: np.ndarray, axis: int, how: str) -> np.ndarray:
    """Sum or max of ``a`` over each [start, stop) along ``axis``; empty ranges give 0 / -inf.

    One ``ufunc.reduce`` per range over its slab of ``a`` (whole planes or rows at a time,
    in index order); ``ufunc.reduceat`` is 5-15x slower for the short ranges here."""
    shape = list(a.shape)
    shape[axis] = len(starts)
    ufunc = np.maximum if how == "max" else np.add
    out = np.full(shape, -np.inf if how == "max" else 0.0, dtype=np.float32)
    src = np.moveaxis(a, axis, 0)
    dst = np.moveaxis(out, axis, 0)
    for m in np.flatnonzero(stops > starts):
        ufunc.reduce(src[starts[m]:stops[m]], axis=0, out=dst[m])
    return out


def footprint_stats(volume: CTVolume, model_affine: np.ndarray, shape: tuple[int, int, int],
                    channels: list[dict[str, Any]], outside_hu: float,
                    slab_bytes: int = 32 << 20) -> np.ndarray:
    """(C, X, Y, Z) float32 raw statistics (HU for mean/max, share for fraction) on the model
    grid.  Call only when :func:`footprint_applies`.

    The scan is read in chunks of whole slices (at most ``slab_bytes`` as float32), each
    reduced along k for every model slab it touches at once, then along i and j: the same
    sums in the same order as slab by slab (the k, then i, then j), with long contiguous
    reads instead of three-slice ones."""
    scale, offset = index_map(volume, model_affine)  # type: ignore[misc]
    hu = volume.hu
    bins = [_bins(hu.shape[a], shape[a], scale[a], offset[a]) for a in range(3)]
    (si, ei), (sj, ej), (sk, ek) = bins
    counts_ij = np.outer(ei - si, ej - sj).astype(np.float32)
    acc = np.empty((len(channels), *shape), dtype=np.float32)
    for c, ch in enumerate(channels):
        acc[c] = -np.inf if ch["stat"] == "max" else 0.0
    plane = hu.shape[0] * hu.shape[1] * 4
    step = max(1, slab_bytes // plane)
    covered = sk < ek
    k_lo, k_hi = (int(sk[covered].min()), int(ek[covered].max())) if covered.any() else (0, 0)
    for a0 in range(k_lo, k_hi, step):
        a1 = min(k_hi, a0 + step)
        # slice-major (k, i, j): the reductions below run over whole planes and rows
        chunk = np.ascontiguousarray(hu[:, :, a0:a1].transpose(2, 0, 1), dtype=np.float32)
        ls, le = np.clip(sk, a0, a1) - a0, np.clip(ek, a0, a1) - a0  # model slabs, chunk-local
        for c, ch in enumerate(channels):
            if ch["stat"] in ("max", "mean"):
                v, how = chunk, ("max" if ch["stat"] == "max" else "sum")
            else:
                lo, hi = (float(x) for x in ch["hu"])
                v, how = ((chunk >= lo) & (chunk < hi)).astype(np.float32), "sum"
            r = _reduce_axis(_reduce_axis(v, ls, le, 0, how), si, ei, 1, how)  # (Zm, Xm, Y)
            r = _reduce_axis(r, sj, ej, 2, how).transpose(1, 2, 0)  # (Xm, Ym, Zm)
            if how == "max":
                np.maximum(acc[c], r, out=acc[c])
            else:
                acc[c] += r
    count = counts_ij[:, :, None] * (ek - sk).astype(np.float32)[None, None, :]
    empty = count == 0
    out = np.empty_like(acc)
    for c, ch in enumerate(channels):
        if ch["stat"] == "max":
            val, fill = acc[c], outside_hu
        elif ch["stat"] == "mean":
            val, fill = acc[c] / np.maximum(count, 1), outside_hu
        else:
            lo, hi = (float(x) for x in ch["hu"])
            val, fill = acc[c] / np.maximum(count, 1), float(lo <= outside_hu < hi)
        out[c] = np.where(empty, np.float32(fill), val)
    return out
