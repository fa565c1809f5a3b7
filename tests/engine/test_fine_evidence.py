"""The fine grid the scan-read evidence channels use (engine/model/fine_evidence.py)."""

from __future__ import annotations

import numpy as np
import pytest
from test_evidence import CODES
from test_evidence import PREP as EVIDENCE_PREP

from engine.model.channel_sets import channel_set
from engine.model.fine_evidence import fine_affine, fine_evidence


def fine_card(name: str) -> tuple[list, dict]:
    """(channels, card) of ``ctcam train --channels NAME`` on test_evidence's small grid."""
    channels = channel_set(name)
    prep = dict(EVIDENCE_PREP, shape=[20, 12, 8], channels=channels, mean=[0.0] * len(channels))
    return channels, {"preprocessing": prep, "organ_codes": CODES}


def ball(shape, centre, r):
    g = np.indices(shape).astype(np.float32)
    return sum((g[a] - centre[a]) ** 2 for a in range(3)) <= r * r


def test_the_fine_grid_subdivides_each_model_voxel():
    model = np.diag([4.0, 4.0, 6.0, 1.0])
    model[:3, 3] = (10.0, -3.0, 7.0)
    fine = fine_affine(model)
    idx = np.indices((2, 2, 3)).reshape(3, -1)  # the fine voxels of model voxel (0, 0, 0)
    centres = fine[:3, :3] @ idx + fine[:3, 3:4]
    np.testing.assert_allclose(centres.mean(axis=1), model[:3, 3])  # its centre
    np.testing.assert_allclose(np.diag(fine)[:3], (2.0, 2.0, 2.0))


def test_an_unknown_fine_feature_is_refused_by_name():
    organs = np.zeros((4, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="lung_ball"):
        fine_evidence(None, None, organs, {"right_lung": 1}, [("lung_ball", "right_lung")], np.eye(4))
