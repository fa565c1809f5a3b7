"""Writing a CTVolume as a DICOM CT series (one file per slice).

Geometry: the volume is first reordered (exactly) to the requested stored ``orientation``,
e.g. ``"LPS"`` (the usual DICOM axial order: columns toward the patient's Left, rows toward
Posterior, slices numbered feet to head) or ``"LPI"`` (slices numbered head to feet) or
``"RAS"``.  For the reordered affine A (voxel -> RAS) the LPS affine is
L = diag(-1, -1, 1) A; its first two columns give ImageOrientationPatient (unit vectors) and
the column/row spacing, and ImagePositionPatient of slice k is L (0, 0, k).

Pixels: ``stored = HU - RescaleIntercept`` with RescaleSlope 1 and RescaleIntercept -1024,
stored as uint16 when every HU >= -1024, else int16 (intercept 0 if HU would overflow).
Transfer syntax: Explicit VR Little Endian.

Dates and times: one timestamp is taken per call (or given as ``when``), so every file of a
series carries the same StudyDate/Time, SeriesDate/Time and ContentDate/Time; readers that
group by them (dcm2niix) never split a series written across a second boundary.  Each file
of a series holds what the CT Image IOD requires (dciodvfy from dicom3tools reports no error
or warning), including BodyPartExamined ``CHEST``, which settles the General Series module's
Laterality condition (the chest is not a paired structure).  The enhanced multi-frame writer
is :mod:`engine.io.dicom_enhanced`; it shares the helpers below.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)
from pydicom.valuerep import DSfloat

from engine.io.errors import VolumeWriteError
from engine.io.orient import reorient
from engine.volume import CTVolume

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


class _Uids:
    """Fresh UIDs, or reproducible ones derived from ``seed``."""

    def __init__(self, seed: str | None) -> None:
        self.seed = seed

    def __call__(self, *role: object) -> str:
        if self.seed is None:
            return str(generate_uid())
        return str(generate_uid(entropy_srcs=[self.seed, *map(str, role)]))


def write_dicom_series(
    folder: str | Path,
    vol: CTVolume,
    *,
    series_description: str = "ctcam",
    patient_id: str = "CTCAM-0001",
    patient_name: str = "ctcam^phantom",
    modality: str = "CT",
    orientation: str = "LPS",
    signed: bool | None = None,
    series_number: int = 1,
    uid_seed: str | None = None,
    when: _dt.datetime | None = None,
) -> list[Path]:
    """Write ``vol`` as a CT series, one file per slice, into ``folder``; return the paths.

    ``orientation`` is the stored axis order (see module doc); ``signed`` forces int16
    (True) or uint16 (False) storage; ``uid_seed`` makes all UIDs reproducible; ``when`` is
    the study/series/content time of every file (default: now, taken once).
    """
    folder = Path(folder)
    geo = _geometry(vol, orientation)
    pixels, intercept, signed = _storage(geo["data"], signed)
    uids = _Uids(uid_seed)
    study, series, frame_ref = uids("study"), uids("series"), uids("for")
    when = _dt.datetime.now() if when is None else when
    folder.mkdir(parents=True, exist_ok=True)
    n = pixels.shape[2]
    paths = []
    for k in range(n):
        sop = uids("sop", k)
        ds = _base(
            CTImageStorage,
            sop,
            study,
            series,
            frame_ref,
            patient_id,
            patient_name,
            modality,
            series_description,
            series_number,
            when,
        )
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = k + 1
        pos = geo["lps"] @ np.array([0.0, 0.0, float(k), 1.0])
        ds.ImagePositionPatient = _ds(pos[:3])
        ds.ImageOrientationPatient = _ds(np.concatenate([geo["row"], geo["col"]]))
        ds.PixelSpacing = _ds([geo["dr"], geo["dc"]])
        ds.SliceThickness = _ds([geo["ds"]])[0]
        ds.SliceLocation = _ds([float(np.dot(pos[:3], geo["normal"]))])[0]
        ds.RescaleIntercept = _ds([intercept])[0]
        ds.RescaleSlope = DSfloat(1)
        ds.RescaleType = "HU"
        ds.KVP = DSfloat(120)  # (the enhanced writer keeps these in functional groups)
        ds.WindowCenter = DSfloat(40)
        ds.WindowWidth = DSfloat(400)
        _pixel_module(ds, pixels[:, :, k].T, signed)
        path = folder / f"IM{k + 1:05d}.dcm"
        _save(ds, path)
        paths.append(path)
    return paths


# -- helpers -------------------------------------------------------------------------------------
def _geometry(vol: CTVolume, orientation: str) -> dict:
    try:
        data, affine = reorient(vol.hu, vol.affine, orientation)
    except ValueError as exc:
        raise VolumeWriteError(f"cannot write DICOM: {exc}") from exc
    lps = LPS_TO_RAS @ affine
    cols = lps[:3, :3]
    norms = np.linalg.norm(cols, axis=0)
    row, col = cols[:, 0] / norms[0], cols[:, 1] / norms[1]
    return {
        "data": data,
        "lps": lps,
        "row": row,
        "col": col,
        "normal": np.cross(row, col),
        "dc": float(norms[0]),
        "dr": float(norms[1]),
        "ds": float(norms[2]),
    }


def _storage(hu: np.ndarray, signed: bool | None) -> tuple[np.ndarray, float, bool]:
    lo, hi = int(hu.min()), int(hu.max())
    if signed is None:
        signed = lo < -1024
    if not signed and lo < -1024:
        raise VolumeWriteError(f"cannot store HU down to {lo} as uint16 with intercept -1024.")
    intercept = -1024 if (not signed or hi + 1024 <= 32767) else 0
    stored = hu.astype(np.int32) - intercept
    return stored.astype(np.int16 if signed else np.uint16), float(intercept), signed


def _ds(values) -> list[DSfloat]:
    """Decimal strings of at most 16 characters (DICOM's DS limit), as precise as fits."""
    return [DSfloat(float(v), auto_format=True) for v in np.ravel(values)]


def _base(
    sop_class,
    sop_uid,
    study,
    series,
    frame_ref,
    patient_id,
    patient_name,
    modality,
    description,
    series_number,
    when: _dt.datetime,
) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame_ref
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = when.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = when.strftime("%H%M%S")
    ds.Modality = modality
    ds.BodyPartExamined = "CHEST"
    ds.Manufacturer = "ctcam"
    ds.SeriesDescription = description
    ds.SeriesNumber = series_number
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"
    ds.AcquisitionNumber = 1
    return ds


def _pixel_module(ds: Dataset, pixels: np.ndarray, signed: bool) -> None:
    """Pixel data of one frame (rows, cols) or several (frames, rows, cols), 16-bit greyscale."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(pixels.shape[-2]), int(pixels.shape[-1])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<i2" if signed else "<u2").tobytes()


def _save(ds: FileDataset, path: Path) -> None:
    try:
        ds.save_as(path, enforce_file_format=True)
    except OSError as exc:
        raise VolumeWriteError(f"{path}: cannot write the file ({exc}).") from exc
