"""Nodule evidence on the fine grid (engine/model/nodule_evidence.py)."""

from __future__ import annotations

import numpy as np
from test_evidence import _chest
from test_fine_evidence import ball as _ball
from test_fine_evidence import fine_card

from engine.model import preprocess
from engine.model.channel_sets import channel_set, channel_set_name
from engine.model.nodule_evidence import ballness, symmetric_eigenvalues
from engine.volume import CTVolume

CHANNELS, CARD = fine_card("evidence_nodule")


def _nodule_channel(x, organ):
    return x[CHANNELS.index({"stat": "evidence", "feature": "lung_nodule", "organ": organ})]



def test_closed_form_eigenvalues_equal_numpy_eigvalsh():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 3, 3)).astype(np.float64)
    m = a + a.transpose(0, 2, 1)
    m[:50] = np.diag([2.0, 2.0, 2.0])  # all equal
    m[50:100] = np.diag([-1.0, 3.0, 3.0])  # two equal
    got = np.stack(symmetric_eigenvalues(m[:, 0, 0], m[:, 1, 1], m[:, 2, 2], m[:, 0, 1],
                                         m[:, 0, 2], m[:, 1, 2]), axis=1)
    np.testing.assert_allclose(got, np.linalg.eigvalsh(m), atol=1e-9)


def test_a_ball_is_a_ball_a_tube_is_not_and_a_calcified_ball_is_left_out():
    sp = (2.0, 2.0, 2.5)
    shape = (40, 40, 32)
    where = np.ones(shape, bool)
    centre = (20, 20, 16)
    ball = np.where(_ball(shape, centre, 2.5), 40, -850).astype(np.float32)  # 10 mm nodule
    g = np.indices(shape).astype(np.float32)
    tube = np.where((g[0] - 20) ** 2 + (g[1] - 20) ** 2 <= 2.5 ** 2, 40, -850).astype(np.float32)
    b, t = ballness(ball, sp, where), ballness(tube, sp, where)
    assert np.unravel_index(b.argmax(), shape) == centre
    assert t.max() < 0.1 * b.max()  # a vessel along z: one eigenvalue near zero
    calcified = np.where(_ball(shape, centre, 2.5), 700, -850).astype(np.float32)
    assert ballness(calcified, sp, where).max() == 0.0  # a granuloma, not a nodule
    assert ballness(ball, sp, np.zeros(shape, bool)).max() == 0.0
    np.testing.assert_array_equal(ballness(ball, sp, where, threads=1), b)  # threads change nothing


def test_a_nodule_lights_its_own_lungs_channel_at_its_model_voxel():
    assert channel_set_name(CHANNELS) == "evidence_nodule"
    assert channel_set_name(channel_set("evidence")) == "evidence"
    hu, org = _chest(48)
    hu[_ball(hu.shape, (14, 22, 24), 5)] = 30  # a 10 mm nodule in the right lung
    hu[:, :, :3] = 40  # a soft-tissue floor under both lungs (the edge is no ball)
    vol = CTVolume(hu, np.eye(4))
    x = preprocess(vol, CARD, org)[0][0].numpy()
    right, left = _nodule_channel(x, "right_lung"), _nodule_channel(x, "left_lung")
    assert right.max() > 0.5
    ijk = np.array(np.unravel_index(right.argmax(), right.shape))
    world = preprocess(vol, CARD, org)[1] @ np.append(ijk, 1.0)
    assert np.linalg.norm(world[:3] - (14, 22, 24)) <= 5.0  # within one model voxel
    assert left.max() < 0.1 * right.max()
    assert right[8:].max() == 0.0  # nothing beyond the right lung (i >= 32 mm)
    # the other channels do not change with the new ones
    xb = preprocess(vol, fine_card("evidence")[1], org)[0][0].numpy()
    np.testing.assert_array_equal(x[:len(xb)], xb)
