"""Operating points: the probability above which the model calls a finding positive.

The thresholds come from the model card, nowhere else: ``ctcam evaluate --update-cards``
writes ``card["metrics"]["test"]["operating_point"]`` with a ``probability`` per label (chosen
on validation phantoms by the rule it records, e.g. Youden's J) and the sensitivity and
specificity it gives.  A card without them (or without a label's entry) gives no operating
point, and no finding of that label is called positive or negative; nothing is invented.

A label the model cannot tell apart on validation (AUROC under ``MIN_CALL_AUROC``) gets no
threshold either: a Youden threshold on a score at chance calls findings at random (model
3.1's nodules: AUROC 0.55 on validation, and the demo's absent right-lung nodule was
called POSITIVE).  ``ctcam evaluate`` records why under ``operating_point.not_called``
(:func:`not_called`), and the viewer says so beside the finding.
"""

from __future__ import annotations

import math
from typing import Any

NO_OPERATING_POINT = ("This model card has no operating points (run `ctcam evaluate "
                      "--update-cards`), so no finding is called positive or negative; the "
                      "probabilities are raw model outputs.")


MIN_CALL_AUROC = 0.75
MAX_NOTE = 300  # characters of a card's reason shown to the reader


def _section(card: dict[str, Any]) -> dict[str, Any]:
    op = ((card.get("metrics") or {}).get("test") or {}).get("operating_point")
    return op if isinstance(op, dict) else {}


def thresholds(card: dict[str, Any]) -> dict[str, float]:
    """label name -> probability threshold, for the labels the card gives one (may be empty)."""
    out = {}
    for name, value in (_section(card).get("probability") or {}).items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v) and 0.0 <= v <= 1.0:
            out[str(name)] = v
    return out


def no_call_reasons(labels: list[str], validation_auroc: list[float]) -> dict[str, str]:
    """The ``not_called`` section: the labels whose validation AUROC is under
    ``MIN_CALL_AUROC`` (NaN: one class only in validation, left to the threshold rule)."""
    return {lab: (f"validation AUROC {a:.2f} is under {MIN_CALL_AUROC:.2f}: the model cannot "
                  "tell this finding apart, so it calls nothing")
            for lab, a in zip(labels, validation_auroc, strict=True)
            if math.isfinite(a) and a < MIN_CALL_AUROC}


def not_called(card: dict[str, Any]) -> dict[str, str]:
    """label name -> why the card makes no call for it (may be empty)."""
    notes = _section(card).get("not_called")
    if not isinstance(notes, dict):
        return {}
    return {str(k): v[:MAX_NOTE] for k, v in notes.items() if isinstance(v, str)}


def rule(card: dict[str, Any]) -> str | None:
    r = _section(card).get("rule")
    return str(r) if r else None


def decide(probability: float, threshold: float | None) -> bool | None:
    """Positive at the operating point (probability >= threshold); None without a threshold."""
    if threshold is None:
        return None
    return bool(float(probability) >= float(threshold))


def summary(card: dict[str, Any]) -> dict[str, Any]:
    """What findings.json says about the operating points it used."""
    thr = thresholds(card)
    sec = _section(card)
    if not thr:
        return {"available": False, "note": NO_OPERATING_POINT}
    return {"available": True, "rule": rule(card),
            "source": "model card metrics.test.operating_point",
            "sensitivity": sec.get("sensitivity"), "specificity": sec.get("specificity"),
            "not_called": not_called(card)}
