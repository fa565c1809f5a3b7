"""Test-time shifts (engine.cam.shifts): one zero shift is the plain fast path, the maps of
several shifts equal an independent autograd computation (gradient x activation of the mean
logit, each run brought back to model voxels by interpolation), HiResCAM keeps its identity,
and a card's shifts are validated before they bound a loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cam_checks import small_lse_net

from engine.cam.fast import batch_maps
from engine.cam.shifts import fine_shape, fine_step, identity_gap, map_cell, shifted_batch_maps
from engine.model.errors import ModelCardError
from engine.model.shifts_card import MAX_SHIFTS, card_shifts, shift_problems

SHAPE = (32, 32, 12)
C = 3
SHIFTS = [(0, 0, 0), (2, 0, 0), (0, -2, 1), (6, 4, 2)]  # map cell (4, 4, 3): parts of a cell


@pytest.fixture(scope="module")
def net():
    return small_lse_net(7, SHAPE, C)


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(5)
    return torch.randn(2, C, *SHAPE)


def test_one_zero_shift_is_the_plain_fast_path(net, x):
    plain = batch_maps(net, net.features(x), ("hirescam", "gradcam"))
    shifted = shifted_batch_maps(net, x, [(0, 0, 0)], ("hirescam", "gradcam"))
    assert torch.allclose(shifted["logits"], plain["logits"])
    for m in ("hirescam", "gradcam"):
        assert torch.allclose(shifted[m], plain[m].permute(0, 1, 3, 4, 2))


def test_common_grid_step_is_the_gcd_of_cell_and_shifts(net):
    cell = map_cell(net)
    assert fine_step(cell, [(0, 0, 0)]) == cell
    assert fine_step(cell, SHIFTS) == (2, 2, 1)
    assert fine_step((8, 8, 3), [(0, 0, 0), (4, 0, 0), (4, 4, 1)]) == (4, 4, 1)
    assert fine_step((8, 8, 3), [(0, 0, 0), (3, 0, 0)]) == (1, 8, 3)
    assert fine_shape(net, [(0, 0, 0)]) == (*net.feature_shape[1:], net.n_groups)


def _autograd_voxel_maps(net, x, shifts):
    """Independent of the module: per run, gradient of the mean logit x activation (HiResCAM)
    and the gradient averaged over cells x activation (Grad-CAM), each run's map brought to
    model voxels by nearest interpolation (value / voxels per cell) and rolled back by -s."""
    acts = []
    for s in shifts:
        a = net.features(torch.roll(x, s, dims=(-3, -2, -1))).detach().requires_grad_(True)
        acts.append(a)
    y = torch.stack([net.classify(a) for a in acts]).mean(0)  # (B, L)
    B, L = y.shape
    X, Y, Z = SHAPE
    cell = map_cell(net)
    out = {"hirescam": torch.zeros(B, L, X, Y, Z), "gradcam": torch.zeros(B, L, X, Y, Z)}
    for b in range(B):
        for c in range(L):
            grads = torch.autograd.grad(y[b, c], acts, retain_graph=True)
            for s, a, g in zip(shifts, acts, grads):
                hires = (g[b] * a[b]).sum(1)  # (G, h, w)
                alpha = g[b].mean(dim=(0, 2, 3))  # (F,) mean over all cells
                grad = torch.einsum("f,gfhw->ghw", alpha, a[b])  # g holds the 1/S of the mean
                for m, v in (("hirescam", hires), ("gradcam", grad)):
                    vol = v.permute(1, 2, 0)[None, None]  # (1, 1, h, w, G)
                    up = F.interpolate(vol, size=(X, Y, Z), mode="nearest")[0, 0] / float(np.prod(cell))
                    out[m][b, c] += torch.roll(up.detach(), tuple(-t for t in s), dims=(0, 1, 2))
    return y.detach(), out


def test_shifted_maps_equal_autograd_of_the_mean_logit(net, x):
    got = shifted_batch_maps(net, x, SHIFTS, ("hirescam", "gradcam"))
    y, want = _autograd_voxel_maps(net, x, SHIFTS)
    assert torch.allclose(got["logits"], y, atol=1e-5)
    step = fine_step(map_cell(net), SHIFTS)
    for m in ("hirescam", "gradcam"):
        fine = got[m]
        up = F.interpolate(fine.flatten(0, 1)[:, None], size=SHAPE, mode="nearest")[:, 0]
        up = up.reshape(want[m].shape) / float(np.prod(step))
        scale = want[m].abs().max()
        assert scale > 0
        assert torch.allclose(up, want[m], atol=1e-5 * float(scale)), m


def test_hirescam_identity_holds_for_the_mean_of_shifted_runs(net, x):
    got = shifted_batch_maps(net, x, SHIFTS, ("hirescam",))
    gap = identity_gap(net, x, SHIFTS)
    total = got["hirescam"].sum(dim=(2, 3, 4))
    assert torch.allclose(total, got["logits"] - net.head.bias + gap, atol=1e-4)
    assert not torch.allclose(gap, torch.zeros_like(gap))  # the log-sum-exp term is there


def test_card_shifts_are_checked():
    assert shift_problems(None) == []
    assert shift_problems([[0, 0, 0], [4, 0, -1]]) == []
    assert card_shifts({}) == ((0, 0, 0),)
    assert card_shifts({"test_time_shifts": [[4, 0, 1]]}) == ((4, 0, 1),)
    for bad in ([], [[0, 0]], [[0, 0, 17]], [[0.5, 0, 0]], [[True, 0, 0]], "0,0,0",
                [[0, 0, 0]] * 2, [[i, 0, 0] for i in range(MAX_SHIFTS + 1)]):
        assert shift_problems(bad), bad


def test_a_card_with_bad_shifts_is_refused_on_load(tmp_path):
    import json
    import shutil
    from pathlib import Path

    from engine.model import load_model

    root = Path(__file__).resolve().parents[2] / "resources" / "model"
    shutil.copy(root / "axialnet.safetensors", tmp_path / "axialnet.safetensors")
    card = json.loads((root / "axialnet.json").read_text(encoding="utf-8"))
    card.pop("ensemble_members", None)  # one network: the shifts alone
    card["test_time_shifts"] = [[0, 0, 0]] * 40
    (tmp_path / "axialnet.json").write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelCardError, match="test_time_shifts"):
        load_model(tmp_path / "axialnet.safetensors", device="cpu")
    card["test_time_shifts"] = [[0, 0, 0], [4, 4, 1]]
    (tmp_path / "axialnet.json").write_text(json.dumps(card), encoding="utf-8")
    assert load_model(tmp_path / "axialnet.safetensors", device="cpu").test_time_shifts == ((0, 0, 0), (4, 4, 1))


def _card_copy(tmp_path, shifts):
    import json
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "resources" / "model"
    shutil.copy(root / "axialnet.safetensors", tmp_path / "axialnet.safetensors")
    card = json.loads((root / "axialnet.json").read_text(encoding="utf-8"))
    card.pop("ensemble_members", None)  # one network: the shifts alone
    card.pop("test_time_shifts", None)
    if shifts is not None:
        card["test_time_shifts"] = shifts
    (tmp_path / "axialnet.json").write_text(json.dumps(card), encoding="utf-8")
    return tmp_path / "axialnet.safetensors"


def test_explain_of_a_card_with_shifts_averages_the_runs_on_the_finer_grid(tmp_path):
    from engine.cam import explain
    from engine.model import load_model

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shifts = [[0, 0, 0], [4, 0, 0], [0, 4, 1]]
    plain = load_model(_card_copy(tmp_path / "a", None), device="cpu")
    tta = load_model(_card_copy(tmp_path / "b", shifts), device="cpu")
    torch.manual_seed(0)
    x = torch.rand(1, plain.model.in_channels, *plain.model.input_shape)
    affine = np.diag([4.0, 4.0, 7.5, 1.0])
    one, avg = explain(plain, x, affine), explain(tta, x, affine)
    assert one.path == "fast" and avg.path == "fast+shifts"
    assert one.maps["hirescam"].shape[1:] == (12, 12, 16)
    assert avg.maps["hirescam"].shape[1:] == (24, 24, 48)
    runs = [explain(plain, torch.roll(x, tuple(s), dims=(-3, -2, -1)), affine).logits for s in shifts]
    assert np.allclose(avg.logits, np.mean(runs, axis=0), atol=1e-4)
    # the same patient point: map voxel centres through each map affine
    centre = avg.map_affine @ [0, 0, 0, 1]
    assert np.allclose(centre[:3], [4 * 1.5, 4 * 1.5, 0.0])  # a 4 x 4 x 1 voxel block's centre
    gap = identity_gap(tta.model, x, tta.test_time_shifts).numpy()[0]
    assert np.allclose(avg.maps["hirescam"].sum(axis=(1, 2, 3)), avg.logits - avg.biases + gap, atol=1e-3)


def test_card_shifts_tool_sets_validates_and_clears(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("card_shifts", root / "tools" / "card_shifts.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    weights = _card_copy(tmp_path, None)
    card = tmp_path / "axialnet.json"
    assert tool.main(["--card", str(card), "--shifts", "0,0,0 4,0,1"]) == 0
    assert json.loads(card.read_text())["test_time_shifts"] == [[0, 0, 0], [4, 0, 1]]
    assert tool.main(["--card", str(card), "--shifts", "0,0,99"]) == 2  # refused, card unchanged
    assert json.loads(card.read_text())["test_time_shifts"] == [[0, 0, 0], [4, 0, 1]]
    assert tool.main(["--card", str(card), "--none"]) == 0
    assert "test_time_shifts" not in json.loads(card.read_text())
    assert weights.is_file()


def test_a_cancel_check_runs_before_each_shifted_run_and_may_stop_them(net, x):
    from engine.errors import Cancelled

    calls = []

    def check():
        calls.append(1)
        if len(calls) == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        shifted_batch_maps(net, x, SHIFTS, ("hirescam",), before_run=check)
    assert len(calls) == 2  # the second run never started
    calls.clear()
    shifted_batch_maps(net, x, SHIFTS[:1], ("hirescam",), before_run=lambda: calls.append(1))
    assert len(calls) == 1
