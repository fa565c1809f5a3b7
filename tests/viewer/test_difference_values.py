"""The difference the viewer draws is HiResCAM minus Grad-CAM at each point (not a sum, not
one method's values), in raw units and under joint scaling (Qt-free path of the viewer)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from viewer.model import sampling_adapter as sa


def _result():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(2, 4, 5, 3)).astype(np.float32)
    g = rng.normal(size=(2, 4, 5, 3)).astype(np.float32) * 0.3
    aff = np.diag([8.0, 8.0, 20.0, 1.0])
    aff[:3, 3] = [-12.0, 4.0, 30.0]
    return SimpleNamespace(maps={"hirescam": h, "gradcam": g}, map_affine=aff), h, g


def test_difference_is_h_minus_g_at_map_voxel_centres():
    res, h, g = _result()
    for ijk in [(0, 0, 0), (2, 3, 1), (3, 4, 2)]:
        world = (res.map_affine @ [*ijk, 1.0])[:3]
        vals, *_ = sa.sample(res, "difference", 1, world[None], signed=True, normalisation="none")
        np.testing.assert_allclose(vals[0], h[1][ijk] - g[1][ijk], rtol=1e-5, atol=1e-6)
        hv, *_ = sa.sample(res, "hirescam", 1, world[None], signed=True, normalisation="none")
        np.testing.assert_allclose(hv[0], h[1][ijk], rtol=1e-5, atol=1e-6)


def test_joint_scaling_uses_both_methods():
    res, h, g = _result()
    ijk = (2, 3, 1)
    world = (res.map_affine @ [*ijk, 1.0])[:3]
    hv, *_ = sa.sample(res, "hirescam", 1, world[None], signed=True, normalisation="joint_methods")
    gv, *_ = sa.sample(res, "gradcam", 1, world[None], signed=True, normalisation="joint_methods")
    # one scale for both panes: the ratio of displayed values is the ratio of raw values
    np.testing.assert_allclose(hv[0] / gv[0], h[1][ijk] / g[1][ijk], rtol=1e-4)
