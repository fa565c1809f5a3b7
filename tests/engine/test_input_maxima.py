"""AxialNet with ``input_maxima``: the target layer also holds each cell's maximum of every
input channel (batch-normalised).  HiResCAM stays exact, the fast path equals autograd and
captum, the card round-trips, and a one-voxel spot reaches its own cell of the target layer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from cam_checks import assert_fast_equals_autograd, small_lse_net

from engine.cam import explain, fast_maps
from engine.labels import LABELS, ORGAN_CODES
from engine.model import AxialNet, load_model, new_card, save_model

SHAPE = (32, 32, 12)
C = 4


@pytest.fixture(scope="module")
def net() -> AxialNet:
    return small_lse_net(5, SHAPE, C, input_maxima=True)


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    torch.manual_seed(6)
    return torch.randn(1, C, *SHAPE)


def test_target_layer_holds_the_input_maxima(net):
    assert net.target_layer_name == "target"
    assert net.feature_shape == (6 + 3 * C, 8, 8)  # reduce output + 3 slices x C channels
    plain = AxialNet(5, SHAPE, stem_width=4, widths=(4, 8), strides=(1, 2), reduce_widths=(6,),
                     in_channels=C, pooling="lse")
    assert plain.target_layer_name == "reduce" and plain.feature_shape == (6, 8, 8)


def test_a_one_voxel_spot_raises_only_its_own_cell(net):
    x = torch.zeros(1, C, *SHAPE)
    base = net.features(x).detach()
    x[0, 1, 13, 22, 7] = 5.0  # channel 1 (max HU) of slice 7 = group 2, slice 1 of 3
    a = net.features(x).detach()
    ch = 6 + 1 * 3 + 1  # maxima part: channel c of slice s of the group is 3c + s
    diff = (a - base)[0, :, ch]  # (G, h, w)
    changed = torch.nonzero(diff.abs() > 1e-6)
    assert changed.tolist() == [[2, 13 // 4, 22 // 4]]  # group 2, cell (3, 5): 4 x 4 voxels


def test_hirescam_sum_is_logit_minus_bias_plus_entropy_gap(net, x):
    out = explain(net, x, path="fast")
    a = net.features(x).detach()[0]  # (G, F, h, w)
    z = torch.einsum("gfhw,lfhw->lghw", a, net.head.cell_weights().detach())
    t = net.head.temperature
    p = torch.softmax(z.flatten(1) / t, dim=1).double()
    gap = t * (math.log(p.shape[1]) + (p * p.log()).sum(1))
    sums = out.maps["hirescam"].astype(np.float64).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(sums, out.logits - out.biases + gap.numpy(), rtol=1e-4, atol=1e-5)
    assert not out.methods_identical


@pytest.mark.parametrize("batched", [True, False])
def test_fast_path_equals_autograd_through_the_target_module(net, x, batched):
    assert_fast_equals_autograd(net, x, batched, target="target")


def test_hirescam_equals_captum_gradient_times_activation(net, x):
    captum_attr = pytest.importorskip("captum.attr", reason="captum is in the test extras")
    _, fast = fast_maps(net, x)
    gxa = captum_attr.LayerGradientXActivation(net, net.target)
    for c in range(net.n_labels):
        ref = gxa.attribute(x, target=c).sum(1).detach()
        torch.testing.assert_close(fast["hirescam"][c], ref, rtol=1e-5,
                                   atol=1e-6 * float(ref.abs().max()))


def test_card_round_trip_keeps_the_maxima(tmp_path):
    prep = {"shape": list(SHAPE), "spacing_mm": [10.0, 10.0, 20.0], "hu_window": [-1000, 800],
            "mean": [0.2] * C, "centre": "body",
            "channels": [{"stat": "mean"}, {"stat": "max"}, {"stat": "fraction", "hu": [-2000, -950]},
                         {"stat": "fraction", "hu": [200, 4000]}]}
    torch.manual_seed(7)
    net = AxialNet(len(LABELS), SHAPE, stem_width=4, widths=(4, 8), strides=(1, 2),
                   reduce_widths=(6,), in_channels=C, pooling="lse", input_maxima=True).eval()
    card = new_card(net, LABELS, ORGAN_CODES, prep)
    assert card["architecture"]["input_maxima"] is True and card["target_layer"] == "target"
    w, _ = save_model(net, card, tmp_path)
    loaded = load_model(w)
    assert loaded.model.input_maxima is not None and loaded.target_layer == "target"
    x = torch.randn(1, C, *SHAPE)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), net(x))
    out = explain(loaded, x, path="generic")  # autograd through the card's target layer
    ref = explain(loaded, x, path="fast")
    np.testing.assert_allclose(out.maps["hirescam"], ref.maps["hirescam"], rtol=1e-4, atol=1e-6)


def test_card_with_a_non_boolean_input_maxima_is_refused():
    from engine.model import ModelCardError
    from engine.model.card import validate_card

    torch.manual_seed(8)
    net = AxialNet(len(LABELS), SHAPE, stem_width=4, widths=(4,), strides=(2,), reduce_widths=(3,))
    card = new_card(net, LABELS, ORGAN_CODES, {"shape": list(SHAPE), "spacing_mm": [10.0, 10.0, 20.0],
                                              "hu_window": [-1000, 800], "mean": 0.2, "centre": "body"})
    card["weights"] = {"file": "x.safetensors", "sha256": "0" * 64}
    validate_card(card)
    card["architecture"]["input_maxima"] = "yes"
    with pytest.raises(ModelCardError, match="input_maxima must be true or false"):
        validate_card(card)


def test_channels_the_backbone_does_not_see_reach_the_head_through_the_maxima_only():
    net = small_lse_net(9, SHAPE, C, input_maxima=True, backbone_channels=2)
    assert net.backbone[0].in_channels == 3 * 2  # 3 slices x the first 2 channels
    assert net.feature_shape == (6 + 3 * C, 8, 8)
    x = torch.zeros(1, C, *SHAPE)
    base = net.features(x).detach()
    x[0, 3, 13, 22, 7] = 5.0  # channel 3: not seen by the backbone
    diff = (net.features(x).detach() - base)[0]  # (G, F, h, w)
    changed = torch.nonzero(diff.abs() > 1e-6)
    assert changed.tolist() == [[2, 6 + 3 * 3 + 1, 3, 5]]  # only its own maximum, its own cell
    assert_fast_equals_autograd(net, torch.randn(1, C, *SHAPE), True, target="target")
    with pytest.raises(ValueError, match="input_maxima"):
        AxialNet(5, SHAPE, in_channels=C, backbone_channels=2)


def test_card_round_trip_keeps_the_backbone_channels(tmp_path):
    from engine.model import ModelCardError
    from engine.model.card import validate_card

    torch.manual_seed(10)
    net = AxialNet(len(LABELS), SHAPE, stem_width=4, widths=(4, 8), strides=(1, 2), reduce_widths=(6,),
                   in_channels=C, pooling="lse", input_maxima=True, backbone_channels=3).eval()
    prep = {"shape": list(SHAPE), "spacing_mm": [10.0, 10.0, 20.0], "hu_window": [-1000, 800],
            "mean": [0.2] * C, "centre": "body",
            "channels": [{"stat": "mean"}, {"stat": "max"}, {"stat": "fraction", "hu": [-2000, -950]},
                         {"stat": "fraction", "hu": [200, 4000]}]}
    card = new_card(net, LABELS, ORGAN_CODES, prep)
    assert card["architecture"]["backbone_channels"] == 3
    w, _ = save_model(net, card, tmp_path)
    loaded = load_model(w)
    assert loaded.model.backbone_channels == 3
    x = torch.randn(1, C, *SHAPE)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), net(x))
    card["weights"] = {"file": "x.safetensors", "sha256": "0" * 64}
    card["architecture"]["backbone_channels"] = C + 1
    with pytest.raises(ModelCardError, match="backbone_channels"):
        validate_card(card)
