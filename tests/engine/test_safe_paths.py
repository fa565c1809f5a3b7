"""Names from a model card can never write outside the output folder.

Two independent defences, each tested on its own: the card loader refuses names outside the
documented pattern (and names that collide as file names), and every writer resolves its
final path through ``engine.safe_paths.inside``.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest
from test_batch import _fake_result, make_scan, make_tiny_model

from engine.cli import main as ctcam
from engine.export import map_path, write_maps
from engine.io.nifti import write_nifti
from engine.model.card import read_card, validate_card
from engine.model.errors import ModelCardError
from engine.resources import bundled_model_paths
from engine.results import LabelInfo
from engine.safe_paths import UnsafePathError, inside, name_problem

HOSTILE = ["../evil", "../../../tmp/x", "/etc/passwd", "a/b", "a\0b", "a\nb", "", "..",
           "Left_Lung", "a b", "nodule.nii.gz", "-x", "x" * 65, "a\\b"]


@pytest.mark.parametrize("name", HOSTILE)
def test_name_pattern_refuses_hostile_names(name):
    assert name_problem(name) is not None


@pytest.mark.parametrize("name", ["left_lung", "ground-glass", "3d_mass", "x" * 64])
def test_name_pattern_accepts_plain_names(name):
    assert name_problem(name) is None


def _card():
    return copy.deepcopy(read_card(bundled_model_paths()[1]))


def _relabel(card, i, organ=None, abnormality=None):
    lab = card["labels"][i]
    if organ is not None:
        card["organ_codes"][organ] = card["organ_codes"].pop(lab["organ"], 9)
        for other in card["labels"]:
            if other["organ"] == lab["organ"] and other is not lab:
                other["organ"] = organ
                other["name"] = f"{organ}/{other['abnormality']}"
        lab["organ"] = organ
    if abnormality is not None:
        lab["abnormality"] = abnormality
    lab["name"] = f"{lab['organ']}/{lab['abnormality']}"
    return card


@pytest.mark.parametrize("organ,abnormality", [
    ("../../evil", None), (None, "../../../evil"), (None, "/tmp/evil"), (None, ""),
    (None, "a\nb"), (None, "a\0b"), ("Heart", None), (None, "x/y"),
])
def test_card_with_unsafe_names_is_refused(organ, abnormality):
    card = _relabel(_card(), 0, organ, abnormality)
    with pytest.raises(ModelCardError, match="docs/model.md"):
        validate_card(card, source="hostile.json")


def test_labels_that_map_to_one_file_name_are_refused():
    card = _card()
    card["organ_codes"] = {"a": 1, "a__b": 2}
    card["labels"] = [{"name": "a/b__c", "organ": "a", "abnormality": "b__c"},
                      {"name": "a__b/c", "organ": "a__b", "abnormality": "c"}]
    with pytest.raises(ModelCardError, match="same file name a__b__c.nii.gz"):
        validate_card(card, source="hostile.json")


@pytest.mark.parametrize("file", ["../axialnet.safetensors", "/etc/passwd", "a\\b", ".."])
def test_weights_file_must_be_a_plain_name(file):
    card = _card()
    card["weights"]["file"] = file
    with pytest.raises(ModelCardError, match="weights.file"):
        validate_card(card, source="hostile.json")


def test_unknown_card_fields_are_still_accepted():
    card = _card()
    card["preprocessing"]["a_future_field"] = [1, 2]
    card["architecture"]["another_future_field"] = "x"
    card["something_new"] = {"x": 1}
    validate_card(card, source="ok.json")


def test_inside_refuses_traversal_absolute_and_symlinks(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert inside(out, "maps", "a.nii.gz") == (out / "maps" / "a.nii.gz").resolve()
    for parts in (("..", "x"), ("a/../../x",), ("/etc/x",), ("a\0",), ("",), (".",)):
        with pytest.raises(UnsafePathError):
            inside(out, *parts)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "maps")
    with pytest.raises(UnsafePathError, match="outside the output folder"):
        inside(out, "maps", "a.nii.gz")


def test_writer_refuses_a_forged_label_even_without_the_card_check(tmp_path):
    vol, _ = make_scan(0)
    result = _fake_result(vol, (2, 2, 2))
    result.labels[0] = LabelInfo("left_lung/../../../../evil", "left_lung", "../../../../evil", 3)
    out = tmp_path / "out"
    with pytest.raises(UnsafePathError):
        write_maps(result, vol, out / "maps", methods=("hirescam",))
    assert not list(tmp_path.rglob("*evil*"))
    with pytest.raises(UnsafePathError):
        map_path(out / "maps", "../x", "left_lung/nodule")


def test_explain_with_a_hostile_card_exits_2_and_writes_nothing(tmp_path, capsys):
    weights = Path(make_tiny_model(tmp_path / "model"))
    card_path = weights.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["organ_codes"]["../../../escaped"] = card["organ_codes"].pop("heart")
    for lab in card["labels"]:
        if lab["organ"] == "heart":
            lab["organ"] = "../../../escaped"
            lab["name"] = f"{lab['organ']}/{lab['abnormality']}"
    card_path.write_text(json.dumps(card))  # the sha256 covers the weights only
    vol, _ = make_scan(0)
    scan = write_nifti(tmp_path / "scan.nii.gz", vol.hu, vol.affine)
    out = tmp_path / "deep" / "er" / "out"
    rc = ctcam(["explain", str(scan), "--model", str(weights), "--out", str(out),
                "--organs", "none", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("error: Model card") and str(card_path) in err[0]
    assert "Traceback" not in "".join(err)
    assert not list(tmp_path.rglob("*escaped*"))
    assert not np.any([p.name.endswith(".nii.gz") and "scan" not in p.name
                       for p in tmp_path.rglob("*")])
