"""The ``ctcam`` command: one :func:`main` that dispatches to a sub-command module.

``ctcam`` or ``ctcam PATH`` starts the desktop viewer (on the demo case when no path is
given; :mod:`engine.cli.gui`).  Sub-commands (``info``, ``phantom``, ``explain``, ``train``,
``evaluate``) run headless; each is a module of this package with ``main(argv) -> int``,
named in :data:`SUBCOMMANDS` and imported only when asked for.  The viewer is imported by
name only when the GUI is asked for, so the engine never imports Qt.

Every sub-command reports bad input as one ``error:`` line and exit code 2; anything else
that escapes one is turned into one line too (:mod:`engine.cli.guard`).  Adding a
sub-command: docs/architecture.md, "Where each kind of change goes".
"""

from __future__ import annotations

import argparse
import sys

from engine.cli.guard import DEBUG_ENV, run_guarded, unexpected_error_line
from engine.cli.parser import OneLineParser

SUBCOMMANDS: dict[str, str] = {
    # name -> "module:function" taking (argv: list[str]) and returning an exit code
    "info": "engine.cli.info:main",
    "phantom": "engine.cli.phantom:main",
    "explain": "engine.cli.explain:main",
    "train": "engine.cli.train:main",
    "evaluate": "engine.cli.evaluate:main",
}
# long runs that allocate and free big tensors all the time: their process keeps freed memory
# (engine.heap_policy; a training step 1.3-1.5x faster).  Set here, in the command's own
# process, not in the functions the tests call in theirs.
KEEP_FREED_MEMORY = ("train", "evaluate")

__all__ = ["SUBCOMMANDS", "DEBUG_ENV", "OneLineParser", "main", "run_guarded",
           "unexpected_error_line"]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        if argv[0] in KEEP_FREED_MEMORY:
            from engine.heap_policy import keep_freed_memory

            keep_freed_memory()
        return run_guarded(argv[0], SUBCOMMANDS[argv[0]], argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        p = argparse.ArgumentParser(prog="ctcam", description=__doc__)
        p.add_argument("command_or_path", nargs="?", help=f"one of {', '.join(SUBCOMMANDS)}, or a scan to open")
        p.print_help()
        return 0
    from engine.cli import gui

    return gui.main(argv)
