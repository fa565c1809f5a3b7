"""load -> organs -> preprocess -> predict -> explain, as one cancellable generator.

>>> gen = explain_scan("scan.nii.gz")
>>> for p in gen: print(p.stage, p.fraction)       # Progress objects
... # the ExplainResult is the generator's return value (StopIteration.value)
>>> result = run(explain_scan(volume))            # or drive it to completion

Cancellation: stop iterating (``gen.close()``) or pass ``cancel=`` (a callable returning
True), which raises :class:`engine.errors.Cancelled` at the next stage boundary.
Every stage's wall time is recorded in ``result.timings``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import Cancelled
from engine.results import ExplainResult, Progress
from engine.volume import CTVolume

# Share of the whole job each stage takes on a typical CPU run (for the progress bar).
_STAGES: dict[str, tuple[float, float]] = {
    "load": (0.0, 0.35),
    "organs": (0.35, 0.55),
    "model": (0.55, 0.60),
    "preprocess": (0.60, 0.75),
    "predict": (0.75, 0.97),
    "finish": (0.97, 1.0),
}

_MODEL_CACHE: dict[tuple[str, str, str], Any] = {}

# Load the model in a thread while the organ map is made.  On: on the idle 2-core machine it
# saves about 0.1 s (organs + model 3.02 s against 3.12 s one after the other with the organs
# segmented, 2.55 against 2.65 s with a shipped map; benchmarks/organs_model_overlap.py,
# docs/performance.md); with both cores held by other work it was from 23 % slower to 18 %
# faster (the torch import holds the interpreter lock).
OVERLAP_MODEL_LOAD = True


def _progress(stage: str, within: float = 0.0, message: str = "") -> Progress:
    lo, hi = _STAGES[stage]
    return Progress(stage, lo + (hi - lo) * min(max(within, 0.0), 1.0), message or stage)


def get_model(model: Any = None, device: str | None = None):
    """A LoadedModel: ``model`` itself, a weights path (card beside it), or the bundled one.

    Loaded models are cached per (weights, card, device) so the viewer loads once.
    """
    from engine.model import LoadedModel, load_model, select_device

    if isinstance(model, LoadedModel):
        return model
    dev = str(select_device(device))
    key = (str(model), "", dev)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = load_model(weights=model, device=dev) if model else load_model(device=dev)
    return _MODEL_CACHE[key]


def _timed_get_model(model: Any, device: str | None):
    t = time.perf_counter()
    loaded = get_model(model, device)
    return loaded, time.perf_counter() - t


def device_name(device: Any) -> str:
    """Human name of a torch device: "CPU" or the GPU's product name."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(dev)}"
    if dev.type == "mps":
        return "GPU: Apple MPS"
    return "CPU"


def _organ_stage(volume: CTVolume, organs: Any, cancel: Callable[[], bool] | None = None) -> tuple[np.ndarray | None, str]:
    """Organ label map on the scan grid: given array, a label-map file, or segmentation."""
    if organs is False:
        return None, "organ map not requested"
    if isinstance(organs, np.ndarray):
        if organs.shape != volume.shape:
            raise ValueError(f"organ map shape {organs.shape} != scan shape {volume.shape}")
        return organs.astype(np.uint8, copy=False), "organ map given"
    from engine import organs as organ_mod

    if organs is not None:
        return organ_mod.from_labelmap(organs, volume), f"organ map from {organs}"
    seg = organ_mod.segment(volume, cancel)
    return seg.labelmap, seg.message


def coverage_warning(volume: CTVolume, card: dict[str, Any]) -> str | None:
    """A warning when the scan covers far less than the chest field the model was trained on
    (under 40 % of the model grid's extent in-plane, or under 1/6 of it along the body axis):
    the model still runs, but its findings on such a scan are not meaningful."""
    prep = card.get("preprocessing", {})
    try:
        field = np.asarray(prep["shape"], float) * np.asarray(prep["spacing_mm"], float)
    except (KeyError, TypeError, ValueError):
        return None
    extent = np.asarray(volume.shape, float) * np.asarray(volume.spacing, float)
    if min(extent[0], extent[1]) >= 0.4 * min(field[0], field[1]) and extent[2] >= field[2] / 6:
        return None
    src = Path(str(volume.meta.get("source_path") or "the scan")).name
    return (f"{src} covers only {extent[0]:.0f} x {extent[1]:.0f} x {extent[2]:.0f} mm; the model "
            f"expects a chest CT (its field is {field[0]:.0f} x {field[1]:.0f} x {field[2]:.0f} mm), "
            "so its findings on this scan are not meaningful. Open the whole chest series.")


