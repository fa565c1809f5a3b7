"""Scan suitability (engine.suitability): chests pass, everything else fails with its reason,
and the verdict reaches the pipeline result, findings.json, the CLI and the batch summary."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import suitability
from engine.cli import main as ctcam
from engine.io import load
from engine.io.nifti import write_nifti
from engine.labels import LABELS, ORGAN_CODES
from engine.model import AxialNet, new_card, save_model
from engine.organs import from_phantom
from engine.phantom import generate
from engine.pipeline import explain_scan, run
from engine.resources import demo_case_path, demo_organs_path
from engine.volume import CTVolume

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tools import suitability_cases as cases  # noqa: E402

CARD: dict = {"preprocessing": {"shape": [96, 96, 48], "spacing_mm": [4, 4, 7.5]}}


@pytest.fixture(scope="module")
def case():
    return generate(1, size="small")


def _reasons(vol, organs=None, card=CARD) -> tuple[bool, str]:
    res = suitability.assess(vol, organs, card)
    return res["ok"], " | ".join(res["reasons"])


def test_phantom_chest_and_demo_pass(case):
    assert _reasons(case.volume) == (True, "")  # classical segmentation
    assert _reasons(case.volume, from_phantom(case)) == (True, "")  # the phantom's truth
    demo = load(demo_case_path())
    assert _reasons(demo) == (True, "")
    if demo_organs_path().exists():
        from engine.organs import from_labelmap

        assert _reasons(demo, from_labelmap(demo_organs_path(), demo)) == (True, "")


def test_model_size_phantom_passes():
    assert _reasons(generate(4, size="model").volume) == (True, "")


@pytest.mark.parametrize("maker, words", [
    (cases.abdomen_crop, ["starts below the lung apices", "'lung' found is"]),
    (cases.above_lungs_crop, ["ends above the lung bases", "no heart found"]),
    (cases.upper_chest_crop, ["ends above the lung bases"]),
    (cases.tiny_crop, ["field of view", "no right lung found"]),
    (cases.water_lungs, ["no right lung found", "lung-like air"]),
    (cases.as_mr, ["is MR, not CT", "lung-like air"]),
])
def test_non_chest_crops_fail_with_their_reasons(case, maker, words):
    ok, why = _reasons(maker(case))
    assert not ok
    for w in words:
        assert w in why, why


def test_head_like_ct_fails_although_sinuses_look_like_lungs():
    head = cases.head_like()
    from engine.organs import segment

    seg = segment(head)
    assert seg.labelmap.any()  # the classical segmentation does take the sinuses for lungs
    ok, why = _reasons(head, seg.labelmap)
    assert not ok and "'lung' found is" in why and "no heart found" in why and "lung-like air" in why


def test_body_part_and_card_ranges(case):
    vol = case.volume
    head = CTVolume(vol.hu, vol.affine, dict(vol.meta, body_part="HEAD"))
    ok, why = _reasons(head, from_phantom(case))
    assert not ok and "BodyPartExamined is 'HEAD'" in why
    chest = CTVolume(vol.hu, vol.affine, dict(vol.meta, body_part="CHEST_ABDOMEN"))
    assert _reasons(chest, from_phantom(case)) == (True, "")
    # the card's trained slice range is used (widened by CARD_TOLERANCE): 3 mm vs [5, 6]
    card = dict(CARD, training={"slice_spacing_mm": [5.0, 6.0]})
    res = suitability.assess(vol, from_phantom(case), card)
    assert not res["ok"] and "slice spacing 3 mm is outside 3.3-9 mm" in res["reasons"][0]
    assert "model card" in res["checks"]["acquisition"]["expected"]
    card = dict(CARD, training={"slice_spacing_mm": [2.5, 5.0], "field_of_view_mm": [350, 500]})
    assert suitability.assess(vol, from_phantom(case), card)["ok"]


def test_banner_text():
    assert suitability.banner_text(None) is None
    assert suitability.banner_text({"ok": True, "reasons": []}) is None
    text = suitability.banner_text({"ok": False, "reasons": ["no right lung found", "x"]})
    assert text == "Not a chest CT this model can read: no right lung found; x."


# -- through the pipeline, findings.json, the CLI and the batch -------------------------------
PREP = {"shape": [32, 32, 12], "spacing_mm": [10.0, 10.0, 20.0], "hu_window": [-1000, 800],
        "mean": 0.2, "centre": "body", "interpolation": "trilinear", "outside_hu": -1000}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch.manual_seed(1)
    net = AxialNet(len(LABELS), PREP["shape"], stem_width=4, widths=(4, 8), strides=(1, 2),
                   reduce_widths=(4,)).eval()
    d = tmp_path_factory.mktemp("model")
    w, _ = save_model(net, new_card(net, LABELS, ORGAN_CODES, PREP), d)
    return w


def test_pipeline_findings_json_cli_and_batch_carry_the_verdict(case, tiny_model, tmp_path, capsys):
    res = run(explain_scan(case.volume, organs=from_phantom(case), model=tiny_model))
    assert res.suitability["ok"] and res.suitability["reasons"] == []
    head = tmp_path / "head.nii.gz"
    h = cases.head_like()
    write_nifti(head, h.hu, h.affine)
    assert ctcam(["explain", str(head), "--out", str(tmp_path / "o"), "--model", str(tiny_model),
                  "--quiet"]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("warning: not a chest ct this model can read: ")]
    data = json.loads((tmp_path / "o" / "findings.json").read_text())
    assert data["suitability"]["ok"] is False and len(lines) == len(data["suitability"]["reasons"]) >= 2
    assert set(data["suitability"]["checks"]) == {"modality", "body_part", "lungs", "heart",
                                                 "coverage", "acquisition", "hu"}
    # batch: scans.csv says which scan is unsuitable and why; the summary line counts them
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "head.nii.gz").write_bytes(head.read_bytes())
    assert ctcam(["explain", str(folder), "--out", str(tmp_path / "b"), "--model", str(tiny_model)]) == 0
    err = capsys.readouterr().err
    rows = list(csv.DictReader((tmp_path / "b" / "scans.csv").open()))
    assert rows[0]["suitable"] == "no" and "no heart found" in rows[0]["unsuitable_reasons"]
    assert "NOT SUITABLE: " in err and "1 not a chest CT the model can read" in err


def test_findings_json_operating_points_absent_without_card_entries(case, tiny_model):
    from engine.findings import findings_dict

    res = run(explain_scan(case.volume, organs=from_phantom(case), model=tiny_model))
    d = findings_dict(res)
    assert d["operating_point"]["available"] is False and "no operating points" in d["operating_point"]["note"]
    assert all(lab["threshold"] is None and lab["positive"] is None for lab in d["labels"])
    res.card = dict(res.card, metrics={"test": {"operating_point": {
        "rule": "Youden", "probability": {LABELS[0]: 0.0, LABELS[1]: 1.0}}}})
    d = findings_dict(res)
    assert d["labels"][0]["positive"] is True and d["labels"][1]["positive"] is False
    assert d["labels"][2]["threshold"] is None and d["operating_point"]["rule"] == "Youden"
    assert np.isclose(d["labels"][1]["threshold"], 1.0)
