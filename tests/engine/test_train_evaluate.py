"""``ctcam evaluate`` end to end on tiny random models and a handful of phantoms."""

from __future__ import annotations

import json

import numpy as np
import torch

from engine.evaluate import evaluate, update_cards
from engine.labels import LABELS, ORGAN_CODES
from engine.model import AxialNet, load_model, new_card, save_model

PREP = {"shape": [32, 32, 12], "spacing_mm": [12.0, 12.0, 30.0], "hu_window": [-1000, 800],
        "mean": 0.18, "centre": "body"}


def _tiny(tmp_path, name, seed, prep=PREP):
    torch.manual_seed(seed)
    n_in = len(prep.get("channels") or [None])
    net = AxialNet(len(LABELS), prep["shape"], stem_width=4, widths=(4, 8), strides=(1, 2),
                   reduce_widths=(4,), in_channels=n_in).eval()
    card = new_card(net, LABELS, ORGAN_CODES, prep, training={"mask_loss": name == "mask"})
    return save_model(net, card, tmp_path / name)


def test_evaluate_gives_each_model_its_own_input_channels(tmp_path):
    """A base model with the block mean alone and a mask model with two channels (as base 3.0
    and mask 3.2 differ in their evidence channels): each is scored on its own input."""
    torch.set_num_threads(1)
    two = dict(PREP, channels=[{"stat": "mean"}, {"stat": "max"}], mean=[0.18, 0.3])
    models = {"base": _tiny(tmp_path, "base", 0), "mask": _tiny(tmp_path, "mask", 1, two)}
    logs: list[str] = []
    result = evaluate(models, tmp_path / "eval", n_cases=4, n_val=2, cache=str(tmp_path / "cache"),
                      workers=1, device="cpu", log=logs.append)
    assert set(result["models"]) == {"base", "mask"}
    assert sum(m.startswith("data ready") for m in logs) == 2  # one input per distinct card input
    assert len({p.parent.name for p in (tmp_path / "cache").rglob("*-organs.npz")}) == 4


def test_evaluate_writes_the_documented_json_shape(tmp_path):
    torch.set_num_threads(1)
    models = {"base": _tiny(tmp_path, "base", 0), "mask": _tiny(tmp_path, "mask", 1)}
    out = tmp_path / "eval"
    result = evaluate(models, out, n_cases=6, n_val=3, cache=str(tmp_path / "cache"), workers=1,
                      device="cpu", log=lambda m: None)
    on_disk = json.loads((out / "evaluation.json").read_text())
    assert on_disk == json.loads(json.dumps(result))
    assert set(on_disk) == {"n_cases", "models"} and on_disk["n_cases"] == 6
    assert set(on_disk["models"]) == {"base", "mask"}
    for r in on_disk["models"].values():
        assert set(r) == {"macro_auroc", "auroc", "organ_iou", "mass_in_organ", "peak_distance_mm",
                          "operating_point", "calibration", "reliability", "confusion"}
        assert set(r["confusion"]) == set(LABELS)
        assert r["calibration"]["method"] == "platt"
        for kind in ("raw", "calibrated"):
            assert 0 <= r["reliability"][kind]["brier"] <= 1 and 0 <= r["reliability"][kind]["ece"] <= 1
        for m in ("hirescam", "gradcam"):
            pk = r["peak_distance_mm"][m]
            assert pk["n"] > 0 and pk["median"] >= 0 and 0 <= pk["share_within"] <= 1
        op = r["operating_point"]
        assert op["macro_sensitivity"] is None or 0 <= op["macro_sensitivity"] <= 1
        for lab in LABELS:  # a label the model cannot tell apart gets a reason, not a threshold
            assert (lab in op["not_called"]) <= (op["probability"][lab] is None)
        assert list(r["auroc"]) == list(LABELS)
        assert set(r["organ_iou"]) == set(r["mass_in_organ"]) == {"hirescam", "gradcam"}
        for v in (*r["organ_iou"].values(), *r["mass_in_organ"].values()):
            assert 0.0 <= v <= 1.0
        vals = [v for v in r["auroc"].values() if v is not None]
        assert vals and all(0 <= v <= 1 for v in vals)
        assert np.isclose(r["macro_auroc"], np.mean(vals))
    md = (out / "evaluation.md").read_text()
    assert "| base | hirescam |" in md and "| mask | gradcam |" in md and "## Confusion" in md
    # the test phantoms were cached with organ maps; a second run reuses them
    assert any((tmp_path / "cache").rglob("*-organs.npz"))
    update_cards(result, models)
    lm = load_model(*models["mask"])  # sha256 still matches after the card update
    assert lm.card["metrics"]["test"]["n_cases"] == 6
    # the card now calibrates its probabilities, and its operating points are in those terms
    assert lm.card["calibration"] == result["models"]["mask"]["calibration"]
    from engine.model import calibration

    cal = lm.card["calibration"]
    for lab, p in lm.card["metrics"]["test"]["operating_point"]["probability"].items():
        if p is not None and lab in cal["scale"]:
            z = (np.log(p / (1 - p)) - cal["offset"][lab]) / cal["scale"][lab]  # the logit threshold
            assert np.isclose(calibration.probabilities(lm.card, [lab], np.array([z]))[0], p)


def test_evaluate_cli_defaults_to_the_bundled_and_base_models(tmp_path, monkeypatch):
    from engine import evaluate as evaluation
    from engine.cli.evaluate import main
    from engine.resources import bundled_model_paths

    seen = {}

    def fake(models, out, *args):
        seen.update(models)
        return {"n_cases": 0, "models": {}}

    monkeypatch.setattr(evaluation, "evaluate", fake)
    assert main(["--out", str(tmp_path)]) == 0
    assert seen["mask"] == bundled_model_paths()
    assert seen["base"] == evaluation.base_model_paths()
    assert all(p.is_file() for pair in seen.values() for p in pair)


def test_evaluate_reads_the_validation_phantoms_training_cached(tmp_path):
    """ctcam train caches its validation phantoms with their organ maps, the way ctcam
    evaluate reads them, so an evaluation after training renders only the test phantoms."""
    from engine.cli.train import main as train_main

    torch.set_num_threads(1)
    cache, out = tmp_path / "cache", tmp_path / "model"
    assert train_main(["--out", str(out), "--cache", str(cache), "--n-train", "2", "--n-val", "2",
                       "--steps", "1", "--batch-size", "2", "--channels", "mean",
                       "--shape", "32", "32", "12", "--spacing", "12", "12", "30",
                       "--stem-width", "4", "--widths", "4", "8", "--strides", "1", "2",
                       "--reduce-widths", "4", "--threads", "1"]) == 0
    val_chunks = list(cache.glob("val-*/*.npz"))
    assert [p.name for p in val_chunks] == ["000000-2-organs.npz"]
    logs: list[str] = []
    evaluate({"mask": (out / "axialnet.safetensors", out / "axialnet.json")}, tmp_path / "eval",
             n_cases=2, n_val=2, cache=str(cache), workers=1, device="cpu", log=logs.append)
    rendered = [m for m in logs if "cached" in m]
    assert rendered and all(m.startswith("test:") for m in rendered), logs
    assert list(cache.glob("val-*/*.npz")) == val_chunks
