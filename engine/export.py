"""Writing explanation results: heat maps as NIfTI (findings: :mod:`engine.findings`).

Heat maps are written in the scan's own geometry (same shape and affine as the input, so
they open aligned over the scan in 3D Slicer or ITK-SNAP) or, raw, on the model grid with
the map affine.  One label is resampled at a time; full-resolution maps for all labels are
never held together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from engine.results import METHODS, ExplainResult
from engine.volume import CTVolume

# ``ctcam explain --maps``: the grid DIR/maps/ is written on: the scan grid (resampled, float32,
# about 20 MB per map at 512 x 512 x 400), the model grid with its exact affine (tens of KB;
# viewers resample on display), or no maps (docs/batch.md).
MAP_GRIDS = ("scan", "model", "none")


def map_filename(label: str) -> str:
    """``"left_lung/nodule"`` -> ``"left_lung__nodule.nii.gz"``."""
    organ, _, abnormality = label.partition("/")
    return f"{organ}__{abnormality}.nii.gz"


def map_path(out_dir: str | Path, method: str, label: str) -> Path:
    """``out_dir/<method>/<organ>__<abnormality>.nii.gz``, refused (UnsafePathError) when it
    would resolve outside ``out_dir``; the one place every map writer gets its path from."""
    from engine.safe_paths import inside

    return inside(out_dir, method, map_filename(label))


def label_indices(result: ExplainResult, labels: Iterable[str] | None) -> list[int]:
    """Indices of the requested label names (all when None); unknown names are an error."""
    names = [lab.name for lab in result.labels]
    if labels is None:
        return list(range(len(names)))
    out = []
    for name in labels:
        if name not in names:
            raise ValueError(f"unknown label {name!r}; the model's labels are: {', '.join(names)}")
        out.append(names.index(name))
    return out


def write_maps(
    result: ExplainResult,
    volume: CTVolume,
    out_dir: str | Path,
    *,
    labels: Iterable[str] | None = None,
    methods: Sequence[str] = METHODS,
    raw: bool = False,
    cancel=None,
) -> list[Path]:
    """Write ``out_dir/<method>/<organ>__<abnormality>.nii.gz`` for each label and method.

    ``raw=False``: resampled (trilinear, world coordinates) onto the scan grid, float32, raw
    signed values (units: logit contribution).  ``raw=True``: the model-grid maps with the
    map affine.
    """
    from engine.cam.sampling import sample_on_grid
    from engine.errors import Cancelled
    from engine.io.nifti import write_nifti

    out_dir = Path(out_dir)
    written: list[Path] = []
    for method in methods:
        if method not in result.maps:
            raise ValueError(f"unknown method {method!r}; choose from {', '.join(result.maps)}")
        for i in label_indices(result, labels):
            if cancel is not None and cancel():
                raise Cancelled()
            m = result.maps[method][i]
            if raw:
                data, aff = np.asarray(m, dtype=np.float32), result.map_affine
            else:
                data = sample_on_grid(m, result.map_affine, volume.affine, volume.shape)
                aff = volume.affine
            path = map_path(out_dir, method, result.labels[i].name)
            path.parent.mkdir(parents=True, exist_ok=True)
            written.append(write_nifti(path, data, aff, dtype=np.float32))
    return written
