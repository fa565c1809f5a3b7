"""Fast path for heads that are linear per cell in the target activations.

AxialNet's per-cell scores are z[c, g, p] = sum_f W[c, f, p] A[g, f, p] and its logit is a
pooling of z (:mod:`engine.model.head`), so dy/dA[g, f, p] = (dy/dz)[c, g, p] W[c, f, p] is
known from the forward pass: dy/dz is 1 for the mean head and softmax(z / tau) for the
log-sum-exp head.  One forward pass gives A; the maps of *all* labels and every registered
method (:mod:`engine.cam.registry`, each method's ``head_maps``) are then contractions over
the feature axis, with no backward pass:

    HiResCAM[c, g, p] = sum_f (dy/dA) A = (dy/dz)[c, g, p] z[c, g, p]
    Grad-CAM[c, g, p] = sum_f alpha[c, f] A[g, f, p],  alpha = mean_{g,p} (dy/dz) W

For the mean head sum(HiResCAM_c) = y_c - b_c exactly; for the log-sum-exp head the sum is
y_c - b_c + tau (log N - H(softmax)) (``PooledLinearHead.hirescam_identity_gap``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from engine.cam import registry
from engine.model.net import AxialNet


@torch.no_grad()
def fast_maps(model: AxialNet, x: torch.Tensor, methods: Sequence[str] | None = None
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One forward pass -> (logits (L,), {method: (L, G, h, w)}), all registered methods
    unless ``methods`` names some."""
    if x.shape[0] != 1:
        raise ValueError("fast_maps explains one input at a time (batch size 1)")
    a = model.features(x)  # (1, G, F, h, w)
    maps = batch_maps(model, a, methods)
    return maps.pop("logits")[0], {m: v[0] for m, v in maps.items()}


def batch_maps(model: AxialNet, a: torch.Tensor, methods: Sequence[str] | None = None
               ) -> dict[str, torch.Tensor]:
    """Activations (B, G, F, h, w) -> {"logits": (B, L), method: (B, L, G, h, w), ...}.

    Differentiable (the mask loss uses it with ``methods=("hirescam",)``)."""
    head = model.head
    z = head.cell_scores(a)
    chosen = registry.registered() if methods is None else [registry.get_method(m) for m in methods]
    return {"logits": head.pool(z), **{m.name: m.head_maps(head, a, z) for m in chosen}}
