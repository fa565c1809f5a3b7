"""The batch's records: ``errors.csv`` and ``scans.csv`` row by row, partial folders left by
an interrupted run, and a skipped scan's top finding read back (docs/batch.md)."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

from engine.batch.scan import MARKER, PARTIAL_PREFIX, JobOutcome

ERRORS_CSV = "errors.csv"
SCANS_CSV = "scans.csv"


class BatchRecorder:
    """Writes ``errors.csv`` and ``scans.csv`` row by row (flushed, so a crash keeps them)."""

    SCAN_FIELDS = ["id", "path", "status", "seconds", "top_label", "top_probability", "error",
                   "suitable", "unsuitable_reasons"]
    STAGES = ["load", "organs", "model", "preprocess", "predict", "write", "summary"]

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.errors_path = out_dir / ERRORS_CSV
        self.scans_path = out_dir / SCANS_CSV
        self._err = self.errors_path.open("w", newline="", encoding="utf-8")
        self._scans = self.scans_path.open("w", newline="", encoding="utf-8")
        self._ew = csv.writer(self._err)
        self._sw = csv.writer(self._scans)
        self._ew.writerow(["id", "path", "error"])
        self._sw.writerow(self.SCAN_FIELDS + [f"{k}_s" for k in self.STAGES])
        self._flush()

    def add(self, o: JobOutcome) -> None:
        if o.status == "failed":
            self._ew.writerow([o.id, o.path, o.error])
        prob = "" if math.isnan(o.top_probability) else f"{o.top_probability:.4f}"
        stages = [f"{o.timings[k]:.3f}" if k in o.timings else "" for k in self.STAGES]
        suitable = "" if o.suitable is None else ("yes" if o.suitable else "no")
        self._sw.writerow([o.id, o.path, o.status, f"{o.seconds:.3f}", o.top_label, prob, o.error,
                           suitable, o.unsuitable_reasons, *stages])
        self._flush()

    def _flush(self) -> None:
        self._err.flush()
        self._scans.flush()

    def close(self) -> None:
        self._err.close()
        self._scans.close()


def clean_partials(out_dir: Path) -> int:
    """Remove temporary folders left by an interrupted run; returns how many."""
    n = 0
    if out_dir.is_dir():
        for p in out_dir.iterdir():
            if p.name.startswith(PARTIAL_PREFIX) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                n += 1
    return n


def fill_from_existing(o: JobOutcome, out_dir: Path) -> JobOutcome:
    """For a skipped scan, read its top finding back from findings.json (for scans.csv)."""
    try:
        data = json.loads((out_dir / o.id / MARKER).read_text(encoding="utf-8"))
        best = max(data["labels"], key=lambda d: d["probability"])
        o.top_label, o.top_probability = str(best["name"]), float(best["probability"])
        suit = data.get("suitability") or {}
        if "ok" in suit:
            o.suitable, o.unsuitable_reasons = bool(suit["ok"]), "; ".join(suit.get("reasons", []))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return o
