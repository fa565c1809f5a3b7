"""Geometry of a DICOM series: slice order, spacing checks and the voxel-to-RAS affine.

For ImageOrientationPatient = (r, c) (unit row and column direction cosines, LPS), the slice
normal is n = r x c.  Each frame's ImagePositionPatient p (the centre of its first pixel) is
projected on the normal, d = p . n, and frames are sorted by d.  With PixelSpacing =
(row spacing dr, column spacing dc) and slice spacing ds, the voxel at column i, row j,
slice k sits at (LPS)

    P(i, j, k) = p_0 + i * dc * r + j * dr * c + k * ds * n

and RAS = diag(-1, -1, 1) * LPS.  The array is built as (column, row, slice).

Checks, in order: a single frame; missing position/orientation/spacing; mixed sizes,
orientations or spacings; repeated positions (4D when every position repeats equally,
mixed otherwise); gantry tilt (positions drifting in-plane); gaps > 1.5x the median spacing
(missing slices, refused with their position named); uneven spacing (resampled to the median
with a warning up to 10% deviation, refused beyond).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.io.dicom_scan import FrameRef, SeriesRecord
from engine.io.errors import (
    FourDimensionalError,
    GantryTiltError,
    IncompleteSeriesError,
    MissingGeometryError,
    MissingPixelDataError,
    MixedSeriesError,
    NotAVolumeError,
    SpacingResampledWarning,
    UnevenSpacingError,
    UnsupportedPixelTypeError,
)
from engine.io.limits import check_shape, check_spacing
from engine.io.orient import orientation_string

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
ORIENTATION_TOL = 1e-4  # max difference between direction cosines of one series
DUPLICATE_TOL_MM = 0.005  # two frames closer than this along the normal share a position
TILT_TOL_DEG = 0.1  # in-plane drift of positions tolerated as rounding
EVEN_TOL_REL, EVEN_TOL_MM = 0.005, 0.02  # spacing deviation treated as rounding
RESAMPLE_MAX_REL = 0.10  # uneven spacing up to this is resampled, beyond refused
GAP_FACTOR = 1.5  # a step larger than this x median spacing means missing slices


@dataclass
class SeriesPlan:
    """How to assemble one series: frame order, target grid and affine."""

    frames: list[FrameRef]  # sorted along the slice normal
    positions: np.ndarray  # d of each frame relative to the first (mm, ascending)
    targets: np.ndarray | None  # slice positions to resample to (mm), or None
    shape: tuple[int, int, int]  # (columns, rows, slices) of the assembled array
    affine: np.ndarray  # voxel (column, row, slice) -> RAS mm
    source_orientation: str
    warnings: list[tuple[str, type]] = field(default_factory=list)


def plan_series(rec: SeriesRecord, where: Path) -> SeriesPlan:
    """Check a series' headers and compute its geometry; raise a VolumeReadError if unusable."""
    frames = rec.frames
    _check_pixels_present(rec, where)
    if len(frames) < 2:
        raise NotAVolumeError(
            f"{where}: series {rec.uid} holds a single image, not a 3D CT volume. Open a folder "
            "with the whole series (all its slices).",
            where,
        )
    _check_geometry_present(frames, where)
    _check_uniform(frames, where, rec.uid)
    r, c, n = _directions(frames[0])
    d = np.array([np.dot(f.position, n) for f in frames])
    order = np.argsort(d, kind="stable")
    frames = [frames[i] for i in order]
    d = d[order]
    _check_repeats(frames, d, where, rec.uid)
    pos = np.array([f.position for f in frames], dtype=np.float64)
    _check_tilt(pos, d, n, where, rec)
    steps = np.diff(d)
    median = float(np.median(steps))
    _check_gaps(frames, d, steps, median, where)

    warnings: list[tuple[str, type]] = []
    dev = np.abs(steps - median)
    targets = None
    if np.all(dev <= max(EVEN_TOL_MM, EVEN_TOL_REL * median)):
        spacing = float((d[-1] - d[0]) / (len(d) - 1))
        n_slices = len(frames)
    else:
        worst = int(np.argmax(dev))
        rel = float(dev[worst] / median)
        if rel > RESAMPLE_MAX_REL:
            raise UnevenSpacingError(
                f"{where}: slice spacing varies too much: {steps[worst]:.3f} mm between the "
                f"slices at {d[worst]:.2f} and {d[worst + 1]:.2f} mm along the slice normal "
                f"against a median of {median:.3f} mm ({rel:.0%} off; up to "
                f"{RESAMPLE_MAX_REL:.0%} is resampled). Export the series with even slice "
                "spacing and open it again.",
                where,
            )
        spacing = median
        n_slices = int(np.floor((d[-1] - d[0]) / median + 1e-6)) + 1
        targets = np.arange(n_slices) * median
        warnings.append(
            (
                f"{where}: slice spacing was uneven (up to {rel:.1%} off the median "
                f"{median:.3f} mm); the series was resampled to {n_slices} slices "
                f"{median:.3f} mm apart by linear interpolation.",
                SpacingResampledWarning,
            )
        )

    cols, rows = int(frames[0].columns), int(frames[0].rows)
    check_shape((cols, rows, n_slices), where)
    dr, dc = frames[0].pixel_spacing  # type: ignore[misc]
    check_spacing((dc, dr, spacing), where, "voxel spacing (columns, rows, slices)")
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2] = r * dc, c * dr, n * spacing
    lps[:3, 3] = pos[0]
    affine = LPS_TO_RAS @ lps
    return SeriesPlan(
        frames=frames,
        positions=d - d[0],
        targets=targets,
        shape=(cols, rows, n_slices),
        affine=affine,
        source_orientation=_stored_orientation(frames, affine, n_slices),
        warnings=warnings,
    )


