"""Operating points: the probability above which the model calls a finding positive.

The thresholds come from the model card, nowhere else: ``ctcam evaluate --update-cards``
writes ``card["metrics"]["test"]["operating_point"]`` with a ``probability`` per label (chosen
on validation phantoms by the rule it records, e.g. Youden's J) and the sensitivity and
specificity it gives.  A card without them (or without a label's entry) gives no operating
point, and no finding of that label is called positive or negative; nothing is invented.
"""

from __future__ import annotations

import math
from typing import Any

NO_OPERATING_POINT = ("This model card has no operating points (run `ctcam evaluate "
                      "--update-cards`), so no finding is called positive or negative; the "
                      "probabilities are raw model outputs.")


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
            "sensitivity": sec.get("sensitivity"), "specificity": sec.get("specificity")}
