"""Batches of an :class:`~engine.model.dataset.ArrayDataset` as tensors, and batched
prediction (training and evaluation share them)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from engine.model.dataset import ArrayDataset


def centring(mean: float | Sequence[float], x_ndim: int, device: torch.device) -> torch.Tensor:
    """The card's mean(s) as a tensor that broadcasts over a (B, [C,] X, Y, Z) batch."""
    m = torch.as_tensor(mean, dtype=torch.float32, device=device)
    if m.dim() == 0:
        return m
    return m.reshape(1, -1, *([1] * (x_ndim - 2)))


def roll_cells(cells: np.ndarray, shift: Sequence[int], block: Sequence[int], reduce: str) -> np.ndarray:
    """Cell values (..., mi, mj, mk) of a volume rolled by ``shift`` *voxels* (cells of
    ``block`` voxels).  A shift by part of a cell makes each new cell hold the last r voxels
    of one old cell and the first B - r of the next: ``"mean"`` (coverage, uint8) weighs the
    two by r / B and 1 - r / B (exact when coverage is uniform inside each old cell),
    ``"any"`` (lesion cells) is their maximum (every cell that may hold lesion voxels)."""
    out = cells
    for d in range(3):
        q, r = divmod(int(shift[d]), int(block[d]))
        axis = out.ndim - 3 + d
        a = np.roll(out, q, axis=axis)
        if r == 0:
            out = a
            continue
        b = np.roll(out, q + 1, axis=axis)
        if reduce == "any":
            out = np.maximum(a, b)
        else:
            f = r / block[d]
            out = np.rint((1 - f) * a.astype(np.float32) + f * b.astype(np.float32)).astype(cells.dtype)
    return out


def batch_tensors(ds: ArrayDataset, idx: np.ndarray, mean: float | Sequence[float],
                  device: torch.device, shift_cells: int = 0,
                  rng: np.random.Generator | None = None, sub_cell: bool = False):
    """(x, y, organ cells, has organs, lesion cells or None) for cases ``idx``.

    With ``shift_cells`` > 0 each case is rolled by a random whole number of map cells (up to
    ``shift_cells``) along i, j and k, volume, organ coverage and lesion cells together, so
    they stay exactly aligned (augmentation); with ``sub_cell`` by a random whole number of
    voxels up to that many cells, the cell targets following by :func:`roll_cells`.  The volume is rolled while it is still uint8
    (a quarter of the float copy's bytes, one pass for the three axes), then converted: the
    same numbers as rolling the float batch, in a third of the time
    (``benchmarks/train_step.py``)."""
    idx = np.asarray(idx)
    xb = np.take(ds.x, idx, axis=0)  # copies (rolled in place below)
    cells_np = np.take(ds.organ_cells, idx, axis=0)
    les_np = None if ds.lesion_cells is None else np.take(ds.lesion_cells, idx, axis=0)
    if shift_cells and rng is not None:
        grid = xb.shape[-3:]
        block = [grid[d] // cells_np.shape[d + 2] for d in range(3)]
        for b in range(len(idx)):
            if sub_cell:  # any whole number of voxels up to shift_cells cells
                v = [int(rng.integers(-shift_cells * block[d], shift_cells * block[d] + 1)) for d in range(3)]
            else:
                v = [int(t) * block[d] for d, t in enumerate(rng.integers(-shift_cells, shift_cells + 1, size=3))]
            xb[b] = np.roll(xb[b], v, axis=(-3, -2, -1))
            cells_np[b] = roll_cells(cells_np[b], v, block, "mean")
            if les_np is not None:
                les_np[b] = roll_cells(les_np[b], v, block, "any")
    x = torch.from_numpy(xb).to(device=device, dtype=torch.float32).div_(255.0)
    x = x.sub_(centring(mean, x.dim(), device))
    y = torch.from_numpy(ds.y[idx]).to(device=device, dtype=torch.float32)
    cells = torch.from_numpy(cells_np).to(device)
    has = torch.from_numpy(ds.has_organs[idx]).to(device)
    les = None if les_np is None else torch.from_numpy(les_np).to(device)
    return x, y, cells, has, les


def dataset_mean(ds: ArrayDataset, every: int = 7) -> float | list[float]:
    """Mean model input over every ``every``-th case: one number, or one per channel."""
    # case by case, in float64: a float copy of every 7th case of 1600 x 11 channels is 4.5 GB
    axes = tuple(range(1, ds.x.ndim - 1)) if ds.x.ndim == 5 else None
    total, n = 0.0, 0
    for i in range(0, len(ds), every):
        case = ds.x[i]
        total = total + (case.sum(axis=axes, dtype=np.float64) if axes else case.sum(dtype=np.float64))
        n += case[0].size if axes else case.size
    m = np.asarray(total) / (255.0 * n)
    if ds.x.ndim == 5:
        return [round(float(v), 6) for v in m]
    return round(float(m), 6)


@torch.no_grad()
def predict(model: torch.nn.Module, ds: ArrayDataset, mean, device: torch.device,
            batch_size: int = 16) -> np.ndarray:
    """Logits (N, L) of every case."""
    model.eval()
    out = []
    for s in range(0, len(ds), batch_size):
        x, *_ = batch_tensors(ds, np.arange(s, min(len(ds), s + batch_size)), mean, device)
        out.append(model(x).float().cpu().numpy())
    return np.concatenate(out)
