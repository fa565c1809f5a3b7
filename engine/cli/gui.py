"""``ctcam [PATH]``: start the desktop viewer (``viewer.app``), imported by name only here,
so the engine never imports Qt (docs/architecture.md, "The rules")."""

from __future__ import annotations

from engine.cli.guard import run_target


def main(argv: list[str]) -> int:
    return run_target("viewer.app:main", argv)
