"""Training losses: BCE, the HiResCAM mask loss, the lesion loss (docs/training.md).

Mask loss.  For case b and label c let M[b, c] be the HiResCAM map on the map grid
(differentiable; for AxialNet every cell is a logit contribution, W_c A / G summed over
features, and the cells sum to y_c - b_c) and R[b, c] the *allowed region*: the cells
covered by the label's organ when the label is present, and no cell at all when it is
absent.  The loss is binary cross-entropy with logits, target 0, of the HiResCAM evidence
outside the allowed region, taken per map::

    O[b, c] = sum_{cell not in R[b, c]} relu(M[b, c, cell])   (positive evidence outside)
    L_mask  = mean over maps (b, c) of softplus(O[b, c])       (= BCE-with-logits(O, 0))

``evidence="signed"`` sums the signed cells instead (models up to 3.0): the network can then
meet the loss by *cancelling* positive evidence outside the organ with negative evidence
elsewhere outside, and the heat map (which shows positive evidence) still lands outside —
measured on model 3.0: HiResCAM's positive mass inside the organ 0.625 with the signed mask
loss against 0.654 for the base model without any (docs/training.md, "Mask loss on positive
evidence").  ``"positive"`` penalises only what the reader sees, and its gradient is zero
once no outside cell is positive.

    total = BCE(logits, labels) + lambda * L_mask,   lambda = 1/3 by default

Why per map and not per cell: a cell is a tiny logit contribution (about 1/2300 of the
logit for the bundled model), so BCE on each cell separately is either inert (averaged over
cells, the gradient on a cell is ~1/2300 of the classification gradient; measured: no
change in 1200 training steps) or overwhelming (summed over cells, the push on the logit is
~2300 times the classification gradient; measured: validation BCE 0.54 -> 0.75 within 50
steps).  On the per-map outside evidence the gradient on every outside cell, sigmoid(O) /
#maps, is of the same order as the classification gradient, and it saturates once the
outside evidence is clearly negative.

Cases without an organ map (user data) contribute nothing to L_mask.  A cell counts as
inside an organ when any of its voxels is in the organ (``organ_cells > 0``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_LAMBDA = 1.0 / 3.0
MASK_EVIDENCE = ("positive", "signed")


def allowed_regions(y: torch.Tensor, organ_cells: torch.Tensor,
                    label_organ_index: torch.Tensor) -> torch.Tensor:
    """bool (B, L, mi, mj, mk): label's organ cells if the label is present, else empty.

    ``organ_cells`` (B, n_organs, mi, mj, mk) coverage; ``label_organ_index`` (L,) long.
    """
    inside = organ_cells[:, label_organ_index] > 0  # (B, L, mi, mj, mk)
    return inside & (y > 0.5)[:, :, None, None, None]


def outside_evidence(cams: torch.Tensor, y: torch.Tensor, organ_cells: torch.Tensor,
                     label_organ_index: torch.Tensor, evidence: str = "positive") -> torch.Tensor:
    """O (B, L): sum of the HiResCAM cells (their positive parts, or signed) outside each
    label's allowed region."""
    if evidence not in MASK_EVIDENCE:
        raise ValueError(f"mask evidence must be one of {MASK_EVIDENCE}, got {evidence!r}")
    outside = ~allowed_regions(y, organ_cells, label_organ_index)
    cells = cams.clamp_min(0) if evidence == "positive" else cams
    return (cells * outside).flatten(2).sum(-1)


def mask_loss(cams: torch.Tensor, y: torch.Tensor, organ_cells: torch.Tensor,
              label_organ_index: torch.Tensor, has_organs: torch.Tensor,
              evidence: str = "positive") -> torch.Tensor:
    """Mean over maps of BCE-with-logits(outside evidence, 0); ``cams`` (B, L, mi, mj, mk)."""
    o = outside_evidence(cams, y, organ_cells, label_organ_index, evidence)  # (B, L)
    w = has_organs[:, None].to(o.dtype).expand_as(o)
    n = w.sum()
    if float(n) == 0:
        return cams.sum() * 0.0
    return (F.softplus(o) * w).sum() / n


def classification_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, y)


def lesion_loss(cell_scores: torch.Tensor, lesion_cells: torch.Tensor,
                pos_weight: float = 50.0, balanced: bool = False) -> torch.Tensor:
    """Per-cell lesion loss (phantoms, whose lesion masks are known).

    ``cell_scores`` z (B, L, mi, mj, mk), the head's per-cell scores (``PooledLinearHead``);
    ``lesion_cells`` (B, L, mi, mj, mk) 1 where the label's lesion touches the cell (all 0
    for an absent label).  BCE-with-logits of every cell against that target, positive
    cells weighted ``pos_weight`` (a lesion covers few cells), averaged over cells and maps.
    It tells the network *where* a small finding is, which the case label alone does not.
    ``balanced``: instead, per map the mean BCE over its lesion cells plus the mean over its
    other cells (a one-cell nodule weighs as much as a lung-wide effusion).
    """
    t = (lesion_cells > 0).to(cell_scores.dtype)
    if balanced:
        bce = F.binary_cross_entropy_with_logits(cell_scores, t, reduction="none").flatten(2)
        t = t.flatten(2)
        n_pos = t.sum(-1)
        pos = (bce * t).sum(-1) / n_pos.clamp_min(1)
        neg = (bce * (1 - t)).sum(-1) / (t.shape[-1] - n_pos).clamp_min(1)
        return (pos + neg).mean()
    w = torch.as_tensor(pos_weight, dtype=cell_scores.dtype, device=cell_scores.device)
    return F.binary_cross_entropy_with_logits(cell_scores, t, pos_weight=w)
