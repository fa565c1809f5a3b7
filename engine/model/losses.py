"""Training losses: multi-label BCE and the HiResCAM mask loss (design section 8).

Mask loss.  For case b and label c let M[b, c] be the HiResCAM map on the map grid
(differentiable; for AxialNet HiResCAM = A * W_c / G element-wise summed over features) and
R[b, c] the *allowed region*: the cells covered by the label's organ when the label is
present, and no cell at all when it is absent.  The loss is binary cross-entropy with
logits, target 0, over every map value outside the allowed region::

    L_mask = mean over {(b, c, cell) : cell not in R[b, c]} of softplus(M[b, c, cell])

    total = BCE(logits, labels) + lambda * L_mask,   lambda = 1/3 by default

Cases without an organ map (user data) contribute nothing to L_mask.  A cell counts as
inside an organ when any of its voxels is in the organ (``organ_cells > 0``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_LAMBDA = 1.0 / 3.0


def allowed_regions(y: torch.Tensor, organ_cells: torch.Tensor,
                    label_organ_index: torch.Tensor) -> torch.Tensor:
    """bool (B, L, mi, mj, mk): label's organ cells if the label is present, else empty.

    ``organ_cells`` (B, n_organs, mi, mj, mk) coverage; ``label_organ_index`` (L,) long.
    """
    inside = organ_cells[:, label_organ_index] > 0  # (B, L, mi, mj, mk)
    return inside & (y > 0.5)[:, :, None, None, None]


def mask_loss(cams: torch.Tensor, y: torch.Tensor, organ_cells: torch.Tensor,
              label_organ_index: torch.Tensor, has_organs: torch.Tensor) -> torch.Tensor:
    """Mean BCE-with-logits (target 0) of HiResCAM values outside the allowed region.

    ``cams`` (B, L, mi, mj, mk) raw HiResCAM on the map grid.
    """
    outside = ~allowed_regions(y, organ_cells, label_organ_index)
    outside &= has_organs[:, None, None, None, None]
    n = outside.sum()
    if int(n) == 0:
        return cams.sum() * 0.0
    return (F.softplus(cams) * outside).sum() / n


def classification_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, y)
