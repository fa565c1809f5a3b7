"""Scanning a DICOM folder: headers only (``stop_before_pixels``), grouped by series.

Every image frame becomes a :class:`FrameRef` holding what geometry and pixel decoding need,
so classic one-slice-per-file series and enhanced multi-frame files (geometry in the
Shared/PerFrame functional groups) are assembled by the same code.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from engine.io.dicom_values import as_float as _float
from engine.io.dicom_values import as_floats as _floats
from engine.io.dicom_values import as_int as _int
from engine.io.dicom_values import as_str as _str
from engine.io.dicom_values import first as _first
from engine.io.dicom_values import frame_count, non_image_kind, rescale
from engine.io.dicom_values import transfer_syntax as _transfer_syntax
from engine.io.errors import (
    CorruptFileError,
    MissingPixelDataError,
    UnknownFileError,
    VolumeReadError,
)
from engine.progress import Progress

MEDIA_DIRECTORY_STORAGE = "1.2.840.10008.1.3.10"


@dataclass(frozen=True)
class FrameRef:
    """One image frame: its file, frame number (None for single-frame files) and geometry."""

    path: Path
    frame: int | None
    position: tuple[float, float, float] | None  # ImagePositionPatient (LPS mm)
    orientation: tuple[float, ...] | None  # ImageOrientationPatient (6 cosines, LPS)
    pixel_spacing: tuple[float, float] | None  # (row spacing, column spacing) mm
    rows: int | None
    columns: int | None
    slope: float
    intercept: float
    instance: int | None  # InstanceNumber (or in-file frame order)
    samples_per_pixel: int = 1
    transfer_syntax: str = ""


@dataclass
class SeriesRecord:
    """All frames of one SeriesInstanceUID plus series-level header values."""

    uid: str
    description: str = ""
    modality: str = ""
    series_number: int | None = None
    patient_id: str | None = None
    study_uid: str | None = None
    gantry_tilt: float | None = None
    body_part: str | None = None  # BodyPartExamined (0018,0015), when recorded
    enhanced: bool = False
    frames: list[FrameRef] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class SeriesInfo:
    """What :func:`engine.io.list_series` reports about one series (no pixel data read).

    ``shape`` is (columns, rows, slices) as stored, or None when the images carry no size.
    """

    uid: str
    description: str
    n_slices: int
    modality: str
    shape: tuple[int, int, int] | None
    series_number: int | None = None
    n_files: int = 0
    enhanced: bool = False
    slice_spacing_mm: float | None = None  # median distance between slice positions

    def label(self) -> str:
        """One line for a series chooser: number, description, modality, images, slice
        spacing, matrix, then the UID (what a radiologist recognises first, the UID last)."""
        head = f"Series {self.series_number}" if self.series_number is not None else "Series"
        parts = [f"{self.modality or '?'}", f"{self.n_slices} images"]
        if self.slice_spacing_mm:
            parts.append(f"slices every {self.slice_spacing_mm:.3g} mm")
        if self.shape is not None:
            parts.append(f"{self.shape[0]} x {self.shape[1]}")
        return (f"{head}: {self.description or 'no description'} — {', '.join(parts)}  "
                f"[{self.uid}]")


def looks_like_dicom(path: Path) -> bool:
    """'DICM' at byte 128 (Part 10 file), or a raw little-endian dataset starting in group 8."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM" or head[:4] in (
        b"\x08\x00\x05\x00",
        b"\x08\x00\x08\x00",
        b"\x08\x00\x16\x00",
        b"\x08\x00\x00\x00",
    )


class CappedFile:
    """A binary file whose ``read(n)`` never asks for more than the bytes left in it.

    CPython's ``BufferedReader.read(n)`` allocates ``n`` bytes before reading, so a damaged
    DICOM length field (up to 4 GiB) made pydicom allocate that much for a tiny file (found by
    fuzzing, docs/reliability.md).  Use as ``with CappedFile(path) as f: pydicom.dcmread(f, ...)``.
    """

    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by __exit__/close
        self._size = os.fstat(self._f.fileno()).st_size
        self.name = str(path)

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            return self._f.read()
        return self._f.read(min(n, max(0, self._size - self._f.tell())))

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> CappedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_header(path: Path) -> Dataset:
    """Header of one DICOM file without its pixel data; CorruptFileError if undecodable."""
    try:
        with CappedFile(path) as f:
            force = f.read(132)[128:132] != b"DICM"
            f.seek(0)
            return pydicom.dcmread(f, stop_before_pixels=True, force=force)
    except Exception as exc:  # pydicom raises many types on damaged headers
        raise CorruptFileError(
            f"{path}: the DICOM header cannot be decoded ({type(exc).__name__}: {exc}). "
            "The file is damaged; remove it or export the series again.",
            path,
        ) from exc


