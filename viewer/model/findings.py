"""Per-finding summary rows (Qt-free): probability, map peak, share of map mass in the organ.

Built once per result in the worker thread (``summarise``), shown by the findings panel and
written by the CSV/JSON exports.  The numbers come from the engine via the sampling adapter.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from engine.results import METHODS
from viewer.model import sampling_adapter


@dataclass
class Finding:
    index: int
    name: str
    organ: str
    abnormality: str
    probability: float
    logit: float
    peak_ras: list[float]  # world mm of the HiResCAM map's maximum
    organ_share: dict[str, float | None] = field(default_factory=dict)  # method -> share 0..1
    threshold: float | None = None  # the card's operating point for this label, if any
    positive: bool | None = None  # probability >= threshold; None without an operating point
    peak_cell: list[int] | None = None  # map cell (a, b, c) of the HiResCAM peak


def summarise(result, scan_affine: np.ndarray) -> list[Finding]:
    from engine import operating

    out = []
    codes = sampling_adapter.organ_codes_on_map_grid(result, scan_affine)
    thr = operating.thresholds(result.card)
    for i, lab in enumerate(result.labels):
        raw = result.maps["hirescam"][i]
        out.append(Finding(
            index=i, name=lab.name, organ=lab.organ, abnormality=lab.abnormality,
            probability=float(result.probabilities[i]), logit=float(result.logits[i]),
            peak_ras=[float(v) for v in sampling_adapter.peak_world(result, i, "hirescam")],
            organ_share={m: sampling_adapter.organ_mass_share(result, i, m, codes) for m in METHODS},
            threshold=thr.get(lab.name),
            positive=operating.decide(result.probabilities[i], thr.get(lab.name)),
            peak_cell=[int(v) for v in np.unravel_index(int(np.argmax(raw)), raw.shape)],
        ))
    return out


def pretty(name: str) -> str:
    """"left_lung" -> "Left lung"; "ground_glass_opacity" -> "Ground glass opacity"."""
    s = name.replace("_", " ")
    return s[:1].upper() + s[1:]


CSV_COLUMNS = ["label", "organ", "abnormality", "probability", "threshold", "positive", "logit",
               "peak_x_mm", "peak_y_mm", "peak_z_mm"] + [f"organ_share_{m}" for m in METHODS]


def write_csv(path: str | Path, findings: list[Finding]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in findings:
            share = ["" if r.organ_share.get(m) is None else f"{r.organ_share[m]:.4f}" for m in METHODS]
            thr = "" if r.threshold is None else f"{r.threshold:.4f}"
            pos = "" if r.positive is None else str(bool(r.positive)).lower()
            w.writerow([r.name, r.organ, r.abnormality, f"{r.probability:.4f}", thr, pos, f"{r.logit:.4f}",
                        *(f"{v:.2f}" for v in r.peak_ras), *share])


def write_json(path: str | Path, findings: list[Finding], *, source: str | None, card: dict,
               device: str, methods_identical: bool, suitability: dict | None = None) -> None:
    from engine import operating

    doc = {
        "source": source,
        "model": {k: card.get(k) for k in ("name", "version")},
        "synthetic_data_statement": card.get("synthetic_data_statement"),
        "device": device,
        "methods_identical": bool(methods_identical),
        "coordinates": "RAS mm (patient Right, Anterior, Superior)",
        "operating_point": operating.summary(card),
        "suitability": suitability,
        "findings": [asdict(r) for r in findings],
    }
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
