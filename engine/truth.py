"""Ground truth beside a scan: which labels are truly present and where their lesions are.

Sources (all resampled into the scan's frame through world coordinates, nearest neighbour, so
a mask written on another grid lands on the same anatomy):

* a truth folder: ``labels.json`` + ``masks/<organ>/<abnormality>.nii.gz``, as written by
  ``ctcam phantom`` and shipped with the demo case (``engine.phantom.case``);
* one lesion mask (NIfTI, non-zero = lesion); its label comes from its name
  (``masks/left_lung/nodule.nii.gz``, ``left_lung__nodule.nii.gz``) or is its file stem;
* a lesion label map (NIfTI, one value per lesion) with an optional sidecar
  ``<name>.json`` ``{"1": "left_lung/nodule", ...}``.

Bad files raise :class:`TruthError` with a message naming the file; a mask that lies outside
the scan (made for another scan, or a wrong affine) is refused, never drawn somewhere else.

Readouts (threshold-free, on the model's map grid): the share of a map's positive mass inside
the true lesion (each cell weighted by the fraction of its volume the lesion fills) and the
distance in mm from the map's peak cell centre to the nearest lesion voxel (0 inside it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import CTCamError


class TruthError(CTCamError):
    """A ground-truth file that cannot be used for this scan."""


@dataclass
class GroundTruth:
    """``present``: label -> truly present, for every label the source knows (labels it does
    not list are unknown); ``masks``: label -> bool array on the scan grid."""

    source: str
    present: dict[str, bool] = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def merged(self, other: GroundTruth) -> GroundTruth:
        return GroundTruth(f"{self.source}; {other.source}", {**self.present, **other.present},
                           {**self.masks, **other.masks}, self.warnings + other.warnings)


def find_truth_folder(scan_path: str | Path | None) -> Path | None:
    """The folder holding ``labels.json`` beside a scan file or DICOM folder (a phantom's
    ``case.nii.gz`` or ``dicom/``), or None."""
    if not scan_path:
        return None
    p = Path(scan_path)
    for d in ([p] if p.is_dir() else []) + [p.parent]:
        if (d / "labels.json").is_file():
            return d
    return None


def shipped_organ_map(scan_path: str | Path | None) -> str | None:
    """The organ map that ships with a scan (ctcam codes), or None: ``organs.nii.gz`` in the
    phantom folder of :func:`find_truth_folder` (the bundled demo, ``ctcam phantom --out``).
    The viewer uses it instead of segmenting; ``ctcam explain`` only with ``--organs``."""
    folder = find_truth_folder(scan_path)
    return str(folder / "organs.nii.gz") if folder is not None and (folder / "organs.nii.gz").is_file() else None


def _read_nifti(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from engine.io.nifti_limits import load_bounded

    if not path.is_file():
        raise TruthError(f"{path}: no such file. Check the path of the lesion mask.")
    try:
        img = load_bounded(path)
        data = np.asarray(img.dataobj)
        affine = np.asarray(img.affine, float)
    except Exception as exc:  # nibabel raises many types for bad files
        raise TruthError(f"{path}: not a readable NIfTI mask ({exc}). Save the mask as .nii or .nii.gz.") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise TruthError(f"{path}: a lesion mask must be 3D, got shape {data.shape}.")
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise TruthError(f"{path}: the mask has no usable affine (voxel to world). Re-export it with its geometry.")
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise TruthError(f"{path}: the mask holds non-finite values (NaN or infinity).")
    return data, affine


def resample_nearest(data: np.ndarray, affine: np.ndarray, volume) -> np.ndarray:
    """``data`` (with its voxel -> RAS affine) on ``volume``'s grid: each scan voxel takes the
    value of the data voxel whose centre is nearest its own centre (0 outside the data)."""
    m = np.linalg.inv(affine) @ volume.affine  # scan voxel -> data voxel
    shape = volume.shape
    if data.shape == shape and np.allclose(m, np.eye(4), atol=1e-6):
        return np.asarray(data).copy()
    out = np.zeros(shape, data.dtype)
    gi, gj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    base = m[:3, 0, None, None] * gi + m[:3, 1, None, None] * gj + m[:3, 3, None, None]
    lim = np.array(data.shape)[:, None, None]
    for k in range(shape[2]):
        idx = np.floor(base + m[:3, 2, None, None] * k + 0.5).astype(np.int64)
        ok = np.all((idx >= 0) & (idx < lim), axis=0)
        out[:, :, k][ok] = data[idx[0][ok], idx[1][ok], idx[2][ok]]
    return out


def _extent(data_mask: np.ndarray, affine: np.ndarray) -> str:
    ijk = np.argwhere(data_mask)
    w = ijk @ affine[:3, :3].T + affine[:3, 3]
    lo, hi = w.min(axis=0), w.max(axis=0)
    return ", ".join(f"{a} {lo[i]:.0f}..{hi[i]:.0f}" for i, a in enumerate("RAS"))


def _scan_extent(volume) -> str:
    corners = np.array([[i, j, k] for i in (0, volume.shape[0] - 1) for j in (0, volume.shape[1] - 1)
                        for k in (0, volume.shape[2] - 1)], float)
    w = volume.world(corners)
    lo, hi = w.min(axis=0), w.max(axis=0)
    return ", ".join(f"{a} {lo[i]:.0f}..{hi[i]:.0f}" for i, a in enumerate("RAS"))


def _on_scan(path: Path, data: np.ndarray, affine: np.ndarray, volume, warnings: list[str]) -> np.ndarray:
    """Resample, refusing a mask none of whose voxels falls in the scan."""
    src = data != 0
    n_src = int(src.sum())
    if n_src == 0:
        raise TruthError(f"{path}: the mask is empty (no non-zero voxel).")
    out = resample_nearest(data, affine, volume)
    if not np.any(out != 0):
        raise TruthError(
            f"{path}: none of its {n_src} lesion voxels falls inside the scan (mask spans "
            f"{_extent(src, affine)} mm RAS; the scan spans {_scan_extent(volume)} mm). It was made "
            "for another scan, or its affine is wrong.")
    if data.shape != volume.shape or not np.allclose(affine, volume.affine, atol=1e-3):
        warnings.append(f"{path.name}: on a different grid ({data.shape}) than the scan "
                        f"({volume.shape}); resampled by nearest neighbour in world coordinates.")
    return out


def label_from_name(path: Path) -> str:
    """``.../left_lung/nodule.nii.gz`` or ``left_lung__nodule.nii.gz`` -> ``left_lung/nodule``;
    otherwise the file stem."""
    stem = path.name
    for ext in (".nii.gz", ".nii"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    if "__" in stem:
        return stem.replace("__", "/", 1)
    parent = path.parent.name
    if parent and (path.parent.parent.name == "masks" or parent.endswith("lung") or parent == "heart"):
        return f"{parent}/{stem}"
    return stem


def read_mask(path: str | Path, volume, label: str | None = None) -> GroundTruth:
    """One lesion mask (non-zero = lesion) on ``volume``'s grid."""
    p = Path(path)
    data, affine = _read_nifti(p)
    warnings: list[str] = []
    mask = _on_scan(p, data, affine, volume, warnings) != 0
    name = label or label_from_name(p)
    return GroundTruth(str(p), {name: True}, {name: mask}, warnings)


