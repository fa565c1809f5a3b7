"""The ``ctcam`` command.

``ctcam`` or ``ctcam PATH`` starts the desktop viewer (on the demo case when no path is
given).  Sub-commands (``info``, ``phantom``, ``explain``, ``train``, ``evaluate``) run
headless.  The viewer is imported by name only when the GUI is asked for, so the engine
never imports Qt.

Every sub-command reports bad input as one ``error:`` line and exit code 2.  Anything else
that escapes a sub-command is a bug in ctcam: :func:`main` turns it into one ``error:`` line
too (what failed, the file when the exception names one, where in ctcam it happened, and a
request to report it), exit 2; the traceback is printed only with ``CTCAM_DEBUG=1``.
``KeyboardInterrupt`` and ``SystemExit`` are never caught here.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from pathlib import Path

SUBCOMMANDS: dict[str, str] = {
    # name -> "module:function" taking (argv: list[str]) and returning an exit code
    "info": "engine.cli_info:main",
    "phantom": "engine.phantom.cli:main",
    "explain": "engine.cli_explain:main",
    "train": "engine.train:main",
    "evaluate": "engine.evaluate:main",
}

DEBUG_ENV = "CTCAM_DEBUG"


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one ``error:`` line (exit 2), not the usage
    block followed by the message."""

    def error(self, message: str):
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def _where(exc: BaseException) -> str:
    """``engine/x.py:123`` of the innermost traceback frame inside ctcam, else the last one."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    root = Path(__file__).resolve().parent.parent
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


def _run(target: str, argv: list[str]) -> int:
    mod, _, fn = target.partition(":")
    return int(getattr(importlib.import_module(mod), fn)(argv) or 0)


def run_guarded(command: str, argv: list[str]) -> int:
    """Run sub-command ``command``; an exception that escapes it becomes one error line."""
    try:
        return _run(SUBCOMMANDS[command], argv)
    except Exception as exc:  # KeyboardInterrupt / SystemExit are BaseException: not caught
        if _debug():
            traceback.print_exc()
        print(unexpected_error_line(command, exc), file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return run_guarded(argv[0], argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        p = argparse.ArgumentParser(prog="ctcam", description=__doc__)
        p.add_argument("command_or_path", nargs="?", help=f"one of {', '.join(SUBCOMMANDS)}, or a scan to open")
        p.print_help()
        return 0
    return _run("viewer.app:main", argv)


if __name__ == "__main__":
    sys.exit(main())
