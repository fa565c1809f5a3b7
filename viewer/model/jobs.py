"""Generator jobs the viewer runs in workers (Qt-free; each yields ``Progress``).

Heavy imports (the engine pipeline, hence torch) happen *inside* these generators, i.e. in
the worker thread, never on the GUI thread's path to the first paint.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from engine.errors import CTCamError
from engine.results import Progress
from engine.volume import CTVolume, canonicalize


def load_job(path: str, series: str | None = None):
    """Load a NIfTI file or DICOM folder; returns a canonical (R, A, S) ``CTVolume``."""
    from engine import io

    vol = yield from io.iter_load(path, series)
    from viewer.model import sampling_adapter

    sampling_adapter.preload()  # here, not on the GUI thread when the first map arrives
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
    from viewer.model.findings import summarise

    result = yield from explain_scan(volume, organs=organs, model=model, device=device, cancel=cancel)
    return result, summarise(result, volume.affine)


def volume_from_shared(shm_name: str, shape, affine, meta: dict) -> CTVolume:
    """The scan a parent process placed in shared memory (int16 HU), copied out."""
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(name=shm_name)
    try:
        hu = np.ndarray(tuple(shape), dtype=np.int16, buffer=shm.buf).copy()
    finally:
        shm.close()
    return CTVolume(hu, np.asarray(affine), meta)


def _explain_child(shm_name: str, shape, affine, meta: dict, organs, model, device, out_queue) -> None:
    """Runs in the model process: rebuild the volume from shared memory, explain, report."""
    try:
        gen = explain_job(volume_from_shared(shm_name, shape, affine, meta), organs=organs,
                          model=model, device=device)
        while True:
            try:
                out_queue.put(("progress", next(gen)))
            except StopIteration as stop:
                out_queue.put(("result", stop.value))
                return
    except CTCamError as exc:
        out_queue.put(("error", str(exc)))
    except BaseException as exc:  # a bug: report it with its type; the viewer logs it
        import traceback

        out_queue.put(("crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def explain_in_process(volume: CTVolume, organs=None, model=None, device=None, cancel=None):
    """:func:`explain_job` in a separate process (the GUI never waits: docs/architecture.md, "Threads and stale results").

    The model's imports and compute run under another interpreter, so they can never hold
    the GUI's GIL (importing torch alone blocks a thread's interpreter for ~0.5 s).  The scan
    goes over in shared memory; progress and the result come back through a queue.  Cancel
    terminates the process at once, even inside a forward pass.
    """
    import multiprocessing as mp
    import queue
    from multiprocessing import shared_memory

    from engine.errors import Cancelled

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    shm = shared_memory.SharedMemory(create=True, size=max(1, volume.hu.nbytes))
    proc = None
    try:
        np.ndarray(volume.shape, dtype=np.int16, buffer=shm.buf)[:] = volume.hu
        meta = {k: v for k, v in volume.meta.items() if isinstance(v, (str, int, float, bool, list, type(None)))}
        proc = ctx.Process(target=_explain_child, daemon=True,
                           args=(shm.name, volume.shape, volume.affine, meta, organs, model, device, q))
        proc.start()
        yield Progress("model", 0.3, "starting the model process")
        while True:
            if cancel is not None and cancel():
                raise Cancelled()
            try:
                kind, payload = q.get(timeout=0.05)
            except queue.Empty:
                if not proc.is_alive():
                    raise CTCamError(
                        f"The model process stopped unexpectedly (exit code {proc.exitcode}); "
                        "it may have run out of memory. Close other programs or use a smaller scan.") from None
                continue
            if kind == "progress":
                yield payload
            elif kind == "result":
                return payload
            elif kind == "error":
                raise CTCamError(payload)
            else:
                raise RuntimeError(f"model process failed: {payload}")
    finally:
        if proc is not None and proc.is_alive():
            proc.terminate()
        if proc is not None:
            proc.join(timeout=2)
        q.close()
        shm.close()
        shm.unlink()


def export_maps_job(result, volume: CTVolume, labels: Iterable[int], methods: Iterable[str], out_dir: str):
    """Write ``out_dir/maps/<method>/<organ>__<abnormality>.nii.gz`` (raw signed values on the
    scan grid with the scan's affine, so they open aligned in Slicer / ITK-SNAP)."""
    from engine.export import map_path
    from engine.io.nifti import write_nifti
    from viewer.model import sampling_adapter

    todo = [(m, i) for m in methods for i in labels]
    written = []
    for n, (m, i) in enumerate(todo):
        lab = result.labels[i]
        yield Progress("export", n / max(1, len(todo)), f"{m} {lab.name}")
        data = sampling_adapter.sample_on_grid(result, m, i, volume.shape, volume.affine)
        path = map_path(Path(out_dir) / "maps", m, lab.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_nifti(path, data.astype(np.float32), volume.affine)
        written.append(str(path))
    yield Progress("export", 1.0, "done")
    return written


def export_findings_job(findings, out_path: str, fmt: str, *, source, card, device, methods_identical,
                        suitability=None):
    from viewer.model.findings import write_csv, write_json

    yield Progress("export", 0.0, f"writing {Path(out_path).name}")
    if fmt == "csv":
        write_csv(out_path, findings)
    else:
        write_json(out_path, findings, source=source, card=card, device=device,
                   methods_identical=methods_identical, suitability=suitability)
    return [out_path]


def save_image_job(image, out_path: str):
    """Save a QImage (already grabbed on the GUI thread) as PNG."""
    yield Progress("export", 0.0, f"writing {Path(out_path).name}")
    if not image.save(str(out_path), "PNG"):
        from engine.errors import CTCamError

        raise CTCamError(f"Could not write the screenshot {out_path}: check that the folder exists "
                         "and is writable.")
    return [out_path]


def export_dicom_job(result, volume: CTVolume, label: int | None, out_dir: str):
    """DICOM result objects (engine.dicom_out: organ SEG, the selected label's Parametric Maps
    for both methods, findings SR) into ``out_dir``; returns the paths written."""
    from pathlib import Path

    from engine.dicom_out import build_objects, write_objects

    yield Progress("export", 0.1, "building DICOM objects")
    labels = None if label is None else [result.labels[label].name]
    objects = build_objects(result, volume, Path(out_dir), labels=labels)
    yield Progress("export", 0.8, "writing DICOM objects")
    return [str(p) for p in write_objects(objects, Path(out_dir))]