def _check_pixels_present(rec: SeriesRecord, where: Path) -> None:
    if any(f.rows is None or f.columns is None for f in rec.frames):
        bad = next(f for f in rec.frames if f.rows is None or f.columns is None)
        raise MissingPixelDataError(
            f"{bad.path}: series {rec.uid} ({rec.modality or 'unknown modality'}) has no image "
            "size (Rows/Columns) although it is not a report or other non-image object: the "
            "file is truncated or damaged (its header ends before the image attributes). "
            "Export the series again.",
            bad.path,
        )
    bad_spp = [f for f in rec.frames if f.samples_per_pixel != 1]
    if bad_spp:
        raise UnsupportedPixelTypeError(
            f"{bad_spp[0].path}: {bad_spp[0].samples_per_pixel} samples per pixel (a colour "
            "image), not a greyscale CT. Open the original CT series.",
            bad_spp[0].path,
        )


def _check_geometry_present(frames: list[FrameRef], where: Path) -> None:
    for f in frames:
        missing = [
            name
            for name, value in (
                ("ImagePositionPatient", f.position),
                ("ImageOrientationPatient", f.orientation),
                ("PixelSpacing", f.pixel_spacing),
            )
            if value is None
        ]
        if missing:
            what = f"frame {f.frame + 1} of {f.path}" if f.frame is not None else str(f.path)
            raise MissingGeometryError(
                f"{what}: no {' / '.join(missing)}, so slices cannot be placed in the patient "
                "(a screenshot or secondary capture?). Open the original CT series.",
                f.path,
            )


def _check_uniform(frames: list[FrameRef], where: Path, uid: str) -> None:
    sizes = Counter((f.rows, f.columns) for f in frames)
    if len(sizes) > 1:
        shown = ", ".join(f"{r}x{c} ({k} images)" for (r, c), k in sizes.most_common())
        raise MixedSeriesError(
            f"{where}: series {uid} mixes image sizes {shown}. Open a folder holding one "
            "consistent series (e.g. re-export it) or remove the odd images.",
            where,
        )
    ori = np.array([f.orientation for f in frames])
    if np.max(np.abs(ori - ori[0])) > ORIENTATION_TOL:
        odd = frames[int(np.argmax(np.max(np.abs(ori - ori[0]), axis=1)))]
        raise MixedSeriesError(
            f"{where}: series {uid} mixes slice orientations (e.g. {odd.path.name} differs from "
            f"{frames[0].path.name}), like a localizer mixed with axial slices. Remove the odd "
            "images or export the axial series alone.",
            where,
        )
    sp = np.array([f.pixel_spacing for f in frames])
    if np.max(np.abs(sp - sp[0]) / np.maximum(np.abs(sp[0]), 1e-9)) > 1e-4:
        raise MixedSeriesError(
            f"{where}: series {uid} mixes pixel spacings ({sorted({tuple(s) for s in sp.tolist()})} "
            "mm). Open a folder holding one consistent series.",
            where,
        )


