"""tools/ensemble_probe.py: the ensemble is the mean of the members' logits, its table's
numbers are the AUROCs of exactly those scores, and models of different recipes are refused."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from engine.errors import CTCamError
from engine.model.loading import load_model
from engine.model.metrics import auroc_per_label

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("ensemble_probe", ROOT / "tools" / "ensemble_probe.py")
probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)


def test_ensemble_of_two_noisy_members_is_the_auroc_of_their_mean_logit():
    rng = np.random.default_rng(0)
    y = rng.random((400, 3)) < 0.3
    signal = y * 1.0
    a = signal + rng.normal(scale=1.0, size=y.shape)  # independent noise: the mean is better
    b = signal + rng.normal(scale=1.0, size=y.shape)
    table, numbers = probe.ensemble_table(y, [a, b], ["x", "y", "z"])
    ens = auroc_per_label(y, (a + b) / 2)
    assert np.allclose(numbers["ensemble_auroc"], ens)
    assert np.allclose(numbers["auroc"][0], auroc_per_label(y, a))
    assert numbers["ensemble_macro"] > max(numbers["macro"])  # averaging independent errors helps
    assert table.count("\n") == 2 + 3  # header, rule, three labels, macro
    assert f"**{numbers['ensemble_macro']:.3f}**" in table


def test_subsets_are_every_proper_ensemble_of_two_or_more():
    rng = np.random.default_rng(3)
    y = rng.random((300, 2)) < 0.4
    a, b, c = (y + rng.normal(scale=s, size=y.shape) for s in (0.5, 1.0, 3.0))
    subsets = probe.subset_macros(y, [a, b, c])
    assert set(subsets) == {"1+2", "1+3", "2+3"}
    assert subsets["1+3"] == pytest.approx(float(np.mean(auroc_per_label(y, (a + c) / 2))))
    assert subsets["1+2"] > subsets["2+3"]  # the noisiest member drags its pairs down
    assert probe.subset_macros(y, [a, b]) == {}  # two models: the full ensemble is the only one


def test_one_model_twice_is_its_own_ensemble():
    rng = np.random.default_rng(1)
    y = rng.random((100, 2)) < 0.5
    s = y + rng.normal(size=y.shape)
    _, numbers = probe.ensemble_table(y, [s, s], ["a", "b"])
    assert numbers["macro"][0] == numbers["macro"][1] == pytest.approx(numbers["ensemble_macro"])


def test_models_of_different_recipes_are_refused():
    mask = load_model(ROOT / "resources/model/axialnet.safetensors", ROOT / "resources/model/axialnet.json",
                      device="cpu")
    base = load_model(ROOT / "resources/model/base/axialnet_base.safetensors",
                      ROOT / "resources/model/base/axialnet_base.json", device="cpu")
    probe.same_input([mask, mask])  # one recipe: accepted
    with pytest.raises(CTCamError, match="another input"):
        probe.same_input([mask, base])


def test_shifts_are_parsed_and_bounded():
    assert probe.parse_shifts("0,0,0 4,-4,1") == [(0, 0, 0), (4, -4, 1)]
    for bad in ("4,0", "40,0,0", "a,b,c"):
        with pytest.raises(ValueError):
            probe.parse_shifts(bad)


def test_test_time_shift_zero_is_the_plain_forward_and_a_shift_is_a_mean_of_rolled_inputs():
    from engine.model.dataset import ArrayDataset

    lm = load_model(ROOT / "resources/model/axialnet.safetensors", ROOT / "resources/model/axialnet.json",
                    device="cpu")
    c = lm.model.in_channels
    rng = np.random.default_rng(2)
    x = rng.integers(0, 60, size=(2, c, 96, 96, 48), dtype=np.uint8)
    x[:, :, 30:60, 30:60, 10:40] += 120  # something off-centre, so a roll changes the logits
    ds = ArrayDataset(x=x, y=np.zeros((2, 19), np.uint8), organ_cells=np.zeros((2, 3, 12, 12, 16), np.uint8),
                      has_organs=np.zeros(2, bool), ids=np.array(["a", "b"]))
    plain = probe.case_logits(lm, ds)
    assert np.allclose(probe.case_logits(lm, ds, [(0, 0, 0)]), plain)
    two = probe.case_logits(lm, ds, [(0, 0, 0), (4, 0, 1)])
    rolled = probe.case_logits(lm, ds, [(4, 0, 1)])
    assert np.allclose(two, (plain + rolled) / 2, atol=1e-5)
    assert not np.allclose(rolled, plain, atol=1e-4)
