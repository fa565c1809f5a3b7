"""Driving a loading generator with an optional progress callback and cancel flag.

Readers are written as generators that yield :class:`engine.results.Progress` and *return* the
result (``StopIteration.value``), so the viewer can run them in a worker and stop them by
closing the generator.  :func:`drive` is the callback form used by ``load``/``read_*``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TypeVar

from engine.errors import Cancelled
from engine.progress import Progress

T = TypeVar("T")

ProgressCallback = Callable[[float, str], object]
CancelCallback = Callable[[], bool]


def drive(
    gen: Generator[Progress, None, T],
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
) -> T:
    """Run ``gen`` to completion, reporting each step; raise ``Cancelled`` when asked to stop."""
    try:
        while True:
            if cancel is not None and cancel():
                raise Cancelled()
            try:
                step = next(gen)
            except StopIteration as stop:
                return stop.value
            if progress is not None:
                progress(float(step.fraction), step.message)
    finally:
        gen.close()


def rescaled(
    gen: Generator[Progress, None, T], lo: float, hi: float
) -> Generator[Progress, None, T]:
    """Re-yield ``gen``'s progress mapped from [0, 1] to [lo, hi]; return its value."""
    try:
        while True:
            try:
                step = next(gen)
            except StopIteration as stop:
                return stop.value
            yield Progress(step.stage, lo + (hi - lo) * float(step.fraction), step.message)
    finally:
        gen.close()
