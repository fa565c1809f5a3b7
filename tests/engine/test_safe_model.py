"""Safe model files (docs/model.md): pickles are never executed, weights match their card.

The payload is a real pickle whose ``__reduce__`` creates a marker file when unpickled (the
control test proves it does, in a child process).  Disguised as ``.safetensors``, saved by
``torch.save`` and passed as ``.pt``, through the API, ``ctcam explain`` and the batch: it is
refused with a ModelWeightsError and the marker never appears.
"""

from __future__ import annotations

import ast
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_batch import make_scan, make_tiny_model

from engine.cli import main as ctcam
from engine.io.nifti import write_nifti
from engine.model import ModelWeightsError, load_model
from engine.model.card import file_sha256

ROOT = Path(__file__).resolve().parents[2]


class WriteMarker:
    """Unpickling this calls ``open(marker, "w")``: the file appears if the pickle runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def model(tmp_path):
    w = Path(make_tiny_model(tmp_path / "good"))
    return w, w.with_suffix(".json")


def _card_for(card_src: Path, weights: Path, dest: Path) -> Path:
    """A copy of a valid card that records ``weights``' sha256 (so only the format can stop it)."""
    card = json.loads(card_src.read_text())
    card["weights"] = {"file": weights.name, "sha256": file_sha256(weights)}
    dest.write_text(json.dumps(card))
    return dest


def _pickle_payload(marker: Path) -> bytes:
    return pickle.dumps({"head.weight": WriteMarker(marker)}, protocol=4)


def _torch_payload(marker: Path, path: Path) -> Path:
    torch.save({"head.weight": torch.zeros(3), "evil": WriteMarker(marker)}, path)
    return path


def test_control_the_payload_really_writes_its_marker(tmp_path):
    marker = tmp_path / "control-marker"
    code = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
    subprocess.run([sys.executable, "-c", code], input=_pickle_payload(marker), check=True,
                   cwd=Path(__file__).parent, timeout=60)
    assert marker.exists()


@pytest.mark.parametrize("kind", ["pickle-as-safetensors", "torch.save-as-safetensors",
                                  "torch.save-as-.pt", "pickle-as-.pt"])
def test_disguised_pickle_is_refused_without_running(kind, model, tmp_path):
    _, good_card = model
    marker = tmp_path / "marker"
    suffix = ".pt" if kind.endswith(".pt") else ".safetensors"
    weights = tmp_path / f"evil{suffix}"
    if kind.startswith("pickle"):
        weights.write_bytes(_pickle_payload(marker))
    else:
        _torch_payload(marker, weights)
    card = _card_for(good_card, weights, tmp_path / "evil.json")  # sha256 matches: parser reached
    with pytest.raises(ModelWeightsError, match="not a readable safetensors file") as info:
        load_model(weights, card, device="cpu")
    assert str(weights) in str(info.value) and "only loads safetensors" in str(info.value)
    assert not marker.exists()


def test_pickle_with_stale_card_is_refused_by_checksum(model, tmp_path):
    w, c = model
    marker = tmp_path / "marker"
    w.write_bytes(_pickle_payload(marker))  # replace the weights, keep their original card
    with pytest.raises(ModelWeightsError, match="does not match its model card"):
        load_model(w, c, device="cpu")
    assert not marker.exists()


def test_cli_and_batch_refuse_the_payload(model, tmp_path, capsys):
    _, good_card = model
    marker = tmp_path / "marker"
    evil = _torch_payload(marker, tmp_path / "evil.pt")
    _card_for(good_card, evil, tmp_path / "evil.json")
    vol, _ = make_scan(0)
    scan = write_nifti(tmp_path / "scan.nii.gz", vol.hu, vol.affine)
    rc = ctcam(["explain", str(scan), "--out", str(tmp_path / "o1"), "--model", str(evil),
                "--organs", "none", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:") and "safetensors" in err
    rc = ctcam(["explain", str(scan), str(scan), "--out", str(tmp_path / "o2"), "--model",
                str(evil), "--organs", "none", "--quiet"])
    assert rc == 2 and "safetensors" in capsys.readouterr().err
    assert not marker.exists()


def test_one_tampered_byte_is_refused(model):
    w, c = model
    data = bytearray(w.read_bytes())
    data[-5] ^= 0x01  # inside the last tensor: still valid safetensors, different weights
    w.write_bytes(bytes(data))
    with pytest.raises(ModelWeightsError, match="does not match its model card") as info:
        load_model(w, c, device="cpu")
    assert str(w) in str(info.value) and str(c) in str(info.value)


# -- no unpickling anywhere in the code base ------------------------------------------------------
_UNPICKLERS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"),
               ("cloudpickle", "load"), ("cloudpickle", "loads"), ("dill", "load"),
               ("dill", "loads"), ("joblib", "load"), ("pd", "read_pickle"),
               ("pandas", "read_pickle"), ("shelve", "open"), ("marshal", "loads"),
               ("marshal", "load")}


def unpickling_calls(source: str) -> list[str]:
    """Offending calls/imports in Python ``source``: unpickling, torch.load without
    ``weights_only=True``, numpy.load with ``allow_pickle=True``."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in {m for m, _ in _UNPICKLERS}:
            bad += [f"from {node.module} import {a.name}" for a in node.names
                    if (node.module, a.name) in _UNPICKLERS]
        if isinstance(node, ast.ImportFrom) and node.module == "torch":
            bad += ["from torch import load" for a in node.names if a.name == "load"]
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = getattr(node.func.value, "id", "")
        attr = node.func.attr
        kw = {k.arg: getattr(k.value, "value", None) for k in node.keywords}
        where = f"line {node.lineno}: {owner}.{attr}"
        if (owner, attr) in _UNPICKLERS:
            bad.append(where)
        elif owner == "torch" and attr == "load" and kw.get("weights_only") is not True:
            bad.append(where + " without weights_only=True")
        elif owner in ("np", "numpy") and attr == "load" and kw.get("allow_pickle") is True:
            bad.append(where + " with allow_pickle=True")
    return bad


def test_checker_finds_planted_offenders():
    src = ("import pickle, torch, numpy as np\nfrom pickle import loads\n"
           "pickle.load(f)\ntorch.load(p)\ntorch.load(p, weights_only=False)\n"
           "np.load(p, allow_pickle=True)\ntorch.load(p, weights_only=True)\nnp.load(p)\n"
           "pickle.dumps(x)\n")
    assert len(unpickling_calls(src)) == 5


def test_no_unpickling_in_the_code_base():
    files = [p for d in ("engine", "viewer", "tools", "benchmarks", "tests")
             for p in sorted((ROOT / d).rglob("*.py")) if ".venv" not in p.parts]
    assert len(files) > 20
    offenders = {str(p.relative_to(ROOT)): bad for p in files
                 if (bad := unpickling_calls(p.read_text(encoding="utf-8")))}
    assert offenders == {}
