"""Model-card fuzz target (see fuzz_support's docstring): JSON-tree and text edits of a
valid card, byte edits of its weights with the sha256 updated, loaded with ``load_model``
and used by ``preprocess``."""

from __future__ import annotations

import copy
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz_support import apply_bytes, byte_edits, card_volume, cuts, model_seed, outcome_of
from hypothesis import strategies as st


def json_paths(obj, prefix=()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += json_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += json_paths(v, (*prefix, i))
    return out


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from([0, 1, -1, 3, 10**9]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["axialnet", "ctcam-model-card/1", "left_lung", "body", "volume"]),
)
json_values = st.recursive(
    json_scalars,
    lambda ch: st.one_of(st.lists(ch, max_size=4), st.dictionaries(st.text(max_size=6), ch, max_size=3)),
    max_leaves=8,
)
TEXT_SPLICES = ["[" * 100_000, "1" * 5000, "1e999", "-1e999", "NaN", "Infinity", "\ufeff",
                "\udcff", '"\\ud800"', "{", "}", "null", ",", '"', "\x00", "0" * 400]


@dataclass(frozen=True)
class CardCase:
    tree_edits: tuple  # ((path index, action, value), ...) action: replace | delete | add
    text_edit: tuple | None  # (position, splice text) applied to the JSON text
    weight_edits: tuple  # byte edits of the weights file (card sha256 follows)
    weight_cut: int | None


card_cases = st.builds(
    CardCase,
    tree_edits=st.lists(st.tuples(st.integers(0, 10_000),
                                  st.sampled_from(["replace", "delete", "add"]), json_values),
                        max_size=3).map(tuple),
    text_edit=st.one_of(st.none(), st.tuples(st.integers(0, 10_000), st.sampled_from(TEXT_SPLICES))),
    weight_edits=st.one_of(st.just(()), byte_edits.map(tuple)),
    weight_cut=st.one_of(st.none(), st.none(), cuts),
)


def _edit_tree(card: dict, edits) -> Any:
    card = copy.deepcopy(card)
    for idx, action, value in edits:
        paths = json_paths(card)
        path = paths[idx % len(paths)]
        if not path:
            card = value if action == "replace" else card
            continue
        parent = card
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if action == "replace":
            parent[key] = value
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[f"extra{idx}"] = value
        else:
            parent.insert(key, value)
    return card


def card_files(case: CardCase) -> tuple[bytes, bytes]:
    """(weights bytes, card text bytes) for a case."""
    from hashlib import sha256

    weights, card = model_seed()
    weights = apply_bytes(weights, case.weight_edits, case.weight_cut)
    card = copy.deepcopy(card)
    card["weights"]["sha256"] = sha256(weights).hexdigest()
    card = _edit_tree(card, case.tree_edits)
    text = json.dumps(card, allow_nan=True)
    if case.text_edit is not None:
        pos, splice = case.text_edit
        pos %= len(text) + 1
        text = text[:pos] + splice + text[pos:]
    return weights, text.encode("utf-8", "surrogatepass")


def run_card(case: CardCase) -> str:
    """read_card, load_model and preprocess (the card drives the model grid) on a mutation."""
    from engine.model import load_model, preprocess
    from engine.model.card import read_card

    weights, text = card_files(case)
    with tempfile.TemporaryDirectory() as d:
        w, c = Path(d) / "m.safetensors", Path(d) / "m.json"
        w.write_bytes(weights)
        c.write_bytes(text)

        def go():
            read_card(c)
            loaded = load_model(w, c, device="cpu")
            preprocess(card_volume(), loaded.card)
            return loaded

        return outcome_of(go)
