"""Input channels computed before block averaging, lesion cells and the lesion loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.model import preprocess
from engine.model.card_inputs import input_problems
from engine.model.dataset import mask_cells, pool_cells
from engine.model.losses import lesion_loss
from engine.model.preprocess import block_stats
from engine.volume import CTVolume

CHANNELS = [{"stat": "mean"}, {"stat": "max"}, {"stat": "fraction", "hu": [-2000, -950]},
            {"stat": "fraction", "hu": [200, 4000]}]
PREP = {"shape": [8, 8, 6], "spacing_mm": [4.0, 4.0, 6.0], "hu_window": [-1000, 800],
        "mean": [0.0, 0.0, 0.0, 0.0], "centre": "volume", "outside_hu": -1000,
        "channels": CHANNELS}


def _lung_with_spot(spot_hu=700):
    """32 x 32 x 36 voxels of 1 x 1 x 1 mm at -850 HU with a 2 x 2 x 2 mm spot of ``spot_hu``;
    the model grid is 8 x 8 x 6 voxels of 4 x 4 x 6 mm over the same box."""
    hu = np.full((32, 32, 36), -850, np.int16)
    hu[13:15, 17:19, 20:22] = spot_hu  # in model voxel (3, 4, 3), block 12..16, 16..20, 18..24
    hu[:4, :4, :6] = -990  # emphysema-like air in model voxel (0, 0, 0)
    return CTVolume(hu, np.diag([1.0, 1.0, 1.0, 1.0]))


def test_block_stats_by_hand():
    vol = _lung_with_spot()
    stats, aff = block_stats(vol.hu, vol.affine, (4, 4, 6), CHANNELS)
    assert stats.shape == (4, 8, 8, 6)
    n = 4 * 4 * 6
    assert stats[0, 3, 4, 3] == pytest.approx((-850 * (n - 8) + 700 * 8) / n)
    assert stats[1, 3, 4, 3] == 700 and stats[1, 0, 0, 0] == -990
    assert stats[2, 0, 0, 0] == 1.0 and stats[2, 1, 1, 1] == 0.0
    assert stats[3, 3, 4, 3] == pytest.approx(8 / n) and stats[3].sum() == pytest.approx(8 / n)
    np.testing.assert_allclose(aff[:3, 3], [1.5, 1.5, 2.5])  # centre of the first block


def test_a_small_calcification_survives_preprocessing_in_the_max_and_band_channels():
    x, _ = preprocess(_lung_with_spot(), {"preprocessing": PREP})
    assert x.shape == (1, 4, 8, 8, 6)
    x = x[0].numpy()
    mean_hu = x[0] * 1800 - 1000
    max_hu = x[1] * 1800 - 1000
    # averaged away in the mean (below soft tissue), kept in the maximum and the band share
    assert mean_hu.max() < -700
    assert max_hu.max() > 600 and np.unravel_index(max_hu.argmax(), max_hu.shape) == (3, 4, 3)
    assert x[3].max() == pytest.approx(8 / 96, rel=1e-4)
    assert x[2][0, 0, 0] == pytest.approx(1.0)


def test_channel_means_are_subtracted_per_channel():
    prep = dict(PREP, mean=[0.1, 0.2, 0.3, 0.4])
    a, _ = preprocess(_lung_with_spot(), {"preprocessing": PREP})
    b, _ = preprocess(_lung_with_spot(), {"preprocessing": prep})
    np.testing.assert_allclose((a - b)[0].mean(axis=(1, 2, 3)), [0.1, 0.2, 0.3, 0.4], atol=1e-6)


def test_card_input_validation():
    arch = {"in_channels": 4, "pooling": "lse"}
    assert input_problems(arch, PREP) == []
    assert input_problems(dict(arch, in_channels=3), PREP)
    assert input_problems(arch, dict(PREP, mean=[0.1]))
    assert input_problems(arch, dict(PREP, channels=[{"stat": "median"}] * 4))
    assert input_problems(arch, dict(PREP, channels=[{"stat": "fraction", "hu": [5, 1]}] * 4))
    assert input_problems(arch, dict(PREP, channels=[{"stat": "mean"}] * 1000))
    assert input_problems(dict(arch, pooling="max"), PREP)
    assert input_problems(dict(arch, temperature=float("nan")), PREP)
    assert input_problems({}, {"mean": 0.3}) == []  # a one-channel card of the old format


def test_mask_cells_holds_every_cell_a_lesion_voxel_lies_in():
    mask = np.zeros((32, 32, 36), bool)
    mask[13, 17, 20] = True  # one 1 mm voxel: model voxel (3, 4, 3), cell (1, 2, 1) of 4x4x3
    mask[31, 0, 35] = True
    model_aff = np.diag([4.0, 4.0, 6.0, 1.0])
    model_aff[:3, 3] = [1.5, 1.5, 2.5]
    cells = mask_cells(mask, np.eye(4), model_aff, (8, 8, 6), (4, 4, 2))
    assert cells.sum() == 2 and cells[1, 2, 1] and cells[3, 0, 1]
    coarse = pool_cells(cells[None].astype(np.uint8), (2, 2, 1), reduce="max")[0]
    assert coarse[0, 1, 0] == 1 and coarse[1, 0, 0] == 1 and coarse.sum() == 2


def test_lesion_loss_rewards_scores_in_the_lesion_cells():
    t = torch.zeros(1, 2, 4, 4, 2)
    t[0, 0, 1, 2, 1] = 1
    right = torch.full_like(t, -4.0)
    right[0, 0, 1, 2, 1] = 4.0
    wrong = torch.full_like(t, -4.0)
    wrong[0, 0, 0, 0, 0] = 4.0
    assert lesion_loss(right, t) < lesion_loss(wrong, t)
    assert lesion_loss(right, t, pos_weight=50) < lesion_loss(torch.zeros_like(t), t, pos_weight=50)
