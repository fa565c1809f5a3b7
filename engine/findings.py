"""The findings schema: one record per label, written by ``ctcam explain`` (one scan or a
batch) and by the viewer's findings export, so every findings.json and findings CSV has the
same fields.

findings.json::

    {"labels": [                         one record per label of the model (:class:`Finding`)
        {"index", "name", "organ", "abnormality", "probability", "logit", "bias",
         "threshold", "positive",        the card's operating point (None without one)
         "peak": {method: {"ras": [x, y, z] mm, "cell": [a, b, c]}},   each map's maximum
         "organ_share": {method: share}}, ...],   positive map mass inside the label's organ
     "model", "device", "methods_identical", "coordinates", "operating_point",
     "probability": {"calibrated", "method", "fitted_on"} (engine.model.calibration),
     "suitability", "warnings", "timing",
     ... the writer's own fields: input or source, organ_map, provenance, id, series}

``peak`` is the centre of the map cell holding the raw map's maximum, in RAS mm; the
crosshair jumps to the first method's (HiResCAM's).  ``organ_share`` is
``sum(relu(M)[organ]) / sum(relu(M))`` on the map grid (docs/methods.md), None without an
organ map or when the map has no positive value (there is no mass to share, so "0" would
wrongly read as "all of it outside the organ").

Importing this module never imports torch (the viewer builds and writes findings).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

COORDINATES = "RAS mm (patient Right, Anterior, Superior)"


def pretty(name: str) -> str:
    """"left_lung" -> "Left lung"; "ground_glass_opacity" -> "Ground glass opacity"."""
    s = name.replace("_", " ")
    return s[:1].upper() + s[1:]


@dataclass
class Finding:
    index: int
    name: str
    organ: str
    abnormality: str
    probability: float
    logit: float
    bias: float | None = None
    threshold: float | None = None  # the card's operating point for this label, if any
    positive: bool | None = None  # probability >= threshold; None without an operating point
    peak: dict[str, dict[str, list]] = field(default_factory=dict)  # method -> {"ras", "cell"}
    organ_share: dict[str, float | None] = field(default_factory=dict)  # method -> share 0..1

    @property
    def peak_ras(self) -> list[float] | None:
        """World mm of the first method's peak (HiResCAM's): where the crosshair jumps."""
        first = next(iter(self.peak.values()), None)
        return None if first is None else first["ras"]

    @property
    def peak_cell(self) -> list[int] | None:
        """Map cell (a, b, c) of the first method's peak."""
        first = next(iter(self.peak.values()), None)
        return None if first is None else first["cell"]


def peak_cell(raw: np.ndarray) -> list[int]:
    """Index of the maximum of one raw map (mi, mj, mk)."""
    return [int(v) for v in np.unravel_index(int(np.argmax(raw)), raw.shape)]


def cell_centre(map_affine: np.ndarray, cell: Sequence[float]) -> np.ndarray:
    """RAS mm of a map cell's centre."""
    aff = np.asarray(map_affine, dtype=np.float64)
    return np.asarray(cell, dtype=np.float64) @ aff[:3, :3].T + aff[:3, 3]


def organ_share(raw: np.ndarray, organ_codes: np.ndarray | None, code: int) -> float | None:
    """Share of the positive mass of one raw map inside organ ``code`` (module docstring)."""
    if organ_codes is None or not np.any(raw > 0):
        return None
    from engine.cam.localisation import mass_in_organ

    return mass_in_organ(raw, organ_codes, code)


def organ_codes(result, scan_affine: np.ndarray | None) -> np.ndarray | None:
    """Organ code at each map cell centre, or None without an organ map."""
    if result.organ_map is None or scan_affine is None or result.map_affine is None:
        return None
    from engine.cam.localisation import organ_codes_on_map_grid

    shape = next(iter(result.maps.values())).shape[1:]
    return organ_codes_on_map_grid(result.organ_map, scan_affine, result.map_affine, shape)


