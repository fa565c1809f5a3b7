"""Reading CT volumes: NIfTI files and DICOM series, one entry point.

>>> vol = load("scan.nii.gz")                      # or a DICOM folder / enhanced file
>>> vol = load(folder, series=uid, progress=cb, cancel=flag)
>>> for step in (gen := iter_load(folder)): ...   # worker form; gen.close() cancels

Every failure is an :mod:`engine.io.errors` exception (a ``CTCamError``) whose one-line
message names the file, the problem and the remedy; warnings (non-CT modality, resampled
spacing, ...) are emitted and also listed in ``vol.meta["warnings"]``.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from engine.io import dicom, nifti
from engine.io.dicom_scan import SeriesInfo
from engine.io.errors import PathNotFoundError, UnknownFileError
from engine.io.limits import check_regular_file
from engine.io.progress import CancelCallback, ProgressCallback, drive
from engine.io.sniff import detect_format
from engine.progress import Progress
from engine.volume import CTVolume

__all__ = ["SeriesInfo", "iter_load", "list_series", "load"]


def load(
    path: str | Path,
    *,
    series: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
) -> CTVolume:
    """Read a NIfTI file, a DICOM folder or a DICOM file as a canonical RAS+ CTVolume.

    ``progress(fraction, message)`` is called as work advances (fractions non-decreasing in
    [0, 1]); ``cancel()`` returning True stops the read with ``engine.errors.Cancelled``.
    """
    return drive(iter_load(path, series), progress, cancel)


def iter_load(path: str | Path, series: str | None = None) -> Generator[Progress, None, CTVolume]:
    """Generator form of :func:`load`: yields ``Progress``, returns the CTVolume.

    Stopping iteration (or calling ``.close()``) abandons the read; files are closed as the
    generator unwinds.
    """
    path = Path(path)
    if not path.exists():
        raise PathNotFoundError(
            f"{path}: no such file or folder. Check the path and try again.", path
        )
    if path.is_dir():
        return (yield from dicom.iter_read_dicom(path, series))
    check_regular_file(path)  # a FIFO or device would hang the first read
    kind = detect_format(path)
    if kind == "nifti":
        return (yield from nifti.iter_read_nifti(path))
    if kind == "dicom":
        return (yield from dicom.iter_read_dicom(path, series))
    raise UnknownFileError(
        f"{path}: not a NIfTI or DICOM file. Open a .nii/.nii.gz file, a DICOM series folder "
        "or an enhanced multi-frame DICOM file.",
        path,
    )


def list_series(folder: str | Path) -> list[SeriesInfo]:
    """Series in a DICOM folder (headers only; no pixel data read)."""
    return dicom.list_series(folder)
