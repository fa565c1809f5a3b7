"""High-level explanation of one preprocessed input: :func:`explain` (all labels, the
methods of :mod:`engine.cam.registry`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.cam.core import identical_maps
from engine.cam.fast import fast_maps
from engine.cam.generic import GenericCAM
from engine.cam.geometry import groups_to_volume, map_affine
from engine.cam.registry import METHODS
from engine.cam.shifts import mean_bias, shifted_batch_maps
from engine.model import calibration
from engine.model.loading import LoadedModel
from engine.model.net import AxialNet
from engine.model.shifts_card import NO_SHIFT


@dataclass
class CamOutput:
    """Raw explanation of one scan, all labels.

    ``maps[method]``: float32 (L, mi, mj, mk), raw signed, units = logit contribution;
    ``map_affine``: map voxel index -> RAS mm (None if no model affine was given).
    """

    logits: np.ndarray
    probs: np.ndarray
    biases: np.ndarray
    maps: dict[str, np.ndarray]
    map_affine: np.ndarray | None
    methods_identical: bool
    path: str = "fast"
    extra: dict = field(default_factory=dict)


def explain(loaded: LoadedModel | torch.nn.Module, x: torch.Tensor,
            model_affine: np.ndarray | None = None, path: str = "auto",
            methods: Sequence[str] = METHODS, target_layer: str | None = None,
            cancel_check: Callable[[], None] | None = None) -> CamOutput:
    """Logits, probabilities and raw maps of ``methods`` (default: HiResCAM, Grad-CAM) for
    every label; the probabilities are the card's calibrated ones for a :class:`LoadedModel`
    (:mod:`engine.model.calibration`), sigmoid(logit) for a bare module.

    ``x`` is the (1, C, X, Y, Z) or (1, X, Y, Z) tensor from :func:`engine.model.preprocess`; ``model_affine``
    its model-grid affine (gives ``map_affine``).  ``path``: "fast" (one forward pass, no
    backward; AxialNet only), "generic" (autograd through the named target layer) or "auto".
    A card with test-time shifts or ensemble members runs the fast path once per (network,
    shift) and averages (:mod:`engine.cam.shifts`; the output's ``path`` is then
    "fast+shifts" or "fast+ensemble" and the maps lie on the common grid; ``cancel_check``
    runs before each); the generic path explains one network and refuses an ensemble.

    For an AxialNet, maps are stored as (L, mi, mj, mk) with ``map_affine`` (see
    :mod:`engine.cam.geometry`).  Any other ``nn.Module`` (generic path, ``target_layer``
    required) gives maps (L, N, *S) as the target layer lays them out, ``map_affine`` None,
    and biases NaN (unknown without a linear head).
    """
    model = loaded.model if isinstance(loaded, LoadedModel) else loaded
    target = loaded.target_layer if isinstance(loaded, LoadedModel) else target_layer
    if target is None:
        target = model.target_layer_name if isinstance(model, AxialNet) else None
    if target is None and path != "fast":
        raise ValueError("explain() on a generic module needs target_layer")
    device = next(model.parameters()).device
    x = x.to(device=device, dtype=torch.float32)
    if path == "auto":
        path = "fast" if isinstance(model, AxialNet) else "generic"
    shifts = loaded.test_time_shifts if isinstance(loaded, LoadedModel) else NO_SHIFT
    nets = loaded.networks if isinstance(loaded, LoadedModel) else (model,)
    if path == "generic" and len(nets) > 1:
        raise ValueError(f"the generic CAM path explains one network; this card is an ensemble of {len(nets)}")
    if path == "fast" and (tuple(shifts) != NO_SHIFT or len(nets) > 1):
        if x.shape[0] != 1:
            raise ValueError("explain() explains one input at a time (batch size 1)")
        raw = {k: v[0] for k, v in shifted_batch_maps(
            nets, x, shifts, list(dict.fromkeys(["hirescam", "gradcam", *methods])), cancel_check).items()}
        logits, path = raw.pop("logits"), ("fast+ensemble" if len(nets) > 1 else "fast+shifts")
    elif path == "fast":
        logits, raw = fast_maps(model, x)
    elif path == "generic":
        with GenericCAM(model, target) as cam:
            logits, raw = cam(x)
    else:
        raise ValueError(f"unknown CAM path {path!r}")
    same = identical_maps(raw["hirescam"], raw["gradcam"])
    lg = logits.detach().to("cpu").double().numpy()
    aff = None
    if isinstance(model, AxialNet):
        maps = ({m: raw[m].to("cpu").numpy().astype(np.float32) for m in methods} if path.startswith("fast+")
                else {m: groups_to_volume(raw[m]) for m in methods})  # both (L, mi, mj, mk)
        if model_affine is not None:
            aff = map_affine(model_affine, model.input_shape, maps[methods[0]].shape[1:])
        bias = mean_bias(nets).to("cpu").double().numpy()
    else:
        maps = {m: raw[m].to("cpu").numpy().astype(np.float32) for m in methods}
        bias = np.full(lg.shape, np.nan)
    card, names = (loaded.card, loaded.label_names) if isinstance(loaded, LoadedModel) else (None, [])
    probs = calibration.probabilities(card, names, lg)
    return CamOutput(logits=lg.astype(np.float32), probs=probs.astype(np.float32),
                     biases=bias.astype(np.float32), maps=maps, map_affine=aff,
                     methods_identical=same, path=path)
