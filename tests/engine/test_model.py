"""AxialNet structure and preprocessing onto the model grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.model import AxialNet, preprocess
from engine.model.preprocess import block_average, resample_labelmap
from engine.volume import CTVolume

PREP = {"shape": [32, 32, 12], "spacing_mm": [8.0, 8.0, 10.0], "hu_window": [-1000, 800],
        "mean": 0.2, "centre": "body", "interpolation": "trilinear", "outside_hu": -1000}
CARD = {"preprocessing": PREP}


def phantom_like(spacing, shape, origin, flip_x=False, body_shift=(0.0, 0.0)):
    """Air volume with a water ellipse body and a bright cube at RAS (40, 20, 0) mm."""
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = origin
    vol = CTVolume(np.full(shape, -1000, np.int16), aff)
    ijk = np.indices(shape).reshape(3, -1).T
    ras = vol.world(ijk).reshape(*shape, 3)
    x, y, z = ras[..., 0] - body_shift[0], ras[..., 1] - body_shift[1], ras[..., 2]
    hu = np.where((x / 120) ** 2 + (y / 90) ** 2 < 1, 0, -1000)
    cube = (np.abs(ras[..., 0] - 40) < 12) & (np.abs(ras[..., 1] - 20) < 12) & (np.abs(z) < 15)
    hu = np.where(cube, 800, hu).astype(np.int16)
    if flip_x:  # store it left-right flipped, then canonicalise exactly like the readers do
        from engine.volume import canonicalize

        a2 = aff.copy()
        a2[:, 3] = aff[:, 3] + aff[:, 0] * (shape[0] - 1)
        a2[:, 0] = -aff[:, 0]
        hu, aff = canonicalize(hu[::-1].copy(), a2)
    return CTVolume(hu, aff)


def test_groups_are_three_adjacent_slices():
    net = AxialNet(3, (16, 16, 9), stem_width=4, widths=(4,), strides=(2,), reduce_widths=(4,))
    x = torch.arange(16 * 16 * 9, dtype=torch.float32).reshape(1, 16, 16, 9)
    g = net.to_groups(x)
    assert g.shape == (3, 3, 16, 16)
    for grp in range(3):
        for c in range(3):
            assert torch.equal(g[grp, c], x[0, :, :, 3 * grp + c])


def test_forward_is_mean_over_groups_of_shared_linear_head():
    torch.manual_seed(0)
    net = AxialNet(4, (16, 16, 6), stem_width=4, widths=(4,), strides=(2,), reduce_widths=(5,)).eval()
    x = torch.randn(2, 16, 16, 6)
    a = net.features(x)
    assert a.shape == (2, 2, *net.feature_shape) == (2, 2, 5, 4, 4)
    per_group = torch.stack([net.head(a[:, g].flatten(1)) for g in range(2)], 1)
    torch.testing.assert_close(net(x), per_group.mean(1))
    torch.testing.assert_close(net(x), net.classify(a))


def test_bad_grid_is_rejected():
    with pytest.raises(ValueError):
        AxialNet(3, (16, 16, 10))
    with pytest.raises(ValueError):
        AxialNet(3, (20, 16, 9))


@pytest.mark.parametrize("geom", [
    dict(spacing=(2.0, 2.0, 5.0), shape=(150, 130, 20), origin=(-150, -130, -50)),
    dict(spacing=(0.9, 1.3, 2.5), shape=(300, 200, 40), origin=(-140, -120, -45), flip_x=True),
])
def test_preprocess_lands_in_world_coordinates(geom):
    vol = phantom_like(**geom)
    x, aff = preprocess(vol, CARD)
    assert x.shape == (1, 32, 32, 12) and x.dtype == torch.float32
    x = x[0].numpy()
    assert x.min() >= -0.2 - 1e-6 and x.max() <= 0.8 + 1e-6
    # the bright cube: its voxels are at RAS (40, 20, 0) +- 12 mm
    bright = np.argwhere(x > 0.6)
    assert len(bright) > 0
    ras = bright @ aff[:3, :3].T + aff[:3, 3]
    np.testing.assert_allclose(ras.mean(0), [40, 20, 0], atol=4.5)
    # grid centred on the body (centred at origin here) in-plane
    centre = aff @ [*((np.array(PREP["shape"]) - 1) / 2), 1]
    np.testing.assert_allclose(centre[:2], [0, 0], atol=4)


def test_preprocess_same_anatomy_different_geometry_gives_same_tensor():
    a = phantom_like((2.0, 2.0, 5.0), (150, 130, 20), (-150, -130, -50))
    b = phantom_like((1.0, 1.5, 2.5), (300, 170, 40), (-149, -128, -49))
    xa, _ = preprocess(a, CARD)
    xb, _ = preprocess(b, CARD)
    assert float((xa - xb).abs().mean()) < 0.02


def test_body_centre_follows_an_off_centre_body():
    vol = phantom_like((2.0, 2.0, 5.0), (200, 200, 20), (-200, -200, -50), body_shift=(30.0, -40.0))
    _, aff = preprocess(vol, CARD)
    centre = aff @ [*((np.array(PREP["shape"]) - 1) / 2), 1]
    np.testing.assert_allclose(centre[:2], [30, -40], atol=4)
    _, aff_v = preprocess(vol, {"preprocessing": {**PREP, "centre": "volume"}})
    centre_v = aff_v @ [*((np.array(PREP["shape"]) - 1) / 2), 1]
    np.testing.assert_allclose(centre_v[:3], vol.center_world(), atol=1e-9)


def test_block_average_tracks_block_centres():
    hu = np.arange(6 * 4 * 2, dtype=np.int16).reshape(6, 4, 2)
    aff = np.diag([1.0, 2.0, 3.0, 1.0])
    out, a2 = block_average(hu, aff, (3, 2, 1), slab=1)
    assert out.shape == (2, 2, 2)
    np.testing.assert_allclose(out[0, 0, 0], hu[:3, :2, 0].mean())
    np.testing.assert_allclose(a2 @ [0, 0, 0, 1], [1.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(np.diag(a2)[:3], [3.0, 4.0, 3.0])


def test_resample_labelmap_is_nearest_and_in_place():
    vol = phantom_like((2.0, 2.0, 5.0), (150, 130, 20), (-150, -130, -50))
    lab = (vol.hu > 500).astype(np.uint8) * 3
    x, aff = preprocess(vol, CARD)
    out = resample_labelmap(lab, vol.affine, aff, tuple(PREP["shape"]))
    assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 3}
    ras = np.argwhere(out == 3) @ aff[:3, :3].T + aff[:3, 3]
    np.testing.assert_allclose(ras.mean(0), [40, 20, 0], atol=4.5)
