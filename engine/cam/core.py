"""One base class for class-activation maps; each method overrides one step.

Notation (docs/methods.md): ``A`` are the target-layer activations of ONE input, shape
(N, F, *S): N leading positions (the slice groups of AxialNet, or 1 for an ordinary
network), F features, S spatial dims (2D or 3D; the code never assumes how many).
``G = dy/dA`` for the selected labels has shape (L, N, F, *S) or, when the gradient is the
same for every leading position (AxialNet's shared linear head), (L, 1, F, *S).

Every method computes ``map_c = sum_f w_cf * A_f`` and only ``weights`` differs:

* HiResCAM: ``w = G`` (element-wise gradient), so ``map_c = sum_f G_cf * A_f``.
* Grad-CAM: ``w_cf = alpha_cf = mean of G_cf over all N leading positions and all spatial
  positions`` (as the HiResCAM paper's authors compute it for AxialNet).

Each method is defined once, in its own module, in two forms:

* :meth:`CAMMethod.weights`, the generic rule (weights from gradients): any model, any
  target layer, gradients by autograd (:class:`engine.cam.generic.GenericCAM`);
* :meth:`CAMMethod.head_maps`, the same maps in closed form for AxialNet's head
  (:class:`engine.model.head.PooledLinearHead`, linear in A per cell), with no backward pass
  (:mod:`engine.cam.fast`, the evaluation and the training's mask loss).  The default is
  exact for any method: it builds ``dy/dA = (dy/dz) W`` from the head and applies
  ``weights``; a method overrides it with a cheaper contraction when it has one.

Methods are looked up by name in :mod:`engine.cam.registry`.  Maps are raw and signed,
shape (L, N, *S).  This module never imports torch at import time (the viewer reads the
method names and titles without loading torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from engine.model.head import PooledLinearHead


class CAMMethod:
    """Base class: ``maps(A, G) = sum over features of weights(G) * A``."""

    name = "cam"  # key in every ``maps`` dict, CLI ``--methods`` and output folder name
    title = "CAM"  # shown by the viewer

    def weights(self, grads: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Channel weights (L, N|1, F, *S) or broadcastable, from the gradients (L, N|1, F, *S)."""
        raise NotImplementedError

    def maps(self, activations: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        """activations (N, F, *S), grads (L, N|1, F, *S) -> maps (L, N, *S)."""
        if grads.dim() != activations.dim() + 1:
            raise ValueError(f"grads {tuple(grads.shape)} do not match activations "
                             f"{tuple(activations.shape)} plus a leading label axis")
        w = self.weights(grads)
        return (w * activations.unsqueeze(0)).sum(dim=2)

    def head_maps(self, head: PooledLinearHead, a: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Maps for AxialNet's head without a backward pass: activations a (B, G, F, h, w)
        and cell scores ``z = head.cell_scores(a)`` (B, L, G, h, w) -> (B, L, G, h, w).

        Default: ``dy/dA[c, g, f, p] = (dy/dz)[c, g, p] W[c, f, p]`` (the head is linear per
        cell) fed to :meth:`maps`.  Exact, differentiable, but it holds dy/dA for all labels.
        """
        import torch

        grads = head.cell_gradients(z).unsqueeze(3) * head.cell_weights()[None, :, None]
        return torch.stack([self.maps(a[b], grads[b]) for b in range(a.shape[0])])


def _non_feature_dims(grads: torch.Tensor) -> tuple[int, ...]:
    """Dims of (L, N, F, *S) to average over for Grad-CAM: N and every spatial dim."""
    return (1, *range(3, grads.dim()))


def identical_maps(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5) -> bool:
    """True when two stacks of maps agree to float precision (relative to their scale)."""
    if not a.numel():
        return True
    scale = float(a.abs().max().maximum(b.abs().max()))
    return bool((a - b).abs().max() <= rtol * scale + 1e-12)
