"""AxialNet-style classifier, preprocessing, model card and safe loading (docs/model.md).

Public API::

    load_model(weights=None, card=None, device=None) -> LoadedModel   # bundled by default
    preprocess(volume, card) -> (tensor (1, X, Y, Z), model_affine 4x4)
    select_device(requested=None) -> torch.device                      # CUDA > MPS > CPU
    save_model(model, card, out_dir, stem="axialnet") -> (weights path, card path)
"""

from engine.model.card import label_infos, read_card, validate_card
from engine.model.errors import (
    DeviceError,
    ModelCardError,
    ModelError,
    ModelWeightsError,
    PreprocessError,
)
from engine.model.loading import LoadedModel, load_model, new_card, save_model, select_device
from engine.model.net import TARGET_LAYER, AxialNet
from engine.model.preprocess import model_grid_affine, preprocess

__all__ = [
    "AxialNet", "TARGET_LAYER", "LoadedModel", "load_model", "save_model", "new_card",
    "select_device", "preprocess", "model_grid_affine", "read_card", "validate_card",
    "label_infos", "ModelError", "ModelCardError", "ModelWeightsError", "DeviceError",
    "PreprocessError",
]