def read_label_map(path: str | Path, volume) -> GroundTruth:
    """A lesion label map: each non-zero value one lesion, named by the sidecar JSON
    (``<stem>.json``: ``{"1": "left_lung/nodule"}``) or ``lesion <value>``."""
    p = Path(path)
    data, affine = _read_nifti(p)
    if data.dtype.kind == "f" and not np.all(data == np.round(data)):
        raise TruthError(f"{p}: label values must be whole numbers. Save the label map as an integer image.")
    warnings: list[str] = []
    on_scan = _on_scan(p, data.astype(np.int64), affine, volume, warnings)
    stem = p.name[: -len(".nii.gz")] if p.name.endswith(".nii.gz") else p.stem
    names: dict[str, str] = {}
    side = p.with_name(stem + ".json")
    if side.is_file():
        try:
            names = {str(k): str(v) for k, v in json.loads(side.read_text(encoding="utf-8")).items()}
        except (OSError, ValueError, AttributeError) as exc:
            raise TruthError(f"{side}: not a JSON object of value -> label ({exc}).") from exc
    masks = {names.get(str(int(v)), f"lesion {int(v)}"): on_scan == v for v in np.unique(on_scan) if v != 0}
    return GroundTruth(str(p), {k: True for k in masks}, masks, warnings)


