"""CTVolume: a CT scan as an int16 HU array with an exact voxel-to-RAS affine.

Conventions (docs/architecture.md, "Geometry and display conventions")
------------------------------
* World coordinates are patient **RAS+** millimetres (NIfTI's convention): +x toward the
  patient's Right, +y toward Anterior, +z toward Superior.  DICOM's LPS is converted on load
  (x and y negated).  A lesion in the patient's *left* lung therefore has a smaller x than
  one in the right lung.
* Canonical array order: every reader reorients the array, by axis permutations and flips
  only (so the affine stays exact), to the order closest to RAS+:
  ``nibabel.aff2axcodes(affine) == ("R", "A", "S")``.  Index i grows toward the patient's
  Right, j toward Anterior, k toward Superior.  Axis 2 is the axial (slice) axis.
* ``affine`` maps a voxel index (i, j, k, 1) to RAS mm; a voxel index refers to the voxel's
  centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

AXIS_CODES = ("R", "A", "S")
OPPOSITE = {"R": "L", "L": "R", "A": "P", "P": "A", "S": "I", "I": "S"}


def axcodes(affine: np.ndarray) -> tuple[str, str, str]:
    """Direction (RAS letters) toward which each array index grows, from an affine."""
    rot = np.asarray(affine, dtype=float)[:3, :3]
    codes = []
    for col in range(3):
        v = rot[:, col]
        ax = int(np.argmax(np.abs(v)))
        pos = AXIS_CODES[ax]
        codes.append(pos if v[ax] > 0 else OPPOSITE[pos])
    return tuple(codes)  # type: ignore[return-value]


def canonicalize(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Permute/flip ``data`` (first 3 axes) to RAS+ order, returning the exact new affine.

    Works on arrays with extra trailing axes too.  No interpolation happens.
    """
    affine = np.asarray(affine, dtype=np.float64)
    rot = affine[:3, :3]
    # Which world axis each array axis mostly follows; resolve ties greedily.
    order = [-1, -1, -1]
    used: set[int] = set()
    mags = np.abs(rot)
    for _ in range(3):
        masked = mags.copy()
        for c in range(3):
            if order[c] >= 0:
                masked[:, c] = -1
        for r in used:
            masked[r, :] = -1
        r, c = np.unravel_index(int(np.argmax(masked)), masked.shape)
        order[c] = int(r)
        used.add(int(r))
    # perm[w] = array axis that follows world axis w
    perm = [order.index(w) for w in range(3)]
    shape = data.shape
    out = np.transpose(data, perm + list(range(3, data.ndim)))
    new_aff = affine.copy()
    new_aff[:, :3] = affine[:, perm]
    for w in range(3):
        if new_aff[w, w] < 0:
            n = shape[perm[w]]
            out = np.flip(out, axis=w)
            # index i' = n-1-i  =>  x = A(:,w)*(n-1-i') ...
            new_aff[:, 3] = new_aff[:, 3] + new_aff[:, w] * (n - 1)
            new_aff[:, w] = -new_aff[:, w]
    return np.ascontiguousarray(out), new_aff


@dataclass
class CTVolume:
    """A CT scan in canonical (RAS+) array order.

    Attributes
    ----------
    hu:
        int16 array (I, J, K) of Hounsfield units; axis 2 is axial.
    affine:
        4x4 float64, voxel index -> patient RAS mm.
    meta:
        Source metadata: ``source_path``, ``source_format`` ("nifti" | "dicom"),
        ``source_orientation`` (axis codes of the file as stored, e.g. "LPS"),
        ``modality``, ``series_uid``, ``patient_id``, ``warnings`` (list of str), ...
    """

    hu: np.ndarray
    affine: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.hu.ndim != 3:
            raise ValueError(f"CTVolume needs a 3D array, got shape {self.hu.shape}")
        if self.hu.dtype != np.int16:
            self.hu = np.clip(np.rint(self.hu), -32768, 32767).astype(np.int16)
        self.affine = np.asarray(self.affine, dtype=np.float64).reshape(4, 4)
        self.meta.setdefault("warnings", [])

    # -- geometry -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.hu.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along each array axis (column norms of the affine)."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def axcodes(self) -> tuple[str, str, str]:
        return axcodes(self.affine)

    def world(self, ijk: np.ndarray) -> np.ndarray:
        """Voxel indices (..., 3) -> RAS mm (..., 3)."""
        ijk = np.asarray(ijk, dtype=np.float64)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def index(self, ras: np.ndarray) -> np.ndarray:
        """RAS mm (..., 3) -> continuous voxel indices (..., 3)."""
        ras = np.asarray(ras, dtype=np.float64)
        inv = np.linalg.inv(self.affine)
        return ras @ inv[:3, :3].T + inv[:3, 3]

    def center_world(self) -> np.ndarray:
        return self.world((np.array(self.shape) - 1) / 2.0)

    @property
    def nbytes(self) -> int:
        return int(self.hu.nbytes)

    def __repr__(self) -> str:  # keep arrays out of reprs
        sp = ", ".join(f"{s:.3g}" for s in self.spacing)
        return f"CTVolume(shape={self.shape}, spacing=({sp}) mm, source={self.meta.get('source_path')!r})"
