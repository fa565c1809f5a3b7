"""The model input channel sets of ``ctcam train --channels NAME`` (:data:`CHANNEL_SETS`):
each set is the one before it plus its own channels (the channels themselves are computed by
:mod:`engine.model.preprocess`)."""

from __future__ import annotations

from typing import Any

from engine.model.evidence import has_evidence

# Input channels of the default recipe (engine.model.preprocess): mean and maximum HU of each
# block of scan voxels, and the share of its voxels that are emphysema-like air (< -950 HU)
# or calcium/bone (>= 200 HU).
DEFAULT_CHANNELS: list[dict[str, Any]] = [
    {"stat": "mean"}, {"stat": "max"},
    {"stat": "fraction", "hu": [-2000, -950]}, {"stat": "fraction", "hu": [200, 4000]},
]
# Organ-gated evidence channels (engine.model.evidence): one per finding and organ side.
EVIDENCE_CHANNELS: list[dict[str, Any]] = [
    {"stat": "evidence", "feature": f, "organ": o} for f, o in (
        ("ground_glass", "right_lung"), ("ground_glass", "left_lung"),
        ("lung_spot", "right_lung"), ("lung_spot", "left_lung"),
        ("lung_blob", "right_lung"), ("lung_blob", "left_lung"),
        ("isolated_calcium", "heart"))
]


# ``--channels evidence_nodule``: + multi-scale ball-ness read finer than the model grid.
NODULE_CHANNELS: list[dict[str, Any]] = [
    {"stat": "evidence", "feature": "lung_nodule", "organ": o} for o in ("right_lung", "left_lung")]
# ``--channels evidence_bronchogram``: + air enclosed by solid lung, read on the same grid.
BRONCHOGRAM_CHANNELS: list[dict[str, Any]] = [
    {"stat": "evidence", "feature": "lung_bronchogram", "organ": o} for o in ("right_lung", "left_lung")]
# ``--channels evidence_depth``: + the depth of solid lung, read on the same grid.
DEPTH_CHANNELS: list[dict[str, Any]] = [
    {"stat": "evidence", "feature": "lung_solid_depth", "organ": o} for o in ("right_lung", "left_lung")]
CHANNEL_SETS = ("evidence_bronchogram", "evidence_depth", "evidence_nodule", "evidence", "bands", "mean")


# Each ``--channels`` set is the one before it plus its own channels (``mean``: the block mean alone).
_CHANNEL_LADDER: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    ("bands", DEFAULT_CHANNELS), ("evidence", EVIDENCE_CHANNELS), ("evidence_nodule", NODULE_CHANNELS),
    ("evidence_bronchogram", BRONCHOGRAM_CHANNELS), ("evidence_depth", DEPTH_CHANNELS))


def channel_set(name: str) -> list[dict[str, Any]]:
    """The model input channels of ``ctcam train --channels NAME`` (:data:`CHANNEL_SETS`)."""
    if name == "mean":
        return []
    names = [n for n, _ in _CHANNEL_LADDER]
    if name not in names:
        raise ValueError(f"unknown channel set {name!r} (known: {', '.join(CHANNEL_SETS)})")
    return [dict(c) for _, added in _CHANNEL_LADDER[:names.index(name) + 1] for c in added]


def channel_set_name(channels: list[dict[str, Any]]) -> str:
    """The ``--channels`` name of a channel list (inverse of :func:`channel_set`)."""
    features = {ch.get("feature") for ch in channels}
    for name, added in reversed(_CHANNEL_LADDER[2:]):  # the sets told apart by a scan-read feature
        if added[0]["feature"] in features:
            return name
    return "evidence" if has_evidence(channels) else "bands" if channels else "mean"
