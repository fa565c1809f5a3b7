"""Organ maps from a phantom's truth or from a user's label map (file or array), with code
mappings (ctcam, TotalSegmentator) and nearest-neighbour resampling in world coordinates."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import CTCamError
from engine.labels import ORGAN_CODES
from engine.volume import CTVolume, canonicalize

RIGHT, HEART, LEFT = ORGAN_CODES["right_lung"], ORGAN_CODES["heart"], ORGAN_CODES["left_lung"]

# Code mappings: label value in the file -> organ code.
#
# "totalsegmentator": the "total" task of TotalSegmentator v2 (>= 2.0; class ids from
#   totalsegmentator/map_to_binary.py, class_map["total"], github.com/wasserth/TotalSegmentator):
#   10 lung_upper_lobe_left, 11 lung_lower_lobe_left -> left lung; 12 lung_upper_lobe_right,
#   13 lung_middle_lobe_right, 14 lung_lower_lobe_right -> right lung; 51 heart -> heart.
# "totalsegmentator_v1": TotalSegmentator 1.x (class_map["total_v1"]): 13, 14 left lobes;
#   15, 16, 17 right lobes; 44 heart_myocardium, 45-48 heart atria/ventricles -> heart.
# "ctcam": our own codes (1 right lung, 2 heart, 3 left lung), e.g. a phantom's organs.nii.gz.
MAPPINGS: dict[str, dict[int, int]] = {
    "ctcam": {RIGHT: RIGHT, HEART: HEART, LEFT: LEFT},
    "totalsegmentator": {10: LEFT, 11: LEFT, 12: RIGHT, 13: RIGHT, 14: RIGHT, 51: HEART},
    "totalsegmentator_v1": {13: LEFT, 14: LEFT, 15: RIGHT, 16: RIGHT, 17: RIGHT, 44: HEART, 45: HEART, 46: HEART, 47: HEART, 48: HEART},
}


class OrganMapError(CTCamError):
    """A label-map file or array that cannot be used as an organ map."""


def from_phantom(case) -> np.ndarray:
    """The exact organ map of a :class:`engine.phantom.PhantomCase`."""
    return np.asarray(case.organs, dtype=np.uint8).copy()


def _lut(mapping: dict[int, int], max_value: int) -> np.ndarray:
    lut = np.zeros(max_value + 1, np.uint8)
    for k, v in mapping.items():
        if 0 <= int(k) <= max_value:
            lut[int(k)] = int(v)
    return lut


def from_labelmap(path_or_array, volume: CTVolume, mapping: dict[int, int] | str = "ctcam") -> np.ndarray:
    """Organ map on ``volume``'s grid from a label map.

    ``path_or_array``: a NIfTI label map (any orientation; its own affine is used, and it is
    resampled to the scan grid by nearest neighbour through world coordinates), or an array
    already on the scan grid (same shape as ``volume.hu``).  ``mapping``: a preset name of
    :data:`MAPPINGS` or a dict {file value: organ code}; unmapped values become 0.
    """
    if isinstance(mapping, str):
        if mapping not in MAPPINGS:
            raise OrganMapError(f"unknown label-map mapping {mapping!r}; use one of {sorted(MAPPINGS)} or a dict of codes.")
        mapping = MAPPINGS[mapping]
    if isinstance(path_or_array, (str, Path)):
        data, affine = _read_labelmap(Path(path_or_array))
        where = str(path_or_array)
    else:
        data = np.asarray(path_or_array)
        affine = None
        where = "the label-map array"
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise OrganMapError(f"{where}: a label map must be 3D, got shape {data.shape}. Export one 3D integer label volume.")
    if data.dtype.kind == "f":
        if not np.all(np.isfinite(data)) or not np.all(data == np.round(data)):
            raise OrganMapError(f"{where}: label values must be whole numbers, found fractional or non-finite values. Save the label map as an integer image.")
    data = data.astype(np.int64)
    if data.size and data.min() < 0:
        raise OrganMapError(f"{where}: label values must not be negative (found {int(data.min())}).")
    if affine is None:
        if data.shape != volume.shape:
            raise OrganMapError(
                f"{where}: shape {data.shape} differs from the scan's {volume.shape}; pass a NIfTI file (with its affine) or an array on the scan grid."
            )
        resampled = data
    else:
        data, affine = canonicalize(data, affine)
        m = np.linalg.inv(affine) @ volume.affine
        if data.shape == volume.shape and np.allclose(m, np.eye(4), atol=1e-4):
            resampled = data  # on the scan's grid already (e.g. the demo's organs.nii.gz)
        else:
            resampled = _nearest(data, m, volume.shape)
    lut = _lut(mapping, int(resampled.max()) if resampled.size else 0)
    return lut[resampled]


def _nearest(data: np.ndarray, m: np.ndarray, shape) -> np.ndarray:
    """Nearest-neighbour resampling: out[ijk] = data[rint(m @ ijk)], 0 outside ``data``.

    ``m`` maps output voxel indices to input voxel indices (scan voxel -> world -> label
    voxel).  Done one output slice at a time to bound memory.
    """
    out = np.zeros(shape, data.dtype)
    gi, gj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    base = m[:3, 0, None, None] * gi + m[:3, 1, None, None] * gj + m[:3, 3, None, None]  # (3, ni, nj)
    lim = np.array(data.shape)[:, None, None]
    for k in range(shape[2]):
        idx = np.rint(base + m[:3, 2, None, None] * k).astype(np.int64)
        ok = np.all((idx >= 0) & (idx < lim), axis=0)
        out[:, :, k][ok] = data[idx[0][ok], idx[1][ok], idx[2][ok]]
    return out


def _read_labelmap(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from engine.io.nifti_limits import load_bounded

    if not path.exists():
        raise OrganMapError(f"{path}: no such file. Check the path of the label map.")
    try:
        img = load_bounded(path)  # size announced by the header checked before reading
        data = np.asarray(img.dataobj)
        affine = img.affine
    except Exception as exc:  # nibabel raises many types for bad files
        raise OrganMapError(f"{path}: not a readable NIfTI label map ({exc}). Export the label map as .nii or .nii.gz.") from exc
    if affine is None or not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise OrganMapError(f"{path}: the label map has no usable affine (voxel to world). Re-export it with its geometry.")
    return data, np.asarray(affine, float)
