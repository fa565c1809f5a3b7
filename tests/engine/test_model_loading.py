"""Safe loading: safetensors + card, mismatches give clear CTCamError subclasses."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import CTCamError
from engine.labels import LABELS, ORGAN_CODES
from engine.model import (
    AxialNet,
    DeviceError,
    ModelCardError,
    ModelWeightsError,
    load_model,
    new_card,
    save_model,
    select_device,
)

PREP = {"shape": [16, 16, 6], "spacing_mm": [20.0, 20.0, 40.0], "hu_window": [-1000, 800],
        "mean": 0.2, "centre": "body"}
ARCH = dict(stem_width=4, widths=(4,), strides=(2,), reduce_widths=(3,))


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    net = AxialNet(len(LABELS), PREP["shape"], **ARCH).eval()
    card = new_card(net, LABELS, ORGAN_CODES, PREP)
    w, c = save_model(net, card, tmp_path)
    return net, w, c


def test_roundtrip_gives_the_same_outputs(saved):
    net, w, c = saved
    loaded = load_model(w, device="cpu")
    x = torch.randn(1, *PREP["shape"])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), net(x))
    assert loaded.label_names == list(LABELS)
    assert loaded.labels[0].organ_code == ORGAN_CODES[loaded.labels[0].organ]
    assert loaded.target_layer == "reduce"
    assert not loaded.model.training
    card = json.loads(c.read_text())
    assert "synthetic" in card["synthetic_data_statement"]
    # loading by card path alone finds the weights named in the card
    assert load_model(card=c, device="cpu").weights_path == w


def _edit_card(c: Path, fn):
    card = json.loads(c.read_text())
    fn(card)
    c.write_text(json.dumps(card))


def test_sha256_mismatch(saved):
    _, w, c = saved
    _edit_card(c, lambda d: d["weights"].update(sha256="0" * 64))
    with pytest.raises(ModelWeightsError, match="sha256"):
        load_model(w)


def test_label_count_mismatch(saved):
    _, w, c = saved
    _edit_card(c, lambda d: d.update(labels=d["labels"][:-1]))
    with pytest.raises(ModelWeightsError, match="19 outputs but the card .* lists 18 labels"):
        load_model(w)


def test_shape_mismatch(saved):
    _, w, c = saved
    _edit_card(c, lambda d: d["architecture"].update(reduce_widths=[5]))
    with pytest.raises(ModelWeightsError, match="wrong shapes"):
        load_model(w)


def test_unknown_label_organ(saved):
    _, w, c = saved

    def bad(d):
        d["labels"][0] = {"name": "liver/cyst", "organ": "liver", "abnormality": "cyst"}

    _edit_card(c, bad)
    with pytest.raises(ModelCardError, match="unknown organ 'liver'"):
        load_model(w)


def test_missing_and_broken_cards(saved, tmp_path):
    _, w, c = saved
    with pytest.raises(ModelCardError, match="not found"):
        load_model(w, card=tmp_path / "nope.json")
    c.write_text("{not json")
    with pytest.raises(ModelCardError, match="not valid JSON"):
        load_model(w)
    c.write_text(json.dumps({"format": "ctcam-model-card/1"}))
    with pytest.raises(ModelCardError, match="missing field"):
        load_model(w)


def test_non_safetensors_file_with_matching_card_is_refused(saved):
    _, w, c = saved
    w.write_bytes(b"\x80\x04this is a pickle, not safetensors")
    from engine.model.card import file_sha256

    _edit_card(c, lambda d: d["weights"].update(sha256=file_sha256(w)))
    with pytest.raises(ModelWeightsError, match="not a readable safetensors"):
        load_model(w)


def test_device_selection():
    assert select_device("cpu") == torch.device("cpu")
    auto = select_device()
    if torch.cuda.is_available():
        assert auto.type == "cuda"
    else:
        assert auto.type in ("mps", "cpu")
        with pytest.raises(DeviceError, match="CUDA is not available"):
            select_device("cuda")
    with pytest.raises(CTCamError):
        select_device("tpu")


def test_engine_never_unpickles():
    """No pickle.load, and torch.load only with weights_only=True, anywhere in engine/."""
    root = Path(__file__).resolve().parents[2] / "engine"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = getattr(node.func.value, "id", "")
                if owner == "pickle" and node.func.attr in ("load", "loads"):
                    offenders.append(str(path))
                if owner == "torch" and node.func.attr == "load":
                    ok = any(k.arg == "weights_only" and getattr(k.value, "value", None) is True
                             for k in node.keywords)
                    if not ok:
                        offenders.append(str(path))
    assert not offenders


def test_input_windows_round_trip_and_keep_the_cam_identity(tmp_path):
    from engine.cam import explain

    torch.manual_seed(3)
    windows = [[-0.2, -0.03], [0.3, 0.52]]  # model-input units
    net = AxialNet(len(LABELS), PREP["shape"], **ARCH, input_windows=windows).eval()
    assert net.backbone[0].in_channels == 9  # 3 slices x (raw + 2 windows)
    x = torch.randn(1, *PREP["shape"]) * 0.3
    g = net.to_groups(x)
    w = net.windowed(g)
    torch.testing.assert_close(w[:, :3], g)
    torch.testing.assert_close(w[:, 3:6], ((g + 0.2) / 0.17).clamp(0, 1))
    card = new_card(net, LABELS, ORGAN_CODES, PREP)
    assert card["architecture"]["input_windows"] == windows
    wpath, cpath = save_model(net, card, tmp_path)
    loaded = load_model(wpath, device="cpu")
    assert loaded.model.input_windows == [tuple(v) for v in windows]
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), net(x))
    out = explain(loaded.model, x, path="fast")
    np.testing.assert_allclose(out.maps["hirescam"].astype(np.float64).sum(axis=(1, 2, 3)),
                               out.logits - out.biases, rtol=1e-5, atol=1e-5)
    # a card whose windows are malformed, or do not match the weights, is refused
    _edit_card(cpath, lambda c: c["architecture"].update(input_windows=[[0.5, 0.1]]))
    with pytest.raises(ModelCardError, match="input_windows"):
        load_model(wpath, device="cpu")
    _edit_card(cpath, lambda c: c["architecture"].pop("input_windows"))
    with pytest.raises((ModelCardError, ModelWeightsError)):
        load_model(wpath, device="cpu")


def test_loading_the_bundled_model_does_not_import_torch_dynamo():
    # normal_() on the meta device (the card's shape check) imported torch._dynamo: 1.5 s
    # of every model load, i.e. of the first scan's wait (docs/performance.md)
    import subprocess
    import sys

    code = ("import sys; from engine.model import load_model; load_model(); "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
