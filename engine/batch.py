"""Explaining many scans: ``ctcam explain INPUT... --out DIR``.

Output layout (``docs/batch.md``)::

    DIR/<scan id>/findings.json     the single-scan outputs, plus
    DIR/<scan id>/maps/<method>/<organ>__<abnormality>.nii.gz
    DIR/<scan id>/raw/...           with --raw
    DIR/<scan id>/summary.png       key slices of the top findings, both methods
    DIR/errors.csv                  id, path, error: one row per scan that failed this run
    DIR/scans.csv                   id, path, status, seconds, top finding, stage times

Each scan is written into a hidden temporary folder ``DIR/.partial-<id>-<random>`` and
renamed to ``DIR/<id>`` only when complete (``findings.json`` is the marker), so a scan
interrupted half way is redone by the next run and a complete one is skipped ("resume").
A bad scan is recorded in ``errors.csv`` and the batch goes on.  The model is loaded once
per process (once per worker on a cluster, see :mod:`engine.cluster`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.batch_inputs import Job
from engine.batch_progress import BatchProgress
from engine.errors import CTCamError, naming
from engine.results import METHODS, Progress

MARKER = "findings.json"
PARTIAL_PREFIX = ".partial-"
ERRORS_CSV = "errors.csv"
SCANS_CSV = "scans.csv"


class BatchOptionError(CTCamError):
    """Options that cannot work for any scan (unknown label or method, a bad model)."""


@dataclass(frozen=True)
class BatchOptions:
    """What to compute and write for every scan (plain data: it travels to cluster workers)."""

    model: str | None = None  # weights .safetensors (card beside it); None: bundled model
    device: str | None = None  # None: best available on the machine running the scan
    labels: tuple[str, ...] | None = None  # labels to write maps for (all when None)
    methods: tuple[str, ...] = METHODS
    raw: bool = False
    organs: str = "auto"  # default organ map: "auto" (classical segmentation) or "none"
    summary_top: int = 3  # findings shown in summary.png


@dataclass
class JobOutcome:
    """What happened to one scan (returned by workers, one row of ``scans.csv``)."""

    id: str
    path: str
    status: str  # "done" | "skipped" | "failed"
    seconds: float = 0.0
    error: str = ""
    top_label: str = ""
    top_probability: float = math.nan
    worker: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    suitable: bool | None = None  # engine.suitability verdict (None: not explained this run)
    unsuitable_reasons: str = ""  # its reasons, "; "-joined


@dataclass
class BatchReport:
    outcomes: list[JobOutcome]
    seconds: float
    summary: str = ""

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """0 when every scan is done (or was already), 1 when any failed."""
        return 1 if self.count("failed") else 0


# -- options -------------------------------------------------------------------------------------
def model_card_for(model: str | None) -> dict[str, Any]:
    """The (validated) card of the model a batch will use, without loading the weights."""
    from engine.model.card import read_card
    from engine.resources import bundled_model_paths

    if model is None:
        return read_card(bundled_model_paths()[1])
    return read_card(Path(model).with_suffix(".json"))


def check_options(opts: BatchOptions, card: dict[str, Any]) -> None:
    """Unknown methods or labels are usage errors, found before any scan is read."""
    bad = [m for m in opts.methods if m not in METHODS]
    if bad or not opts.methods:
        raise BatchOptionError(f"unknown method(s) {', '.join(bad) or '(none given)'}; "
                               f"choose from {', '.join(METHODS)}")
    if opts.organs not in ("auto", "none"):
        raise BatchOptionError(f"organs must be 'auto' or 'none' for a batch, got {opts.organs!r}; "
                               "give per-scan organ maps in the CSV list's 'organs' column")
    names = [lab["name"] for lab in card["labels"]]
    unknown = [n for n in opts.labels or () if n not in names]
    if unknown:
        raise BatchOptionError(f"unknown label(s) {', '.join(unknown)}; the model's labels are: "
                               f"{', '.join(names)}")


def _organs_arg(job: Job, opts: BatchOptions):
    choice = job.organs if job.organs is not None else opts.organs
    if choice == "none":
        return False
    if choice == "auto":
        return None
    return choice


# -- one scan ------------------------------------------------------------------------------------
def is_complete(scan_dir: Path, expected: dict[str, Any] | None = None) -> bool:
    """True when ``scan_dir`` holds a readable findings.json (written last, renamed in) and,
    given ``expected`` (:func:`engine.outdir.provenance`), was produced the same way."""
    try:
        data = json.loads((scan_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not (isinstance(data, dict) and isinstance(data.get("labels"), list)):
        return False
    return expected is None or data.get("provenance") == expected


def expected_provenance(job: Job, opts: BatchOptions) -> dict[str, Any]:
    from engine.cli_explain import organs_choice
    from engine.outdir import provenance

    return provenance(model_card_for(opts.model), labels=opts.labels, methods=opts.methods,
                      raw=opts.raw, organs=organs_choice(_organs_arg(job, opts)))


def _top(result) -> tuple[str, float]:
    if not len(result.probabilities):
        return "", math.nan
    i = int(max(range(len(result.probabilities)), key=lambda n: result.probabilities[n]))
    return result.labels[i].name, float(result.probabilities[i])


def _failure(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, CTCamError):
        return text
    return f"unexpected error ({type(exc).__name__}: {text}); please report this as a bug"


PIPELINE_SHARE = 0.5  # of a scan's progress bar; writing the maps takes most of the rest


def _scaled_progress(progress: Callable[[Any], None] | None):
    """Pipeline progress squeezed into [0, PIPELINE_SHARE], then 'writing heat maps'."""
    if progress is None:
        return None

    def report(p: Progress) -> None:
        progress(Progress(p.stage, p.fraction * PIPELINE_SHARE, p.message))
        if p.stage == "finish":
            progress(Progress("write", PIPELINE_SHARE, "writing heat maps"))

    return report


def explain_job(job: Job, out_dir: str | Path, opts: BatchOptions, *, model: Any = None,
                progress: Callable[[Any], None] | None = None, skip_complete: bool = True,
                worker: str = "") -> JobOutcome:
    """Explain one scan into ``out_dir/<job.id>`` atomically; never raises for a bad scan.

    ``model``: a LoadedModel (loaded once by the caller) or None to load ``opts.model``
    through the per-process cache.
    """
    from engine.cli_explain import explain_one
    from engine.export import label_indices
    from engine.pipeline import get_model
    from engine.safe_paths import inside
    from engine.summary_png import write_summary_png

    out_dir = Path(out_dir)
    try:
        final = inside(out_dir, job.id)
        if skip_complete and is_complete(final, expected_provenance(job, opts)):
            return JobOutcome(job.id, job.path, "skipped", worker=worker)
    except CTCamError as exc:  # an unsafe id, or the model's card became unreadable
        return JobOutcome(job.id, job.path, "failed", error=_failure(exc), worker=worker)
    t0 = time.perf_counter()
    tmp = out_dir / f"{PARTIAL_PREFIX}{job.id}-{uuid.uuid4().hex[:8]}"
    report = _scaled_progress(progress)
    try:
        loaded = get_model(model if model is not None else opts.model, opts.device)
        labels = list(opts.labels) if opts.labels else None
        t1 = time.perf_counter()
        result = explain_one(job.path, tmp, raw=opts.raw, device=opts.device, series=job.series,
                             model=loaded, organs=_organs_arg(job, opts), labels=labels,
                             methods=opts.methods, progress=report,
                             extra={"id": job.id, **({"series": job.series} if job.series else {})})
        timings = {k: float(v) for k, v in result.timings.items()}
        timings["write"] = time.perf_counter() - t1 - sum(timings.values())  # maps + json
        t2 = time.perf_counter()
        if progress is not None:
            progress(Progress("summary", 0.95, "summary.png"))
        volume = result.extra["volume"]
        write_summary_png(result, volume, tmp / "summary.png", methods=opts.methods,
                          labels=label_indices(result, labels), top=opts.summary_top,
                          title=f"{job.id}   ({Path(job.path).name})   model {result.card.get('name')} "
                                f"{result.card.get('version')}   {result.device}")
        timings["summary"] = time.perf_counter() - t2
        if final.exists():  # an incomplete earlier attempt
            shutil.rmtree(final)
        os.rename(tmp, final)
        top_label, top_p = _top(result)
        suit = result.suitability or {}
        return JobOutcome(job.id, job.path, "done", time.perf_counter() - t0, "", top_label,
                          top_p, worker, timings, suit.get("ok"), "; ".join(suit.get("reasons", [])))
    except Exception as exc:  # one bad scan must not stop the batch; the message says what
        return JobOutcome(job.id, job.path, "failed", time.perf_counter() - t0,
                          naming(_failure(exc), job.path), worker=worker)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# -- records -------------------------------------------------------------------------------------
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


# -- running -------------------------------------------------------------------------------------
def run_local(jobs: Iterable[Job], out_dir: Path, opts: BatchOptions, reporter: BatchProgress,
              record: Callable[[JobOutcome], None], model: Any) -> list[JobOutcome]:
    """Explain scans one after the other in this process with one loaded model."""
    outcomes = []
    for job in jobs:
        reporter.scan_started(job.id)

        def progress(p, _id=job.id) -> None:
            reporter.scan_progress(_id, p.fraction, p.message)

        o = explain_job(job, out_dir, opts, model=model, progress=progress)
        if o.status == "skipped":
            fill_from_existing(o, out_dir)
        record(o)
        reporter.scan_finished(o.id, o.status, o.seconds, o.error,
                               unsuitable=o.unsuitable_reasons if o.suitable is False else "")
        outcomes.append(o)
    return outcomes


def run_batch(jobs: list[Job], out_dir: str | Path, opts: BatchOptions, *,
              cluster: str | None = None, workers: int | None = None,
              reporter: BatchProgress | None = None) -> BatchReport:
    """Explain ``jobs`` into ``out_dir`` locally or on a Dask cluster (``cluster`` =
    ``"local"`` or a scheduler address).  Raises :class:`BatchOptionError` (or the model's
    CTCamError) before any scan when the options cannot work; bad scans never raise."""
    out_dir = Path(out_dir)
    card = model_card_for(opts.model)
    check_options(opts, card)
    from engine.pipeline import get_model

    # Load the model before touching DIR: a bad model is a usage error (exit 2), not one
    # failure per scan.  On a cluster this checks it on the client (CPU); workers load their own.
    model = get_model(opts.model, "cpu" if cluster else opts.device)  # once per process
    from engine.outdir import OutputLock, check_targets, prepare

    prepare(out_dir)  # a writable folder, or one clear error before any scan
    check_targets(out_dir, files=(ERRORS_CSV, SCANS_CSV), folders=())
    reporter = reporter or BatchProgress(len(jobs), enabled=False)
    t0 = time.perf_counter()
    with OutputLock(out_dir):  # a second batch on the same folder is refused
        clean_partials(out_dir)
        recorder = BatchRecorder(out_dir)
        try:
            if cluster:
                from engine.cluster import run_on_cluster

                outcomes = run_on_cluster(jobs, out_dir, opts, cluster, reporter=reporter,
                                          record=recorder.add, workers=workers)
            else:
                outcomes = run_local(jobs, out_dir, opts, reporter, recorder.add, model)
        finally:
            recorder.close()
    summary = reporter.close(str(out_dir / ERRORS_CSV))
    return BatchReport(outcomes, time.perf_counter() - t0, summary)
