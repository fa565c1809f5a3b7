"""Solid-depth evidence (engine/model/solid_depth_evidence.py) and its channels
(``ctcam train --channels evidence_depth``; not in the bundled model)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from test_evidence import _chest
from test_fine_evidence import ball, fine_card

from engine.model import preprocess
from engine.model.channel_sets import channel_set_name
from engine.model.solid_depth_evidence import DEPTH_UNIT_MM, solid_depth
from engine.volume import CTVolume

CHANNELS, CARD = fine_card("evidence_depth")


def _channel(x, organ):
    return x[CHANNELS.index({"stat": "evidence", "feature": "lung_solid_depth", "organ": organ})]


def test_a_solid_ball_is_as_deep_as_its_radius_in_mm_and_outside_the_lung_nothing_is():
    shape = (40, 40, 30)
    hu = np.full(shape, -850.0, np.float32)
    lung = np.ones(shape, bool)
    hu[ball(shape, (20, 20, 15), 8)] = 30.0  # radius 8 voxels
    d = solid_depth(hu, lung, (2.0, 2.0, 2.0))
    assert abs(d.max() - 16.0) <= 2.0 and d[20, 20, 15] == d.max()  # 8 voxels of 2 mm
    assert (d[hu <= -300] == 0).all()
    # anisotropic voxels: the distance is in mm, not voxels
    assert abs(solid_depth(hu, lung, (1.0, 1.0, 1.0)).max() - 8.0) <= 1.0
    # solid tissue outside the lung is not solid lung: the lung's edge bounds the depth
    wall = np.full(shape, 40.0, np.float32)
    half = np.zeros(shape, bool)
    half[:, :, :10] = True
    got = solid_depth(wall, half, (1.0, 1.0, 1.0))
    assert got[:, :, 10:].max() == 0 and got.max() <= 10.0
    assert not solid_depth(hu, np.zeros(shape, bool), (1.0, 1.0, 1.0)).any()


def test_a_lung_cut_by_the_grids_edge_is_not_read_as_solid_beyond_it():
    """The box is padded with one non-solid voxel: equal to the transform over a grid that
    has a non-solid border all round."""
    rng = np.random.default_rng(5)
    hu = rng.normal(-300, 400, (30, 26, 20)).astype(np.float32)
    lung = np.zeros(hu.shape, bool)
    lung[0:15, 10:26, 0:12] = True  # touches three faces
    lung[20:29, 2:12, 8:18] = True
    padded = np.pad(lung & (hu > -300), 1)
    whole = ndimage.distance_transform_edt(padded, sampling=(2.0, 2.0, 2.5))[1:-1, 1:-1, 1:-1]
    np.testing.assert_allclose(solid_depth(hu, lung, (2.0, 2.0, 2.5)), whole, rtol=1e-6)


def test_a_mass_lights_its_lungs_depth_channel_above_a_nodule():
    assert channel_set_name(CHANNELS) == "evidence_depth"
    hu, org = _chest(48)
    hu[ball(hu.shape, (16, 24, 24), 11)] = 30  # a 22 mm solid ball in the right lung
    hu[ball(hu.shape, (64, 24, 24), 4)] = 30  # an 8 mm nodule in the left lung
    x = preprocess(CTVolume(hu, np.eye(4)), CARD, org)[0][0].numpy()
    right, left = _channel(x, "right_lung"), _channel(x, "left_lung")
    assert abs(right.max() * DEPTH_UNIT_MM - 11.0) <= 2.0
    assert abs(left.max() * DEPTH_UNIT_MM - 4.0) <= 2.0
    # the other channels are those of the default (bronchogram) input
    xb = preprocess(CTVolume(hu, np.eye(4)), fine_card("evidence_bronchogram")[1], org)[0][0].numpy()
    np.testing.assert_array_equal(x[:len(xb)], xb)
