"""HiResCAM and Grad-CAM for all labels (design section 7).

Public API::

    explain(loaded, x, model_affine=None, path="auto") -> CamOutput
        CamOutput(logits, probs, biases, maps={"hirescam": (L, mi, mj, mk), "gradcam": ...},
                  map_affine, methods_identical, path)
    fast_maps(model, x)            one forward pass, no backward (linear head)
    GenericCAM(model, target_layer, methods=(HiResCAM(), GradCAM()), batched=True)
    HiResCAM, GradCAM, CAMMethod   one base class; each method overrides ``weights``
    map_affine(model_affine, input_shape, map_shape), groups_to_volume(maps)
    engine.cam.sampling            world-space sampling and display transforms
"""

import importlib
from typing import Any

# Names -> submodule.  Imported on first use (PEP 562) so that ``engine.cam.sampling``
# (numpy/scipy only) can be used by the viewer without importing torch.
_EXPORTS = {
    "CAMMethod": "core", "identical_maps": "core",
    "CamOutput": "explain", "explain": "explain",
    "fast_maps": "fast", "hirescam_batch": "fast", "batch_maps": "fast",
    "GenericCAM": "generic", "TargetLayerError": "generic",
    "groups_to_volume": "geometry", "map_affine": "geometry",
    "GradCAM": "gradcam", "HiResCAM": "hirescam",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        sub = _EXPORTS[name]
        mod = importlib.import_module(f"engine.cam.{sub}")
        # Importing a submodule binds it on this package under its own name, which for
        # ``explain`` (module engine.cam.explain, function explain) would hide the function
        # from every later ``from engine.cam import explain``: bind the exported names.
        for n, s in _EXPORTS.items():
            if s == sub:
                globals()[n] = getattr(mod, n)
        return globals()[name]
    raise AttributeError(f"module 'engine.cam' has no attribute {name!r}")


__all__ = [
    "CAMMethod", "HiResCAM", "GradCAM", "GenericCAM", "TargetLayerError", "CamOutput",
    "explain", "fast_maps", "hirescam_batch", "batch_maps", "groups_to_volume",
    "map_affine", "identical_maps",
]
