"""Bounded fuzzing of the model-card loader and the weights parser (docs/reliability.md).

``read_card`` + ``load_model`` + ``preprocess`` on JSON-tree and text mutations of a valid
card and byte mutations of its safetensors file (sha256 kept matching, so the parser is
reached): the model loads and preprocesses, or a CTCamError comes out; nothing else, no
hang, no allocation beyond the weights file.  The regression cases below are what the
first fuzz runs found (TypeError, ValueError, RecursionError, ZeroDivisionError and
RuntimeError escaping; networks built before their size was checked).
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import pytest
from fuzz_cards import CardCase, card_cases, run_card
from fuzz_support import model_seed, outcome_of
from hypothesis import HealthCheck, example, given, settings

CI = settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@CI
@given(case=card_cases)
@example(CardCase(tree_edits=(), text_edit=None, weight_edits=(), weight_cut=None))  # valid
@example(CardCase(tree_edits=(), text_edit=(0, "[" * 100_000), weight_edits=(), weight_cut=None))
@example(CardCase(tree_edits=(), text_edit=(20, "1" * 5000), weight_edits=(), weight_cut=None))
@example(CardCase(tree_edits=(), text_edit=None, weight_edits=((3, 255), (7, 127)), weight_cut=None))
@example(CardCase(tree_edits=(), text_edit=None, weight_edits=(), weight_cut=500))
def test_card_and_weights_mutations_load_or_raise_ctcam_error(case):
    run_card(case)


def _load_edited(edit) -> str:
    from hashlib import sha256

    from fuzz_support import card_volume

    from engine.model import load_model, preprocess

    weights, card = model_seed()
    card = copy.deepcopy(card)
    card["weights"]["sha256"] = sha256(weights).hexdigest()
    edit(card)
    with tempfile.TemporaryDirectory() as d:
        w, c = Path(d) / "m.safetensors", Path(d) / "m.json"
        w.write_bytes(weights)
        c.write_text(json.dumps(card))
        return outcome_of(lambda: preprocess(card_volume(), load_model(w, c, device="cpu").card))


def _set(*path_value):
    *path, value = path_value

    def edit(card):
        node = card
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


@pytest.mark.parametrize("edit, expected", [
    (_set("architecture", "stem_width", -3), "ModelCardError"),       # RuntimeError before
    (_set("architecture", "strides", [0, 2]), "ModelCardError"),      # ZeroDivisionError before
    (_set("architecture", "widths", [4000, 4000]), "ModelWeightsError"),  # built 1 GB first
    (_set("architecture", "widths", [2] * 3000), "ModelCardError"),  # strides length differs
    (_set("labels", 0, "organ", ["left_lung"]), "ModelCardError"),   # unhashable list
    (_set("preprocessing", 5), "ModelCardError"),                    # int is not iterable
    (_set("preprocessing", "hu_window", [1]), "ModelCardError"),     # unpacking ValueError
    (_set("preprocessing", "hu_window", ["a", 2]), "ModelCardError"),
    (_set("preprocessing", "spacing_mm", [float("nan"), 1, 1]), "ModelCardError"),
    (_set("preprocessing", "mean", "0.2"), "ModelCardError"),        # TypeError in preprocess
    (_set("preprocessing", "outside_hu", None), "ModelCardError"),
    (_set("organ_codes", "heart", 1.5), "ModelCardError"),
])
def test_found_card_bugs_now_raise_model_errors(edit, expected):
    assert _load_edited(edit) == expected


def test_many_layers_are_refused_before_building():
    def edit(card):
        card["architecture"]["widths"] = [2] * 5000
        card["architecture"]["strides"] = [1] * 5000

    assert _load_edited(edit) == "ModelWeightsError"
