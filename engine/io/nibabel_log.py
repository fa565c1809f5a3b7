"""Collecting what nibabel logs about header fixes (so it becomes a warning, not stderr)."""

from __future__ import annotations

import logging
import threading

from nibabel.imageglobals import logger as nib_logger


class NibabelLog(logging.Handler):
    """Collects what nibabel logs about header fixes instead of printing it to stderr."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    _lock = threading.Lock()  # the nibabel logger is global; loads may run in several threads

    def __enter__(self) -> NibabelLog:
        self._lock.acquire()
        self._saved = list(nib_logger.handlers)
        for h in self._saved:
            nib_logger.removeHandler(h)
        nib_logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        nib_logger.removeHandler(self)
        for h in self._saved:
            nib_logger.addHandler(h)
        self._lock.release()
