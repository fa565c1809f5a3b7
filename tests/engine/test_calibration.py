"""Calibrated probabilities (engine.model.calibration): Platt scaling per label."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from engine.model import calibration
from engine.model.card import validate_card
from engine.model.errors import ModelCardError
from engine.model.metrics import auroc


def _sample(a: float, b: float, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-(a * z + b)))
    return y, z


def test_fit_recovers_the_scale_and_offset_the_labels_were_drawn_with():
    y, z = _sample(0.4, -1.5, 40000)
    a, b = calibration.fit_platt(y, z)
    assert abs(a - 0.4) < 0.03 and abs(b + 1.5) < 0.06


def test_fit_matches_a_brute_force_minimum_of_the_same_loss():
    y, z = _sample(1.3, 0.7, 300, seed=3)
    a, b = calibration.fit_platt(y, z)
    npos, nneg = y.sum(), (~y).sum()
    t = np.where(y, (npos + 1) / (npos + 2), 1 / (nneg + 2))

    def loss(a_, b_):
        s = a_ * z + b_
        return np.sum(np.logaddexp(0, s) - t * s)

    grid = [(loss(a_, b_), a_, b_) for a_ in np.linspace(0.5, 2.5, 201) for b_ in np.linspace(-0.5, 2.0, 251)]
    _, ga, gb = min(grid)
    assert abs(a - ga) < 0.02 and abs(b - gb) < 0.02
    assert loss(a, b) <= min(grid)[0] + 1e-6


def test_separable_labels_get_finite_probabilities_below_one():
    z = np.r_[np.linspace(-5, -1, 50), np.linspace(1, 5, 10)]
    y = np.r_[np.zeros(50, bool), np.ones(10, bool)]
    a, b = calibration.fit_platt(y, z)
    p = 1 / (1 + np.exp(-(a * z + b)))
    assert math.isfinite(a) and math.isfinite(b)
    assert p.max() < 1 - 1e-3 and p[y].min() > 0.5 > p[~y].max()


def test_a_label_the_model_cannot_tell_apart_gets_its_prevalence():
    rng = np.random.default_rng(1)
    z = rng.normal(size=2000)
    y = rng.random(2000) < 0.3  # independent of z
    sec = calibration.fit(y[:, None], z[:, None], ["lung/x"], "test")
    p = calibration.probabilities({"calibration": sec}, ["lung/x"], z)
    assert abs(float(p.mean()) - 0.3) < 0.02 and float(p.std()) < 0.03


def test_ranking_and_auroc_are_unchanged_and_one_class_labels_keep_the_sigmoid():
    y1, z1 = _sample(0.5, 0.2, 500, seed=5)
    y = np.stack([y1, np.zeros(500, bool)], 1)
    z = np.stack([z1, z1], 1)
    sec = calibration.fit(y, z, ["a/x", "a/y"], "test")
    assert set(sec["scale"]) == {"a/x"}  # nothing to fit for a label with one class only
    p = calibration.probabilities({"calibration": sec}, ["a/x", "a/y"], z)
    assert np.array_equal(np.argsort(p[:, 0], kind="stable"), np.argsort(z[:, 0], kind="stable"))
    assert auroc(y1, p[:, 0]) == pytest.approx(auroc(y1, z[:, 0]))
    assert np.allclose(p[:, 1], 1 / (1 + np.exp(-z[:, 1])))
    assert np.allclose(calibration.probabilities(None, ["a/x"], z1), 1 / (1 + np.exp(-z1)))


def test_reliability_of_a_calibrated_and_an_overconfident_predictor():
    rng = np.random.default_rng(2)
    p = rng.random(100000)
    y = rng.random(100000) < p
    good = calibration.reliability(y, p)
    bad = calibration.reliability(y, np.where(p > 0.5, 1.0, 0.0))
    assert good["ece"] < 0.01 and bad["ece"] > 0.2
    assert good["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert good["brier"] < bad["brier"]


@pytest.mark.parametrize("section, why", [
    ({"method": "isotonic", "scale": {}, "offset": {}}, "method 'platt'"),
    ({"method": "platt", "scale": {"heart/nope": 1.0}, "offset": {"heart/nope": 0.0}}, "not one of"),
    ({"method": "platt", "scale": {"heart/cardiomegaly": -1.0}, "offset": {"heart/cardiomegaly": 0.0}}, ">= "),
    ({"method": "platt", "scale": {"heart/cardiomegaly": float("nan")},
      "offset": {"heart/cardiomegaly": 0.0}}, "finite"),
    ({"method": "platt", "scale": {"heart/cardiomegaly": 1.0}, "offset": {}}, "same labels"),
    ({"method": "platt", "scale": [1.0], "offset": {}}, "must be an object"),
])
def test_a_card_with_a_bad_calibration_is_refused(bundled_card, section, why):
    card = copy.deepcopy(bundled_card)
    card["calibration"] = section
    with pytest.raises(ModelCardError, match=why):
        validate_card(card, "x.json")


@pytest.fixture
def bundled_card():
    import json

    from engine.resources import bundled_model_paths

    return json.loads(bundled_model_paths()[1].read_text(encoding="utf-8"))


def test_explain_reports_the_cards_calibrated_probabilities_and_leaves_the_maps(bundled_card):
    import torch

    from engine.cam.explainer import explain
    from engine.model import load_model

    torch.manual_seed(0)
    lm = load_model()
    labels = lm.label_names
    x = torch.rand(1, lm.model.in_channels, *lm.model.input_shape)
    lm.card.pop("calibration", None)
    raw = explain(lm, x)
    lm.card["calibration"] = {"method": "platt", "fitted_on": "test",
                              "scale": {labels[0]: 0.5}, "offset": {labels[0]: -2.0}}
    cal = explain(lm, x)
    z = raw.logits.astype(np.float64)
    assert np.allclose(raw.probs, 1 / (1 + np.exp(-z)), atol=1e-6)
    assert cal.probs[0] == pytest.approx(1 / (1 + np.exp(-(0.5 * z[0] - 2.0))), abs=1e-6)
    assert np.array_equal(cal.probs[1:], raw.probs[1:]) and np.array_equal(cal.logits, raw.logits)
    for m in raw.maps:
        assert np.array_equal(cal.maps[m], raw.maps[m])

