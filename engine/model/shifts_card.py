"""A card's test-time shifts (``test_time_shifts``): the model is run on its input rolled by
each shift (model voxels along i, j, k) and its logits and maps are the mean over the runs
(:mod:`engine.cam.shifts`; docs/methods.md, "Test-time shifts").

The list comes from a file a user may hand us and bounds a loop of forward passes: at most
:data:`MAX_SHIFTS` shifts of at most :data:`MAX_SHIFT` voxels per axis, each three integers,
no shift twice.  A card without the key runs once, unshifted.
"""

from __future__ import annotations

from typing import Any

Shift = tuple[int, int, int]
NO_SHIFT: tuple[Shift, ...] = ((0, 0, 0),)
MAX_SHIFTS = 16
MAX_SHIFT = 16
KEY = "test_time_shifts"


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def shift_problems(value: Any) -> list[str]:
    """What is wrong with a ``test_time_shifts`` value (empty: nothing; None: absent, fine)."""
    if value is None:
        return []
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SHIFTS:
        return [f"{KEY} must be a list of 1..{MAX_SHIFTS} shifts"]
    out = []
    for i, s in enumerate(value):
        if not (isinstance(s, list) and len(s) == 3 and all(_int(v) and abs(v) <= MAX_SHIFT for v in s)):
            out.append(f"{KEY}[{i}] must be three integers of at most {MAX_SHIFT} model voxels, got {s!r}")
    if not out and len({tuple(s) for s in value}) != len(value):
        out.append(f"{KEY} holds a shift twice")
    return out


def card_shifts(card: dict[str, Any]) -> tuple[Shift, ...]:
    """The card's shifts as tuples (a validated card), or :data:`NO_SHIFT`."""
    value = card.get(KEY)
    return NO_SHIFT if value is None else tuple((int(a), int(b), int(c)) for a, b, c in value)


def parse_shifts(text: str) -> list[list[int]]:
    """"0,0,0 4,4,1" -> [[0, 0, 0], [4, 4, 1]] (the command-line form); ValueError if a
    part is not an integer.  Bounds are :func:`shift_problems`' to check."""
    try:
        return [[int(t) for t in item.split(",")] for item in text.split()]
    except ValueError as exc:
        raise ValueError(f"shifts are i,j,k integer triples separated by spaces: {exc}") from exc
