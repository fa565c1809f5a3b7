"""Rolling a training case by part of a map cell (``ctcam train --shift-voxels``): the organ
coverage and lesion cells follow the voxels (engine.model.batches.roll_cells), and whole-cell
rolls are unchanged."""

from __future__ import annotations

import numpy as np
import torch

from engine.model.batches import batch_tensors, roll_cells
from engine.model.dataset import ArrayDataset

BLOCK = (4, 4, 3)
GRID = (16, 16, 12)
CELLS = tuple(g // b for g, b in zip(GRID, BLOCK))


def cell_mean(vox: np.ndarray) -> np.ndarray:
    """(X, Y, Z) 0/1 -> (mi, mj, mk) coverage x 255, rounded (as the cache stores it)."""
    v = vox.reshape(CELLS[0], BLOCK[0], CELLS[1], BLOCK[1], CELLS[2], BLOCK[2]).astype(np.float64)
    return np.rint(v.mean(axis=(1, 3, 5)) * 255).astype(np.uint8)


def cell_any(vox: np.ndarray) -> np.ndarray:
    v = vox.reshape(CELLS[0], BLOCK[0], CELLS[1], BLOCK[1], CELLS[2], BLOCK[2])
    return v.any(axis=(1, 3, 5)).astype(np.uint8)


def whole_cell_organ(rng) -> np.ndarray:
    cells = rng.random(CELLS) < 0.4
    return np.kron(cells, np.ones(BLOCK, dtype=bool)).astype(np.uint8)


def test_whole_cell_shifts_are_plain_rolls():
    rng = np.random.default_rng(0)
    c = rng.integers(0, 256, size=(2, *CELLS), dtype=np.uint8)
    for s in ([4, 0, 3], [-8, 4, -6], [0, 0, 0]):
        want = np.roll(c, [s[d] // BLOCK[d] for d in range(3)], axis=(1, 2, 3))
        assert np.array_equal(roll_cells(c, s, BLOCK, "mean"), want)
        assert np.array_equal(roll_cells(c, s, BLOCK, "any"), want)


def test_coverage_follows_a_sub_cell_roll_of_the_voxels():
    rng = np.random.default_rng(1)
    organ = whole_cell_organ(rng)  # uniform inside each old cell: the weighting is exact
    for s in ([1, 0, 0], [0, -3, 1], [2, 5, -2], [-1, -1, -1]):
        want = cell_mean(np.roll(organ, s, axis=(0, 1, 2)))
        got = roll_cells(cell_mean(organ)[None], s, BLOCK, "mean")[0]
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1, s


def test_lesion_cells_after_a_sub_cell_roll_hold_every_cell_with_lesion_voxels():
    rng = np.random.default_rng(2)
    lesion = (rng.random(GRID) < 0.01).astype(np.uint8)  # scattered single voxels
    for s in ([1, 2, 1], [-3, 0, 2], [6, -5, 4]):
        truth = cell_any(np.roll(lesion, s, axis=(0, 1, 2)))
        got = roll_cells(cell_any(lesion)[None], s, BLOCK, "any")[0]
        assert np.all(got >= truth), s  # never a lesion cell lost
        assert got.sum() <= 8 * truth.sum()  # at most the 2 x 2 x 2 neighbours of each


def test_batch_tensors_rolls_volume_and_targets_together_by_voxels():
    rng = np.random.default_rng(3)
    organs = np.stack([whole_cell_organ(rng) for _ in range(4)])
    ds = ArrayDataset(x=(organs * 200).astype(np.uint8), y=np.zeros((4, 1), np.uint8),
                      organ_cells=np.stack([cell_mean(o)[None] for o in organs]),
                      has_organs=np.ones(4, bool), ids=np.array(list("abcd")))
    x, _, cells, _, _ = batch_tensors(ds, np.arange(4), 0.0, torch.device("cpu"), shift_cells=1,
                                      rng=np.random.default_rng(4), sub_cell=True)
    moved = 0
    for b in range(4):
        vox = (x[b].numpy() > 0.5).astype(np.uint8)  # the rolled volume marks the organ
        assert np.abs(cells[b, 0].numpy().astype(int) - cell_mean(vox).astype(int)).max() <= 1
        moved += not np.array_equal(vox, organs[b])
    assert moved >= 3
    _, _, plain, _, _ = batch_tensors(ds, np.arange(4), 0.0, torch.device("cpu"), shift_cells=1,
                                      rng=np.random.default_rng(4))
    x2, _, _, _, _ = batch_tensors(ds, np.arange(4), 0.0, torch.device("cpu"), shift_cells=1,
                                   rng=np.random.default_rng(4))
    for b in range(4):  # the default still rolls by whole cells: volume offsets are multiples of a cell
        vox = (x2[b].numpy() > 0.5).astype(np.uint8)
        assert np.array_equal(cell_mean(vox), plain[b, 0].numpy())
