"""The batch progress display on stderr: one line per scan plus an overall bar.

On a terminal the last line is a live bar (overall fraction, the running scan's stage and
percentage, ETA) redrawn in place; each finished scan prints one permanent line above it.
When stderr is not a terminal (a log file, CI) only the permanent lines are printed, plus a
closing summary, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR = 24


def _bar(fraction: float, width: int = BAR) -> str:
    n = int(round(min(max(fraction, 0.0), 1.0) * width))
    return "#" * n + "-" * (width - n)


def _duration(s: float) -> str:
    s = max(0.0, s)
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(s), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


class BatchProgress:
    """Progress of ``total`` scans.  Call :meth:`scan_started`, :meth:`scan_progress` (local
    runs only), :meth:`scan_finished` per scan, and :meth:`close` at the end."""

    def __init__(self, total: int, stream: TextIO | None = None, *, enabled: bool = True,
                 live: bool | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.live = (enabled and bool(getattr(self.stream, "isatty", lambda: False)())
                     if live is None else (enabled and live))
        self.finished = 0
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.unsuitable = 0  # scans explained or found done whose suitability check failed
        self.busy_seconds = 0.0  # sum of wall time of scans explained (not skipped)
        self.t0 = time.perf_counter()
        self._current: tuple[str, float, str] | None = None
        self._width = len(str(total))

    # -- events ----------------------------------------------------------------------------
    def scan_started(self, scan_id: str) -> None:
        self._current = (scan_id, 0.0, "starting")
        self._redraw()

    def scan_progress(self, scan_id: str, fraction: float, message: str = "") -> None:
        self._current = (scan_id, fraction, message)
        self._redraw()

    def scan_finished(self, scan_id: str, status: str, seconds: float = 0.0,
                      error: str = "", unsuitable: str = "") -> None:
        """``unsuitable``: the reasons the scan is not one the model can read (empty: it is)."""
        self.finished += 1
        self.unsuitable += bool(unsuitable)
        self.counts[status] = self.counts.get(status, 0) + 1
        if status == "done":
            self.busy_seconds += seconds
        self._current = None
        if not self.enabled:
            return
        n = f"[{self.finished:>{self._width}}/{self.total}]"
        if status == "done":
            line = f"{n} ok      {scan_id}  {_duration(seconds)}"
        elif status == "skipped":
            line = f"{n} skipped {scan_id}  (complete output found)"
        else:
            line = f"{n} FAILED  {scan_id}: {error}"
        if unsuitable:
            line += f"  NOT SUITABLE: {unsuitable}"
        self._clear()
        print(line, file=self.stream)
        self._redraw()

    def close(self, out_hint: str = "") -> str:
        """Print and return the closing summary line."""
        wall = time.perf_counter() - self.t0
        c = self.counts
        per = f", {_duration(self.busy_seconds / c['done'])} per scan" if c["done"] else ""
        line = (f"{self.total} scan(s): {c['done']} explained, {c['skipped']} already done, "
                f"{c['failed']} failed in {_duration(wall)}{per}")
        if c["failed"] and out_hint:
            line += f"; see {out_hint}"
        if self.unsuitable:
            line += (f"; {self.unsuitable} not a chest CT the model can read (column "
                     "'unsuitable_reasons' of scans.csv)")
        if self.enabled:
            self._clear()
            print(line, file=self.stream)
        return line

    # -- drawing -----------------------------------------------------------------------------
    def overall_fraction(self) -> float:
        within = self._current[1] if self._current else 0.0
        return (self.finished + within) / max(self.total, 1)

    def eta_seconds(self) -> float | None:
        done = self.counts["done"]
        if not done:
            return None
        left = self.total - self.finished - (self._current[1] if self._current else 0.0)
        return self.busy_seconds / done * max(left, 0.0)

    def status_line(self) -> str:
        frac = self.overall_fraction()
        line = f"overall [{_bar(frac)}] {frac * 100:5.1f}% {self.finished}/{self.total}"
        eta = self.eta_seconds()
        if eta is not None:
            line += f" eta {_duration(eta)}"
        if self._current:
            sid, f, msg = self._current
            line += f" | {sid[:24]} {f * 100:3.0f}% {msg[:30]}"
        return line

    def _clear(self) -> None:
        if self.live:
            print("\r\x1b[2K", end="", file=self.stream)

    def _redraw(self) -> None:
        if self.live:
            print("\r\x1b[2K" + self.status_line(), end="", file=self.stream, flush=True)
