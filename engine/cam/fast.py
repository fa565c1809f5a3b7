"""Fast path for heads that are linear in the flattened target activations.

AxialNet's output is y = (1/G) sum_g (W vec(A_g)) + b, so dy_c/dA_g = W_c / G for every group
g: the gradient is known without a backward pass.  One forward pass gives A; the maps of
*all* labels and *both* methods are then two contractions over the feature axis:

    HiResCAM[c, g, p] = (1/G) sum_f W[c, f, p] A[g, f, p]
    Grad-CAM[c, g, p] = (1/G) sum_f mean_p'(W[c, f, p']) A[g, f, p]

(p = spatial position; Grad-CAM's mean over groups of the constant W_c/G is W_c/G itself).
Because HiResCAM sums W_c . vec(A_g) / G over g, sum(HiResCAM_c) = y_c - b_c exactly.
"""

from __future__ import annotations

import torch

from engine.model.net import AxialNet


def linear_head_gradients(model: AxialNet) -> torch.Tensor:
    """dy/dA as (L, 1, F, h, w): W reshaped to the feature shape, divided by G."""
    W = model.head.weight
    return (W / model.n_groups).reshape(W.shape[0], 1, *model.feature_shape)


@torch.no_grad()
def fast_maps(model: AxialNet, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One forward pass -> (logits (L,), {"hirescam": (L, G, h, w), "gradcam": ...})."""
    if x.shape[0] != 1:
        raise ValueError("fast_maps explains one input at a time (batch size 1)")
    a = model.features(x)[0]  # (G, F, h, w)
    logits = model.classify(a[None])[0]
    W = model.head.weight.reshape(-1, *model.feature_shape) / model.n_groups  # (L, F, h, w)
    hires = torch.einsum("gfhw,lfhw->lghw", a, W)
    grad = torch.einsum("gfhw,lf->lghw", a, W.mean(dim=(2, 3)))
    return logits, {"hirescam": hires, "gradcam": grad}


def hirescam_batch(model: AxialNet, a: torch.Tensor) -> torch.Tensor:
    """Differentiable HiResCAM for a batch: a (B, G, F, h, w) -> (B, L, G, h, w).

    Used by the mask loss during training.
    """
    W = model.head.weight.reshape(-1, *model.feature_shape) / model.n_groups
    return torch.einsum("bgfhw,lfhw->blghw", a, W)
