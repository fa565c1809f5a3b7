"""The progress record every long engine generator yields (readers, pipeline, training data,
PACS retrieve).  A leaf module: it imports nothing from ctcam, so any layer can use it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Progress:
    """Yielded by every long engine generator."""

    stage: str  # "load", "organs", "preprocess", "predict", "explain", ...
    fraction: float  # 0..1 within the whole job
    message: str = ""
