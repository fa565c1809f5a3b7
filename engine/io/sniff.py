"""Telling NIfTI from DICOM by content (magic bytes), falling back to the file name."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from engine.io.dicom_scan import looks_like_dicom
from engine.io.nifti import is_nifti_name

_GZIP_MAGIC = b"\x1f\x8b"
_NIFTI1_MAGICS = (b"n+1\x00", b"ni1\x00")
_NIFTI2_MAGIC = b"n+2\x00\r\n\x1a\n"


def _head(path: Path, n: int = 540) -> bytes:
    with open(path, "rb") as f:
        raw = f.read(n)
        if not raw.startswith(_GZIP_MAGIC):
            return raw
    try:
        with gzip.open(path, "rb") as g:
            return g.read(n)
    except (OSError, EOFError, zlib.error):
        return b""


def detect_format(path: str | Path) -> str | None:
    """``"nifti"``, ``"dicom"`` or None for a file, from its first bytes (then its name)."""
    path = Path(path)
    try:
        head = _head(path)
    except OSError:
        return None
    if head[344:348] in _NIFTI1_MAGICS or head[4:12] == _NIFTI2_MAGIC:
        return "nifti"
    if looks_like_dicom(path):
        return "dicom"
    if is_nifti_name(path) or path.suffix.lower() in (".hdr", ".img"):
        return "nifti"  # damaged NIfTI or a .hdr/.img pair: the reader says what is wrong
    if path.suffix.lower() in (".dcm", ".dicom", ".ima"):
        return "dicom"
    return None
