"""The model loads in a thread while the organ map is made: same result as one after the
other, its own duration in the timings, and a cancelled organ stage still cancels."""

from __future__ import annotations

import numpy as np
import pytest

import engine.pipeline as pipeline
from engine.errors import Cancelled
from engine.phantom import generate


@pytest.fixture(scope="module")
def volume():
    return generate(3, "model", prevalence=0.0).volume


def test_overlapped_load_gives_the_same_result(volume, monkeypatch):
    pipeline._MODEL_CACHE.clear()
    monkeypatch.setattr(pipeline, "OVERLAP_MODEL_LOAD", True)
    a = pipeline.run(pipeline.explain_scan(volume, device="cpu"))
    assert "model_load" in a.timings and a.timings["model_load"] >= 0
    pipeline._MODEL_CACHE.clear()
    monkeypatch.setattr(pipeline, "OVERLAP_MODEL_LOAD", False)
    b = pipeline.run(pipeline.explain_scan(volume, device="cpu"))
    assert "model_load" not in b.timings
    np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5, atol=1e-6)
    assert np.array_equal(a.organ_map, b.organ_map)


def test_cancel_during_the_organ_stage(volume, monkeypatch):
    pipeline._MODEL_CACHE.clear()
    monkeypatch.setattr(pipeline, "OVERLAP_MODEL_LOAD", True)
    calls = {"n": 0}

    def cancel():  # false while loading, true once the organ stage checks
        calls["n"] += 1
        return calls["n"] > 1

    with pytest.raises(Cancelled):
        pipeline.run(pipeline.explain_scan(volume, device="cpu", cancel=cancel))
