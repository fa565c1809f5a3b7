"""tools/retrain.py: the train command it builds reproduces the bundled card's recipe with
the changed options winning, and its comparison table reads both evaluations right."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from engine.cli.train import parse_args
from engine.model.channel_sets import channel_set_name

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("retrain", ROOT / "tools" / "retrain.py")
retrain = importlib.util.module_from_spec(spec)
spec.loader.exec_module(retrain)


def test_train_args_are_the_bundled_recipe_with_the_overrides_last(tmp_path):
    card = json.loads(retrain.BUNDLED_CARD.read_text(encoding="utf-8"))
    args = retrain.train_args(card["training"]["recipe"], ["--channels", "evidence_depth", "--steps", "60"],
                              tmp_path / "m", tmp_path / "c", 2, 2, resume=False)
    assert args[0] == "train"
    cfg = parse_args(args[1:])
    same = parse_args(retrain.train_args(card["training"]["recipe"], [], tmp_path / "m",
                                         tmp_path / "c", 2, 2, resume=True)[1:])
    assert (cfg.steps, channel_set_name(cfg.channels)) == (60, "evidence_depth")
    assert same.steps == card["training"]["steps"] and same.resume and not cfg.resume
    assert channel_set_name(same.channels) in card["training"]["recipe"]
    for field in ("n_train", "lr", "shape", "strides", "pooling", "mask_lambda", "phantom_spacing"):
        assert getattr(cfg, field) == getattr(same, field)
    assert (cfg.out, cfg.cache, cfg.workers, cfg.threads) == (str(tmp_path / "m"), str(tmp_path / "c"), 2, 2)


def test_compare_table_shows_each_change_and_the_labels_under_target():
    old = json.loads(retrain.BUNDLED_EVALUATION.read_text(encoding="utf-8"))["models"]["mask"]
    new = json.loads(json.dumps(old))
    lab = next(iter(new["auroc"]))
    new["auroc"][lab] = 0.5
    new["macro_auroc"] = old["macro_auroc"] + 0.01
    table = retrain.compare_table(new, old, "bundled")
    assert f"| macro AUROC | {old['macro_auroc']:.3f} | {old['macro_auroc'] + 0.01:.3f} | +0.010 |" in table
    assert f"| AUROC {lab} | {old['auroc'][lab]:.3f} | 0.500 | {0.5 - old['auroc'][lab]:+.3f} |" in table
    share = old["peak_distance_mm"]["hirescam"]["share_within"]
    assert f"| peak within 20 mm hirescam | {share:.3f} | {share:.3f} | +0.000 |" in table
    assert table.splitlines()[-1].startswith("labels under 0.90 (new): ") and lab in table.splitlines()[-1]
