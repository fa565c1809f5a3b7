"""A warm model process: started once (after the window's first paint), it loads the model
and serves every scan, survives a cancelled job, and is started again, with a message, when
it dies.  Qt-free; torch is imported only in the child process.

>>> worker = ModelWorker(model=None, device=None); worker.start()
>>> result, findings = run(worker.explain(volume, organs=None, cancel=flag))   # a job generator

The scan goes over in shared memory, progress and the result come back through a queue,
tagged with the job's id so a late message of a cancelled job is never taken for the next.
Cancel sets a shared flag that the pipeline checks at each stage (and the organ segmentation
between its steps); a job that does not stop within ``cancel_wait_s`` has its process
terminated, and the next job starts a new one.
"""

from __future__ import annotations

import itertools
import queue
import threading

import numpy as np

from engine.errors import Cancelled, CTCamError
from engine.results import Progress
from engine.volume import CTVolume

WORKER_NICE = 5  # the model process yields the cores to the GUI (the 3D thread: +10)


def _serve(requests, replies, cancel_flag, model, device) -> None:
    """The child's loop: load the model once, then explain each request until ``None``."""
    from viewer.model.jobs import explain_job, volume_from_shared
    from viewer.model.priority import lower_priority

    lower_priority(WORKER_NICE)  # before torch starts its threads: they inherit it

    try:
        from engine.pipeline import get_model

        get_model(model, device)  # warm; a failure is reported by the first job
    except Exception:  # noqa: BLE001 - the job raises it again with its message
        pass
    while True:
        req = requests.get()
        if req is None:
            return
        job_id, shm_name, shape, affine, meta, organs = req
        try:
            gen = explain_job(volume_from_shared(shm_name, shape, affine, meta), organs=organs,
                              model=model, device=device, cancel=cancel_flag.is_set)
            while True:
                try:
                    replies.put(("progress", job_id, next(gen)))
                except StopIteration as stop:
                    replies.put(("result", job_id, stop.value))
                    break
        except Cancelled:
            replies.put(("cancelled", job_id, None))
        except CTCamError as exc:
            replies.put(("error", job_id, str(exc)))
        except BaseException as exc:  # a bug: report it with its type; the viewer logs it
            import traceback

            replies.put(("crash", job_id, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


class ModelWorker:
    """One long-lived model process for the viewer (see the module's docstring)."""

    def __init__(self, model=None, device=None, cancel_wait_s: float = 5.0) -> None:
        self.model, self.device, self.cancel_wait_s = model, device, cancel_wait_s
        self._proc = None
        self._lock = threading.Lock()  # guards the process handle
        self._job_lock = threading.Lock()  # one job at a time
        self._ids = itertools.count(1)
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def start(self) -> bool:
        """Start the process unless it runs; True when a new one was started."""
        import multiprocessing as mp

        with self._lock:
            if self.alive():
                return False
            ctx = mp.get_context("spawn")
            self._requests, self._replies, self._cancel = ctx.Queue(), ctx.Queue(), ctx.Event()
            self._proc = ctx.Process(target=_serve, daemon=True, name="ctcam-model",
                                     args=(self._requests, self._replies, self._cancel, self.model, self.device))
            self._proc.start()
            self.starts += 1
            return True

    def stop(self, timeout: float = 2.0) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.is_alive():
            try:
                self._requests.put(None)
            except (OSError, ValueError):
                pass
            proc.join(timeout)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout)

    def explain(self, volume: CTVolume, organs=None, model=None, device=None, cancel=None):
        """:func:`viewer.model.jobs.explain_job` in the warm process; a job generator.  Another
        ``model`` or ``device`` than the process holds starts a new process."""
        from multiprocessing import shared_memory

        # one job at a time (a superseded job may still be stopping): wait, cancellably
        while not self._job_lock.acquire(timeout=0.05):
            if cancel is not None and cancel():
                raise Cancelled()
        shm = None
        try:
            if (model, device) != (self.model, self.device):
                self.stop()
                self.model, self.device = model, device
            died_before = self._proc is not None and not self._proc.is_alive()
            if self.start():
                yield Progress("model", 0.0, "restarting the model process (it had stopped)" if died_before
                               else "starting the model process")
            job_id = next(self._ids)
            shm = shared_memory.SharedMemory(create=True, size=max(1, volume.hu.nbytes))
            np.ndarray(volume.shape, dtype=np.int16, buffer=shm.buf)[:] = volume.hu
            meta = {k: v for k, v in volume.meta.items() if isinstance(v, (str, int, float, bool, list, type(None)))}
            self._cancel.clear()
            self._requests.put((job_id, shm.name, volume.shape, volume.affine, meta, organs))
            while True:
                if cancel is not None and cancel():
                    self._cancel.set()
                    self._wait_end(job_id)
                    raise Cancelled()
                kind, payload = self._next(job_id, 0.05)
                if kind is None:
                    continue
                if kind == "progress":
                    yield payload
                elif kind == "result":
                    return payload
                elif kind == "cancelled":
                    raise Cancelled()
                elif kind == "error":
                    raise CTCamError(payload)
                else:
                    raise RuntimeError(f"model process failed: {payload}")
        finally:
            if shm is not None:
                shm.close()
                shm.unlink()
            self._job_lock.release()

    def _next(self, job_id: int, timeout: float):
        """The next reply of ``job_id`` (None, None when none came); raises if the process died."""
        try:
            kind, jid, payload = self._replies.get(timeout=timeout)
        except queue.Empty:
            if not self.alive():
                code = self._proc.exitcode if self._proc is not None else None
                raise CTCamError(
                    f"The model process stopped unexpectedly (exit code {code}); it may have run out of "
                    "memory. It is started again for the next scan: open the scan again to retry.") from None
            return None, None
        return (kind, payload) if jid == job_id else (None, None)  # a late reply of an earlier job

    def _wait_end(self, job_id: int) -> None:
        """After cancel: wait for the job to stop; terminate the process if it does not."""
        import time

        end = time.monotonic() + self.cancel_wait_s
        while time.monotonic() < end:
            try:
                kind, _ = self._next(job_id, 0.05)
            except CTCamError:
                return
            if kind in ("cancelled", "result", "error", "crash"):
                return
        with self._lock:
            proc = self._proc
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(2)
