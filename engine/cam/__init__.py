"""Explanation maps (HiResCAM, Grad-CAM, ...) for all labels; the maths is in docs/methods.md.

Public API::

    explain(loaded, x, model_affine=None, path="auto") -> CamOutput     (engine.cam.explainer)
        CamOutput(logits, probs, biases, maps={"hirescam": (L, mi, mj, mk), "gradcam": ...},
                  map_affine, methods_identical, path)
    fast_maps(model, x), batch_maps(model, a)   one forward pass, no backward (AxialNet's head)
    GenericCAM(model, target_layer, methods=None, batched=True)   any module, autograd
    CAMMethod, HiResCAM, GradCAM   one base class; each method overrides ``weights`` (generic
                                   rule) and, optionally, ``head_maps`` (closed form)
    engine.cam.registry            the methods by name: METHODS, get_method, register
    map_affine(model_affine, input_shape, map_shape), groups_to_volume(maps)
    engine.cam.sampling            world-space sampling, display transforms, difference map
"""

import importlib
from typing import Any

# Names -> submodule.  Imported on first use (PEP 562) so that ``engine.cam.sampling``
# (numpy/scipy only) and ``engine.cam.registry`` can be used by the viewer without torch.
_EXPORTS = {
    "CAMMethod": "core", "identical_maps": "core",
    "CamOutput": "explainer", "explain": "explainer",
    "fast_maps": "fast", "batch_maps": "fast",
    "GenericCAM": "generic", "TargetLayerError": "generic",
    "groups_to_volume": "geometry", "map_affine": "geometry",
    "GradCAM": "gradcam", "HiResCAM": "hirescam",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"engine.cam.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'engine.cam' has no attribute {name!r}")


__all__ = list(_EXPORTS)
