"""The log-sum-exp head with input channels: its HiResCAM identity, fast path == autograd,
HiResCAM == captum's gradient x activation, and Grad-CAM that differs from HiResCAM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from cam_checks import assert_fast_equals_autograd, small_lse_net

from engine.cam import explain, fast_maps
from engine.model import AxialNet

SHAPE = (32, 32, 12)
C = 4


@pytest.fixture(scope="module")
def net() -> AxialNet:
    return small_lse_net(3, SHAPE, C)


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    torch.manual_seed(4)
    return torch.randn(1, C, *SHAPE)


def _cell_scores(net, x):
    acts = {}
    h = net.reduce.register_forward_hook(lambda m, i, o: acts.setdefault("a", o))
    with torch.no_grad():
        y = net(x)[0]
    h.remove()
    a = acts["a"]  # (G, F, h, w)
    with torch.no_grad():
        W = net.head.weight.reshape(-1, *net.feature_shape) + net.head.shared[:, :, None, None]
        return y, torch.einsum("gfhw,lfhw->lghw", a, W)


def test_lse_logit_is_log_mean_exp_of_cell_scores(net, x):
    y, z = _cell_scores(net, x)
    t = net.head.temperature
    n = z[0].numel()
    by_hand = torch.stack([t * torch.log(torch.exp(z[c] / t).sum() / n) for c in range(len(y))])
    torch.testing.assert_close(y, by_hand + net.head.bias.detach(), rtol=1e-5, atol=1e-5)


def test_hirescam_sum_is_logit_minus_bias_plus_entropy_gap(net, x):
    out = explain(net, x, path="fast")
    _, z = _cell_scores(net, x)
    t = net.head.temperature
    p = torch.softmax(z.flatten(1) / t, dim=1).double()
    gap = t * (math.log(p.shape[1]) + (p * p.log()).sum(1))  # tau (log N - H)
    sums = out.maps["hirescam"].astype(np.float64).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(sums, out.logits - out.biases + gap.numpy(), rtol=1e-4, atol=1e-5)
    assert np.all(gap.numpy() >= -1e-9)
    assert not out.methods_identical


@pytest.mark.parametrize("batched", [True, False])
def test_fast_path_equals_autograd(net, x, batched):
    assert_fast_equals_autograd(net, x, batched)


def test_hirescam_equals_captum_gradient_times_activation(net, x):
    captum_attr = pytest.importorskip("captum.attr", reason="captum is in the test extras")
    _, fast = fast_maps(net, x)
    gxa = captum_attr.LayerGradientXActivation(net, net.reduce)
    for c in range(net.n_labels):
        ref = gxa.attribute(x, target=c).sum(1).detach()  # (G, h, w): sum over features
        scale = float(ref.abs().max())
        torch.testing.assert_close(fast["hirescam"][c], ref.detach(), rtol=1e-5,
                                   atol=1e-6 * scale)


def test_gradcam_uses_cell_averaged_gradient_and_differs_from_hirescam(net, x):
    acts = {}
    h = net.reduce.register_forward_hook(lambda m, i, o: acts.setdefault("a", o))
    y = net(x)[0]
    h.remove()
    a = acts["a"]
    _, fast = fast_maps(net, x)
    for c in (0, 2):
        (g,) = torch.autograd.grad(y[c], a, retain_graph=True)
        alpha = g.mean(dim=(0, 2, 3))
        manual = (alpha[None, :, None, None] * a).sum(1).detach()
        torch.testing.assert_close(fast["gradcam"][c], manual, rtol=1e-4, atol=1e-7)
    diff = (fast["hirescam"] - fast["gradcam"]).abs().max()
    assert float(diff) > 1e-3 * float(fast["hirescam"].abs().max())


def test_input_channels_are_grouped_per_slice(net):
    """Changing channel 2 of slice 7 changes only group 7 // 3 of the maps."""
    torch.manual_seed(5)
    x0 = torch.randn(1, C, *SHAPE)
    x1 = x0.clone()
    x1[0, 2, ..., 7] += 3.0
    _, m0 = fast_maps(net, x0)
    _, m1 = fast_maps(net, x1)
    # the lse weights couple the groups of the HiResCAM map; the raw cell scores do not
    z0 = net.head.cell_scores(net.features(x0))
    z1 = net.head.cell_scores(net.features(x1))
    changed = (z1 - z0).abs().amax(dim=(0, 1, 3, 4))
    assert changed[7 // 3] > 0
    assert torch.all(changed[torch.arange(len(changed)) != 7 // 3] == 0)
    with pytest.raises(ValueError, match="channel"):
        net(torch.randn(1, C + 1, *SHAPE))
