"""The bundled model: loads by default, documented card, size limits, CAM identities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cam_checks import assert_fast_equals_autograd

from engine.cam import explain
from engine.labels import LABELS, ORGAN_CODES
from engine.model import load_model, preprocess
from engine.resources import bundled_model_paths


@pytest.fixture(scope="module")
def bundled():
    torch.set_num_threads(1)
    return load_model(device="cpu")


def test_card_documents_the_model(bundled):
    card = bundled.card
    for key in ("name", "version", "labels", "organ_codes", "preprocessing", "target_layer",
                "training", "metrics", "licence", "synthetic_data_statement", "weights"):
        assert key in card, key
    assert [lab["name"] for lab in card["labels"]] == list(LABELS)
    assert all(lab["organ"] in card["organ_codes"] for lab in card["labels"])
    assert card["organ_codes"] == ORGAN_CODES
    tr = card["training"]
    for key in ("data", "seed", "train_time_s", "hardware", "mask_loss"):
        assert key in tr, key
    assert tr["mask_loss"] is True  # the bundled model is the mask-loss model
    assert "synthetic" in card["synthetic_data_statement"].lower()
    assert set(card["preprocessing"]) >= {"shape", "spacing_mm", "hu_window", "mean"}
    assert card["target_layer"] == "target"  # model 3.0: the reduce output + the input maxima
    assert any(ch["stat"] == "evidence" for ch in card["preprocessing"]["channels"])


def test_resource_sizes():
    w, c = bundled_model_paths()
    model_dir = w.parent
    total = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    assert total < 20 * 2**20
    base = model_dir / "base" / "axialnet_base.safetensors"
    assert base.is_file() and base.stat().st_size < 5 * 2**20
    lm = load_model(base, device="cpu")  # the base model (no mask loss) for ctcam evaluate
    assert lm.card["training"]["mask_loss"] is False


def test_bundled_model_on_a_phantom(bundled):
    from engine.phantom import generate

    case = generate(11, size="model")
    x, aff = preprocess(case.volume, bundled.card, case.organs)
    out = explain(bundled, x, aff)
    sums = out.maps["hirescam"].astype(np.float64).sum(axis=(1, 2, 3))
    # 0 for the mean pooling, tau (log N - H(softmax)) for log-sum-exp, the mean over the
    # card's test-time shifts when it has them
    from engine.cam.shifts import identity_gap

    gap = identity_gap(bundled.networks, x, bundled.test_time_shifts)[0]  # every ensemble member
    np.testing.assert_allclose(sums, out.logits - out.biases + gap.double().numpy(),
                               rtol=1e-4, atol=1e-4)
    assert out.maps["gradcam"].shape == out.maps["hirescam"].shape
    assert np.all((out.probs > 0) & (out.probs < 1))
    # fast path == generic autograd path on the real model
    for net in bundled.networks:
        assert_fast_equals_autograd(net, x, target=bundled.target_layer)
    # the map grid covers the model grid: its centre is the model grid's centre
    centre_map = out.map_affine @ [*((np.array(out.maps["hirescam"].shape[1:]) - 1) / 2), 1]
    centre_model = aff @ [*((np.array(x.shape[-3:]) - 1) / 2), 1]
    np.testing.assert_allclose(centre_map, centre_model, atol=1e-9)


def test_methods_doc_states_the_bundled_map_cell_size(bundled):
    from pathlib import Path

    card = bundled.card
    grid, spacing = card["map"]["grid"], card["preprocessing"]["spacing_mm"]
    shape = card["preprocessing"]["shape"]
    cell = [shape[d] * spacing[d] / grid[d] for d in range(3)]
    doc = (Path(__file__).resolve().parents[2] / "docs" / "methods.md").read_text(encoding="utf-8")
    doc = " ".join(doc.split())
    assert f"{cell[0]:g} x {cell[1]:g} mm in-plane and {cell[2]:g} mm along the body" in doc
