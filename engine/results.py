"""Plain data returned by the pipeline; the contract between engine and viewer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.cam.registry import METHODS  # noqa: F401 - the method names, defined once there
from engine.labels import LabelInfo  # noqa: F401 - defined with the label space
from engine.progress import Progress  # noqa: F401 - a leaf module: readers import it too


@dataclass
class ExplainResult:
    """Everything the viewer and the exporters need about one scan.

    ``maps[method]`` holds the *raw signed* maps at model resolution, shape
    (n_labels, G, h, w) float32, where G is the number of slice groups; ``map_affine`` maps a
    map index (g, r, c) ... see ``engine.cam.sampling`` for the exact grid convention, which
    is expressed entirely by ``map_affine`` (map index (a0, a1, a2) -> RAS mm, array order
    (i, j, k) like the scan, i.e. maps are stored as (n_labels, mi, mj, mk)).
    """

    labels: list[LabelInfo]
    probabilities: np.ndarray  # (L,)
    logits: np.ndarray  # (L,)
    biases: np.ndarray  # (L,)
    maps: dict[str, np.ndarray]  # method -> (L, mi, mj, mk) float32, raw signed
    map_affine: np.ndarray  # 4x4, map voxel index -> RAS mm
    organ_map: np.ndarray | None  # uint8 on the scan grid (codes in model card), or None
    card: dict[str, Any]
    device: str = "cpu"
    methods_identical: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    suitability: dict[str, Any] = field(default_factory=dict)  # engine.suitability.assess
    scan_id: str | None = None
    request_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # organ_message, volume, cam_path
