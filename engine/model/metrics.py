"""Classification and localisation metrics (docs/training.md, `ctcam evaluate`), numpy only.

AUROC: the Mann-Whitney statistic, (sum of ranks of positives - n_pos (n_pos + 1) / 2) /
(n_pos n_neg), with average ranks for ties; NaN when a label has only one class.

Localisation, for one present label c of one case, on the model grid (maps upsampled
trilinearly, block-centre convention, see ``engine.cam.geometry``):

* OrganIoU: ReLU the map, min-max normalise it over the volume, binarise at threshold t_c;
  A = positive voxels inside the label's organ, B = positive voxels outside;
  OrganIoU = A / (A + B) (0 when nothing is positive).
* Mass in organ: sum of ReLU(map) inside the organ / sum of ReLU(map) (0 when the map has
  no positive value).  Threshold-free.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)


def auroc(y_true: np.ndarray, scores: np.ndarray) -> float:
    y = np.asarray(y_true).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auroc_per_label(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    return np.array([auroc(y_true[:, c], scores[:, c]) for c in range(y_true.shape[1])])


def upsample_maps(maps: np.ndarray, shape: tuple[int, int, int]) -> torch.Tensor:
    """(L, mi, mj, mk) -> (L, X, Y, Z) trilinear, align_corners=False (block centres)."""
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[:, None]
    return F.interpolate(t, size=tuple(shape), mode="trilinear", align_corners=False)[:, 0]


def localisation_scores(up: torch.Tensor, inside: torch.Tensor,
                        thresholds: np.ndarray = THRESHOLDS) -> tuple[np.ndarray, np.ndarray]:
    """For maps (n, X, Y, Z) and organ masks (n, X, Y, Z) bool:
    (OrganIoU (n, n_thresholds), mass in organ (n,))."""
    pos = up.clamp_min(0).flatten(1)
    ins = inside.flatten(1)
    total = pos.sum(1)
    mass = torch.where(total > 0, (pos * ins).sum(1) / total.clamp_min(1e-30), torch.zeros_like(total))
    lo = pos.min(1, keepdim=True).values
    hi = pos.max(1, keepdim=True).values
    norm = (pos - lo) / (hi - lo).clamp_min(1e-30)
    # counts above each threshold in one pass: bucket = number of thresholds < value
    thr = torch.as_tensor(np.asarray(thresholds, dtype=np.float32))
    n_t = len(thr)
    bucket = torch.searchsorted(thr, norm.contiguous(), right=False)  # value > thr[:bucket]
    ious = np.zeros((pos.shape[0], n_t))
    for r in range(pos.shape[0]):
        if float(hi[r]) <= 0:
            continue
        all_counts = torch.bincount(bucket[r], minlength=n_t + 1).double()
        in_counts = torch.bincount(bucket[r][ins[r]], minlength=n_t + 1).double()
        above_all = all_counts.flip(0).cumsum(0).flip(0)[1:]  # value > thr[t]
        above_in = in_counts.flip(0).cumsum(0).flip(0)[1:]
        ious[r] = torch.where(above_all > 0, above_in / above_all.clamp_min(1),
                              torch.zeros_like(above_all)).numpy()
    return ious, mass.double().numpy()


def peak_distance_mm(up: torch.Tensor, lesion: np.ndarray, spacing_mm) -> np.ndarray:
    """Distance (mm) from each map's maximum to the nearest voxel of its lesion.

    ``up`` (n, X, Y, Z) maps on the model grid, ``lesion`` bool (n, X, Y, Z); 0 when the peak
    lies in the lesion, NaN when a lesion has no voxel on the grid.  (The signed maximum:
    where the map points.)"""
    sp = np.asarray(spacing_mm, dtype=np.float64)
    out = np.full(up.shape[0], np.nan)
    for r in range(up.shape[0]):
        vox = np.argwhere(lesion[r])
        if len(vox) == 0:
            continue
        peak = np.array(np.unravel_index(int(torch.argmax(up[r])), tuple(up.shape[1:])))
        out[r] = float(np.sqrt((((vox - peak) * sp) ** 2).sum(1)).min())
    return out


def operating_points(y_val: np.ndarray, s_val: np.ndarray) -> np.ndarray:
    """Per label, the score threshold that maximises Youden's J (sensitivity + specificity
    - 1) on validation data; NaN for a label with one class only."""
    thr = np.full(y_val.shape[1], np.nan)
    for c in range(y_val.shape[1]):
        y = y_val[:, c].astype(bool)
        if y.all() or not y.any():
            continue
        cand = np.unique(s_val[:, c])
        sens = np.array([(s_val[y, c] >= t).mean() for t in cand])
        spec = np.array([(s_val[~y, c] < t).mean() for t in cand])
        thr[c] = float(cand[int(np.argmax(sens + spec))])
    return thr


def sensitivity_specificity(y: np.ndarray, s: np.ndarray, thr: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Per label sensitivity and specificity of ``s >= thr`` (NaN where undefined)."""
    yb = y.astype(bool)
    pred = s >= thr[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = (pred & yb).sum(0) / yb.sum(0)
        spec = (~pred & ~yb).sum(0) / (~yb).sum(0)
    sens = np.where(np.isnan(thr), np.nan, sens)
    spec = np.where(np.isnan(thr), np.nan, spec)
    return sens.astype(float), spec.astype(float)


def label_confusion(y: np.ndarray, scores: np.ndarray, labels: list[str], min_cases: int = 4
                    ) -> dict[str, dict[str, float | str | None]]:
    """Per label, the other label of the same organ whose presence most raises this label's
    output among the cases *without* this label: {label: {"raised_by": other, "auroc": v}}.

    ``auroc`` is the AUROC of the output for "the other finding is there" over this label's
    negatives (0.5: the output ignores it; 1.0: it is the other finding's detector), so a
    label whose output reads "something dense in this lung" shows its confuser.  Pairs with
    fewer than ``min_cases`` cases on either side are skipped."""
    organ = [lab.partition("/")[0] for lab in labels]
    out: dict[str, dict[str, float | str | None]] = {}
    for i, lab in enumerate(labels):
        neg = y[:, i] == 0
        scored = []
        for j, other in enumerate(labels):
            there = y[neg, j] == 1
            if j != i and organ[j] == organ[i] and min(int(there.sum()), int((~there).sum())) >= min_cases:
                scored.append((auroc(there, scores[neg, i]), other))
        v, other = max(scored) if scored else (None, None)
        out[lab] = {"raised_by": other, "auroc": v}
    return out
