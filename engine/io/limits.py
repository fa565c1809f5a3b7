"""Plausibility limits for CT headers, checked *before* any pixel array is allocated.

A corrupt or hostile header can announce a 10^12-voxel image or a 0 mm voxel; we refuse such
headers with a clear message instead of running out of memory or dividing by zero later.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.io.errors import (
    ImplausibleDimensionsError,
    ImplausibleSpacingError,
    UnknownFileError,
    UnreadablePathError,
)

#: Largest size of one array axis (a 0.25 mm whole-body scan is < 8000 slices).
MAX_AXIS = 8192
#: Largest number of voxels (3 GiB as int16).
MAX_VOXELS = 1_600_000_000
#: Voxel spacing bounds in mm (micro-CT ~0.01 mm; thick slabs ~10 mm).
MIN_SPACING_MM = 0.005
MAX_SPACING_MM = 100.0


def check_shape(shape: Sequence[int], path: str | Path) -> None:
    """Refuse non-positive, oversized or overall too large 3D shapes."""
    dims = [int(s) for s in shape]
    if any(d <= 0 for d in dims):
        raise ImplausibleDimensionsError(
            f"{path}: the header gives image dimensions {tuple(dims)}, with an empty axis; "
            "the file is damaged or not an image. Re-export the scan.",
            path,
        )
    if any(d > MAX_AXIS for d in dims) or math.prod(dims) > MAX_VOXELS:
        raise ImplausibleDimensionsError(
            f"{path}: the header gives image dimensions {tuple(dims)} "
            f"({math.prod(dims):,} voxels), beyond what a CT scan can hold "
            f"(at most {MAX_AXIS} per axis and {MAX_VOXELS:,} voxels); the header is damaged. "
            "Re-export the scan, or crop/downsample it first.",
            path,
        )


def check_spacing(spacing: Sequence[float], path: str | Path, what: str = "voxel spacing") -> None:
    """Refuse non-finite, zero, negative or absurd spacings (mm)."""
    sp = [float(s) for s in spacing]
    bad = [s for s in sp if not math.isfinite(s) or s < MIN_SPACING_MM or s > MAX_SPACING_MM]
    if bad:
        shown = ", ".join(f"{s:.6g}" for s in sp)
        raise ImplausibleSpacingError(
            f"{path}: the {what} is ({shown}) mm, outside the plausible range "
            f"{MIN_SPACING_MM}-{MAX_SPACING_MM} mm for a CT scan; the header is damaged or in "
            "the wrong units. Fix the spacing in the header (or re-export) and open it again.",
            path,
        )


def check_affine(affine: np.ndarray, path: str | Path) -> None:
    """Refuse non-finite or singular voxel-to-world matrices and absurd spacing."""
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise ImplausibleSpacingError(
            f"{path}: the voxel-to-world matrix holds non-finite values; the header is damaged. "
            "Re-export the scan.",
            path,
        )
    check_spacing(np.linalg.norm(a[:3, :3], axis=0), path)
    cols = a[:3, :3] / np.linalg.norm(a[:3, :3], axis=0)
    if abs(np.linalg.det(cols)) < 1e-3:
        raise ImplausibleSpacingError(
            f"{path}: the voxel axes in the header are (nearly) parallel, so voxels have no "
            "volume; the header is damaged. Re-export the scan.",
            path,
        )


def check_regular_file(path: str | Path) -> None:
    """Refuse anything but a regular file (or a link to one) before opening it: a FIFO
    named ``.nii.gz`` would block the first read forever, a device never ends."""
    p = Path(path)
    if p.exists() and not p.is_dir() and not p.is_file():
        raise UnknownFileError(
            f"{p}: not a regular file (a FIFO, socket or device), so it cannot hold a scan. "
            "Open a .nii/.nii.gz file or a DICOM folder.",
            p,
        )
    check_readable(p)


def check_readable(path: Path) -> None:
    """An existing file or folder that cannot be opened is said to be unreadable (not
    "not a NIfTI or DICOM file", not "no DICOM image found")."""
    try:
        if path.is_dir():
            with os.scandir(path):
                pass
        elif path.exists():
            with open(path, "rb"):
                pass
    except OSError as exc:
        raise UnreadablePathError(
            f"{path}: cannot be read ({exc.strerror or exc}). Check its permissions (and "
            "those of the folders above it) and try again.",
            path,
        ) from exc