def summarise(result, scan_affine: np.ndarray | None = None) -> list[Finding]:
    """One :class:`Finding` per label of an ``ExplainResult``; ``scan_affine`` (default: the
    result's volume) places the organ map on the map grid."""
    from engine import operating

    if scan_affine is None and result.extra.get("volume") is not None:
        scan_affine = result.extra["volume"].affine
    codes = organ_codes(result, scan_affine)
    thr = operating.thresholds(result.card)
    out = []
    for i, lab in enumerate(result.labels):
        peaks, shares = {}, {}
        for m, stack in result.maps.items():
            cell = peak_cell(stack[i])
            ras = None if result.map_affine is None else cell_centre(result.map_affine, cell)
            peaks[m] = {"ras": None if ras is None else [float(v) for v in ras], "cell": cell}
            shares[m] = organ_share(stack[i], codes, lab.organ_code)
        out.append(Finding(
            index=i, name=lab.name, organ=lab.organ, abnormality=lab.abnormality,
            probability=float(result.probabilities[i]), logit=float(result.logits[i]),
            bias=float(result.biases[i]), threshold=thr.get(lab.name),
            positive=operating.decide(result.probabilities[i], thr.get(lab.name)),
            peak=peaks, organ_share=shares))
    return out


def document(findings: Sequence[Finding], *, card: Mapping[str, Any], device: str,
             methods_identical: bool, suitability: Mapping[str, Any] | None = None,
             warnings: Sequence[str] = (), timing: Mapping[str, float] | None = None,
             **extra: Any) -> dict[str, Any]:
    """The findings.json document (module docstring); ``extra``: the writer's own fields."""
    from engine import operating
    from engine.model import calibration
    from engine.model.card import summary

    doc = {
        "labels": [asdict(f) for f in findings],
        "model": summary(dict(card)),
        "device": device,
        "methods_identical": bool(methods_identical),
        "coordinates": COORDINATES,
        "operating_point": operating.summary(dict(card)),
        "probability": calibration.summary(dict(card)),
        "suitability": dict(suitability) if suitability else None,
        "warnings": [str(w) for w in warnings],
        "timing": {k: round(float(v), 4) for k, v in (timing or {}).items()},
    }
    doc.update(extra)
    return doc


def findings_dict(result, scan_affine: np.ndarray | None = None, **extra: Any) -> dict[str, Any]:
    """The findings.json document of an ``ExplainResult``."""
    return document(summarise(result, scan_affine), card=result.card, device=result.device,
                    methods_identical=result.methods_identical, suitability=result.suitability,
                    warnings=result.extra.get("warnings", []), timing=result.timings, **extra)


def write_findings_json(doc: Mapping[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def csv_columns(methods: Sequence[str]) -> list[str]:
    return (["label", "organ", "abnormality", "probability", "threshold", "positive", "logit"]
            + [f"peak_{m}_{a}_mm" for m in methods for a in "xyz"]
            + [f"organ_share_{m}" for m in methods])


def write_findings_csv(findings: Sequence[Finding], path: str | Path) -> Path:
    """One row per label: the same fields as findings.json, peaks and shares per method."""
    methods = list(findings[0].peak) if findings else []
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(csv_columns(methods))
        for r in findings:
            thr = "" if r.threshold is None else f"{r.threshold:.4f}"
            pos = "" if r.positive is None else str(bool(r.positive)).lower()
            peaks = [f"{v:.2f}" if r.peak[m]["ras"] is not None else "" for m in methods
                     for v in (r.peak[m]["ras"] or [None] * 3)]
            share = ["" if r.organ_share.get(m) is None else f"{r.organ_share[m]:.4f}"
                     for m in methods]
            w.writerow([r.name, r.organ, r.abnormality, f"{r.probability:.4f}", thr, pos,
                        f"{r.logit:.4f}", *peaks, *share])
    return path
