"""One base class for class-activation maps; each method overrides one step.

Notation (design section 7): ``A`` are the target-layer activations of ONE input, shape
(N, F, *S): N leading positions (the slice groups of AxialNet, or 1 for an ordinary
network), F features, S spatial dims (2D or 3D; the code never assumes how many).
``G = dy/dA`` for the selected labels has shape (L, N, F, *S) or, when the gradient is the
same for every leading position (AxialNet's shared linear head), (L, 1, F, *S).

Every method computes ``map_c = sum_f w_cf * A_f`` and only ``weights`` differs:

* HiResCAM: ``w = G`` (element-wise gradient), so ``map_c = sum_f G_cf * A_f``.
* Grad-CAM: ``w_cf = alpha_cf = mean of G_cf over all N leading positions and all spatial
  positions`` (as the HiResCAM paper's authors compute it for AxialNet).

Maps are raw and signed, shape (L, N, *S).
"""

from __future__ import annotations

import torch


class CAMMethod:
    """Base class: ``maps(A, G) = sum over features of weights(G) * A``."""

    name = "cam"

    def weights(self, grads: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def maps(self, activations: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        """activations (N, F, *S), grads (L, N|1, F, *S) -> maps (L, N, *S)."""
        if grads.dim() != activations.dim() + 1:
            raise ValueError(f"grads {tuple(grads.shape)} do not match activations "
                             f"{tuple(activations.shape)} plus a leading label axis")
        w = self.weights(grads)
        return (w * activations.unsqueeze(0)).sum(dim=2)


def _non_feature_dims(grads: torch.Tensor) -> tuple[int, ...]:
    """Dims of (L, N, F, *S) to average over for Grad-CAM: N and every spatial dim."""
    return (1, *range(3, grads.dim()))


def identical_maps(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5) -> bool:
    """True when two stacks of maps agree to float precision (relative to their scale)."""
    scale = float(torch.maximum(a.abs().max(), b.abs().max())) if a.numel() else 0.0
    return bool((a - b).abs().max() <= rtol * scale + 1e-12) if a.numel() else True