def read_truth_folder(folder: str | Path, volume) -> GroundTruth:
    """``labels.json`` + its masks (``ctcam phantom`` output, the demo case)."""
    d = Path(folder)
    doc_path = d / "labels.json" if d.is_dir() else d
    d = doc_path.parent
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
        labels = {str(k): bool(v) for k, v in doc["labels"].items()}
        rel = {str(k): str(v) for k, v in (doc.get("masks") or {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TruthError(f"{doc_path}: not a ctcam truth file ({type(exc).__name__}: {exc}); it needs "
                         '{"labels": {label: 0 | 1}, "masks": {label: path}}.') from exc
    truth = GroundTruth(str(doc_path), labels)
    for lab, r in sorted(rel.items()):
        if labels.get(lab):
            got = read_mask(d / r, volume, lab)
            truth.masks[lab] = got.masks[lab]
            truth.warnings += got.warnings
    return truth


def read_truth(path: str | Path, volume) -> GroundTruth:
    """Dispatch: a folder or ``labels.json``; a label map (values other than 0/1); a mask."""
    p = Path(path)
    if p.is_dir() or p.name.endswith(".json"):
        return read_truth_folder(p, volume)
    data, _ = _read_nifti(p)
    if np.unique(data).size > 2:
        return read_label_map(p, volume)
    return read_mask(p, volume)


# -- readouts --------------------------------------------------------------------------------

def mask_box(mask: np.ndarray, pad: int = 0) -> tuple[slice, ...] | None:
    """The bounding box of a 3D mask's True voxels, ``pad`` voxels wider on every side
    (clipped to the array); None for an empty mask."""
    box = []
    for axis in range(3):
        hit = np.nonzero(mask.any(tuple(a for a in range(3) if a != axis)))[0]
        if not len(hit):
            return None
        box.append(slice(max(0, int(hit[0]) - pad), min(mask.shape[axis], int(hit[-1]) + 1 + pad)))
    return tuple(box)


def mask_voxels(mask: np.ndarray) -> np.ndarray:
    """``np.argwhere(mask)`` (same rows, same order), searched only inside the mask's bounding
    box: a lesion fills a tiny part of the scan, and argwhere over the whole grid holds the
    GIL (the viewer computes these readouts in a thread beside the GUI)."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 3:
        return np.argwhere(mask)
    box = mask_box(mask)
    if box is None:
        return np.zeros((0, 3), np.int64)
    return np.argwhere(mask[box]) + np.array([b.start for b in box], np.int64)


def lesion_fraction(mask: np.ndarray, scan_affine: np.ndarray, map_affine: np.ndarray, map_shape) -> np.ndarray:
    """Fraction (0..1) of each map cell's volume the lesion fills (scan voxels counted in the
    cell whose centre is nearest theirs)."""
    ijk = mask_voxels(mask)
    frac = np.zeros(int(np.prod(map_shape)), np.float64)
    if len(ijk) == 0:
        return frac.reshape(map_shape)
    m = np.linalg.inv(map_affine) @ scan_affine
    cell = np.floor(ijk @ m[:3, :3].T + m[:3, 3] + 0.5).astype(np.int64)
    ok = np.all((cell >= 0) & (cell < np.asarray(map_shape)), axis=1)
    flat = np.ravel_multi_index(tuple(cell[ok].T), tuple(map_shape))
    counts = np.bincount(flat, minlength=frac.size).astype(np.float64)
    vox = abs(np.linalg.det(scan_affine[:3, :3]))
    cellv = abs(np.linalg.det(map_affine[:3, :3]))
    return np.clip(counts * vox / cellv, 0.0, 1.0).reshape(map_shape)


def mass_in_lesion(map3d: np.ndarray, fraction: np.ndarray) -> float | None:
    """Share of the positive map mass inside the lesion; None when the map has none."""
    pos = np.maximum(np.asarray(map3d, np.float64), 0.0)
    total = float(pos.sum())
    return None if total <= 0 else float((pos * fraction).sum() / total)


def distance_to_mask(point: np.ndarray, mask: np.ndarray, scan_affine: np.ndarray) -> float:
    """mm from a world point to the nearest lesion voxel centre; 0 when the point lies in a
    lesion voxel."""
    inv = np.linalg.inv(scan_affine)
    idx = np.floor(np.asarray(point, float) @ inv[:3, :3].T + inv[:3, 3] + 0.5).astype(int)
    if np.all(idx >= 0) and np.all(idx < mask.shape) and mask[tuple(idx)]:
        return 0.0
    ijk = mask_voxels(mask)
    if len(ijk) == 0:
        return float("nan")
    best = np.inf
    for chunk in np.array_split(ijk, max(1, len(ijk) // 200000)):
        w = chunk @ scan_affine[:3, :3].T + scan_affine[:3, 3]
        best = min(best, float(np.min(np.sum((w - point) ** 2, axis=1))))
    return float(np.sqrt(best))


def readouts(result, truth: GroundTruth, scan_affine: np.ndarray, methods=("hirescam", "gradcam")) -> dict:
    """label name -> {method: {"in_lesion": share or None, "peak_mm": distance}} for every
    label of ``result`` with a truth mask."""
    out: dict[str, dict] = {}
    for i, lab in enumerate(result.labels):
        mask = truth.masks.get(lab.name)
        if mask is None:
            continue
        per = {}
        frac = None
        for m in methods:
            raw = result.maps[m][i]
            if frac is None:
                frac = lesion_fraction(mask, scan_affine, result.map_affine, raw.shape)
            cell = np.array(np.unravel_index(int(np.argmax(raw)), raw.shape), float)
            peak = cell @ result.map_affine[:3, :3].T + result.map_affine[:3, 3]
            per[m] = {"in_lesion": mass_in_lesion(raw, frac), "peak_mm": distance_to_mask(peak, mask, scan_affine)}
        out[lab.name] = per
    return out
