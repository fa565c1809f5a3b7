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

from engine.cam.core import CAMMethod, identical_maps
from engine.cam.explain import CamOutput, explain
from engine.cam.fast import fast_maps, hirescam_batch, linear_head_gradients
from engine.cam.generic import GenericCAM, TargetLayerError
from engine.cam.geometry import groups_to_volume, map_affine
from engine.cam.gradcam import GradCAM
from engine.cam.hirescam import HiResCAM

__all__ = [
    "CAMMethod", "HiResCAM", "GradCAM", "GenericCAM", "TargetLayerError", "CamOutput",
    "explain", "fast_maps", "hirescam_batch", "linear_head_gradients", "groups_to_volume",
    "map_affine", "identical_maps",
]
