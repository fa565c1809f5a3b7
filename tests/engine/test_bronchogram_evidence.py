"""Air-bronchogram evidence (engine/model/bronchogram_evidence.py) and its channels."""

from __future__ import annotations

import numpy as np
from test_evidence import _chest
from test_fine_evidence import ball, fine_card

from engine.model import preprocess
from engine.model.bronchogram_evidence import enclosed_air
from engine.model.channel_sets import channel_set_name
from engine.volume import CTVolume

CHANNELS, CARD = fine_card("evidence_bronchogram")


def _channel(x, organ):
    return x[CHANNELS.index({"stat": "evidence", "feature": "lung_bronchogram", "organ": organ})]


def test_air_inside_solid_lung_is_enclosed_air_at_a_solid_edge_or_in_open_lung_is_not():
    shape = (30, 30, 30)
    lung = np.ones(shape, bool)
    open_lung = np.full(shape, -850.0, np.float32)
    solid = open_lung.copy()
    solid[5:25, 5:25, 5:25] = 30.0  # a consolidated block
    g = np.indices(shape)
    tube = ((g[0] - 15) ** 2 + (g[1] - 15) ** 2 <= 1) & (g[2] >= 5) & (g[2] < 25)
    with_bronchus = np.where(tube, -1000.0, solid)
    got = enclosed_air(with_bronchus, lung)
    assert got[15, 15, 8:22].all()  # the bronchus inside the block
    assert not (got & ~tube).any()  # nothing but the bronchus
    assert not enclosed_air(solid, lung).any()  # the block's edge: about half its box solid
    assert not enclosed_air(np.where(tube, -1000.0, open_lung), lung).any()  # an airway in open lung
    assert not enclosed_air(with_bronchus, np.zeros(shape, bool)).any()  # outside the lung
    # solid tissue outside the lung does not count: the chest wall around a lung's edge air
    wall = np.full(shape, 40.0, np.float32)
    wall[14:17, 14:17, :] = -900.0
    edge = np.zeros(shape, bool)
    edge[14:17, 14:17, :] = True
    assert not enclosed_air(wall, edge).any()


def test_a_consolidation_with_a_bronchogram_lights_its_own_lungs_channel_a_mass_does_not():
    assert channel_set_name(CHANNELS) == "evidence_bronchogram"
    hu, org = _chest(48)
    hu[4:28, 10:38, 8:40] = 30  # consolidated right lung
    g = np.indices(hu.shape)
    hu[((g[0] - 16) ** 2 + (g[1] - 24) ** 2 <= 4) & (g[2] >= 8) & (g[2] < 40)] = -1000  # its bronchus
    hu[ball(hu.shape, (64, 24, 24), 10)] = 30  # a 20 mm mass in the left lung, no air inside
    vol = CTVolume(hu, np.eye(4))
    x, aff = preprocess(vol, CARD, org)
    x = x[0].numpy()
    right, left = _channel(x, "right_lung"), _channel(x, "left_lung")
    assert right.max() > 0.5
    on = np.argwhere(right > 0)
    world = (aff[:3, :3] @ on.T + aff[:3, 3:4]).T
    assert np.abs(world[:, :2] - (16, 24)).max() <= 4.0  # on the bronchus, within one model voxel
    assert left.max() == 0.0
    # the nodule and other channels are those of the evidence_nodule input
    xb = preprocess(vol, fine_card("evidence_nodule")[1], org)[0][0].numpy()
    np.testing.assert_array_equal(x[:len(xb)], xb)


def test_the_lung_box_gives_what_the_whole_grid_gives():
    from scipy import ndimage

    from engine.model import bronchogram_evidence as be

    rng = np.random.default_rng(3)
    hu = rng.normal(0, 300, (40, 36, 30)).astype(np.float32)
    lung = np.zeros(hu.shape, bool)
    lung[3:20, 30:36, 0:12] = True  # touches two faces of the grid
    lung[25:31, 5:15, 10:20] = True
    share = ndimage.uniform_filter(((hu > be.SOLID_HU) & lung).astype(np.float32), size=be.BOX_VOXELS,
                                   mode="constant")
    whole = (hu < be.AIR_HU) & lung & (share > be.ENCLOSED_SHARE)
    assert whole.any()
    np.testing.assert_array_equal(enclosed_air(hu, lung), whole)
