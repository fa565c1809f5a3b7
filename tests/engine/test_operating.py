"""Operating points read from a model card (engine.operating)."""

from __future__ import annotations

from engine import operating


def test_no_call_for_a_label_the_model_cannot_tell_apart():
    reasons = operating.no_call_reasons(["a/x", "a/y", "a/z"], [0.59, 0.91, float("nan")])
    assert set(reasons) == {"a/x"} and "0.59" in reasons["a/x"]
    card = {"metrics": {"test": {"operating_point": {
        "probability": {"a/y": 0.3}, "not_called": {**reasons, "a/q": 5}}}}}
    assert operating.not_called(card) == reasons  # non-string notes are dropped
    assert operating.thresholds(card) == {"a/y": 0.3}
    assert operating.summary(card)["not_called"] == reasons
