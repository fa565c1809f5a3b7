"""Shared check of the CAM tests: the fast path equals the generic autograd path."""

from __future__ import annotations

import torch

from engine.cam import GenericCAM, fast_maps
from engine.model import AxialNet


def small_lse_net(seed: int, shape, in_channels: int, **kw) -> AxialNet:
    """A small log-sum-exp AxialNet in eval mode with random BatchNorm statistics and head
    (so that no map is trivially zero); ``kw`` go to :class:`AxialNet`."""
    torch.manual_seed(seed)
    m = AxialNet(5, shape, stem_width=4, widths=(4, 8), strides=(1, 2), reduce_widths=(6,),
                 in_channels=in_channels, pooling="lse", temperature=0.7, **kw)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        m.head.bias.normal_()
        m.head.weight.normal_(0, 0.5)
    return m.eval()


def assert_fast_equals_autograd(net, x, batched: bool = True, target: str = "reduce") -> None:
    """Logits and both methods' maps of ``fast_maps`` equal ``GenericCAM``'s (relative to
    each map's scale, which must not be zero)."""
    logits_f, fast = fast_maps(net, x)
    with GenericCAM(net, target, batched=batched) as cam:
        logits_g, gen = cam(x)
    torch.testing.assert_close(logits_f, logits_g)
    for m in ("hirescam", "gradcam"):
        scale = float(fast[m].abs().max())
        assert scale > 0
        torch.testing.assert_close(fast[m], gen[m], rtol=1e-4, atol=1e-5 * scale)
