"""Shared check of the CAM tests: the fast path equals the generic autograd path."""

from __future__ import annotations

import torch

from engine.cam import GenericCAM, fast_maps


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
