"""User-facing failures of model loading and preprocessing."""

from __future__ import annotations

from engine.errors import CTCamError


class ModelError(CTCamError):
    """Base class of every model-related failure."""


class ModelCardError(ModelError):
    """The model card (JSON) is missing, unreadable, incomplete or inconsistent."""

    about_input = False


class ModelWeightsError(ModelError):
    """The weights file is missing, not safetensors, or does not match its card."""

    about_input = False


class DeviceError(ModelError):
    """The requested compute device is not available."""

    about_input = False


class PreprocessError(ModelError):
    """A volume cannot be brought onto the model grid."""