def file_kind(path: Path) -> tuple[str | None, bool]:
    """(SeriesInstanceUID, is multi-frame) of one DICOM file; CorruptFileError if undecodable."""
    ds = read_header(path)
    try:
        uid = str(ds.get("SeriesInstanceUID", "") or "") or None
        multi = (
            "PerFrameFunctionalGroupsSequence" in ds or (_int(ds.get("NumberOfFrames")) or 1) > 1
        )
    except Exception as exc:  # lazily decoded values of a damaged header
        raise CorruptFileError(
            f"{path}: a DICOM header value cannot be read ({type(exc).__name__}: {exc}). "
            "The file is damaged; export the series again.",
            path,
        ) from exc
    return uid, multi


class ScanRecords(dict):
    """Series records by SeriesInstanceUID, plus ``skipped``: (file, kind) of every object
    that is not an image (structured reports, RT objects, presentation states ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[tuple[Path, str]] = []

    def skipped_note(self) -> str | None:
        """One line naming the skipped objects (None when nothing was skipped)."""
        if not self.skipped:
            return None
        shown = ", ".join(f"{p.name} ({kind})" for p, kind in self.skipped[:5])
        more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
        return (f"skipped {len(self.skipped)} DICOM object(s) that are not images: "
                f"{shown}{more}")


def iter_scan(
    paths: Iterable[Path], folder: Path
) -> Generator[Progress, None, ScanRecords]:
    """Read the headers of ``paths``; yield progress; return series records by UID.

    Non-DICOM files are skipped; DICOM objects that are not images are skipped and listed in
    ``ScanRecords.skipped``.  A file that looks like DICOM but cannot be decoded is never
    skipped silently (it may be a slice of the series, whose loss would go unnoticed at the
    ends of a scan): the first such error is raised, naming the file and how many failed.
    """
    paths = list(paths)
    series = ScanRecords()
    errors: list[VolumeReadError] = []
    n = max(1, len(paths))
    for i, path in enumerate(paths):
        if looks_like_dicom(path):
            try:
                ds = read_header(path)
                _add(series, ds, path)
            except VolumeReadError as exc:  # damaged, or claims more than the file holds
                errors.append(exc)
            except Exception as exc:  # pydicom decodes values lazily and raises many types
                errors.append(CorruptFileError(
                    f"{path}: a DICOM header value cannot be read ({type(exc).__name__}: {exc}). "
                    "The file is damaged; remove it or export the series again.",
                    path,
                ))
        if i % 8 == 7 or i == len(paths) - 1:
            yield Progress("load", (i + 1) / n, f"Reading DICOM headers ({i + 1}/{len(paths)})")
    if errors:
        if len(errors) == 1 and not series:
            raise errors[0]
        first_error = errors[0]
        others = f" ({len(errors) - 1} other file(s) cannot be read either)" if len(errors) > 1 else ""
        raise type(first_error)(
            f"{first_error}{others} A slice that cannot be read is never left out silently: "
            f"remove the file from {folder} if it is not part of the scan, or export the "
            "series again.",
            first_error.path,
        )
    if not series and series.skipped:
        raise MissingPixelDataError(
            f"{folder}: no CT image to read, only DICOM objects with no image size or that are "
            f"not images ({series.skipped_note()}). Open the folder of the CT series itself.",
            folder,
        )
    if not series:
        raise UnknownFileError(
            f"{folder}: no DICOM image found ({len(paths)} file(s) looked at). Open a folder "
            "holding a DICOM CT series, or a .nii/.nii.gz file.",
            folder,
        )
    return series


def candidate_files(folder: Path) -> list[Path]:
    """Regular files under ``folder`` (recursively), hidden ones excluded, in a stable order."""
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).parts
        if any(part.startswith(".") for part in rel) or not p.is_file():
            continue
        out.append(p)
    return out


def series_info(rec: SeriesRecord) -> SeriesInfo:
    rows = {f.rows for f in rec.frames}
    cols = {f.columns for f in rec.frames}
    shape = None
    if len(rows) == 1 and len(cols) == 1 and None not in rows and None not in cols:
        shape = (int(next(iter(cols))), int(next(iter(rows))), len(rec.frames))
    return SeriesInfo(
        uid=rec.uid,
        description=rec.description,
        n_slices=len(rec.frames),
        modality=rec.modality,
        shape=shape,
        series_number=rec.series_number,
        n_files=len(rec.files),
        enhanced=rec.enhanced,
        slice_spacing_mm=_slice_spacing(rec.frames),
    )


def _slice_spacing(frames: list[FrameRef]) -> float | None:
    """Median gap between the frames' positions along the first frame's normal (None when
    the headers hold no geometry)."""
    first = frames[0] if frames else None
    if first is None or first.orientation is None or len(frames) < 2:
        return None
    o = np.asarray(first.orientation, dtype=np.float64)
    normal = np.cross(o[:3], o[3:])
    pos = [f.position for f in frames if f.position is not None]
    if len(pos) < 2 or not np.isfinite(normal).all() or np.linalg.norm(normal) < 0.5:
        return None
    d = np.diff(np.sort(np.asarray(pos, dtype=np.float64) @ normal))
    d = d[d > 1e-3]
    return float(np.median(d)) if len(d) else None


# -- header parsing ------------------------------------------------------------------------------
def _add(series: dict[str, SeriesRecord], ds: Dataset, path: Path) -> None:
    sop_class = str(getattr(ds.get("file_meta", Dataset()), "MediaStorageSOPClassUID", ""))
    if sop_class == MEDIA_DIRECTORY_STORAGE or "DirectoryRecordSequence" in ds:
        return  # a DICOMDIR index, not an image
    uid = str(ds.get("SeriesInstanceUID", "") or "")
    if not uid:
        raise CorruptFileError(
            f"{path}: a DICOM file whose header holds no SeriesInstanceUID, so it is truncated, "
            "damaged or not an image object. Remove it or export the series again.",
            path,
        )
    kind = non_image_kind(ds)
    if kind is not None and isinstance(series, ScanRecords):
        series.skipped.append((path, kind))
        return
    rec = series.get(uid)
    if rec is None:
        rec = series[uid] = SeriesRecord(
            uid=uid,
            description=str(ds.get("SeriesDescription", "") or ""),
            modality=str(ds.get("Modality", "") or ""),
            series_number=_int(ds.get("SeriesNumber")),
            patient_id=_str(ds.get("PatientID")),
            study_uid=_str(ds.get("StudyInstanceUID")),
            gantry_tilt=_float(ds.get("GantryDetectorTilt")),
            body_part=_str(ds.get("BodyPartExamined")),
        )
    rec.files.append(path)
    if "PerFrameFunctionalGroupsSequence" in ds:
        rec.enhanced = True
        rec.frames.extend(_enhanced_frames(ds, path))
    else:
        rec.frames.extend(_classic_frames(ds, path))


def _classic_frames(ds: Dataset, path: Path) -> list[FrameRef]:
    n_frames = frame_count(ds, path)  # checked against the file size before any record
    common = dict(
        path=path,
        orientation=_floats(ds.get("ImageOrientationPatient"), 6),
        pixel_spacing=_floats(ds.get("PixelSpacing"), 2),
        rows=_int(ds.get("Rows")),
        columns=_int(ds.get("Columns")),
        slope=rescale(ds, "RescaleSlope", 1.0, path),
        intercept=rescale(ds, "RescaleIntercept", 0.0, path),
        samples_per_pixel=_int(ds.get("SamplesPerPixel")) or 1,
        transfer_syntax=_transfer_syntax(ds),
    )
    position = _floats(ds.get("ImagePositionPatient"), 3)
    if n_frames == 1:
        return [
            FrameRef(
                frame=None, position=position, instance=_int(ds.get("InstanceNumber")), **common
            )
        ]
    # a multi-frame image without functional groups has no per-frame position
    return [FrameRef(frame=i, position=None, instance=i + 1, **common) for i in range(n_frames)]


def _enhanced_frames(ds: Dataset, path: Path) -> list[FrameRef]:
    frame_count(ds, path)  # the claimed frames must fit in the file
    shared = _first(ds.get("SharedFunctionalGroupsSequence"))
    frames = []
    for i, per in enumerate(ds.PerFrameFunctionalGroupsSequence):

        def group(name: str, per=per) -> Dataset | None:
            item = _first(per.get(name)) if per is not None else None
            if item is None and shared is not None:
                item = _first(shared.get(name))
            return item

        pos = group("PlanePositionSequence")
        ori = group("PlaneOrientationSequence")
        meas = group("PixelMeasuresSequence")
        trans = group("PixelValueTransformationSequence")
        content = group("FrameContentSequence")
        frames.append(
            FrameRef(
                path=path,
                frame=i,
                position=_floats(pos.get("ImagePositionPatient"), 3) if pos else None,
                orientation=_floats(ori.get("ImageOrientationPatient"), 6) if ori else None,
                pixel_spacing=_floats(meas.get("PixelSpacing"), 2) if meas else None,
                rows=_int(ds.get("Rows")),
                columns=_int(ds.get("Columns")),
                slope=rescale(trans, "RescaleSlope", 1.0, path),
                intercept=rescale(trans, "RescaleIntercept", 0.0, path),
                instance=_int(content.get("InStackPositionNumber")) if content else i + 1,
                samples_per_pixel=_int(ds.get("SamplesPerPixel")) or 1,
                transfer_syntax=_transfer_syntax(ds),
            )
        )
    return frames
