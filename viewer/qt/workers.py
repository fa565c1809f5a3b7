"""Run engine generators off the GUI thread (docs/architecture.md, "Threads and stale results").

A *job* is a generator function from the engine (``engine.io.iter_load``,
``engine.pipeline.explain_scan``, an exporter ...) that yields ``Progress`` and returns a
result.  :class:`JobRunner` runs it in superqt's ``GeneratorWorker`` (Qt's global thread
pool); yielded progress, the returned value and errors arrive on the GUI thread as Qt
signals.

Staleness: each job has a *kind* ("load", "explain", "export"), a request id (increasing)
and the scan id it belongs to.  Submitting a job of a kind supersedes the previous one of
that kind (it is cancelled).  A result is delivered only if its request is still the latest
of its kind *and* its scan id is still the scan shown (``current_scan()``); anything else is
dropped and counted in ``dropped``, so a heat map can never be drawn on another patient.

Cancellation: a ``threading.Event`` checked between the engine's yields; the engine's
generator is closed (its ``finally`` blocks run) and the job ends with ``Cancelled``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from PySide6 import QtCore
from superqt.utils import create_worker

from engine.errors import Cancelled, CTCamError
from engine.results import Progress

log = logging.getLogger(__name__)


class JobCrashed(Exception):
    """A non-CTCamError escaped an engine generator (a bug); carries the formatted traceback."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(f"{type(exc).__name__}: {exc}")
        self.original = exc
        self.trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def human_message(exc: BaseException) -> str:
    """The text a user sees for a failed job: the engine's message, never a traceback."""
    if isinstance(exc, CTCamError):
        return str(exc)
    original = exc.original if isinstance(exc, JobCrashed) else exc
    return (f"ctcam hit an internal error ({type(original).__name__}: {original}). "
            "The viewer is still usable; please report this with the log output.")


def _drive(gen_factory: Callable[..., Generator], cancel: threading.Event, pass_cancel: bool = False):
    """Iterate an engine generator, honouring ``cancel`` between yields (and inside the
    engine's long steps when ``pass_cancel``: ``gen_factory(cancel=callable)``)."""
    try:
        gen = gen_factory(cancel=cancel.is_set) if pass_cancel else gen_factory()
        if not isinstance(gen, Generator):  # a plain function's result
            return gen
        try:
            while True:
                if cancel.is_set():
                    raise Cancelled()
                try:
                    item = next(gen)
                except StopIteration as stop:
                    if cancel.is_set():
                        raise Cancelled() from None
                    return stop.value
                yield item
        finally:
            gen.close()
    except CTCamError:
        raise
    except Exception as exc:  # superqt swallows RuntimeError silently: wrap everything else
        raise JobCrashed(exc) from exc


@dataclass
class Job:
    kind: str
    request_id: int
    scan_id: str | None
    cancel: threading.Event = field(default_factory=threading.Event)
    worker: Any = None
    description: str = ""
    done: bool = False


class JobRunner(QtCore.QObject):
    """Starts, cancels and filters background jobs; see the module docstring."""

    progress = QtCore.Signal(str, float, str)  # kind, fraction 0..1, message
    started = QtCore.Signal(str, str)  # kind, description
    finished = QtCore.Signal(str)  # kind (after result, error, cancel or drop)
    failed = QtCore.Signal(str, str)  # kind, human message (not for Cancelled)
    cancelled = QtCore.Signal(str)  # kind

    def __init__(self, current_scan: Callable[[], str | None], parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.current_scan = current_scan
        self._ids = itertools.count(1)
        self.latest: dict[str, Job] = {}
        self.running: set[int] = set()
        self._jobs: dict[int, Job] = {}
        self.dropped = 0

    # -- public -------------------------------------------------------------------------
    def submit(self, kind: str, gen_factory: Callable[[], Any], on_result: Callable[[Any], None], *,
               scan_id: str | None, description: str = "", pass_cancel: bool = False) -> Job:
        """Run ``gen_factory()`` in a worker; ``on_result(value)`` on the GUI thread if fresh.

        With ``pass_cancel`` the factory is called as ``gen_factory(cancel=callable)`` so the
        engine can also stop inside its long steps."""
        old = self.latest.get(kind)
        if old is not None and not old.done:
            old.cancel.set()
        job = Job(kind=kind, request_id=next(self._ids), scan_id=scan_id, description=description)
        self.latest[kind] = job
        self._jobs[job.request_id] = job
        worker = create_worker(_drive, gen_factory, job.cancel, pass_cancel, _start_thread=False,
                               _ignore_errors=True)
        job.worker = worker
        worker.yielded.connect(lambda item, j=job: self._on_yield(j, item))
        worker.returned.connect(lambda value, j=job: self._on_return(j, value, on_result))
        worker.errored.connect(lambda exc, j=job: self._on_error(j, exc))
        worker.finished.connect(lambda j=job: self._on_finished(j))
        self.running.add(job.request_id)
        self.started.emit(kind, description)
        worker.start()
        return job

    def cancel(self, kind: str | None = None) -> None:
        """Cancel the latest job of ``kind`` (all kinds when None)."""
        for k, job in self.latest.items():
            if kind is None or k == kind:
                job.cancel.set()

    def is_busy(self, kind: str | None = None) -> bool:
        return any(not j.done and (kind is None or j.kind == kind) for j in self._jobs.values())

    def is_fresh(self, job: Job) -> bool:
        latest = self.latest.get(job.kind)
        return (latest is job and not job.cancel.is_set()
                and (job.scan_id is None or job.scan_id == self.current_scan()))

    def wait_all(self, timeout_ms: int = 10000) -> bool:
        """Cancel everything and wait for the threads (used at exit and in tests)."""
        self.cancel()
        return QtCore.QThreadPool.globalInstance().waitForDone(timeout_ms)

    # -- worker callbacks (GUI thread) --------------------------------------------------
    def _on_yield(self, job: Job, item: Any) -> None:
        if isinstance(item, Progress) and self.is_fresh(job):
            self.progress.emit(job.kind, float(item.fraction), f"{item.stage}: {item.message}".rstrip(": "))

    def _on_return(self, job: Job, value: Any, on_result: Callable[[Any], None]) -> None:
        if not self.is_fresh(job):
            self.dropped += 1
            log.info("dropped stale %s result (request %s, scan %s)", job.kind, job.request_id, job.scan_id)
            return
        for attr, v in (("scan_id", job.scan_id), ("request_id", job.request_id)):
            if hasattr(value, attr) and getattr(value, attr) is None:
                try:
                    setattr(value, attr, v)
                except (AttributeError, TypeError):
                    pass
        try:
            on_result(value)
        except CTCamError as exc:
            self.failed.emit(job.kind, human_message(exc))
        except Exception as exc:  # a viewer bug while showing the result: say so, keep going
            log.exception("error while showing a %s result", job.kind)
            self.failed.emit(job.kind, human_message(exc))

    def _on_error(self, job: Job, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            if self.latest.get(job.kind) is job:
                self.cancelled.emit(job.kind)
            else:  # superseded by a newer request: its result (if any) is stale
                self.dropped += 1
            return
        if isinstance(exc, JobCrashed):
            log.error("internal error in %s job:\n%s", job.kind, exc.trace)
        if self.latest.get(job.kind) is job:
            self.failed.emit(job.kind, human_message(exc))
        else:
            self.dropped += 1

    def _on_finished(self, job: Job) -> None:
        job.done = True
        self.running.discard(job.request_id)
        self._jobs.pop(job.request_id, None)
        self.finished.emit(job.kind)
