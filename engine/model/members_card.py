"""A card's ensemble members (``ensemble_members``): further runs of the same recipe whose
networks are read beside the card's own weights; the logits and maps are the mean over
every member and every test-time shift (:mod:`engine.cam.shifts`; docs/methods.md,
"Ensembles of runs").

The list comes from a file a user may hand us: each entry names a plain ``.safetensors``
file beside the card (never a path) and its sha256, at most :data:`MAX_MEMBERS` entries,
none twice and none the card's own weights.  Every member must fit the card's architecture
(checked on load).  A card without the key is a single network.
"""

from __future__ import annotations

import re
from typing import Any

KEY = "ensemble_members"
MAX_MEMBERS = 7  # beside the card's own weights: at most 8 networks
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.safetensors$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


def member_problems(value: Any, own_file: Any = None) -> list[str]:
    """What is wrong with an ``ensemble_members`` value (empty: nothing; None: absent, fine)."""
    if value is None:
        return []
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_MEMBERS:
        return [f"{KEY} must be a list of 1..{MAX_MEMBERS} members"]
    out = []
    for i, m in enumerate(value):
        if not (isinstance(m, dict) and set(m) == {"file", "sha256"}):
            out.append(f"{KEY}[{i}] must be an object with exactly file and sha256")
            continue
        if not (isinstance(m["file"], str) and _FILE.match(m["file"]) and ".." not in m["file"]):
            out.append(f"{KEY}[{i}].file must be a plain .safetensors file name beside the card, "
                       f"got {m['file']!r}")
        if not (isinstance(m["sha256"], str) and _SHA.match(m["sha256"])):
            out.append(f"{KEY}[{i}].sha256 must be 64 lower-case hex digits")
    files = [m.get("file") for m in value if isinstance(m, dict)]
    if not out and len(set(files)) != len(files):
        out.append(f"{KEY} names a file twice")
    if not out and own_file in files:
        out.append(f"{KEY} names the card's own weights file {own_file!r}")
    return out


def card_members(card: dict[str, Any]) -> list[tuple[str, str]]:
    """(file, sha256) of each member beyond the card's own weights (a validated card)."""
    return [(str(m["file"]), str(m["sha256"])) for m in card.get(KEY) or []]


def weights_id(card: dict[str, Any]) -> str:
    """What identifies the networks a card runs: its weights' sha256, then each member's."""
    return "+".join([str(card["weights"]["sha256"]), *(sha for _, sha in card_members(card))])


def weights_id_shas(weights_id: str) -> list[str]:
    """The sha256 of each network in a :func:`weights_id`, the card's own weights first."""
    return weights_id.split("+")
