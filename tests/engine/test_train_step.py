"""One training step (engine.train_step) and its batch (engine.model.batches.batch_tensors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.train import TrainConfig, new_model
from engine.train_step import step_losses

CFG = TrainConfig(out="unused", shape=[32, 32, 12], spacing_mm=[10, 10, 25], stem_width=4,
                  widths=[4, 8], strides=[1, 2], reduce_widths=[4], channels=[])


def _batch(model):
    g = torch.Generator().manual_seed(1)
    _, h, w = model.feature_shape
    cells_shape = (4, 2, h, w, model.n_groups)
    x = torch.randn(4, 32, 32, 12, generator=g)
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    cells = (torch.rand(cells_shape, generator=g) > 0.5).float()
    les = (torch.rand(cells_shape, generator=g) > 0.9).to(torch.uint8) * y[:, :, None, None, None].byte()
    return x, y, cells, torch.ones(4, dtype=torch.bool), les


def test_step_loss_is_the_weighted_sum_of_its_terms_and_reaches_every_layer():
    torch.manual_seed(0)
    model = new_model(CFG, 2)
    total, bce, mask, lesion = step_losses(model, _batch(model), torch.tensor([0, 1]), CFG, use_lesions=True)
    assert bce.item() > 0 and mask.item() > 0 and lesion.item() > 0
    want = bce + CFG.mask_lambda * mask + CFG.lesion_weight * lesion
    assert total.item() == pytest.approx(want.item(), rel=1e-6)
    total.backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.parameters())
    _, _, mask_off, lesion_off = step_losses(model, _batch(model), torch.tensor([0, 1]),
                                             TrainConfig(out="u", mask_loss=False), use_lesions=False)
    assert mask_off.item() == 0 and lesion_off.item() == 0


def test_batch_rolled_as_uint8_equals_the_float_batch_rolled():
    """batch_tensors rolls the uint8 volume before converting it: the same numbers as the
    float batch rolled afterwards (the way it was done up to model 3.4), and the dataset
    itself is left as it was."""
    from engine.model.batches import batch_tensors, centring
    from engine.model.dataset import ArrayDataset

    rng = np.random.default_rng(5)
    n, grid, cells_shape = 5, (16, 12, 9), (4, 3, 3)
    ds = ArrayDataset(x=rng.integers(0, 256, (n, 3, *grid), dtype=np.uint8),
                      y=rng.integers(0, 2, (n, 2), dtype=np.uint8),
                      organ_cells=rng.integers(0, 256, (n, 2, *cells_shape), dtype=np.uint8),
                      has_organs=np.ones(n, bool), ids=np.array(list("abcde")),
                      lesion_cells=rng.integers(0, 2, (n, 2, *cells_shape), dtype=np.uint8))
    before = ds.x.copy()
    idx, mean = np.array([0, 2, 3, 4]), [0.1, 0.2, 0.3]
    x, y, cells, has, les = batch_tensors(ds, idx, mean, torch.device("cpu"), 1, np.random.default_rng(9))
    ref = torch.from_numpy(ds.x[idx]).float().div_(255.0).sub_(centring(mean, 5, torch.device("cpu")))
    ref_cells, ref_les = torch.from_numpy(ds.organ_cells[idx]), torch.from_numpy(ds.lesion_cells[idx])
    draw = np.random.default_rng(9)
    moved = 0
    for b in range(len(idx)):
        s = draw.integers(-1, 2, size=3).tolist()
        moved += any(s)
        ref[b] = torch.roll(ref[b], [s[0] * 4, s[1] * 4, s[2] * 3], dims=(1, 2, 3))
        ref_cells[b] = torch.roll(ref_cells[b], s, dims=(1, 2, 3))
        ref_les[b] = torch.roll(ref_les[b], s, dims=(1, 2, 3))
    assert moved
    assert torch.equal(x, ref) and torch.equal(cells, ref_cells) and torch.equal(les, ref_les)
    assert torch.equal(y, torch.from_numpy(ds.y[idx]).float()) and bool(has.all())
    np.testing.assert_array_equal(ds.x, before)
