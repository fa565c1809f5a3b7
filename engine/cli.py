"""The ``ctcam`` command.

``ctcam`` or ``ctcam PATH`` starts the desktop viewer (on the demo case when no path is
given).  Sub-commands (``info``, ``phantom``, ``explain``, ``train``, ``evaluate``) run
headless.  The viewer is imported by name only when the GUI is asked for, so the engine
never imports Qt.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS: dict[str, str] = {
    # name -> "module:function" taking (argv: list[str]) and returning an exit code
    "info": "engine.cli_info:main",
    "phantom": "engine.phantom.cli:main",
    "explain": "engine.cli_explain:main",
    "train": "engine.train:main",
    "evaluate": "engine.evaluate:main",
}


def _run(target: str, argv: list[str]) -> int:
    mod, _, fn = target.partition(":")
    return int(getattr(importlib.import_module(mod), fn)(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return _run(SUBCOMMANDS[argv[0]], argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        p = argparse.ArgumentParser(prog="ctcam", description=__doc__)
        p.add_argument("command_or_path", nargs="?", help=f"one of {', '.join(SUBCOMMANDS)}, or a scan to open")
        p.print_help()
        return 0
    return _run("viewer.app:main", argv)


if __name__ == "__main__":
    sys.exit(main())
