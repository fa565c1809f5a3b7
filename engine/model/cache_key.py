"""The training cache's key: everything a preprocessed phantom depends on, so a changed
generator, preprocessing or evidence feature never reuses old cases
(:func:`engine.model.dataset.cached_phantom_dataset`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any


def phantom_cache_tag(prep: dict[str, Any], map_shape: Sequence[int], labels: Sequence[str],
                      organ_codes: dict[str, int], spacing: Sequence[float]) -> str:
    """Ten hex digits of the key's SHA-256 (the cache folder is ``{split}-{tag}``)."""
    from engine.model.bronchogram_evidence import BRONCHOGRAM_EVIDENCE_VERSION
    from engine.model.footprint import FOOTPRINT_VERSION
    from engine.model.nodule_evidence import NODULE_EVIDENCE_VERSION
    from engine.model.solid_depth_evidence import SOLID_DEPTH_EVIDENCE_VERSION
    from engine.phantom.generate import GENERATOR_VERSION

    features = {ch.get("feature") for ch in prep.get("channels") or []}
    key = json.dumps([prep["shape"], prep["spacing_mm"], prep["hu_window"],
                      prep.get("centre", "body"), prep.get("channels"), list(map_shape),
                      list(labels), organ_codes, list(spacing), GENERATOR_VERSION]
                     # (a trilinear card's key is unchanged, so its existing caches stay valid)
                     + ([prep["interpolation"]] if prep.get("interpolation", "trilinear") != "trilinear" else [])
                     + ([FOOTPRINT_VERSION] if prep.get("interpolation") == "footprint" else [])
                     + ([NODULE_EVIDENCE_VERSION] if "lung_nodule" in features else [])
                     + ([["bronchogram", BRONCHOGRAM_EVIDENCE_VERSION]] if "lung_bronchogram" in features else [])
                     + ([["solid_depth", SOLID_DEPTH_EVIDENCE_VERSION]] if "lung_solid_depth" in features else []),
                     sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:10]
