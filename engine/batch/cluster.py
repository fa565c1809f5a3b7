"""Running a batch on a Dask cluster: one task per scan (``ctcam explain ... --cluster``).

Optional: ``pip install 'ctcam[cluster]'`` (``dask[distributed]``).  ``--cluster local``
starts a :class:`distributed.LocalCluster` on this machine (one worker process per GPU when
CUDA is available, else ``--workers`` processes, one thread each); ``--cluster
tcp://host:8786`` connects to an existing scheduler (``docs/cluster.md``).

* Each task runs :func:`cluster_task` on a worker: it explains one scan with
  :func:`engine.batch.scan.explain_scan_job` and writes ``DIR/<id>/`` itself (atomically), so DIR and
  the inputs must be visible to the workers at the same paths (a shared file system).
  Only the small :class:`~engine.batch.scan.JobOutcome` travels back.
* The model is loaded once per worker process (``engine.pipeline.get_model`` cache).
* GPUs: when any worker advertises a ``GPU`` resource (``dask worker ... --resources
  GPU=1``), every task asks for ``resources={"GPU": 1}``, so the scheduler never runs more
  scans on a worker than it has GPUs.  Workers without that resource then get no scans.
* Results and failures are gathered on the client into the same ``errors.csv`` /
  ``scans.csv`` as a local run; a worker that dies is reported as that scan's failure.

Security: Dask sends tasks and results between client and workers with pickle.  That is
traffic between machines you run, never a user file; do not expose the scheduler port to an
untrusted network (use TLS, ``tls://``, on shared networks).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.batch.inputs import ScanJob
from engine.batch.progress import BatchProgress
from engine.batch.records import fill_from_existing
from engine.batch.scan import (
    BatchOptions,
    JobOutcome,
    _failure,
    expected_provenance,
    explain_scan_job,
    is_complete,
)
from engine.errors import CTCamError

GPU = "GPU"
THREADS_ENV = "CTCAM_TORCH_THREADS"
CONNECT_TIMEOUT = "20s"  # to reach a remote scheduler
WORKERS_TIMEOUT = 60  # s to wait for the first worker of a remote scheduler


class ClusterError(CTCamError):
    """The cluster extra is not installed, or the scheduler cannot be reached."""


def _dask():
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError(
            "--cluster needs Dask: install the optional extra with "
            "`pip install 'ctcam[cluster]'` (dask[distributed]), then run again."
        ) from exc
    return distributed


def task_resources(scheduler_info: dict[str, Any]) -> dict[str, float] | None:
    """``{"GPU": 1}`` when any worker advertises a GPU resource, else None (no restriction)."""
    workers = scheduler_info.get("workers", {}) or {}
    if any(float((w.get("resources") or {}).get(GPU, 0)) >= 1 for w in workers.values()):
        return {GPU: 1}
    return None


def local_cluster_size(workers: int | None) -> tuple[int, dict[str, float] | None]:
    """(number of worker processes, per-worker resources) for ``--cluster local``."""
    import torch

    n_gpu = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n_gpu:
        return (workers or n_gpu), {GPU: 1}
    return (workers or max(1, min(4, (os.cpu_count() or 2) // 2))), None


def _worker_setup(opts: BatchOptions) -> tuple[BatchOptions, str]:
    """On a worker: pin threads and pick this worker's GPU; returns (options, worker name)."""
    import torch

    try:
        from distributed import get_worker

        worker = get_worker()
        name = worker.name
    except (ImportError, ValueError):
        name = ""
    threads = os.environ.get(THREADS_ENV)
    if threads and threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))
    if opts.device is None and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        if isinstance(name, int):  # LocalCluster workers are named 0..n-1: one GPU each
            opts = dataclasses.replace(opts, device=f"cuda:{name % torch.cuda.device_count()}")
    return opts, str(name)


def cluster_task(job: ScanJob, out_dir: str, opts: BatchOptions) -> JobOutcome:
    """One scan on a worker (module-level so Dask ships it by reference)."""
    opts, name = _worker_setup(opts)
    return explain_scan_job(job, out_dir, opts, worker=name)


def _client(address: str, workers: int | None):
    distributed = _dask()
    if address == "local":
        n, resources = local_cluster_size(workers)
        cpus = os.cpu_count() or 1
        os.environ.setdefault(THREADS_ENV, str(max(1, cpus // n)))  # inherited by workers
        cluster = distributed.LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, resources=resources,
            dashboard_address=None, silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
        client.wait_for_workers(n)
        return client, cluster
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address} ({exc}). Start one with "
            "`dask scheduler` and workers with `dask worker ADDRESS` (docs/cluster.md), or use "
            "--cluster local."
        ) from exc
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise ClusterError(f"the Dask scheduler at {address} has no workers after {WORKERS_TIMEOUT} s; start "
                           "some with `dask worker ADDRESS`.") from exc
    return client, None


def run_on_cluster(jobs: list[ScanJob], out_dir: Path, opts: BatchOptions, address: str, *,
                   reporter: BatchProgress, record: Callable[[JobOutcome], None],
                   workers: int | None = None) -> list[JobOutcome]:
    """Submit one task per scan that is not already complete; gather outcomes as they end."""
    distributed = _dask()
    client, cluster = _client(address, workers)
    outcomes: list[JobOutcome] = []

    def finish(o: JobOutcome) -> None:
        record(o)
        reporter.scan_finished(o.id, o.status, o.seconds, o.error,
                               unsuitable=o.unsuitable_reasons if o.suitable is False else "")
        outcomes.append(o)

    try:
        resources = task_resources(client.scheduler_info())
        batch = uuid.uuid4().hex[:8]
        futures = {}
        for job in jobs:
            if is_complete(out_dir / job.id, expected_provenance(job, opts)):  # as run_local
                finish(fill_from_existing(JobOutcome(job.id, job.path, "skipped"), out_dir))
                continue
            fut = client.submit(cluster_task, job, str(out_dir), opts, pure=False,
                                key=f"ctcam-explain-{job.id}-{batch}", resources=resources)
            futures[fut] = job
        try:
            for fut in distributed.as_completed(list(futures)):
                job = futures[fut]
                try:
                    o = fut.result()
                except Exception as exc:  # the worker died or the task could not run
                    o = JobOutcome(job.id, job.path, "failed",
                                   error=f"task lost on the cluster: {_failure(exc)}")
                finish(o)
        except BaseException:
            client.cancel(list(futures))
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return outcomes
