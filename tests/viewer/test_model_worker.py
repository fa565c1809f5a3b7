"""The warm model process (viewer.model.model_worker): one process serves every scan, a
cancelled job leaves it alive, and a process killed mid-job gives a clear error and is
started again for the next scan."""

from __future__ import annotations

import os
import signal

import pytest

from engine.errors import Cancelled, CTCamError
from engine.phantom import generate
from engine.pipeline import run
from viewer.model.model_worker import WORKER_NICE, ModelWorker


@pytest.fixture(scope="module")
def volume():
    return generate(4, "model", prevalence=0.0).volume


@pytest.fixture(scope="module")
def worker():
    w = ModelWorker()
    w.start()
    yield w
    w.stop()


def test_serves_scans_cancels_and_restarts_after_a_kill(worker, volume):
    result, findings = run(worker.explain(volume))
    assert len(result.labels) == len(findings) and worker.starts == 1
    pid = worker.pid
    # the model's threads yield the cores to the GUI thread (issue 17)
    assert os.getpriority(os.PRIO_PROCESS, pid) >= min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICE)
    result2, _ = run(worker.explain(volume))  # same process, no new start
    assert worker.pid == pid and worker.starts == 1
    assert (result2.probabilities == result.probabilities).all()

    # cancel after the first progress: Cancelled, and the process keeps serving
    seen = []
    with pytest.raises(Cancelled):
        run(worker.explain(volume, cancel=lambda: bool(seen)), progress=seen.append)
    assert worker.alive() and worker.pid == pid
    run(worker.explain(volume))
    assert worker.pid == pid and worker.starts == 1

    # killed mid-job: a clear message, then the next scan starts a new process and works
    gen = worker.explain(volume)
    next(gen)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(CTCamError, match="model process stopped unexpectedly.*started again"):
        run(gen)
    messages = []
    result3, _ = run(worker.explain(volume), progress=lambda p: messages.append(p.message))
    assert worker.starts == 2 and worker.pid != pid
    assert any("restarting the model process" in m for m in messages)
    assert (result3.probabilities == result.probabilities).all()
