"""The CAM method registry: one definition per method, used by every path.

A third method registered at run time (here a toy "gradient magnitude" CAM, weights = |dy/dA|)
needs only its generic rule to flow through the generic autograd path and, through the
default closed form of ``CAMMethod.head_maps``, through the fast path with the same maps.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.cam import GenericCAM, explain, fast_maps, registry
from engine.cam.core import CAMMethod
from engine.model import AxialNet

SHAPE = (32, 32, 12)


class AbsGradCAM(CAMMethod):
    name = "absgrad"
    title = "|gradient| CAM"

    def weights(self, grads: torch.Tensor) -> torch.Tensor:
        return grads.abs()


def _net(pooling: str) -> AxialNet:
    torch.manual_seed(5)
    m = AxialNet(3, SHAPE, stem_width=4, widths=(4, 8), strides=(1, 2), reduce_widths=(6,),
                 pooling=pooling, temperature=0.7)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        m.head.weight.normal_(0, 0.5)
    return m.eval()


@pytest.fixture
def toy():
    method = registry.register(AbsGradCAM())
    yield method
    registry.unregister(method.name)


def test_builtin_methods_are_defined_once():
    assert registry.METHODS == ("hirescam", "gradcam")
    assert [registry.title(m) for m in registry.METHODS] == ["HiResCAM", "Grad-CAM"]
    from engine.results import METHODS

    assert METHODS is registry.METHODS
    with pytest.raises(ValueError, match="unknown CAM method"):
        registry.get_method("nope")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.get_method("hirescam"))


@pytest.mark.parametrize("pooling", ["mean", "lse"])
def test_registered_method_flows_through_generic_and_fast_paths(toy, pooling):
    net = _net(pooling)
    torch.manual_seed(6)
    x = torch.randn(1, *SHAPE)
    with GenericCAM(net, "reduce") as cam:  # default: every registered method
        logits, generic = cam(x)
    assert set(generic) == {"hirescam", "gradcam", "absgrad"}
    a = generic["absgrad"]
    assert a.shape == generic["hirescam"].shape and not torch.allclose(a, generic["hirescam"])
    fast_logits, fast = fast_maps(net, x)
    torch.testing.assert_close(fast_logits, logits, rtol=1e-5, atol=1e-5)
    for m in generic:
        torch.testing.assert_close(fast[m], generic[m], rtol=1e-4, atol=1e-5)
    out = explain(net, x, path="generic", methods=("hirescam", "absgrad"))
    assert set(out.maps) == {"hirescam", "absgrad"}
    assert out.maps["absgrad"].shape == out.maps["hirescam"].shape


def test_default_closed_form_matches_builtin_overrides():
    """CAMMethod.head_maps (dy/dA from the head, then the generic rule) equals the cheap
    contractions HiResCAM and Grad-CAM override it with."""
    for pooling in ("mean", "lse"):
        net = _net(pooling)
        a = net.features(torch.randn(2, *SHAPE))
        z = net.head.cell_scores(a)
        for name in registry.METHODS:
            method = registry.get_method(name)
            torch.testing.assert_close(CAMMethod.head_maps(method, net.head, a, z),
                                       method.head_maps(net.head, a, z), rtol=1e-4, atol=1e-5)


def test_method_list_imports_no_torch():
    """The viewer reads the methods and their titles on the GUI thread, before any model."""
    import subprocess
    import sys

    code = ("import sys, engine.cam.registry as r, engine.results, engine.cam.sampling\n"
            "print(r.METHODS, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False"
