"""One scan of a batch: the options, explaining it into its folder atomically, its outcome.

:func:`explain_into` explains one scan into a folder (findings.json written last, so its
presence marks complete output); ``ctcam explain`` uses it for a single scan and
:func:`explain_scan_job` for each scan of a batch (docs/batch.md): into a hidden
``DIR/.partial-<id>-<random>`` folder, renamed to ``DIR/<id>`` only when complete.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.batch.inputs import ScanJob
from engine.errors import CTCamError, naming
from engine.results import METHODS, Progress

MARKER = "findings.json"
PARTIAL_PREFIX = ".partial-"


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
    maps: str = "model"  # MAP_GRIDS: the batch default keeps ~1 MB of maps per scan, not ~700 MB
    report: bool = False  # also report.html per scan (engine/report_html.py)
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


def _organs_arg(job: ScanJob, opts: BatchOptions):
    choice = job.organs if job.organs is not None else opts.organs
    if choice == "none":
        return False
    if choice == "auto":
        return None
    return choice


# -- one scan ------------------------------------------------------------------------------------
def explain_into(input_path: str | Path, out: str | Path, *, raw: bool = False,
                 device: str | None = None, series: str | None = None, model=None,
                 organs=None, labels=None, methods=METHODS, progress=None, extra=None,
                 maps: str = "scan", report: bool = False):
    """Explain one scan into ``out``; returns the ExplainResult.

    ``maps``: ``"scan"`` writes maps/ resampled onto the scan grid, ``"model"`` the model-grid
    maps with their exact affine (a viewer resamples them on display), ``"none"`` no maps.
    ``extra``: more top-level fields for findings.json (the batch adds the scan ``id``).
    findings.json is written last, so its presence marks complete output.
    """
    from engine.batch.outdir import provenance
    from engine.export import write_maps
    from engine.findings import findings_dict, write_findings_json
    from engine.pipeline import explain_scan, run

    result = run(explain_scan(input_path, model=model, device=device, series=series,
                              organs=organs), progress)
    out = Path(out)
    volume = result.extra["volume"]
    from engine.export import MAP_GRIDS

    if maps not in MAP_GRIDS:
        raise ValueError(f"maps must be one of {MAP_GRIDS}, got {maps!r}")
    if maps != "none":
        write_maps(result, volume, out / "maps", labels=labels, methods=methods,
                   raw=maps == "model")
    if raw:
        write_maps(result, volume, out / "raw", labels=labels, methods=methods, raw=True)
    if report:
        from engine.export import label_indices
        from engine.report_html import write_report

        write_report(result, volume, out / "report.html", source=str(input_path), methods=methods,
                     labels=label_indices(result, labels))
    prov = provenance(result.card, labels=labels, methods=methods, raw=raw,
                      organs=organs_choice(organs), maps=maps, report=report)
    doc = findings_dict(result, volume.affine, input=str(input_path),
                        organ_map=result.extra.get("organ_message"), provenance=prov,
                        **(extra or {}))
    write_findings_json(doc, out / "findings.json")
    return result


def organs_choice(organs) -> str:
    """How the organ map was chosen, as recorded in findings.json ("auto", "none", a path)."""
    return "auto" if organs is None else "none" if organs is False else str(organs)


def is_complete(scan_dir: Path, expected: dict[str, Any] | None = None) -> bool:
    """True when ``scan_dir`` holds a readable findings.json (written last, renamed in) and,
    given ``expected`` (:func:`engine.batch.outdir.provenance`), was produced the same way."""
    try:
        data = json.loads((scan_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not (isinstance(data, dict) and isinstance(data.get("labels"), list)):
        return False
    return expected is None or data.get("provenance") == expected


def expected_provenance(job: ScanJob, opts: BatchOptions) -> dict[str, Any]:
    from engine.batch.outdir import provenance

    return provenance(model_card_for(opts.model), labels=opts.labels, methods=opts.methods,
                      raw=opts.raw, organs=organs_choice(_organs_arg(job, opts)), maps=opts.maps,
                      report=opts.report)


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


def explain_scan_job(job: ScanJob, out_dir: str | Path, opts: BatchOptions, *,
                     model: Any = None, progress: Callable[[Any], None] | None = None,
                     skip_complete: bool = True, worker: str = "") -> JobOutcome:
    """Explain one scan into ``out_dir/<job.id>`` atomically; never raises for a bad scan.

    ``model``: a LoadedModel (loaded once by the caller) or None to load ``opts.model``
    through the per-process cache.
    """
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
        result = explain_into(job.path, tmp, raw=opts.raw, device=opts.device, series=job.series,
                             model=loaded, organs=_organs_arg(job, opts), labels=labels,
                             methods=opts.methods, progress=report, maps=opts.maps,
                             report=opts.report,
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
                          naming(_failure(exc), job.path, exc), worker=worker)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
