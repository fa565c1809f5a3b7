"""3D-view tests render offscreen: EGL (no X server needed) and Qt's offscreen platform.

The environment must be set before VTK or Qt is imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# These tests look inside the widget's scene, which the default "thread" backend keeps in its
# worker thread; they use the synchronous "image" backend.  test_render3d_thread.py tests the
# default backend itself.
os.environ.setdefault("CTCAM_3D_BACKEND", "image")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from synthetic_chest import make_chest  # noqa: E402


@pytest.fixture(scope="session")
def chest():
    """(CTVolume, organ labelmap) of the small synthetic chest."""
    return make_chest()


@pytest.fixture
def renderer():
    """Factory of small offscreen renderers, closed after the test."""
    from viewer.render3d.offscreen import OffscreenRenderer

    made = []

    def make(size=(200, 200), max_dim=64):
        r = OffscreenRenderer(size, max_dim=max_dim)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))))
