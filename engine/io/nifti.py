"""NIfTI (.nii, .nii.gz) reading and writing with exact affines.

Reading
-------
1. The header is sniffed and checked *before* any voxel is read: dimensions (2D, single slice,
   4D, absurd sizes), data type, the voxel-to-world affine and, for uncompressed files, that
   the file is long enough for the data it announces.
2. The affine is the **sform** when ``sform_code > 0``, else the **qform** when
   ``qform_code > 0``, else nibabel's pixdim-only (Analyze) affine with a warning.  Spatial
   units in metres or microns are converted to mm.
3. Voxels are read in slabs along the third axis (contiguous on disk), scaled by
   ``scl_slope``/``scl_inter`` (nibabel applies them: ``value = stored * slope + inter``),
   checked for NaN/inf, rounded to int16 HU.
4. :func:`engine.volume.canonicalize` reorders the array to RAS+ by permutations and flips
   only, so the affine stays exact (``meta["source_orientation"]`` keeps the stored order).

Writing
-------
:func:`write_nifti` stores any 3D array with the given affine in both the sform (code 1,
scanner) and, when it has no shear, the qform (code 1); NIfTI-1 stores both in float32.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np

from engine.io.errors import (
    CorruptFileError,
    FourDimensionalError,
    HeaderRepairedWarning,
    MissingOrientationWarning,
    NotAVolumeError,
    PathNotFoundError,
    TruncatedFileError,
    UnknownFileError,
    UnsupportedPixelTypeError,
    VolumeReadError,
    VolumeWriteError,
)
from engine.io.hu import HUConverter
from engine.io.limits import check_affine, check_shape
from engine.io.nibabel_log import NibabelLog as _NibabelLog
from engine.io.nifti_limits import CappedStream, check_data_size, check_single_file
from engine.io.orient import orientation_string, reorient
from engine.io.progress import drive
from engine.io.warn import warn_and_record
from engine.progress import Progress
from engine.volume import CTVolume, canonicalize

NIFTI_SUFFIXES = (".nii", ".nii.gz")
_UNIT_TO_MM = {1: 1000.0, 2: 1.0, 3: 0.001}  # NIfTI xyz unit code -> mm factor
_NIFTI2_MAGIC = b"n+2\x00\r\n\x1a\n"
_HEAD_BYTES = 540
_SLAB_VOXELS = 8_000_000  # voxels read at once (float64 scratch ~64 MB)


def is_nifti_name(path: str | Path) -> bool:
    name = Path(path).name.lower()
    return name.endswith(NIFTI_SUFFIXES)


def read_nifti(path: str | Path, *, progress=None, cancel=None) -> CTVolume:
    """Read a NIfTI file as a canonical (RAS+) :class:`CTVolume` of int16 HU."""
    return drive(iter_read_nifti(path), progress, cancel)


def iter_read_nifti(path: str | Path) -> Generator[Progress, None, CTVolume]:
    """Generator form of :func:`read_nifti`: yields Progress, returns the CTVolume."""
    path = Path(path)
    if not path.is_file():
        raise PathNotFoundError(f"{path}: no such file. Check the path and try again.", path)
    yield Progress("load", 0.0, f"Reading {path.name}")
    with _open(path) as (img, fixes, stream):
        hdr = img.header
        shape, affine, warnings, stream.limit = _inspect_header(img, path, stream.gz)
        if fixes:
            text = "; ".join(dict.fromkeys(fixes))
            warnings.append(
                (f"{path}: invalid header fields were reset: {text}.", HeaderRepairedWarning)
            )
        conv = HUConverter(path)
        hu = yield from _iter_voxels(img, shape, conv, path)

    data, canon = canonicalize(hu, affine)
    meta = {
        "source_path": str(path),
        "source_format": "nifti",
        "source_orientation": orientation_string(affine),
        "source_shape": shape,
        "modality": None,  # NIfTI does not record it
        "series_uid": None,
        "series_description": _descrip(hdr),
        "patient_id": None,
        "warnings": [],
    }
    vol = CTVolume(data, canon, meta)
    for text, category in warnings + conv.warnings():
        warn_and_record(vol, text, category)
    return vol


# -- header checks -------------------------------------------------------------------------------
def _read_head(path: Path) -> tuple[bool, bytes]:
    """(is gzip, first bytes of the decompressed stream); damaged compression refused."""
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    if not head.startswith(b"\x1f\x8b"):
        check_single_file(head, path)
        return False, head
    try:
        with gzip.open(path, "rb") as g:
            head = g.read(_HEAD_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(
            f"{path}: the gzip compression is damaged ({exc}). Copy or export the file again.",
            path,
        ) from exc
    check_single_file(head, path)
    if len(head) < 348:
        raise TruncatedFileError(
            f"{path}: the file ends inside its NIfTI header ({len(head)} of 348 bytes). Copy or "
            "export the file again.",
            path,
        )
    return True, head


def _iter_voxels(
    img, shape: tuple[int, int, int], conv: HUConverter, path: Path
) -> Generator[Progress, None, np.ndarray]:
    """int16 HU array read in slabs along the third axis (contiguous on disk)."""
    ni, nj, nk = shape
    step = max(1, min(math.ceil(nk / 20), _SLAB_VOXELS // max(1, ni * nj)))
    hu = np.empty(shape, dtype=np.int16)
    extra = (0,) * (len(img.header.get_data_shape()) - 3)
    for k0 in range(0, nk, step):
        k1 = min(nk, k0 + step)
        index = (slice(None), slice(None), slice(k0, k1)) + extra
        hu[:, :, k0:k1] = conv(_read_slab(img, index, path))
        yield Progress("load", k1 / nk, f"Reading {path.name}: slice {k1}/{nk}")
    return hu


@contextmanager
def _open(path: Path) -> Iterator[tuple[nib.Nifti1Image, list[str], CappedStream]]:
    """The image on one open file object (gzip or plain), closed when the block ends.

    Reading slabs through one open stream keeps gzip seeks forward-only (re-opening per slab
    would decompress from the start each time).  nibabel's header fixes are collected.
    """
    gz, head = _read_head(path)
    with gzip.open(path, "rb") if gz else open(path, "rb") as raw:
        fobj = CappedStream(raw, path)  # limited to the announced size once it is checked
        fobj.gz = gz
        klass = nib.Nifti2Image if head[4:12] == _NIFTI2_MAGIC else nib.Nifti1Image
        with _NibabelLog() as log:
            img = _from_stream(klass, fobj, path)
        yield img, log.messages, fobj


def _from_stream(klass, fobj, path: Path):
    try:
        return klass.from_file_map({"image": nib.FileHolder(str(path), fobj)})
    except FileNotFoundError as exc:
        raise PathNotFoundError(
            f"{path}: no such file. Check the path and try again.", path
        ) from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise TruncatedFileError(
            f"{path}: the file ends early or its compression is damaged ({exc}). "
            "Copy or export the file again.",
            path,
        ) from exc
    except nib.filebasedimages.ImageFileError as exc:
        if is_nifti_name(path):
            raise CorruptFileError(
                f"{path}: named like a NIfTI file but its header is not a valid NIfTI header "
                f"({exc}). Re-export the scan as NIfTI or open the original DICOM folder.",
                path,
            ) from exc
        raise UnknownFileError(
            f"{path}: not a NIfTI file. Open a .nii/.nii.gz file or a DICOM folder.", path
        ) from exc
    except Exception as exc:  # nibabel raises many types on garbage headers
        raise CorruptFileError(
            f"{path}: the NIfTI header cannot be decoded ({type(exc).__name__}: {exc}). "
            "The file is damaged; re-export the scan.",
            path,
        ) from exc


def _inspect_header(img, path: Path, gz: bool) -> tuple[tuple[int, int, int], np.ndarray, list, int]:
    """Shape, affine, warnings and the announced data size from the header; every check
    done before reading voxels (sizes: :mod:`engine.io.nifti_limits`)."""
    hdr = img.header
    try:
        shape = _check_dims(hdr.get_data_shape(), path)
        _check_dtype(hdr.get_data_dtype(), path)
        affine, warnings = _best_affine(hdr, path)
        check_affine(affine, path)
        needed = check_data_size(img, path, gz=gz)
    except VolumeReadError:
        raise
    except Exception as exc:  # nibabel accessors raise many types on damaged fields
        raise CorruptFileError(
            f"{path}: a NIfTI header field cannot be decoded ({type(exc).__name__}: {exc}). "
            "The file is damaged; re-export the scan.",
            path,
        ) from exc
    return shape, affine, warnings, needed


def _check_dims(full_shape: tuple[int, ...], path: Path) -> tuple[int, int, int]:
    dims = tuple(int(d) for d in full_shape)
    if len(dims) < 3:
        raise NotAVolumeError(
            f"{path}: a {len(dims)}D image of shape {dims}, not a 3D CT volume. "
            "Open a scan with many slices.",
            path,
        )
    check_shape(dims[:3], path)
    if len(dims) > 3 and math.prod(dims[3:]) > 1:
        raise FourDimensionalError(
            f"{path}: a {len(dims)}D image of shape {dims} ({math.prod(dims[3:])} volumes). ctcam opens one "
            "3D CT volume; split it first (e.g. fslsplit or nibabel) and open one volume.",
            path,
        )
    if sum(d > 1 for d in dims[:3]) < 3:
        raise NotAVolumeError(
            f"{path}: shape {dims[:3]} is a single slice or 2D image, not a 3D CT volume. "
            "Open the whole scan.",
            path,
        )
    return dims[:3]  # type: ignore[return-value]


def _check_dtype(dtype: np.dtype, path: Path) -> None:
    dtype = np.dtype(dtype)
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise UnsupportedPixelTypeError(
            f"{path}: voxels of type {dtype} (colour or complex), not scalar CT values in HU. "
            "Open a greyscale CT scan.",
            path,
        )


def _best_affine(hdr, path: Path) -> tuple[np.ndarray, list[tuple[str, type]]]:
    """sform if its code > 0, else qform if its code > 0, else the pixdim-only affine."""
    warnings: list[tuple[str, type]] = []
    sform, scode = hdr.get_sform(coded=True)
    qform, qcode = hdr.get_qform(coded=True)
    if sform is not None and scode > 0:
        affine = np.asarray(sform, dtype=np.float64)
    elif qform is not None and qcode > 0:
        affine = np.asarray(qform, dtype=np.float64)
    else:
        affine = np.asarray(hdr.get_base_affine(), dtype=np.float64)
        warnings.append(
            (
                f"{path}: the header has neither sform nor qform; orientation was guessed from "
                "the voxel sizes (Analyze convention, may be left-right flipped). Check the "
                "orientation letters before trusting left/right.",
                MissingOrientationWarning,
            )
        )
    unit_code = int(hdr["xyzt_units"]) & 7  # 1 metre, 2 mm, 3 micron; others: assume mm
    affine[:3, :] *= _UNIT_TO_MM.get(unit_code, 1.0)
    return affine, warnings


def _read_slab(img, index: tuple, path: Path) -> np.ndarray:
    try:
        return np.asarray(img.dataobj[index])
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise TruncatedFileError(
            f"{path}: the image data ends early or its compression is damaged ({exc}). "
            "Copy or export the file again.",
            path,
        ) from exc
    except ValueError as exc:
        raise CorruptFileError(
            f"{path}: the image data cannot be decoded ({exc}). The file is damaged; "
            "export it again.",
            path,
        ) from exc


def _descrip(hdr) -> str | None:
    try:
        text = bytes(hdr["descrip"]).split(b"\0", 1)[0].decode("latin-1").strip()
    except Exception:  # a damaged description is not worth failing for
        return None
    return text or None


# -- writing -------------------------------------------------------------------------------------
def write_nifti(path: str | Path, data: np.ndarray, affine: np.ndarray, *, dtype=None) -> Path:
    """Write a 3D array with ``affine`` (voxel -> RAS mm) as NIfTI-1.

    ``dtype`` (e.g. ``np.float32`` heat maps, ``np.uint8`` label maps) defaults to the array's
    own (bool -> uint8).  Float data written as an integer type is rounded and clipped.  The
    affine goes into the sform with code 1 (scanner) and, when it has no shear, into the
    qform with code 1 too.  The file is written beside its target and renamed, so a failed
    export never leaves half a file.
    """
    path = Path(path)
    if not is_nifti_name(path):
        raise VolumeWriteError(f"{path}: a NIfTI file name must end in .nii or .nii.gz.")
    arr = np.asarray(data)
    if arr.ndim != 3:
        raise VolumeWriteError(f"{path}: can only write a 3D array, got shape {arr.shape}.")
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise VolumeWriteError(f"{path}: the affine must be a finite 4x4 matrix.")
    arr = _cast(arr, dtype)

    img = nib.Nifti1Image(arr, None)
    hdr = img.header
    hdr.set_data_dtype(arr.dtype)
    hdr.set_zooms(np.linalg.norm(affine[:3, :3], axis=0))
    try:
        with np.errstate(all="ignore"):  # singular affines warn inside nibabel
            img.set_qform(affine, code=1, strip_shears=False)
    except (nib.spatialimages.HeaderDataError, np.linalg.LinAlgError):
        img.set_qform(None, code=0)  # sheared or singular: only the sform can hold it
    img.set_sform(affine, code=1)
    hdr.set_xyzt_units("mm", "sec")
    hdr["scl_slope"] = 1.0
    hdr["scl_inter"] = 0.0
    hdr["descrip"] = b"ctcam"

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".~{os.getpid()}-{path.name}")
    try:
        nib.save(img, str(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise VolumeWriteError(f"{path}: cannot write the file ({exc}).") from exc
    return path


def write_volume(path: str | Path, vol: CTVolume, *, orientation: str | None = None) -> Path:
    """Write a CTVolume's int16 HU as NIfTI, optionally stored in another axis order.

    ``orientation`` (e.g. ``"LPS"``) reorders the array exactly before writing; the world
    coordinates of every voxel are unchanged.
    """
    data, affine = vol.hu, vol.affine
    if orientation is not None:
        data, affine = reorient(data, affine, orientation)
    return write_nifti(path, data, affine, dtype=np.int16)


def _cast(arr: np.ndarray, dtype) -> np.ndarray:
    if arr.dtype == bool and dtype is None:
        dtype = np.uint8
    if dtype is None:
        return arr
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and arr.dtype.kind == "f":
        info = np.iinfo(dtype)
        arr = np.clip(np.rint(arr), info.min, info.max)
    return arr.astype(dtype, copy=False)
