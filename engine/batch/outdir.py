"""The output folder of ``ctcam explain``: checked before work, locked while written, and
marked with what produced each result.

* :func:`prepare` makes sure ``--out`` can be written *before* any scan is read (an existing
  file, a read-only or forbidden folder, or ``findings.json`` being a folder is one clear
  error, not a traceback after the whole pipeline ran), and writes the ``.ctcam-output``
  marker that keeps input discovery out of ctcam's own outputs.
* :class:`OutputLock` is an exclusive lock on ``DIR/.ctcam.lock``: a second batch (or
  single run) on the same folder is refused with a clear message instead of corrupting the
  first one's records.
* :func:`provenance` is what produced an output (ctcam version, model weights and card,
  labels, methods, raw, organ choice); it is stored in findings.json and a resumed batch
  redoes every scan whose record differs.
* :func:`publish` moves a finished single-scan folder into ``--out``: findings.json (the
  completion marker) is removed first and moved in last, so a run killed half way never
  leaves an old findings.json beside a new scan's maps.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from engine.batch.inputs import OUTPUT_MARKER
from engine.errors import CTCamError

LOCK_NAME = ".ctcam.lock"
OUTPUTS = ("findings.json", "maps", "raw", "summary.png", "report.html")  # what one scan writes
DIR_OUTPUTS = ("maps", "raw")


class OutputFolderError(CTCamError):
    """``--out`` cannot be used: not a folder, not writable, or in use by another run."""


def prepare(out: str | Path) -> Path:
    """Create ``out`` if needed and check it is a writable folder; raise OutputFolderError."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"--out {out} is an existing file, not a folder. Give a folder "
                                "(it is created when missing).")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".ctcam-probe-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
        (out / OUTPUT_MARKER).touch()
    except OSError as exc:
        raise OutputFolderError(
            f"--out {out} cannot be written ({exc.strerror or exc}). Choose a folder you may "
            "write to, or fix its permissions."
        ) from exc
    return out


def check_targets(folder: Path, files=("findings.json", "summary.png", "report.html"),
                  folders=DIR_OUTPUTS) -> None:
    """Names a run will write must be free or of the right kind (findings.json a file,
    maps/ a folder ...), so a run cannot fail at its very end."""
    for name, want_dir in [(f, False) for f in files] + [(d, True) for d in folders]:
        p = folder / name
        if p.exists() and p.is_dir() != want_dir:
            kind = "a folder" if p.is_dir() else "a file"
            raise OutputFolderError(
                f"{p} is {kind}, but ctcam writes {'a folder' if want_dir else 'a file'} there. "
                "Move it away or choose another --out."
            )


class OutputLock:
    """Exclusive, advisory lock on ``out/.ctcam.lock`` held while a run writes ``out``."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / LOCK_NAME
        self._fh = None

    def __enter__(self) -> OutputLock:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; documented in docs/batch.md
            return self
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            owner = fh.read().strip() or "another process"
            fh.close()
            raise OutputFolderError(
                f"--out {self.path.parent} is being written by another ctcam run ({owner}). "
                "Wait for it to finish, or use another --out."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()  # closing releases the lock
            self._fh = None


def card_digest(card: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(card, sort_keys=True).encode()).hexdigest()


def provenance(card: dict[str, Any], *, labels, methods, raw: bool, organs: str,
               maps: str = "scan", report: bool = False) -> dict[str, Any]:
    """What produced an output; equal records mean the output can be reused as it is."""
    from engine import __version__

    return {
        "ctcam": __version__,
        "model_sha256": card.get("weights", {}).get("sha256"),
        "card_sha256": card_digest(card),
        "labels": sorted(labels) if labels else "all",
        "methods": list(methods),
        "raw": bool(raw),
        "maps": maps,
        "report": bool(report),
        "organs": organs,
    }


def publish(tmp: Path, out: Path) -> None:
    """Move the finished outputs in ``tmp`` into ``out`` (see the module docstring)."""
    marker = out / "findings.json"
    marker.unlink(missing_ok=True)
    for name in OUTPUTS:
        if name == "findings.json":
            continue
        src, dst = tmp / name, out / name
        if dst.is_dir():  # an old raw/ without --raw this time would be stale too
            shutil.rmtree(dst)
        elif dst.exists():
            dst.unlink()
        if src.exists():
            os.replace(src, dst)
    os.replace(tmp / "findings.json", marker)
