"""The ``ctcam`` command's guard: an exception that escapes a sub-command becomes one line.

Every sub-command reports bad input itself as one ``error:`` line and exit code 2.  Anything
else that escapes is a bug in ctcam: :func:`run_guarded` turns it into one ``error:`` line
too (what failed, the file when the exception names one, where in ctcam it happened, and a
request to report it), exit 2; the traceback is printed only with ``CTCAM_DEBUG=1``.
``KeyboardInterrupt`` and ``SystemExit`` are never caught here.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

DEBUG_ENV = "CTCAM_DEBUG"


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def _where(exc: BaseException) -> str:
    """``engine/x.py:123`` of the innermost traceback frame inside ctcam, else the last one."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    root = Path(__file__).resolve().parents[2]
    for fr in reversed(frames):
        try:
            rel = Path(fr.filename).resolve().relative_to(root)
        except ValueError:
            continue
        return f"{rel.as_posix()}:{fr.lineno}"
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"


def unexpected_error_line(command: str, exc: BaseException) -> str:
    """The one line shown for an exception ctcam did not expect (a bug)."""
    from engine.errors import CTCamError

    text = " ".join(str(exc).split()) or "(no message)"
    if isinstance(exc, CTCamError):  # a user-facing error a sub-command forgot to catch
        return f"error: {text}"
    parts = [f"error: ctcam {command} failed unexpectedly: {type(exc).__name__}: {text}"]
    filename = getattr(exc, "filename", None)
    if filename and str(filename) not in text:
        parts.append(f"(file: {filename})")
    where = _where(exc)
    if where:
        parts.append(f"(at {where})")
    hint = "" if _debug() else f"; set {DEBUG_ENV}=1 to see the traceback"
    parts.append(f"- this is a bug in ctcam, please report this with the command line{hint}.")
    return " ".join(parts)


def run_target(target: str, argv: list[str]) -> int:
    """Import ``"module:function"`` by name and call it with ``argv``; its exit code."""
    mod, _, fn = target.partition(":")
    return int(getattr(importlib.import_module(mod), fn)(argv) or 0)


def run_guarded(command: str, target: str, argv: list[str]) -> int:
    """Run sub-command ``command`` (``target``); an exception that escapes becomes one line."""
    try:
        return run_target(target, argv)
    except Exception as exc:  # KeyboardInterrupt / SystemExit are BaseException: not caught
        if _debug():
            traceback.print_exc()
        print(unexpected_error_line(command, exc), file=sys.stderr)
        return 2
