"""Validation of a model card's input channels and head (``preprocessing.channels``,
``preprocessing.mean``, ``architecture.in_channels / pooling / temperature``).

Every number here comes from a file a user may hand us, and ``in_channels`` becomes the
size of the first convolution: all of it is checked before anything is built.
"""

from __future__ import annotations

import math
from typing import Any

from engine.model.errors import ModelCardError
from engine.model.evidence import evidence_problems

MAX_CHANNELS = 32  # a bound on the first convolution (a card's number); 17 with the depth channels
STATS = ("mean", "max", "fraction", "evidence")
POOLINGS = ("mean", "lse")
INTERPOLATIONS = ("trilinear", "footprint")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def input_problems(arch: dict[str, Any], pre: dict[str, Any],
                   organ_names: set[str] | None = None) -> list[str]:
    """What is wrong with the card's input and head description (empty list: nothing).
    ``organ_names``: the card's organs (evidence channels must name one of them)."""
    out: list[str] = []
    channels = pre.get("channels")
    n = 1
    if channels is not None:
        if not isinstance(channels, list) or not 1 <= len(channels) <= MAX_CHANNELS:
            return [f"preprocessing.channels must be a list of 1..{MAX_CHANNELS} channels"]
        n = len(channels)
        for i, ch in enumerate(channels):
            if not isinstance(ch, dict) or ch.get("stat") not in STATS:
                out.append(f"preprocessing.channels[{i}] must be an object with stat one of "
                           f"{', '.join(STATS)}")
            elif ch["stat"] == "fraction":
                hu = ch.get("hu")
                if not (isinstance(hu, list) and len(hu) == 2 and all(_finite(v) for v in hu)
                        and hu[0] < hu[1]):
                    out.append(f"preprocessing.channels[{i}]: a fraction needs hu [low, high] "
                               "with finite low < high")
        if not out:
            out += evidence_problems(channels, organ_names or set())
    mean = pre.get("mean")
    if isinstance(mean, list):
        if len(mean) != n or not all(_finite(v) for v in mean):
            out.append(f"preprocessing.mean must be {n} finite number(s), one per channel")
    elif not _finite(mean):
        out.append(f"preprocessing.mean must be a finite number, got {mean!r}")
    elif channels is not None and n != 1:
        out.append(f"preprocessing.mean must be a list of {n} numbers, one per channel")
    in_ch = arch.get("in_channels", 1)
    if not (isinstance(in_ch, int) and not isinstance(in_ch, bool) and in_ch == n):
        out.append(f"architecture.in_channels ({in_ch!r}) must equal the number of "
                   f"preprocessing channels ({n})")
    if pre.get("interpolation", "trilinear") not in INTERPOLATIONS:
        out.append(f"preprocessing.interpolation must be one of {', '.join(INTERPOLATIONS)}")
    if arch.get("pooling", "mean") not in POOLINGS:
        out.append(f"architecture.pooling must be one of {', '.join(POOLINGS)}")
    t = arch.get("temperature", 1.0)
    if not (_finite(t) and 1e-3 <= t <= 1e3):
        out.append(f"architecture.temperature must be a number in [0.001, 1000], got {t!r}")
    return out


def check_inputs(arch: dict[str, Any], pre: dict[str, Any], source: str,
                 organ_names: set[str] | None = None) -> None:
    problems = input_problems(arch, pre, organ_names)
    if problems:
        raise ModelCardError(f"Model card {source}: {'; '.join(problems)}. Fix the card or "
                             "re-create it with `ctcam train` (see docs/model.md).")
