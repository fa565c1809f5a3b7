"""Calibrated probabilities: what the model's logit means as a chance, per label.

A network trained with BCE and a mask loss ranks cases well but its sigmoid(logit) is not a
probability a reader can take at its word (model 3.0 on the demo: cardiomegaly 0.54 at a
test AUROC of 0.997).  The card's ``calibration`` section maps each label's logit ``z`` to

    p = sigmoid(scale * z + offset)          (Platt scaling, one pair per label)

fitted on validation phantoms by :func:`fit_platt` (``ctcam evaluate --update-cards``), with
Platt's smoothed targets ``(N+ + 1) / (N+ + 2)`` and ``1 / (N- + 2)`` so a label the
validation set separates perfectly still gets finite numbers.  ``scale`` is kept >= a small
positive floor: the map is monotone, so AUROC, the ranking of cases and every decision at
an operating point (moved with it) are unchanged.  A label the model cannot tell apart
(scale near 0) gets about its prevalence for every scan, which is the honest answer.

Only the probability changes.  The heat maps explain the *logit* (HiResCAM's maps sum to
logit minus bias, docs/methods.md) and are untouched.  A card without the section, or a
label without an entry, keeps the plain sigmoid.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MIN_SCALE = 1e-3
MAX_ABS = 1e3  # a card's scale / offset beyond this is refused (not a fitted value)


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -v))  # 1 / (1 + e^-v) without overflow


def fit_platt(y: np.ndarray, logits: np.ndarray) -> tuple[float, float] | None:
    """(scale, offset) minimising the log loss of ``sigmoid(scale * z + offset)`` against
    Platt's smoothed targets; None for a label with one class only (nothing to fit)."""
    from scipy.optimize import minimize  # only where a fit is made (import cost)

    y = np.asarray(y).astype(bool)
    z = np.asarray(logits, np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    t = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        s = ab[0] * z + ab[1]
        # log(1 + e^s) - t s, stable for large |s|
        value = float(np.sum(np.logaddexp(0.0, s) - t * s))
        r = _sigmoid(s) - t
        return value, np.array([float(np.sum(r * z)), float(np.sum(r))])

    prior = math.log((n_pos + 1.0) / (n_neg + 1.0))
    res = minimize(loss, np.array([1.0, prior]), jac=True, method="L-BFGS-B",
                   bounds=[(MIN_SCALE, MAX_ABS), (-MAX_ABS, MAX_ABS)])
    return float(res.x[0]), float(res.x[1])


def fit(y: np.ndarray, logits: np.ndarray, labels: list[str], source: str) -> dict[str, Any]:
    """The card's ``calibration`` section from validation labels (N, L) and logits (N, L)."""
    scale, offset = {}, {}
    for c, lab in enumerate(labels):
        ab = fit_platt(y[:, c], logits[:, c])
        if ab is not None:
            scale[lab], offset[lab] = round(ab[0], 6), round(ab[1], 6)
    return {"method": "platt", "fitted_on": source, "scale": scale, "offset": offset}


def problems(section: Any, label_names: set[str]) -> list[str]:
    """What is wrong with a card's ``calibration`` section (empty list: nothing or absent)."""
    if section is None:
        return []
    if not isinstance(section, dict) or section.get("method") != "platt":
        return ["calibration must be an object with method 'platt'"]
    out = []
    for key in ("scale", "offset"):
        part = section.get(key)
        if not isinstance(part, dict):
            out.append(f"calibration.{key} must be an object {{label: number}}")
            continue
        for lab, v in part.items():
            if lab not in label_names:
                out.append(f"calibration.{key} names {lab!r}, which is not one of the card's labels")
            elif (not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)
                  or abs(v) > MAX_ABS or (key == "scale" and v < MIN_SCALE)):
                out.append(f"calibration.{key}[{lab!r}] must be a finite number"
                           + (f" >= {MIN_SCALE}" if key == "scale" else "") + f", got {v!r}")
    if not out and set(section["scale"]) != set(section["offset"]):
        out.append("calibration.scale and calibration.offset must name the same labels")
    return out


def coefficients(card: dict[str, Any], labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per label (scale, offset) arrays; (1, 0) where the card calibrates nothing."""
    sec = card.get("calibration") or {}
    sc, of = sec.get("scale") or {}, sec.get("offset") or {}
    return (np.array([float(sc.get(lab, 1.0)) for lab in labels]),
            np.array([float(of.get(lab, 0.0)) for lab in labels]))


def probabilities(card: dict[str, Any] | None, labels: list[str], logits: np.ndarray) -> np.ndarray:
    """Probabilities of ``logits`` (..., L) under the card's calibration (plain sigmoid
    without one)."""
    z = np.asarray(logits, np.float64)
    if not card:
        return _sigmoid(z)
    a, b = coefficients(card, labels)
    return _sigmoid(a * z + b)


def summary(card: dict[str, Any]) -> dict[str, Any]:
    """What findings.json says about the probabilities it reports."""
    sec = card.get("calibration")
    if not sec:
        return {"calibrated": False, "note": "probabilities are sigmoid(logit), not calibrated"}
    return {"calibrated": True, "method": sec.get("method"), "fitted_on": sec.get("fitted_on")}


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, float]:
    """Brier score and expected calibration error (equal-width bins, all labels pooled)."""
    y = np.asarray(y, np.float64).ravel()
    p = np.asarray(p, np.float64).ravel()
    edges = np.minimum((p * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = edges == b
        if sel.any():
            ece += sel.mean() * abs(float(p[sel].mean()) - float(y[sel].mean()))
    return {"brier": float(np.mean((p - y) ** 2)), "ece": float(ece)}
