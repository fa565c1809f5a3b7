"""Explaining many scans: ``ctcam explain INPUT... --out DIR`` (:func:`run_batch`).

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
per process (once per worker on a cluster, see :mod:`engine.batch.cluster`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.batch.inputs import ScanJob
from engine.batch.progress import BatchProgress
from engine.batch.records import (
    ERRORS_CSV,
    SCANS_CSV,
    BatchRecorder,
    clean_partials,
    fill_from_existing,
)
from engine.batch.scan import (
    BatchOptions,
    JobOutcome,
    check_options,
    explain_scan_job,
    model_card_for,
)


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


def run_local(jobs: Iterable[ScanJob], out_dir: Path, opts: BatchOptions, reporter: BatchProgress,
              record: Callable[[JobOutcome], None], model: Any) -> list[JobOutcome]:
    """Explain scans one after the other in this process with one loaded model."""
    outcomes = []
    for job in jobs:
        reporter.scan_started(job.id)

        def progress(p, _id=job.id) -> None:
            reporter.scan_progress(_id, p.fraction, p.message)

        o = explain_scan_job(job, out_dir, opts, model=model, progress=progress)
        if o.status == "skipped":
            fill_from_existing(o, out_dir)
        record(o)
        reporter.scan_finished(o.id, o.status, o.seconds, o.error,
                               unsuitable=o.unsuitable_reasons if o.suitable is False else "")
        outcomes.append(o)
    return outcomes


def run_batch(jobs: list[ScanJob], out_dir: str | Path, opts: BatchOptions, *,
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
    from engine.batch.outdir import OutputLock, check_targets, prepare

    prepare(out_dir)  # a writable folder, or one clear error before any scan
    check_targets(out_dir, files=(ERRORS_CSV, SCANS_CSV), folders=())
    reporter = reporter or BatchProgress(len(jobs), enabled=False)
    t0 = time.perf_counter()
    with OutputLock(out_dir):  # a second batch on the same folder is refused
        clean_partials(out_dir)
        recorder = BatchRecorder(out_dir)
        try:
            if cluster:
                from engine.batch.cluster import run_on_cluster

                outcomes = run_on_cluster(jobs, out_dir, opts, cluster, reporter=reporter,
                                          record=recorder.add, workers=workers)
            else:
                outcomes = run_local(jobs, out_dir, opts, reporter, recorder.add, model)
        finally:
            recorder.close()
    summary = reporter.close(str(out_dir / ERRORS_CSV))
    return BatchReport(outcomes, time.perf_counter() - t0, summary)
