"""Reading values out of DICOM headers: lenient helpers, and the strict checks that guard HU
and allocations.

* :func:`rescale` parses RescaleSlope / RescaleIntercept strictly: a value that is present but
  does not parse is a :class:`CorruptFileError` naming the file (a silent 0 or 1 would shift
  every HU by ~1024 or scale it); absent values take the DICOM defaults 1 and 0.
* :func:`frame_count` checks the claimed NumberOfFrames against the bytes the file holds
  *before* one record per frame is built.
* :func:`non_image_kind` names objects that are not images (SR, RT structure sets and dose,
  presentation states, ...) so the scanner can skip them with a note.
"""

from __future__ import annotations

import math
from pathlib import Path

from pydicom.dataset import Dataset

from engine.io.errors import CorruptFileError, ImplausibleDimensionsError, TruncatedFileError
from engine.io.limits import MAX_AXIS

#: Transfer syntaxes whose pixel data are stored uncompressed (one fixed size per frame).
NATIVE_SYNTAXES = {"", "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
#: Smallest possible encapsulated frame: one fragment item header (tag + length).
MIN_ENCAPSULATED_FRAME = 8
#: Modalities that are not images to read as CT, whatever else the file holds.
NON_IMAGE_MODALITIES = {"SR", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "RTIMAGE", "PR",
                        "KO", "REG", "SEG", "DOC", "PLAN", "AU", "ECG", "HD"}
#: SOP classes of structured reports, RT objects and presentation states (never CT images).
NON_IMAGE_SOP_PREFIXES = ("1.2.840.10008.5.1.4.1.1.88.", "1.2.840.10008.5.1.4.1.1.481.",
                          "1.2.840.10008.5.1.4.1.1.11.", "1.2.840.10008.5.1.4.1.1.66")


def value(elem):
    return getattr(elem, "value", elem)


def as_str(elem) -> str | None:
    v = value(elem)
    return str(v) if v not in (None, "") else None


def as_int(elem) -> int | None:
    v = value(elem)
    if v in (None, ""):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def as_float(elem, default: float | None = None) -> float | None:
    v = value(elem)
    if v in (None, ""):
        return default
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def as_floats(elem, n: int) -> tuple[float, ...] | None:
    v = value(elem)
    if v is None or isinstance(v, (str, bytes)):
        return None
    try:
        vals = tuple(float(x) for x in v)
    except (TypeError, ValueError):
        return None
    return vals if len(vals) == n else None


def first(seq) -> Dataset | None:
    try:
        return seq[0] if seq else None
    except (IndexError, TypeError):
        return None


def transfer_syntax(ds: Dataset) -> str:
    meta = ds.get("file_meta")
    return str(getattr(meta, "TransferSyntaxUID", "") or "") if meta is not None else ""


def rescale(item: Dataset | None, keyword: str, default: float, path: Path) -> float:
    """RescaleSlope/RescaleIntercept of ``item``: ``default`` when absent, else a number.

    Present but empty, multi-valued or not a number: :class:`CorruptFileError`.
    """
    if item is None or keyword not in item:
        return default
    raw = item[keyword].value
    try:
        if raw is None or isinstance(raw, (bytes, list, tuple)) or str(raw).strip() == "":
            raise ValueError
        return float(raw)
    except (TypeError, ValueError):
        shown = "empty" if raw in (None, "") else repr(str(raw)[:40])
        raise CorruptFileError(
            f"{path}: {keyword} is {shown}, not one number, so the stored values cannot be "
            f"converted to HU (assuming {default:g} would silently shift or scale every HU). "
            "The header is damaged; fix the value or export the series again.",
            path,
        ) from None


def frame_count(ds: Dataset, path: Path) -> int:
    """NumberOfFrames (1 when absent), refused when the file cannot hold that many frames.

    Native syntaxes need rows x columns x samples x bits/8 bytes per frame, encapsulated ones
    at least one 8-byte fragment header per frame; the file size bounds both.  Checked
    before anything is allocated per frame.
    """
    if "NumberOfFrames" not in ds:
        return 1
    raw = value(ds["NumberOfFrames"])
    n = as_int(raw)
    if n is None or n < 1:
        if raw in (None, ""):
            return 1
        raise CorruptFileError(
            f"{path}: NumberOfFrames is {str(raw)[:40]!r}, not a positive whole number; the "
            "header is damaged. Export the series again.",
            path,
        )
    if n > MAX_AXIS:
        raise ImplausibleDimensionsError(
            f"{path}: the header claims {n:,} frames, more than a CT scan holds (at most "
            f"{MAX_AXIS}); the header is damaged. Export the series again.",
            path,
        )
    size = path.stat().st_size
    if transfer_syntax(ds) in NATIVE_SYNTAXES:
        rows, cols = as_int(ds.get("Rows")) or 1, as_int(ds.get("Columns")) or 1
        spp = as_int(ds.get("SamplesPerPixel")) or 1
        bits = as_int(ds.get("BitsAllocated")) or 1
        per_frame = max(1, math.ceil(max(1, rows) * max(1, cols) * max(1, spp) * max(1, bits) / 8))
    else:
        per_frame = MIN_ENCAPSULATED_FRAME
    if n * per_frame > size:
        raise TruncatedFileError(
            f"{path}: the header claims {n:,} frames ({n * per_frame:,} bytes of pixel data at "
            f"least) but the file holds only {size:,} bytes; it is truncated or its "
            "NumberOfFrames is damaged. Export the series again.",
            path,
        )
    return n


def non_image_kind(ds: Dataset) -> str | None:
    """A short name ("SR", "RTSTRUCT", ...) when ``ds`` is not an image ctcam can read.

    Only positively identified objects, by modality or by SOP class (structured reports, RT
    objects, presentation states); an object without Rows/Columns that is neither is a
    truncated or damaged image and must be reported as such, not skipped.
    """
    modality = (as_str(ds.get("Modality")) or "").strip().upper()
    sop = str(getattr(ds.get("file_meta", Dataset()), "MediaStorageSOPClassUID", "")
              or ds.get("SOPClassUID", "") or "")
    if modality in NON_IMAGE_MODALITIES:
        return modality
    if sop.startswith(NON_IMAGE_SOP_PREFIXES):
        return f"{modality or 'non-image'} object (SOP class {sop})"
    return None  # anything else without Rows/Columns is a damaged image, reported as such
