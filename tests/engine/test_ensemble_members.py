"""Ensembles of runs (engine.model.members_card, engine.cam.shifts): the maps of several
networks under several shifts equal autograd of the mean logit, HiResCAM keeps its identity
with the mean bias, a card's members are checked before a name becomes a path, and the
card tool adds a member only when the whole ensemble loads."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cam_checks import small_lse_net
from safetensors.torch import save_file

from engine.cam.shifts import identity_gap, map_cell, mean_bias, shifted_batch_maps
from engine.model.card import file_sha256, validate_card
from engine.model.errors import ModelCardError, ModelWeightsError
from engine.model.members_card import MAX_MEMBERS, member_problems, weights_id

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (32, 32, 12)
C = 3
SHIFTS = [(0, 0, 0), (2, 0, 0), (0, -2, 1)]


@pytest.fixture(scope="module")
def nets():
    return [small_lse_net(7, SHAPE, C), small_lse_net(8, SHAPE, C)]


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(5)
    return torch.randn(2, C, *SHAPE)


def test_ensemble_maps_equal_autograd_of_the_mean_logit(nets, x):
    """Independent of the module: gradient of the mean over (network, shift) of the logit x
    each run's activation, brought to model voxels by nearest interpolation, rolled back."""
    got = shifted_batch_maps(nets, x, SHIFTS, ("hirescam",))
    runs = [(n, s, n.features(torch.roll(x, s, dims=(-3, -2, -1))).detach().requires_grad_(True))
            for n in nets for s in SHIFTS]
    y = torch.stack([n.classify(a) for n, _, a in runs]).mean(0)
    assert torch.allclose(got["logits"], y.detach(), atol=1e-5)
    B, L = y.shape
    cell = map_cell(nets[0])
    want = torch.zeros(B, L, *SHAPE)
    for b in range(B):
        for c in range(L):
            grads = torch.autograd.grad(y[b, c], [a for _, _, a in runs], retain_graph=True)
            for (_, s, a), g in zip(runs, grads):
                vol = (g[b] * a[b]).sum(1).permute(1, 2, 0)[None, None]
                up = F.interpolate(vol, size=SHAPE, mode="nearest")[0, 0] / float(np.prod(cell))
                want[b, c] += torch.roll(up.detach(), tuple(-t for t in s), dims=(0, 1, 2))
    fine = got["hirescam"]
    up = F.interpolate(fine.flatten(0, 1)[:, None], size=SHAPE, mode="nearest")[:, 0].reshape(want.shape)
    up = up * (fine.shape[2] * fine.shape[3] * fine.shape[4]) / float(np.prod(SHAPE))
    assert want.abs().max() > 0
    assert torch.allclose(up, want, atol=1e-5 * float(want.abs().max()))
    # and it is not simply one network's maps
    one = shifted_batch_maps(nets[0], x, SHIFTS, ("hirescam",))
    assert (one["hirescam"] - got["hirescam"]).abs().max() > 0.1 * got["hirescam"].abs().max()


def test_hirescam_identity_of_an_ensemble_uses_the_mean_bias(nets, x):
    got = shifted_batch_maps(nets, x, SHIFTS, ("hirescam",))
    total = got["hirescam"].sum(dim=(2, 3, 4))
    assert torch.allclose(total, got["logits"] - mean_bias(nets) + identity_gap(nets, x, SHIFTS), atol=1e-4)
    assert not torch.allclose(mean_bias(nets), nets[0].head.bias)


def test_networks_of_other_grids_are_refused(nets, x):
    other = small_lse_net(9, (32, 32, 24), C)
    with pytest.raises(ValueError, match="share"):
        shifted_batch_maps([nets[0], other], x, SHIFTS, ("hirescam",))


SHA = "a" * 64


def test_members_are_checked_before_a_name_becomes_a_path():
    assert member_problems(None) == []
    assert member_problems([{"file": "run2.safetensors", "sha256": SHA}], "axialnet.safetensors") == []
    bad = [[], "run2.safetensors", [{"file": "run2.safetensors"}],
           [{"file": "../run2.safetensors", "sha256": SHA}], [{"file": "sub/run2.safetensors", "sha256": SHA}],
           [{"file": "run2.pt", "sha256": SHA}], [{"file": "run2.safetensors", "sha256": "xyz"}],
           [{"file": "run2.safetensors", "sha256": SHA}] * 2,
           [{"file": f"r{i}.safetensors", "sha256": SHA} for i in range(MAX_MEMBERS + 1)],
           [{"file": "axialnet.safetensors", "sha256": SHA}],
           [{"file": "run2.safetensors", "sha256": SHA, "extra": 1}]]
    for value in bad:
        assert member_problems(value, "axialnet.safetensors"), value
    card = json.loads((ROOT / "resources" / "model" / "axialnet.json").read_text(encoding="utf-8"))
    card["ensemble_members"] = [{"file": "../../etc/x.safetensors", "sha256": SHA}]
    with pytest.raises(ModelCardError, match="ensemble_members"):
        validate_card(card)
    assert weights_id({"weights": {"sha256": "s1"}, "ensemble_members": [{"file": "b.safetensors", "sha256": "s2"}]}) == "s1+s2"


