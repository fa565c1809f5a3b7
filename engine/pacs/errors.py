"""PACS failures as human messages, and the check every UID passes before it is used."""

from __future__ import annotations

import re

from engine.errors import CTCamError

# DICOM UIDs (PS3.5 9.1): components of digits separated by dots, at most 64 characters,
# no leading zero in a component.  A UID from a server or the command line becomes a folder
# name in the cache and part of a URL only after this check.
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")


class PacsError(CTCamError):
    """The PACS could not be reached, refused us, or holds nothing ctcam can read."""


def check_uid(value: object, what: str) -> str:
    """``value`` if it is a valid DICOM UID, else PacsError naming ``what``."""
    text = str(value).strip() if value is not None else ""
    if not (0 < len(text) <= 64 and _UID.match(text)):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise PacsError(f"{what} {shown!r} is not a DICOM UID (digits and dots, at most 64 "
                        "characters); copy it from the PACS's study or series list.")
    return text
