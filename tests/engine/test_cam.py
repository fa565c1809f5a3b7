"""CAM maths: HiResCAM identity, fast == generic, Grad-CAM definition, GAP identity, 2D/3D."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cam_checks import assert_fast_equals_autograd
from torch import nn

from engine.cam import (
    GenericCAM,
    GradCAM,
    HiResCAM,
    TargetLayerError,
    explain,
    fast_maps,
    map_affine,
)
from engine.model import AxialNet

SHAPE = (32, 32, 12)


def small_axialnet(seed: int = 0, n_labels: int = 5) -> AxialNet:
    torch.manual_seed(seed)
    m = AxialNet(n_labels, SHAPE, stem_width=4, widths=(4, 8), strides=(1, 2), reduce_widths=(6,))
    for mod in m.modules():  # non-trivial BN statistics, as after training
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        m.head.bias.normal_()
    return m.eval()


@pytest.fixture(scope="module")
def net():
    return small_axialnet()


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(1)
    return torch.randn(1, *SHAPE)


def test_hirescam_sums_to_logit_minus_bias(net, x):
    out = explain(net, x, path="fast")
    sums = out.maps["hirescam"].astype(np.float64).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(sums, out.logits - out.biases, rtol=1e-5, atol=1e-5)
    # and the logits are the model's own
    with torch.no_grad():
        np.testing.assert_allclose(out.logits, net(x)[0].numpy(), rtol=1e-6, atol=1e-6)
    assert not out.methods_identical


@pytest.mark.parametrize("batched", [True, False])
def test_fast_path_equals_generic_autograd_path(net, x, batched):
    assert_fast_equals_autograd(net, x, batched)


def test_gradcam_is_mean_gradient_weighted_activations(net, x):
    """Grad-CAM by hand: alpha_cf = mean of dy_c/dA_f over all groups and positions."""
    acts = {}
    h = net.reduce.register_forward_hook(lambda m, i, o: acts.setdefault("a", o))
    y = net(x)[0]
    h.remove()
    a = acts["a"]  # (G, F, h, w)
    _, fast = fast_maps(net, x)
    for c in (0, 3):
        (g,) = torch.autograd.grad(y[c], a, retain_graph=True)
        alpha = g.mean(dim=(0, 2, 3))
        manual = (alpha[None, :, None, None] * a).sum(1).detach()
        torch.testing.assert_close(fast["gradcam"][c], manual, rtol=1e-4, atol=1e-7)
        hires = (g * a).sum(1).detach()
        torch.testing.assert_close(fast["hirescam"][c], hires, rtol=1e-4, atol=1e-7)


def test_each_group_map_depends_only_on_its_own_three_slices(net):
    """Map axis mk is the slice group: changing slice k changes only maps[..., k // 3]."""
    torch.manual_seed(2)
    x0 = torch.randn(1, *SHAPE)
    x1 = x0.clone()
    x1[..., 7] += 3.0
    m0 = explain(net, x0).maps["hirescam"]
    m1 = explain(net, x1).maps["hirescam"]
    changed = np.abs(m1 - m0).max(axis=(0, 1, 2))
    assert changed[7 // 3] > 0
    assert np.all(changed[np.arange(len(changed)) != 7 // 3] == 0)


def test_map_affine_puts_map_voxels_on_their_model_blocks(net, x):
    rng = np.random.default_rng(0)
    model_aff = np.diag([2.0, 3.0, 5.0, 1.0])
    model_aff[:3, 3] = rng.normal(size=3) * 50
    out = explain(net, x, model_affine=model_aff)
    mi, mj, mk = out.maps["hirescam"].shape[1:]
    assert (mi, mj, mk) == (8, 8, 4)
    aff = out.map_affine
    d = np.array(SHAPE) / np.array([mi, mj, mk])
    for _ in range(20):
        p = rng.integers(0, SHAPE)
        world = model_aff[:3, :3] @ p + model_aff[:3, 3]
        mapidx = np.linalg.solve(aff[:3, :3], world - aff[:3, 3])
        np.testing.assert_array_equal(np.round(mapidx), p // d)
        assert np.all(np.abs(mapidx - p // d) <= 0.5 * (1 - 1 / d) + 1e-9)
    # group 0 is centred on the middle of slices 0, 1, 2
    np.testing.assert_allclose((aff @ [0, 0, 0, 1])[2], (model_aff @ [0, 0, 1, 1])[2])


class GapNet2d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 5, 3, padding=1))
        self.act = nn.ReLU()
        self.fc = nn.Linear(5, 4)

    def forward(self, x):
        return self.fc(self.act(self.body(x)).mean(dim=(2, 3)))


class GapNet3d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, 3, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(self.body(x).mean(dim=(2, 3, 4)))


class FlatNet3d(nn.Module):
    """3D target layer followed by a linear head over the flattened features."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(1, 3, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(3 * 4 * 5 * 6, 3)

    def forward(self, x):
        return self.fc(self.body(x).flatten(1))


@pytest.mark.parametrize("model_cls,x_shape,layer", [
    (GapNet2d, (1, 2, 9, 7), "act"),
    (GapNet3d, (1, 1, 6, 5, 4), "body"),
])
def test_gap_head_makes_methods_identical(model_cls, x_shape, layer):
    torch.manual_seed(3)
    model = model_cls().eval()
    x = torch.randn(*x_shape)
    out = explain(model, x, target_layer=layer)
    assert out.path == "generic"
    assert out.methods_identical
    np.testing.assert_allclose(out.maps["hirescam"], out.maps["gradcam"], rtol=1e-5, atol=1e-7)
    assert out.maps["hirescam"].shape == (out.logits.size, 1, *x_shape[2:])
    assert np.isnan(out.biases).all()


def test_3d_flat_head_hirescam_identity_and_methods_differ():
    torch.manual_seed(4)
    model = FlatNet3d().eval()
    x = torch.randn(1, 1, 4, 5, 6)
    out = explain(model, x, target_layer="body")
    assert not out.methods_identical
    sums = out.maps["hirescam"].reshape(3, -1).astype(np.float64).sum(1)
    np.testing.assert_allclose(sums, out.logits - model.fc.bias.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_generic_cam_removes_hooks_and_rejects_unknown_layer(net, x):
    with GenericCAM(net, "reduce") as cam:
        assert len(net.reduce._forward_hooks) == 1
        cam(x)
    assert len(net.reduce._forward_hooks) == 0
    with pytest.raises(TargetLayerError, match="not found"):
        GenericCAM(net, "no_such_layer")


def test_methods_override_only_the_weight_step():
    g = torch.randn(2, 3, 4, 5, 6)
    assert torch.equal(HiResCAM().weights(g), g)
    w = GradCAM().weights(g)
    assert w.shape == (2, 1, 4, 1, 1)
    torch.testing.assert_close(w[:, 0, :, 0, 0], g.permute(0, 2, 1, 3, 4).flatten(2).mean(-1))


def test_map_affine_rejects_non_integer_blocks():
    with pytest.raises(ValueError):
        map_affine(np.eye(4), (10, 10, 9), (3, 3, 3))
