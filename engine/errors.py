"""Base exception types shared by every engine package.

Every failure a user can cause (a bad file, a wrong model, a cancelled run) is raised as a
subclass of :class:`CTCamError` whose message says which file, what is wrong and what to do.
The viewer and the CLI show ``str(exc)`` and nothing else; anything that is *not* a
``CTCamError`` is a bug in ctcam.
"""

from __future__ import annotations


class CTCamError(Exception):
    """A user-facing failure with a human message (which file, what is wrong, what to do)."""

    #: False for errors about the model, its card or the device rather than the scan being
    #: read: those messages are not prefixed with the scan's path (see :func:`naming`).
    about_input = True


class Cancelled(CTCamError):
    """Long work was cancelled by the user."""

    def __init__(self, message: str = "Cancelled by the user.") -> None:
        super().__init__(message)


def naming(message: str, path: object, exc: BaseException | None = None) -> str:
    """``message`` prefixed with ``path`` unless it already names it (by path or file name):
    every error shown for one scan names that scan, even when it was raised by code that
    only saw arrays (e.g. "volume too small to block-average")."""
    if path is None or not getattr(exc, "about_input", True):
        return message
    text, name = str(path), getattr(path, "name", None) or str(path).rstrip("/").rsplit("/", 1)[-1]
    if text in message or (name and name in message):
        return message
    return f"{text}: {message}"
