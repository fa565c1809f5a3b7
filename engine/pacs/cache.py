"""Retrieved series on disk: ``ROOT/<study uid>/<series uid>/`` with one Part-10 file per
instance and a ``.complete`` marker written last, so an interrupted retrieve is never read
as a whole series.  The cache is bounded: after each retrieve the least recently used
complete series are removed until the total is under ``max_bytes`` (the series just
retrieved is always kept)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from engine.pacs.errors import check_uid

COMPLETE = ".complete"
DEFAULT_MAX_BYTES = 4 << 30
STALE_S = 3600.0


def default_cache_dir() -> Path:
    """``$CTCAM_PACS_CACHE``, else ``$XDG_CACHE_HOME/ctcam/pacs`` (``~/.cache/ctcam/pacs``)."""
    env = os.environ.get("CTCAM_PACS_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ctcam" / "pacs"


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


class SeriesCache:
    def __init__(self, root: str | Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.max_bytes = int(max_bytes)

    def folder(self, study: str, series: str) -> Path:
        """The series' folder (UIDs checked: they become path components)."""
        return self.root / check_uid(study, "StudyInstanceUID") / check_uid(series, "SeriesInstanceUID")

    def has(self, study: str, series: str) -> bool:
        return (self.folder(study, series) / COMPLETE).is_file()

    def touch(self, study: str, series: str) -> None:
        """Mark the series as just used (least-recently-used order)."""
        marker = self.folder(study, series) / COMPLETE
        if marker.is_file():
            os.utime(marker, None)

    def mark_complete(self, study: str, series: str, n_files: int) -> None:
        (self.folder(study, series) / COMPLETE).write_text(f"{n_files} instances, {time.ctime()}\n")

    def series(self) -> list[tuple[float, int, Path]]:
        """(last use, bytes, folder) of every complete series, oldest first."""
        out = []
        if self.root.is_dir():
            for study in self.root.iterdir():
                for folder in study.iterdir() if study.is_dir() else ():
                    marker = folder / COMPLETE
                    if marker.is_file():
                        out.append((marker.stat().st_mtime, _size(folder), folder))
        return sorted(out)

    def evict(self, keep: Path | None = None) -> int:
        """Remove least recently used series until the cache fits ``max_bytes``; returns how
        many were removed.  Incomplete folders untouched for an hour (a retrieve that was
        interrupted, not one running now in another process) go first."""
        removed = 0
        stale = time.time() - STALE_S
        if self.root.is_dir():
            for study in self.root.iterdir():
                for folder in study.iterdir() if study.is_dir() else ():
                    if (folder != keep and not (folder / COMPLETE).is_file()
                            and folder.stat().st_mtime < stale):
                        shutil.rmtree(folder, ignore_errors=True)
        entries = self.series()
        total = sum(size for _, size, _ in entries)
        for _, size, folder in entries:
            if total <= self.max_bytes:
                break
            if keep is not None and folder == keep:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            total -= size
            removed += 1
        return removed
