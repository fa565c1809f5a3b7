"""Where the bundled resources (model, demo case) live."""

from __future__ import annotations

import os
from pathlib import Path


def resources_dir() -> Path:
    """``$CTCAM_RESOURCES`` if set, else ``resources/`` beside the ``engine`` package."""
    env = os.environ.get("CTCAM_RESOURCES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "resources"


def demo_case_path() -> Path:
    return resources_dir() / "demo" / "case.nii.gz"


def demo_organs_path() -> Path:
    return resources_dir() / "demo" / "organs.nii.gz"


def bundled_model_paths() -> tuple[Path, Path]:
    """(weights .safetensors, model card .json) of the bundled model."""
    d = resources_dir() / "model"
    return d / "axialnet.safetensors", d / "axialnet.json"
