"""Decoding DICOM pixel data into int16 HU slices.

Compressed transfer syntaxes are decoded by pydicom's plugins; when none is installed for a
syntax we refuse before reading anything, naming the pip packages that add support
(pylibjpeg and its libjpeg/openjpeg plugins).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from engine.io.dicom_scan import CappedFile, FrameRef
from engine.io.errors import (
    CorruptFileError,
    MissingDecoderError,
    MissingPixelDataError,
    TruncatedFileError,
    VolumeReadError,
)

#: pip packages that let pydicom decode each family of compressed transfer syntaxes.
_PACKAGES_BY_PREFIX = {
    "1.2.840.10008.1.2.4.5": ("pylibjpeg", "pylibjpeg-libjpeg"),  # JPEG baseline/extended
    "1.2.840.10008.1.2.4.7": ("pylibjpeg", "pylibjpeg-libjpeg"),  # JPEG lossless
    "1.2.840.10008.1.2.4.8": ("pylibjpeg", "pylibjpeg-libjpeg"),  # JPEG-LS
    "1.2.840.10008.1.2.4.9": ("pylibjpeg", "pylibjpeg-openjpeg"),  # JPEG 2000
    "1.2.840.10008.1.2.4.20": ("pylibjpeg", "pylibjpeg-openjpeg"),  # HTJ2K
    "1.2.840.10008.1.2.5": ("pylibjpeg", "pylibjpeg-rle"),  # RLE
}
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def decoder_available(uid: str) -> bool:
    """True when pydicom can decode pixel data stored with transfer syntax ``uid``."""
    try:
        return bool(get_decoder(UID(uid)).is_available)
    except (NotImplementedError, ValueError):
        return False


def packages_for(uid: str) -> tuple[str, ...]:
    for prefix, pkgs in _PACKAGES_BY_PREFIX.items():
        if uid.startswith(prefix):
            return pkgs
    return ("pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg")


def check_decoders(frames: Iterable[FrameRef]) -> None:
    """Refuse a series whose compressed pixel data no installed plugin can decode."""
    seen: set[str] = set()
    for f in frames:
        uid = f.transfer_syntax
        if not uid or uid in seen:
            continue
        seen.add(uid)
        tsyntax = UID(uid)
        if not tsyntax.is_transfer_syntax:
            raise CorruptFileError(
                f"{f.path}: unknown transfer syntax {uid}; the file is damaged or uses a private "
                "encoding. Export the series again as uncompressed DICOM.",
                f.path,
            )
        if tsyntax.is_compressed and not decoder_available(uid):
            pkgs = packages_for(uid)
            raise MissingDecoderError(
                f"{f.path}: pixel data compressed as '{tsyntax.name}' and no decoder is "
                f"installed. Run `pip install {' '.join(pkgs)}` and open the series again.",
                f.path,
                pkgs,
            )


def read_pixels(path: Path) -> tuple[Dataset, np.ndarray]:
    """Full dataset and its stored pixel values, shape (rows, cols) or (frames, rows, cols)."""
    try:
        return _read_pixels(path)
    except VolumeReadError:
        raise
    except Exception as exc:  # pydicom decodes values lazily and raises many types
        raise CorruptFileError(
            f"{path}: a DICOM value cannot be read ({type(exc).__name__}: {exc}). The file is "
            "damaged; export the series again.",
            path,
        ) from exc


def _read_pixels(path: Path) -> tuple[Dataset, np.ndarray]:
    try:
        with CappedFile(path) as f:  # no allocation beyond the file size (docs/reliability.md, "Fuzzing")
            ds = pydicom.dcmread(f, force=True)
    except Exception as exc:  # pydicom raises many types on damaged files
        raise CorruptFileError(
            f"{path}: the DICOM file cannot be decoded ({type(exc).__name__}: {exc}). Remove it "
            "or export the series again.",
            path,
        ) from exc
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        raise MissingPixelDataError(
            f"{path}: the file has no pixel data (header only). Export the series again with "
            "its images.",
            path,
        )
    _check_length(ds, path)
    try:
        arr = ds.pixel_array
    except Exception as exc:  # decoder errors on damaged data, or a decoder that cannot
        uid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        if uid is not None and UID(uid).is_compressed:  # do this variant (e.g. 12-bit JPEG)
            pkgs = " ".join(packages_for(str(uid)))
            raise CorruptFileError(
                f"{path}: the installed decoders could not decode pixel data compressed as "
                f"'{UID(uid).name}' with {ds.get('BitsStored', '?')} bits stored "
                f"({type(exc).__name__}: {exc}). Install a decoder for this variant "
                f"(`pip install {pkgs}`; 12-bit JPEG Extended needs pylibjpeg-libjpeg); if it "
                "still fails the file is damaged: export the series again.",
                path,
            ) from exc
        raise CorruptFileError(
            f"{path}: the pixel data cannot be decoded ({type(exc).__name__}: {exc}). The file "
            "is damaged; export the series again.",
            path,
        ) from exc
    return ds, np.asarray(arr)


def frame_of(arr: np.ndarray, ref: FrameRef) -> np.ndarray:
    """The 2D (rows, cols) frame ``ref`` of a decoded pixel array, checked against its header."""
    out = arr if ref.frame is None or arr.ndim == 2 else arr[ref.frame]
    if out.shape != (ref.rows, ref.columns):
        raise CorruptFileError(
            f"{ref.path}: decoded pixels have shape {out.shape} but the header says "
            f"{ref.rows}x{ref.columns}. The file is damaged; export the series again.",
            ref.path,
        )
    return out


def _check_length(ds: Dataset, path: Path) -> None:
    """Native (uncompressed) pixel data must be as long as Rows x Columns x frames x bytes."""
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if "PixelData" not in ds or (tsyntax is not None and UID(tsyntax).is_compressed):
        return
    try:
        bits = int(ds.BitsAllocated)
        needed = int(ds.Rows) * int(ds.Columns) * int(ds.get("NumberOfFrames", 1) or 1)
        needed *= int(ds.get("SamplesPerPixel", 1) or 1) * bits // 8
    except (AttributeError, TypeError, ValueError) as exc:
        raise CorruptFileError(
            f"{path}: the image size fields (Rows, Columns, BitsAllocated) are missing or "
            f"damaged ({exc}). Export the series again.",
            path,
        ) from exc
    have = len(ds.PixelData)
    if have < needed:
        raise TruncatedFileError(
            f"{path}: the file is truncated: {have:,} bytes of pixel data where the header "
            f"announces {needed:,}. Copy or export the series again.",
            path,
        )
