"""Organ-gated evidence channels (engine/model/evidence.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.model import preprocess
from engine.model.card_inputs import input_problems
from engine.model.channel_sets import DEFAULT_CHANNELS, EVIDENCE_CHANNELS, channel_set
from engine.model.errors import PreprocessError
from engine.model.evidence import isolated_calcium, lung_blob
from engine.volume import CTVolume

CODES = {"right_lung": 1, "heart": 2, "left_lung": 3}
CHANNELS = channel_set("evidence")
PREP = {"shape": [20, 12, 6], "spacing_mm": [4.0, 4.0, 6.0], "hu_window": [-1000, 800],
        "mean": [0.0] * len(CHANNELS), "centre": "volume", "outside_hu": -1000,
        "channels": CHANNELS, "interpolation": "footprint"}
CARD = {"preprocessing": PREP, "organ_codes": CODES}


def _index(feature, organ):
    return CHANNELS.index({"stat": "evidence", "feature": feature, "organ": organ})


def _chest(depth: int = 36):
    """80 x 48 x ``depth`` mm at 1 mm: right lung (i < 32) and left lung (i >= 48) at -850 HU,
    heart between them at 40 HU; the organ map says so."""
    hu = np.full((80, 48, depth), -850, np.int16)
    org = np.zeros(hu.shape, np.uint8)
    org[:32] = 1
    org[32:48] = 2
    org[48:] = 3
    hu[32:48] = 40
    return hu, org


def _run(hu, org):
    x, _ = preprocess(CTVolume(hu, np.diag([1.0, 1.0, 1.0, 1.0])), CARD, org)
    return x[0].numpy()


def test_a_calcified_spot_in_the_right_lung_lights_only_the_right_lung_spot_channel():
    hu, org = _chest()
    hu[12:15, 20:23, 16:19] = 700  # 3 mm calcification in the right lung
    x = _run(hu, org)
    right, left = x[_index("lung_spot", "right_lung")], x[_index("lung_spot", "left_lung")]
    assert right.max() == pytest.approx(1.0, abs=0.01)
    assert np.unravel_index(right.argmax(), right.shape) == (3, 5, 2)  # its model voxel
    assert left.max() == 0.0
    assert x[_index("isolated_calcium", "heart")].max() == 0.0  # 32 mm from the heart


def test_a_coronary_spot_is_isolated_calcium_and_a_bone_bar_is_not():
    hu, org = _chest()
    hu[40:43, 20:23, 16:19] = 700  # spot on the heart
    x = _run(hu, org)
    assert x[_index("isolated_calcium", "heart")].max() > 0.1  # 27 of a footprint's 96 voxels, split
    bright = np.zeros((20, 12, 6), np.float32)
    bright[5:12, 3, 2] = 1.0  # a 28 mm bar of bone: every voxel has bright neighbours
    bright[16, 9, 4] = 0.3  # a lone spot
    iso = isolated_calcium(bright)
    assert iso[6:11, 3, 2].max() == 0.0 and iso[16, 9, 4] == pytest.approx(0.3)
    assert iso[[5, 11], 3, 2].max() == pytest.approx(1 / 3)  # the bar's ends: one bright neighbour


def test_a_ground_glass_patch_shows_in_its_own_lung_only():
    hu, org = _chest()
    hu[56:76, 14:34, 8:28] = -550
    x = _run(hu, org)
    assert x[_index("ground_glass", "left_lung")].max() > 0.9
    assert x[_index("ground_glass", "right_lung")].max() < 0.05


def test_lung_blob_answers_a_ball_more_than_a_tube():
    v = np.full((40, 40, 24), -850.0, np.float32)
    z, y, x = np.ogrid[:40, :40, :24]
    ball = ((z - 12) ** 2 + (y - 12) ** 2) * 16 + (x - 12) ** 2 * 56 <= 36  # r = 6 mm
    tube = np.broadcast_to(((z - 28) ** 2 + (y - 28) ** 2) * 16 <= 36, v.shape)  # r = 6 mm along k
    v[ball] = 40
    v[tube] = 40
    b = lung_blob(v, (4.0, 4.0, 7.5))
    assert b[12, 12, 12] > 2 * b[28, 28, 12]


def test_evidence_channels_are_zero_outside_their_organ_and_the_other_channels_unchanged():
    hu, org = _chest()
    hu[12:15, 20:23, 16:19] = 700
    x = _run(hu, org)
    base = _run_base(hu)
    np.testing.assert_allclose(x[:len(DEFAULT_CHANNELS)], base, atol=1e-6)
    heart = x[_index("isolated_calcium", "heart")]
    assert heart[:5].max() == 0.0 and heart[15:].max() == 0.0  # lungs beyond the dilation


def _run_base(hu):
    prep = dict(PREP, channels=DEFAULT_CHANNELS, mean=[0.0] * 4)
    x, _ = preprocess(CTVolume(hu, np.diag([1.0, 1.0, 1.0, 1.0])), {"preprocessing": prep})
    return x[0].numpy()


def test_a_model_with_evidence_channels_says_it_needs_an_organ_map():
    hu, _ = _chest()
    with pytest.raises(PreprocessError, match="needs an organ map"):
        preprocess(CTVolume(hu, np.diag([1.0, 1.0, 1.0, 1.0])), CARD)
    with pytest.raises(PreprocessError, match="organ map shape"):
        preprocess(CTVolume(hu, np.diag([1.0, 1.0, 1.0, 1.0])), CARD, np.zeros((4, 4, 4), np.uint8))


def test_the_card_checks_evidence_channels():
    arch = {"in_channels": len(CHANNELS)}
    assert input_problems(arch, PREP, set(CODES)) == []
    bad = dict(PREP, channels=CHANNELS[:-1] + [{"stat": "evidence", "feature": "x", "organ": "liver"}])
    problems = " ".join(input_problems(arch, bad, set(CODES)))
    assert "feature 'x'" in problems and "organ 'liver'" in problems
    no_base = dict(PREP, channels=list(EVIDENCE_CHANNELS), mean=[0.0] * len(EVIDENCE_CHANNELS))
    assert "need mean, max" in " ".join(input_problems({"in_channels": len(EVIDENCE_CHANNELS)},
                                                       no_base, set(CODES)))