def explain_scan(
    source: str | Path | CTVolume,
    *,
    organs: np.ndarray | str | Path | bool | None = None,
    model: Any = None,
    device: str | None = None,
    series: str | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Generator[Progress, None, ExplainResult]:
    """Explain one scan with every label of the model and both methods.

    ``source``: a CTVolume, a NIfTI file or a DICOM folder.  ``organs``: None (classical
    segmentation), an array on the scan grid, a label-map file (ctcam codes), or False (skip).
    ``model``: None (bundled), a weights path, or a LoadedModel.  Yields Progress; returns an
    :class:`ExplainResult` with raw maps at model resolution.
    """
    timings: dict[str, float] = {}

    def check() -> None:
        if cancel is not None and cancel():
            raise Cancelled()

    # -- load --------------------------------------------------------------------------
    t = time.perf_counter()
    if isinstance(source, CTVolume):
        volume = source
    else:
        from engine.io import iter_load

        gen = iter_load(source, series)
        try:
            while True:
                p = next(gen)
                check()
                yield _progress("load", p.fraction, p.message)
        except StopIteration as stop:
            volume = stop.value
    timings["load"] = time.perf_counter() - t
    check()

    # -- organs (and the model's loading beside them) ------------------------------------
    yield _progress("organs", 0.0, "organ map")
    t = time.perf_counter()
    pending = None
    if OVERLAP_MODEL_LOAD and organs is not False and (model is None or isinstance(model, (str, Path))):
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1, thread_name_prefix="ctcam-model-load")
        pending = pool.submit(_timed_get_model, model, device)
        pool.shutdown(wait=False)
    try:
        organ_map, organ_message = _organ_stage(volume, organs, cancel)
    except BaseException:
        if pending is not None:
            pending.cancel()
        raise
    timings["organs"] = time.perf_counter() - t
    check()

    # -- model ---------------------------------------------------------------------------
    yield _progress("model", 0.0, "loading model")
    t = time.perf_counter()
    if pending is not None:
        loaded, timings["model_load"] = pending.result()  # its own duration, overlapping the organs
    else:
        loaded = get_model(model, device)
    timings["model"] = time.perf_counter() - t  # the wait after the organ map
    check()
    warnings = [str(w) for w in volume.meta.get("warnings", [])]
    too_small = coverage_warning(volume, loaded.card)
    if too_small:
        warnings.append(too_small)
    if organ_map is not None and not organ_map.any():
        warnings.append(organ_message)  # e.g. "No lungs found: ..."; in-organ shares are 0
    from engine.suitability import assess

    t = time.perf_counter()
    suitability = assess(volume, organ_map, loaded.card)  # its reasons stay out of warnings
    timings["suitability"] = time.perf_counter() - t

    # -- preprocess ----------------------------------------------------------------------
    yield _progress("preprocess", 0.0, "resampling to the model grid")
    from engine.model import preprocess

    t = time.perf_counter()
    x, model_affine = preprocess(volume, loaded.card, organ_map)
    timings["preprocess"] = time.perf_counter() - t
    check()

    # -- predict + explain (one forward pass per network and test-time shift, fast path) --
    nets, shifts = len(loaded.networks), len(loaded.test_time_shifts)
    parts = ([f"{nets} networks"] if nets > 1 else []) + ([f"{shifts} shifts"] if shifts > 1 else [])
    runs = "" if not parts else f" ({shifts} shifted runs)" if nets == 1 else f" ({' x '.join(parts)})"
    yield _progress("predict", 0.0, "classifier and heat maps" + runs)
    from engine.cam import explain

    t = time.perf_counter()
    cam = explain(loaded, x, model_affine, cancel_check=check)
    timings["predict"] = time.perf_counter() - t
    yield _progress("finish", 1.0, "done")

    return ExplainResult(
        labels=list(loaded.labels),
        probabilities=np.asarray(cam.probs),
        logits=np.asarray(cam.logits),
        biases=np.asarray(cam.biases),
        maps=cam.maps,
        map_affine=cam.map_affine,
        organ_map=organ_map,
        card=loaded.card,
        device=device_name(loaded.device),
        methods_identical=bool(cam.methods_identical),
        timings=timings,
        suitability=suitability,
        extra={"organ_message": organ_message, "volume": volume, "cam_path": cam.path,
               "warnings": warnings},
    )


def run(gen: Generator[Progress, None, ExplainResult],
        progress: Callable[[Progress], None] | None = None) -> ExplainResult:
    """Drive a pipeline generator to completion and return its result."""
    try:
        while True:
            p = next(gen)
            if progress is not None:
                progress(p)
    except StopIteration as stop:
        return stop.value