def _directions(frame: FrameRef) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    o = np.asarray(frame.orientation, dtype=np.float64)
    r, c = o[:3], o[3:]
    nr, nc = np.linalg.norm(r), np.linalg.norm(c)
    if nr < 1e-6 or nc < 1e-6 or abs(np.dot(r, c)) / (nr * nc) > 1e-3:
        raise MissingGeometryError(
            f"{frame.path}: ImageOrientationPatient {tuple(o)} is not two perpendicular unit "
            "vectors; the header is damaged. Export the series again.",
            frame.path,
        )
    r, c = r / nr, c / nc
    return r, c, np.cross(r, c)


def _check_repeats(frames: list[FrameRef], d: np.ndarray, where: Path, uid: str) -> None:
    groups = np.concatenate([[0], np.cumsum(np.diff(d) > DUPLICATE_TOL_MM)])
    counts = np.bincount(groups)
    if np.all(counts == 1):
        return
    if np.all(counts == counts[0]):
        raise FourDimensionalError(
            f"{where}: series {uid} holds {counts[0]} images at each of {len(counts)} slice "
            "positions: a 4D series (several time points or phases). Export one phase as its "
            "own series and open that.",
            where,
        )
    g = int(np.argmax(counts > 1))
    dup = [f.path.name for f, gi in zip(frames, groups) if gi == g]
    raise MixedSeriesError(
        f"{where}: series {uid} has {counts[g]} images at the same position "
        f"{d[groups == g][0]:.2f} mm along the slice normal ({', '.join(dup[:4])}): duplicate "
        "or mixed slices. Remove the duplicates or export the series again.",
        where,
    )


def _check_tilt(
    pos: np.ndarray, d: np.ndarray, n: np.ndarray, where: Path, rec: SeriesRecord
) -> None:
    """Positions must advance along the normal; in-plane drift means a tilted gantry."""
    inplane = pos - np.outer(d, n)
    drift = np.linalg.norm(inplane[-1] - inplane[0])
    angle = float(np.degrees(np.arctan2(drift, d[-1] - d[0])))
    step_drift = np.linalg.norm(np.diff(inplane, axis=0), axis=1)
    step_angle = float(np.degrees(np.max(np.arctan2(step_drift, np.diff(d)))))
    if angle > TILT_TOL_DEG or step_angle > 10 * TILT_TOL_DEG:
        tag = f"; GantryDetectorTilt = {rec.gantry_tilt:g} deg" if rec.gantry_tilt else ""
        raise GantryTiltError(
            f"{where}: series {rec.uid} was acquired with a tilted gantry: slice positions drift "
            f"{max(angle, step_angle):.2f} deg off the slice normal{tag}. ctcam does not shear "
            "volumes; reconstruct the series without tilt (or resample it to an upright grid, "
            "e.g. with 3D Slicer) and open it again.",
            where,
        )


def _check_gaps(
    frames: list[FrameRef], d: np.ndarray, steps: np.ndarray, median: float, where: Path
) -> None:
    gaps = np.flatnonzero(steps > GAP_FACTOR * median)
    if gaps.size == 0:
        return
    parts = []
    for g in gaps[:3]:
        missing = max(1, int(round(steps[g] / median)) - 1)
        a, b = frames[g], frames[g + 1]
        parts.append(
            f"about {missing} slice(s) missing between {d[g]:.2f} and {d[g + 1]:.2f} mm along the "
            f"slice normal (after {a.path.name}, before {b.path.name})"
        )
    more = f" and {gaps.size - 3} more gaps" if gaps.size > 3 else ""
    raise IncompleteSeriesError(
        f"{where}: the series is incomplete: {'; '.join(parts)}{more} (median spacing "
        f"{median:.3f} mm). Copy the whole series (all files) and open it again.",
        where,
    )


def _stored_orientation(frames: list[FrameRef], affine: np.ndarray, n_slices: int) -> str:
    """Axis codes as stored: slice direction follows InstanceNumber order when known."""
    inst = [f.instance for f in frames]
    stored = affine
    if None not in inst and len(set(inst)) == len(inst) and inst[0] > inst[-1]:
        stored = affine.copy()
        stored[:3, 2] = -affine[:3, 2]
    return orientation_string(stored)
