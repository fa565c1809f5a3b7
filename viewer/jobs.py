"""Generator jobs the viewer runs in workers (Qt-free; each yields ``Progress``).

Heavy imports (the engine pipeline, hence torch) happen *inside* these generators, i.e. in
the worker thread, never on the GUI thread's path to the first paint.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from engine.results import Progress
from engine.volume import CTVolume, canonicalize


def load_job(path: str, series: str | None = None):
    """Load a NIfTI file or DICOM folder; returns a canonical (R, A, S) ``CTVolume``."""
    from engine import io

    vol = yield from io.iter_load(path, series)
    if vol.axcodes != ("R", "A", "S"):
        hu, aff = canonicalize(vol.hu, vol.affine)
        vol = CTVolume(hu, aff, dict(vol.meta))
    return vol


def list_series_job(folder: str):
    from engine import io

    yield Progress("load", 0.0, f"reading {Path(folder).name}")
    return io.list_series(folder)


def explain_job(volume: CTVolume, organs=None, model=None, device=None, cancel=None):
    """Run the pipeline, then summarise the findings; returns ``(ExplainResult, findings)``."""
    from engine.pipeline import explain_scan
    from viewer.findings import summarise

    result = yield from explain_scan(volume, organs=organs, model=model, device=device, cancel=cancel)
    yield Progress("summary", 0.99, "summarising findings")
    return result, summarise(result, volume.affine)


def export_maps_job(result, volume: CTVolume, labels: Iterable[int], methods: Iterable[str], out_dir: str):
    """Write ``out_dir/maps/<method>/<organ>__<abnormality>.nii.gz`` (raw signed values on the
    scan grid with the scan's affine, so they open aligned in Slicer / ITK-SNAP)."""
    from engine.io.nifti import write_nifti
    from viewer import sampling_adapter

    todo = [(m, i) for m in methods for i in labels]
    written = []
    for n, (m, i) in enumerate(todo):
        lab = result.labels[i]
        yield Progress("export", n / max(1, len(todo)), f"{m} {lab.name}")
        data = sampling_adapter.sample_on_grid(result, m, i, volume.shape, volume.affine)
        path = Path(out_dir) / "maps" / m / f"{lab.organ}__{lab.abnormality}.nii.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_nifti(path, data.astype(np.float32), volume.affine)
        written.append(str(path))
    yield Progress("export", 1.0, "done")
    return written


def export_findings_job(findings, out_path: str, fmt: str, *, source, card, device, methods_identical):
    from viewer.findings import write_csv, write_json

    yield Progress("export", 0.0, f"writing {Path(out_path).name}")
    if fmt == "csv":
        write_csv(out_path, findings)
    else:
        write_json(out_path, findings, source=source, card=card, device=device,
                   methods_identical=methods_identical)
    return [out_path]


def save_image_job(image, out_path: str):
    """Save a QImage (already grabbed on the GUI thread) as PNG."""
    yield Progress("export", 0.0, f"writing {Path(out_path).name}")
    if not image.save(str(out_path), "PNG"):
        from engine.errors import CTCamError

        raise CTCamError(f"Could not write the screenshot {out_path}: check that the folder exists "
                         "and is writable.")
    return [out_path]
