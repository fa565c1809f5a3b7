"""The batch library: explaining many scans into one output folder, resumable, locally or on
a Dask cluster (docs/batch.md, docs/cluster.md).  It never imports the CLI; ``ctcam explain``
(:mod:`engine.cli.explain`) is one of its callers.

Modules, in the order the data flows::

    inputs.py    INPUT... -> ScanJob list (what counts as a scan, scan ids)
    outdir.py    the output folder: checked, locked, provenance, publish
    scan.py      BatchOptions; one scan -> DIR/<id>/ atomically (explain_into,
                 explain_scan_job) -> JobOutcome
    records.py   errors.csv, scans.csv, partial folders, skipped scans read back
    run.py       run_batch: every scan here (run_local) or on a cluster -> BatchReport
    cluster.py   one Dask task per scan (``--cluster``)
    progress.py  the progress display on stderr
"""

from engine.batch.inputs import BatchInputError, ScanJob, expand_inputs, is_single_scan
from engine.batch.progress import BatchProgress
from engine.batch.run import BatchReport, run_batch, run_local
from engine.batch.scan import (
    BatchOptionError,
    BatchOptions,
    JobOutcome,
    explain_into,
    explain_scan_job,
    is_complete,
)

__all__ = [
    "BatchInputError", "ScanJob", "expand_inputs", "is_single_scan", "BatchProgress",
    "BatchReport", "run_batch", "run_local", "BatchOptionError", "BatchOptions", "JobOutcome",
    "explain_into", "explain_scan_job", "is_complete",
]
