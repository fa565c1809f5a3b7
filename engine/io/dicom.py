"""DICOM CT series reading (classic and enhanced multi-frame) and writing.

Reading a folder: headers of every file are read without pixel data and grouped by
SeriesInstanceUID (:mod:`engine.io.dicom_scan`); the chosen series is checked and its
geometry computed (:mod:`engine.io.dicom_geometry`); only then are pixels decoded, file by
file, with ``HU = stored * RescaleSlope + RescaleIntercept``
(:mod:`engine.io.dicom_pixels`).  The array is assembled as (column, row, slice) with its
exact LPS->RAS affine and reoriented to canonical RAS+ order.

Writers (for tests and exports) live in :mod:`engine.io.dicom_write` and are re-exported.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import numpy as np

from engine.io.dicom_enhanced import write_dicom_enhanced
from engine.io.dicom_geometry import SeriesPlan, plan_series
from engine.io.dicom_pixels import check_decoders, frame_of, read_pixels
from engine.io.dicom_scan import (
    SeriesInfo,
    SeriesRecord,
    candidate_files,
    file_kind,
    iter_scan,
    looks_like_dicom,
    series_info,
)
from engine.io.dicom_write import write_dicom_series
from engine.io.errors import (
    MultipleSeriesError,
    NonCTModalityWarning,
    NonImageSkippedWarning,
    PathNotFoundError,
    SeriesNotFoundError,
    UnknownFileError,
)
from engine.io.hu import HUConverter
from engine.io.limits import check_readable
from engine.io.progress import drive, rescaled
from engine.io.warn import warn_and_record
from engine.progress import Progress
from engine.volume import CTVolume, canonicalize

__all__ = [
    "SeriesInfo",
    "iter_read_dicom",
    "list_series",
    "read_dicom",
    "write_dicom_enhanced",
    "write_dicom_series",
]

_HEADER_SHARE = 0.2  # share of the progress bar spent reading headers


def list_series(folder: str | Path) -> list[SeriesInfo]:
    """Series in a DICOM folder (or of one DICOM file), from headers only, by series number."""
    folder = Path(folder)
    if folder.is_file():
        records = drive(iter_scan([folder], folder))
    else:
        records = drive(iter_scan(_files(folder), folder))
    return _sorted_infos(records)


def read_dicom(
    folder: str | Path, series: str | None = None, progress=None, cancel=None
) -> CTVolume:
    """Read one CT series from a DICOM folder (or an enhanced multi-frame / single file)."""
    return drive(iter_read_dicom(folder, series), progress, cancel)


def iter_read_dicom(
    path: str | Path, series: str | None = None
) -> Generator[Progress, None, CTVolume]:
    """Generator form of :func:`read_dicom`: yields Progress, returns the CTVolume.

    ``path`` is a folder, or one file: an enhanced multi-frame file is read alone; a classic
    single-slice file stands for its series in the same folder.  ``series`` selects by
    SeriesInstanceUID (or, when unambiguous, by SeriesNumber).
    """
    path = Path(path)
    yield Progress("load", 0.0, f"Looking for DICOM files in {path.name}")
    if path.is_file():
        if not looks_like_dicom(path):
            raise UnknownFileError(
                f"{path}: not a DICOM file (no 'DICM' marker at byte 128). Open a DICOM series "
                "folder, an enhanced multi-frame DICOM file or a .nii/.nii.gz file.",
                path,
            )
        uid, multi = file_kind(path)
        if uid is None:
            list(iter_scan([path], path))  # raises the CorruptFileError naming what is missing
        if multi:
            files, where = [path], path
        else:
            files, where = _files(path.parent), path.parent
            series = series or uid
    else:
        files, where = _files(path), path
    records = yield from rescaled(iter_scan(files, where), 0.0, _HEADER_SHARE)
    rec = _select(records, series, where)
    plan = plan_series(rec, where)
    check_decoders(plan.frames)
    stack = yield from rescaled(_iter_pixels(plan, where), _HEADER_SHARE, 1.0)
    hu = np.transpose(stack, (2, 1, 0))  # (slice, row, col) -> (col, row, slice)
    data, affine = canonicalize(hu, plan.affine)
    vol = CTVolume(data, affine, _meta(rec, plan, path))
    for text, category in plan.warnings:
        warn_and_record(vol, text, category)
    if (note := getattr(records, "skipped_note", lambda: None)()) is not None:
        warn_and_record(vol, f"{where}: {note}; only series {rec.uid} was read.",
                        NonImageSkippedWarning)
    if rec.modality.upper() != "CT":
        warn_and_record(
            vol,
            f"{where}: series {rec.uid} has modality '{rec.modality or 'missing'}', not CT; HU "
            "windows and the bundled model assume CT, so findings may be meaningless.",
            NonCTModalityWarning,
        )
    return vol


# -- helpers -------------------------------------------------------------------------------------
def _files(folder: Path) -> list[Path]:
    if not folder.exists():
        raise PathNotFoundError(f"{folder}: no such folder. Check the path and try again.", folder)
    check_readable(folder)
    return candidate_files(folder)


def _sorted_infos(records: dict[str, SeriesRecord]) -> list[SeriesInfo]:
    infos = [series_info(r) for r in records.values()]
    return sorted(infos, key=lambda s: (s.series_number is None, s.series_number or 0, s.uid))


def _select(records: dict[str, SeriesRecord], series: str | None, where: Path) -> SeriesRecord:
    infos = _sorted_infos(records)
    listing = "; ".join(s.label() for s in infos)
    if series is None:
        if len(records) == 1:
            return next(iter(records.values()))
        raise MultipleSeriesError(
            f"{where}: the folder holds {len(records)} series: {listing}. Choose one with "
            "`--series UID` (command line) or series=UID (API).",
            where,
            infos,
        )
    if series in records:
        return records[series]
    by_number = [r for r in records.values() if str(r.series_number) == series.strip()]
    if len(by_number) == 1:
        return by_number[0]
    raise SeriesNotFoundError(
        f"{where}: no series {series!r} in the folder; it holds: {listing}. Pass one of these "
        "SeriesInstanceUIDs.",
        where,
        infos,
    )


def _iter_pixels(plan: SeriesPlan, where: Path) -> Generator[Progress, None, np.ndarray]:
    """Decode every frame into a (slice, row, col) int16 stack; resample if planned."""
    cols, rows, _ = plan.shape
    stack = np.empty((len(plan.frames), rows, cols), dtype=np.int16)
    by_file: dict[Path, list[int]] = {}
    for k, ref in enumerate(plan.frames):
        by_file.setdefault(ref.path, []).append(k)
    conv = HUConverter(where)
    for n_done, (path, slots) in enumerate(by_file.items(), start=1):
        _, arr = read_pixels(path)
        for k in slots:
            ref = plan.frames[k]
            stack[k] = conv(frame_of(arr, ref), ref.slope, ref.intercept, where=path)
        yield Progress(
            "load", n_done / len(by_file), f"Reading DICOM images ({n_done}/{len(by_file)})"
        )
    plan.warnings.extend(conv.warnings())
    if plan.targets is not None:
        stack = _resample(stack, plan.positions, plan.targets)
    return stack


def _resample(stack: np.ndarray, positions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 0 from ``positions`` to ``targets`` (both ascending, mm)."""
    out = np.empty((len(targets),) + stack.shape[1:], dtype=np.int16)
    hi = np.clip(np.searchsorted(positions, targets, side="right"), 1, len(positions) - 1)
    lo = hi - 1
    w = np.clip((targets - positions[lo]) / (positions[hi] - positions[lo]), 0.0, 1.0)
    for t in range(len(targets)):
        mix = (1.0 - w[t]) * stack[lo[t]].astype(np.float32) + w[t] * stack[hi[t]].astype(
            np.float32
        )
        out[t] = np.rint(mix).astype(np.int16)
    return out


def _meta(rec: SeriesRecord, plan: SeriesPlan, source: Path) -> dict:
    return {
        "source_path": str(source),
        "source_format": "dicom",
        "source_orientation": plan.source_orientation,
        "source_shape": plan.shape,
        "modality": rec.modality or None,
        "body_part": rec.body_part or None,
        "series_uid": rec.uid,
        "series_description": rec.description or None,
        "series_number": rec.series_number,
        "patient_id": rec.patient_id,
        "study_uid": rec.study_uid,
        "enhanced": rec.enhanced,
        "n_files": len(rec.files),
        "source_files": [str(f) for f in rec.files],  # what the DICOM results reference
        "resampled": plan.targets is not None,
        "warnings": [],
    }
