"""The CT series the DICOM results reference: the scan's own DICOM files when it was read
from DICOM, else the scan written as a CT series by ctcam's writer (so a NIfTI input still
gets a coherent set that Slicer loads together)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import CTCamError
from engine.volume import CTVolume

MAX_SOURCE_FILES = 5000


class DicomOutError(CTCamError):
    """The DICOM result objects cannot be made for this scan."""


def _headers(files: list[str], series_uid: str) -> list:
    """Header datasets of the series' own files (recorded by the reader in the volume's meta;
    nothing else in the folder is read)."""
    import pydicom

    if len(files) > MAX_SOURCE_FILES:
        raise DicomOutError(f"series {series_uid} has {len(files)} files, more than {MAX_SOURCE_FILES}.")
    out = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    return [ds for ds in out if str(getattr(ds, "SeriesInstanceUID", "")) == series_uid]


def source_series(volume: CTVolume, out: Path) -> list:
    """Header datasets of the CT series the results reference (see module doc)."""
    meta = volume.meta or {}
    files = meta.get("source_files") or []
    if meta.get("source_format") == "dicom" and meta.get("series_uid") and not meta.get("resampled") and files:
        found = _headers(files, str(meta["series_uid"]))
        if found:
            return found
    import pydicom

    from engine.io.dicom_write import write_dicom_series

    if volume.hu.min() < -32768 or volume.hu.max() > 32767:
        raise DicomOutError("the scan's HU do not fit 16-bit DICOM storage.")
    paths = write_dicom_series(out, CTVolume(np.asarray(volume.hu, np.int16), volume.affine),
                               series_description="ctcam source CT")
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
