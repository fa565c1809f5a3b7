"""Label space of the bundled model (the model card lists them; docs/model.md).

Organ codes follow the HiResCAM paper's label maps: 1 right lung, 2 heart, 3 left lung.
A label is ``"<organ>/<abnormality>"``; its organ is its *allowed region*.  Only the engine
(phantom generator, training) uses these constants; the viewer reads labels from the model
card.
"""

from __future__ import annotations

from dataclasses import dataclass

ORGAN_CODES: dict[str, int] = {"right_lung": 1, "heart": 2, "left_lung": 3}

LUNG_ABNORMALITIES: tuple[str, ...] = (
    "nodule",
    "mass",
    "ground_glass_opacity",
    "consolidation",
    "pleural_effusion",
    "emphysema",
    "atelectasis",
    "calcified_granuloma",
)
HEART_ABNORMALITIES: tuple[str, ...] = (
    "cardiomegaly",
    "pericardial_effusion",
    "coronary_calcification",
)

LABELS: tuple[str, ...] = (
    tuple(f"right_lung/{a}" for a in LUNG_ABNORMALITIES)
    + tuple(f"left_lung/{a}" for a in LUNG_ABNORMALITIES)
    + tuple(f"heart/{a}" for a in HEART_ABNORMALITIES)
)
assert len(LABELS) == 19


def split_label(label: str) -> tuple[str, str]:
    """``"left_lung/nodule"`` -> ``("left_lung", "nodule")``."""
    organ, _, abnormality = label.partition("/")
    if not abnormality or organ not in ORGAN_CODES:
        raise ValueError(f"not a label of the form <organ>/<abnormality>: {label!r}")
    return organ, abnormality


def organ_code(label: str) -> int:
    """Organ label-map code of a label's allowed region."""
    return ORGAN_CODES[split_label(label)[0]]


@dataclass(frozen=True)
class LabelInfo:
    """One label of a model card, with the code of its organ in the organ label map."""

    name: str  # "<organ>/<abnormality>"
    organ: str  # "right_lung" | "left_lung" | "heart" (organ names come from the model card)
    abnormality: str
    organ_code: int  # code of the allowed region in the organ label map
