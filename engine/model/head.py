"""The classification head of AxialNet: per-cell linear scores, pooled over all cells.

Notation: ``A`` target-layer activations of one case, shape (G, F, h, w) (G slice groups,
F features, h x w in-plane cells); a *cell* is one (g, p) with p = (row, column).

Per-cell score of label c (linear in A, so HiResCAM stays exact)::

    z[c, g, p] = sum_f W[c, f, p] A[g, f, p]

Two poolings of z into the logit y_c (``pooling``):

* ``"mean"`` (the paper's AxialNet): ``W = V / G`` with V (L, F, h, w) the flattened linear
  layer, ``y_c = b_c + sum_{g,p} z[c, g, p]`` = mean over groups of ``V_c . vec(A_g) + b_c``.
  dy/dz = 1, so ``sum HiResCAM_c = y_c - b_c``.
* ``"lse"`` (log-sum-exp with temperature tau over all N = G h w cells)::

      W[c, f, p] = u[c, f] + V[c, f, p]      (a shared per-cell classifier u plus a
                                              position-aware term V, like the flattened head)
      y_c = b_c + tau * log( (1/N) sum_{g,p} exp(z[c, g, p] / tau) )

  A finding in one cell of one group is not divided by G; dy/dz = pi = softmax(z / tau) over
  the cells.  HiResCAM_c = pi * z (the attention-weighted per-cell evidence) and::

      sum HiResCAM_c = sum pi z = y_c - b_c + tau * (log N - H(pi_c)),
      H(pi) = -sum pi log pi  (entropy of the cell weights; log N - H >= 0)

  which is exact (tested).  Grad-CAM averages dy/dA = pi W over cells, alpha_cf =
  mean_{g,p} pi[c,g,p] W[c,f,p]: one weight per feature for every location, so it keeps the
  shared part and loses where the model looked (see docs/methods.md).
"""

from __future__ import annotations

import math

import torch
from torch import nn

POOLINGS = ("mean", "lse")


class PooledLinearHead(nn.Linear):
    """``nn.Linear`` over flattened (F, h, w) features (weight = V) with cell pooling.

    Called on a flattened group feature vector it gives that group's linear score
    ``W_c . vec(A_g) + b`` (W as in the module docstring, without the 1/G of "mean").
    """

    def __init__(self, feature_shape: tuple[int, int, int], n_labels: int, n_groups: int,
                 pooling: str = "mean", temperature: float = 1.0) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        F_, h, w = (int(v) for v in feature_shape)
        super().__init__(F_ * h * w, int(n_labels))
        self.feature_shape = (F_, h, w)
        self.n_groups = int(n_groups)
        self.pooling = pooling
        self.temperature = float(temperature)
        if pooling == "lse":
            self.shared = nn.Parameter(torch.zeros(int(n_labels), F_))
            if self.shared.device.type != "meta":  # a meta tensor has no values to draw, and
                # normal_ on one imports torch._dynamo (1.5 s of every model load, measured)
                nn.init.normal_(self.shared, std=1.0 / math.sqrt(F_))
            with torch.no_grad():
                self.weight.mul_(0.1)

    def position_weights(self) -> torch.Tensor:
        """(L, F, h, w): u + V for "lse", V for "mean" (per-group weights)."""
        V = self.weight.reshape(-1, *self.feature_shape)
        if self.pooling == "lse":
            return V + self.shared[:, :, None, None]
        return V

    def cell_weights(self) -> torch.Tensor:
        """W of the module docstring, (L, F, h, w): dz/dA per cell."""
        W = self.position_weights()
        return W / self.n_groups if self.pooling == "mean" else W

    def forward(self, flat: torch.Tensor) -> torch.Tensor:  # per-group linear score
        return nn.functional.linear(flat, self.position_weights().flatten(1), self.bias)

    def cell_scores(self, a: torch.Tensor) -> torch.Tensor:
        """a (B, G, F, h, w) -> z (B, L, G, h, w)."""
        return torch.einsum("bgfhw,lfhw->blghw", a, self.cell_weights())

    def pool(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, L, G, h, w) -> logits (B, L)."""
        flat = z.flatten(2)
        if self.pooling == "mean":
            return flat.sum(-1) + self.bias
        t = self.temperature
        return t * (torch.logsumexp(flat / t, dim=-1) - math.log(flat.shape[-1])) + self.bias

    def cell_gradients(self, z: torch.Tensor) -> torch.Tensor:
        """dy/dz (B, L, G, h, w): 1 for "mean", softmax(z / tau) over cells for "lse"."""
        if self.pooling == "mean":
            return torch.ones_like(z)
        return torch.softmax(z.flatten(2) / self.temperature, dim=-1).reshape(z.shape)

    def hirescam(self, z: torch.Tensor) -> torch.Tensor:
        """HiResCAM from the cell scores: sum_f (dy/dA) A = (dy/dz) z, (B, L, G, h, w)."""
        return self.cell_gradients(z) * z

    def gradcam_weights(self, z: torch.Tensor) -> torch.Tensor:
        """alpha (B, L, F): dy/dA = (dy/dz) W averaged over all cells."""
        pi = self.cell_gradients(z)
        n = pi[0, 0].numel()
        return torch.einsum("blghw,lfhw->blf", pi, self.cell_weights()) / n

    def hirescam_identity_gap(self, z: torch.Tensor) -> torch.Tensor:
        """sum(HiResCAM) - (y - b), (B, L): 0 for "mean", tau (log N - H(pi)) for "lse"."""
        if self.pooling == "mean":
            return torch.zeros(z.shape[:2], dtype=z.dtype, device=z.device)
        pi = self.cell_gradients(z).flatten(2)
        ent = -(pi * torch.log(pi.clamp_min(1e-38))).sum(-1)
        return self.temperature * (math.log(pi.shape[-1]) - ent)