def _tool():
    spec = importlib.util.spec_from_file_location("card_members", ROOT / "tools" / "card_members.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _bundled_copy(tmp_path: Path) -> Path:
    src = ROOT / "resources" / "model"
    shutil.copy(src / "axialnet.safetensors", tmp_path / "axialnet.safetensors")
    card = json.loads((src / "axialnet.json").read_text(encoding="utf-8"))
    card.pop("ensemble_members", None)  # the bundled card's first network alone
    (tmp_path / "axialnet.json").write_text(json.dumps(card), encoding="utf-8")
    return tmp_path / "axialnet.json"


def test_card_tool_adds_a_member_and_explain_averages_the_networks(tmp_path):
    from engine.cam import explain
    from engine.model import load_model

    card = _bundled_copy(tmp_path)
    single = load_model(card=card, device="cpu")
    state = {k: v.clone() for k, v in single.model.state_dict().items()}
    torch.manual_seed(3)
    state["head.weight"] += 0.05 * torch.randn_like(state["head.weight"])
    state["head.bias"] += 0.5
    save_file(state, str(tmp_path / "run2.safetensors"))
    assert _tool().main(["--card", str(card), "--add", str(tmp_path / "run2.safetensors"),
                         "--name", "axialnet_run2.safetensors"]) == 0
    saved = json.loads(card.read_text(encoding="utf-8"))
    assert saved["ensemble_members"] == [{"file": "axialnet_run2.safetensors",
                                          "sha256": file_sha256(tmp_path / "run2.safetensors")}]
    ens = load_model(card=card, device="cpu")
    assert len(ens.networks) == 2
    x = torch.rand(1, single.model.in_channels, *single.model.input_shape)
    affine = np.diag([4.0, 4.0, 7.5, 1.0])
    out = explain(ens, x, affine)
    assert out.path == "fast+ensemble"
    second = shifted_batch_maps(ens.members[0], x, ens.test_time_shifts, ("hirescam",))
    first = shifted_batch_maps(ens.model, x, ens.test_time_shifts, ("hirescam",))
    assert np.allclose(out.logits, ((first["logits"] + second["logits"]) / 2).numpy(), atol=1e-4)
    assert np.allclose(out.biases, single.model.head.bias.detach().numpy() + 0.25, atol=1e-5)
    gap = identity_gap(ens.networks, x, ens.test_time_shifts).numpy()[0]
    assert np.allclose(out.maps["hirescam"].sum(axis=(1, 2, 3)), out.logits - out.biases + gap, atol=1e-3)
    with pytest.raises(ValueError, match="ensemble of 2"):
        explain(ens, x, affine, path="generic")


def test_a_damaged_or_misfit_member_is_refused_and_the_card_kept(tmp_path):
    from engine.model import load_model

    card = _bundled_copy(tmp_path)
    before = card.read_bytes()
    save_file({"head.weight": torch.zeros(3, 3)}, str(tmp_path / "misfit.safetensors"))
    assert _tool().main(["--card", str(card), "--add", str(tmp_path / "misfit.safetensors"),
                         "--name", "member.safetensors"]) == 2
    assert card.read_bytes() == before and not (tmp_path / "member.safetensors").exists()
    assert _tool().main(["--card", str(card), "--add", str(tmp_path / "misfit.safetensors"),
                         "--name", "../member.safetensors"]) == 2
    assert card.read_bytes() == before
    # a member file changed after the card was written: named in the error
    shutil.copy(tmp_path / "axialnet.safetensors", tmp_path / "run2.safetensors")
    data = json.loads(before)
    data["ensemble_members"] = [{"file": "run2.safetensors", "sha256": "0" * 64}]
    card.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelWeightsError, match="run2.safetensors"):
        load_model(card=card, device="cpu")
    (tmp_path / "run2.safetensors").unlink()
    with pytest.raises(ModelWeightsError, match="not found"):
        load_model(card=card, device="cpu")
