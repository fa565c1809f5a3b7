"""Names from outside ctcam that become parts of file paths, and the one check every writer uses.

Label, organ and abnormality names come from a user's model card and end up in output file
names (``maps/<method>/<organ>__<abnormality>.nii.gz``).  Two independent defences keep such
a name from writing anywhere but the output folder:

* :func:`name_problem` is the documented pattern the card loader enforces (``NAME_PATTERN``:
  lower-case letters, digits, ``_`` and ``-``, starting with a letter or digit, at most
  ``MAX_NAME`` characters; no ``/``, ``..``, absolute paths, NUL or newlines can pass);
* :func:`inside` resolves the final path of every file a writer is about to create
  (symbolic links included) and raises :class:`UnsafePathError` unless it lies inside the
  output folder, whatever the caller passed in.

Engine-only (no Qt); the viewer's exports call the same functions.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from engine.errors import CTCamError

#: One organ or abnormality name (documented in docs/model.md).
NAME_PATTERN = r"[a-z0-9][a-z0-9_-]*"
MAX_NAME = 64
_NAME_RE = re.compile(NAME_PATTERN)
_BAD_CHARS = ("/", "\\", "\0", "\n", "\r")


class UnsafePathError(CTCamError):
    """A file ctcam was about to write would land outside its output folder."""


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be an organ or abnormality name (None when it can)."""
    if not isinstance(name, str):
        return f"{name!r} is not a string"
    if not name:
        return "the name is empty"
    if len(name) > MAX_NAME:
        return f"{name[:20]!r}... is longer than {MAX_NAME} characters"
    if not _NAME_RE.fullmatch(name):
        return (f"{name!r} holds characters other than lower-case letters, digits, '_' and '-' "
                "(or does not start with a letter or digit)")
    return None


def inside(root: str | Path, *parts: str | os.PathLike) -> Path:
    """``root/part/...`` after checking that it resolves to a place inside ``root``.

    Every part must be one plain path component (not empty, ``.`` or ``..``; no ``/``,
    ``\\``, NUL or line break); the joined path is then resolved (symbolic links followed,
    also for folders that already exist) and must stay strictly below the resolved ``root``.
    Raises :class:`UnsafePathError` otherwise, naming the path.
    """
    root_resolved = Path(root).resolve()
    for part in parts:
        text = os.fspath(part)
        if text in ("", ".", "..") or any(c in text for c in _BAD_CHARS):
            raise UnsafePathError(
                f"refusing to write {text!r} under {root}: each part of an output file name "
                "must be one plain name (no '/', '\\', '..', NUL or line break). Check the "
                "model card's label names (see docs/model.md)."
            )
    target = root_resolved.joinpath(*parts).resolve()
    if target == root_resolved or not target.is_relative_to(root_resolved):
        raise UnsafePathError(
            f"refusing to write {target}: it lies outside the output folder {root_resolved}. "
            "Check the model card's label names and any symbolic links in the output folder "
            "(see docs/model.md)."
        )
    return target
