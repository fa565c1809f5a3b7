"""Training: mask loss, metrics, and a tiny end-to-end ``ctcam train`` on a user folder."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest
import torch

from engine.cam.geometry import map_affine
from engine.cam.sampling import sample_on_grid
from engine.cli.train import main as train_main
from engine.model import load_model
from engine.model.channel_sets import CHANNEL_SETS
from engine.model.losses import allowed_regions, mask_loss
from engine.model.metrics import auroc, localisation_scores, upsample_maps


def test_allowed_region_is_organ_when_present_and_empty_when_absent():
    cells = torch.zeros(1, 3, 2, 2, 1, dtype=torch.uint8)
    cells[0, 0, 0, 0, 0] = 255  # organ 0 covers one cell
    cells[0, 2, 1, 1, 0] = 10  # organ 2 partly covers another
    y = torch.tensor([[1.0, 0.0, 1.0]])
    label_organ = torch.tensor([0, 0, 2])
    r = allowed_regions(y, cells, label_organ)
    assert r[0, 0].sum() == 1 and r[0, 0, 0, 0, 0]
    assert r[0, 1].sum() == 0  # absent: nothing allowed
    assert r[0, 2].sum() == 1 and r[0, 2, 1, 1, 0]


def test_mask_loss_is_bce_of_outside_evidence_per_map():
    cams = torch.randn(2, 3, 2, 2, 1, requires_grad=True)
    cells = torch.zeros(2, 3, 2, 2, 1, dtype=torch.uint8)
    cells[:, 0, 0] = 255
    y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    lo = torch.tensor([0, 1, 2])
    has = torch.tensor([True, True])
    loss = mask_loss(cams, y, cells, lo, has, "signed")
    outside = ~allowed_regions(y, cells, lo)
    o = (cams * outside).flatten(2).sum(-1)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(o, torch.zeros_like(o))
    torch.testing.assert_close(loss, ref)
    loss.backward()
    assert cams.grad[0, 0, 0].abs().sum() == 0  # inside the allowed region: no push
    assert (cams.grad[0, 1] > 0).all()  # absent label: everything pushed down
    assert (cams.grad[0, 0, 1] > 0).all()  # present label, outside its organ: pushed down
    loss.grad = None
    # an absent label's outside evidence is its whole map, i.e. logit minus bias
    torch.testing.assert_close(o[0, 1], cams[0, 1].sum())
    # cases without organ maps contribute nothing
    assert float(mask_loss(cams, y, cells, lo, torch.tensor([False, False])).detach()) == 0.0


def test_positive_mask_loss_cannot_be_met_by_cancelling_evidence_outside_the_organ():
    # one label, present, organ = cell (0, 0); outside: +3 in one cell cancelled by -3 in another
    cams = torch.zeros(1, 1, 2, 2, 1)
    cams[0, 0, 0, 1, 0], cams[0, 0, 1, 0, 0], cams[0, 0, 1, 1, 0] = 3.0, -2.5, -0.5
    cams.requires_grad_(True)
    cells = torch.zeros(1, 1, 2, 2, 1, dtype=torch.uint8)
    cells[0, 0, 0, 0] = 255
    y, lo, has = torch.tensor([[1.0]]), torch.tensor([0]), torch.tensor([True])
    signed = mask_loss(cams, y, cells, lo, has, "signed")
    positive = mask_loss(cams, y, cells, lo, has)  # the default
    torch.testing.assert_close(signed, torch.tensor(np.log(2.0), dtype=torch.float32))  # O = 0
    torch.testing.assert_close(positive, torch.nn.functional.softplus(torch.tensor(3.0)))
    positive.backward()
    g = cams.grad[0, 0, :, :, 0]
    assert g[0, 1] > 0  # the positive outside cell is pushed down
    assert g[1, 0] == 0 and g[1, 1] == 0 and g[0, 0] == 0  # negative outside, inside: no push
    with pytest.raises(ValueError, match="mask evidence"):
        mask_loss(cams, y, cells, lo, has, "absolute")


def test_auroc_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(60) < 0.4
    s = np.round(rng.normal(size=60) + y, 1)  # rounding creates ties
    pos, neg = s[y], s[~y]
    pairs = (pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()
    assert auroc(y, s) == pytest.approx(pairs)
    assert np.isnan(auroc(np.ones(5), np.arange(5)))


def test_upsampling_for_metrics_matches_world_sampling():
    """Evaluation's torch upsampling and the viewer's world-space sampling agree."""
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(1, 3, 4, 2)).astype(np.float32)
    shape = (12, 16, 6)
    up = upsample_maps(maps, shape)[0].numpy()
    model_aff = np.diag([2.0, 3.0, 4.0, 1.0])
    ref = sample_on_grid(maps[0], map_affine(model_aff, shape, maps.shape[1:]), model_aff, shape)
    np.testing.assert_allclose(up, ref, rtol=1e-5, atol=1e-6)


def test_localisation_scores_by_hand():
    m = torch.zeros(1, 4, 1, 1)
    m[0, :, 0, 0] = torch.tensor([1.0, 0.5, -2.0, 0.2])
    inside = torch.tensor([[True, False, True, False]])[:, :, None, None]
    ious, mass = localisation_scores(m, inside, thresholds=np.array([0.3, 0.6]))
    # normalised relu: [1, .5, 0, .2]; > .3 -> {0, 1}: 1 in / 2; > .6 -> {0}: 1/1
    np.testing.assert_allclose(ious[0], [0.5, 1.0])
    assert mass[0] == pytest.approx(1.0 / 1.7)


def _toy_folder(root, n=16):
    """Volumes with a bright blob in the right (x > 0) or left lung region."""
    (root / "volumes").mkdir(parents=True)
    (root / "organs").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    shape = (40, 40, 16)
    aff = np.diag([-8.0, -8.0, 20.0, 1.0])  # LPS-like storage: readers must reorient
    aff[:3, 3] = [156.0, 156.0, -150.0]
    ijk = np.indices(shape)
    x = -8.0 * ijk[0] + 156
    y = -8.0 * ijk[1] + 156
    body = (x / 140) ** 2 + (y / 110) ** 2 < 1
    organs = np.zeros(shape, np.uint8)
    organs[body & (x > 10)] = 1
    organs[body & (x < -10)] = 3
    for i in range(n):
        hu = np.where(body, -850, -1000).astype(np.int16)
        r, left = int(rng.random() < 0.5), int(rng.random() < 0.5)
        for flag, xc in ((r, 60), (left, -60)):
            if flag:
                hu[(x - xc) ** 2 + y**2 < 30**2] = 40
        hu += rng.normal(0, 20, shape).astype(np.int16)
        nib.save(nib.Nifti1Image(hu, aff), str(root / "volumes" / f"c{i}.nii"))
        nib.save(nib.Nifti1Image(organs, aff), str(root / "organs" / f"c{i}.nii.gz"))
        rows.append({"case": f"c{i}", "split": "val" if i % 4 == 3 else "train",
                     "right_lung/nodule": r, "left_lung/nodule": left})
    with (root / "labels.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


TINY = ["--shape", "32", "32", "12", "--spacing", "10", "10", "25", "--stem-width", "4",
        "--widths", "4", "8", "--strides", "1", "2", "--reduce-widths", "4", "--batch-size", "4",
        "--threads", "1"]


def test_train_on_user_folder_writes_loadable_model_and_resumes(tmp_path, capsys):
    torch.set_num_threads(1)
    data = tmp_path / "data"
    _toy_folder(data)
    out = tmp_path / "out"
    assert train_main(["--data", str(data), "--out", str(out), "--epochs", "2", *TINY]) == 0
    card = json.loads((out / "axialnet.json").read_text())
    assert [lab["name"] for lab in card["labels"]] == ["right_lung/nodule", "left_lung/nodule"]
    assert card["training"]["mask_loss"] is True and card["training"]["epochs"] == 2
    assert card["training"]["n_train"] == 12 and card["training"]["n_val"] == 4
    assert len(card["preprocessing"]["mean"]) == len(card["preprocessing"]["channels"]) == 15
    assert card["architecture"]["input_maxima"] is True and card["architecture"]["backbone_channels"] == 4
    assert card["preprocessing"]["interpolation"] == "footprint" and card["version"] == "3.4"
    assert "--channels evidence_bronchogram" in card["training"]["recipe"]
    assert all(0 <= m < 1 for m in card["preprocessing"]["mean"])
    assert card["architecture"]["pooling"] == "lse" and "--pooling lse" in card["training"]["recipe"]
    assert card["training"]["mask_evidence"] == "positive" and "--mask-evidence positive" in card["training"]["recipe"]
    assert "hardware" in card["training"] and card["training"]["train_time_s"] > 0
    assert "synthetic" in card["synthetic_data_statement"]
    lm = load_model(out / "axialnet.safetensors", device="cpu")
    assert lm.model.n_labels == 2
    state = json.loads((out / "checkpoint.json").read_text())
    assert state["epoch"] == 2 and state["step"] == 6 and len(state["history"]) == 2
    # resume to 3 epochs: continues from the checkpoint instead of starting over
    assert train_main(["--data", str(data), "--out", str(out), "--epochs", "3", "--resume", *TINY]) == 0
    state = json.loads((out / "checkpoint.json").read_text())
    assert state["epoch"] == 3 and state["step"] == 9 and len(state["history"]) == 3
    assert "resumed at step 6" in (out / "train.log").read_text()


def test_train_reports_bad_folder_as_error(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    assert train_main(["--data", str(tmp_path / "d"), "--out", str(tmp_path / "o"), *TINY]) == 2
    assert "labels.csv" in capsys.readouterr().err


def test_shift_augmentation_keeps_organ_cells_aligned():
    from engine.model.batches import batch_tensors
    from engine.model.dataset import ArrayDataset, organ_cell_fractions

    rng = np.random.default_rng(3)
    organs = np.zeros((2, 16, 16, 6), np.uint8)
    organs[0, 2:9, 4:12, 0:3] = 1
    organs[1, 5:16, 0:7, 3:6] = 3
    cells = np.stack([organ_cell_fractions(o, [1, 2, 3], (4, 4, 2)) for o in organs])
    ds = ArrayDataset(x=(organs > 0).astype(np.uint8) * 255, y=np.zeros((2, 1), np.uint8),
                      organ_cells=cells, has_organs=np.ones(2, bool), ids=np.array(["a", "b"]))
    x, _, c, _, _ = batch_tensors(ds, np.arange(2), 0.0, torch.device("cpu"), shift_cells=1, rng=rng)
    moved = False
    for b in range(2):
        again = organ_cell_fractions((x[b].numpy() > 0.5).astype(np.uint8) * organs[b].max(),
                                     [1, 2, 3], (4, 4, 2))
        np.testing.assert_array_equal(again, c[b].numpy())
        moved |= not np.array_equal(c[b].numpy(), cells[b])
    assert moved


def _train_one_epoch(tmp_path, *options: str):
    """(data folder, output folder, exit code) of one epoch on the toy folder."""
    torch.set_num_threads(1)
    data = tmp_path / "data"
    _toy_folder(data)
    out = tmp_path / "out"
    rc = train_main(["--data", str(data), "--out", str(out), "--epochs", "1", *options, *TINY])
    return data, out, rc


def test_train_with_input_windows_records_them_in_the_card(tmp_path):
    data, out, rc = _train_one_epoch(tmp_path, "--input-windows-hu", "-1000", "-700", "-150", "250",
                                     "--head-lr-mult", "4", "--channels", "mean")
    assert rc == 0
    card = json.loads((out / "axialnet.json").read_text())
    assert card["training"]["input_windows_hu"] == [[-1000, -700], [-150, 250]]
    assert card["training"]["optimizer"].endswith("head lr x4")
    mean = card["preprocessing"]["mean"]
    (a0, b0), (a1, b1) = card["architecture"]["input_windows"]
    assert a0 == pytest.approx(0 - mean, abs=1e-5) and b0 == pytest.approx(300 / 1800 - mean, abs=1e-5)
    assert a1 == pytest.approx(850 / 1800 - mean, abs=1e-5)
    lm = load_model(out / "axialnet.safetensors", device="cpu")
    assert lm.model.backbone[0].in_channels == 9
    with pytest.raises(SystemExit):
        train_main(["--data", str(data), "--out", str(out), "--input-windows-hu", "-1000", *TINY])


def test_head_lr_mult_zero_freezes_the_head_only(tmp_path):
    from engine.model import AxialNet

    _, out, rc = _train_one_epoch(tmp_path, "--head-lr-mult", "0", "--channels", "bands",
                                  "--no-input-maxima")
    assert rc == 0
    torch.manual_seed(0)  # the trainer's seed: the same initial weights
    init = AxialNet(2, (32, 32, 12), 4, [4, 8], [1, 2], [4], in_channels=4, pooling="lse")
    trained = load_model(out / "axialnet.safetensors", device="cpu").model
    torch.testing.assert_close(trained.head.weight, init.head.weight)
    torch.testing.assert_close(trained.head.shared, init.head.shared)
    assert not torch.allclose(trained.reduce[0].weight, init.reduce[0].weight)


def test_train_with_input_maxima_writes_a_model_that_explains(tmp_path):
    from engine.cam import explain

    _, out, rc = _train_one_epoch(tmp_path, "--input-maxima", "--channels", "bands")
    assert rc == 0
    card = json.loads((out / "axialnet.json").read_text())
    assert card["architecture"]["input_maxima"] is True and card["target_layer"] == "target"
    assert "--input-maxima" in card["training"]["recipe"]
    lm = load_model(out / "axialnet.safetensors", device="cpu")
    assert lm.model.feature_shape[0] == 4 + 3 * 4  # reduce width + 3 slices x 4 channels
    x = torch.randn(1, 4, 32, 32, 12)
    fast, generic = explain(lm, x, path="fast"), explain(lm, x, path="generic")
    np.testing.assert_allclose(fast.maps["hirescam"], generic.maps["hirescam"], rtol=1e-4, atol=1e-6)


def test_train_with_evidence_channels_gates_them_by_the_folder_organ_maps(tmp_path):
    import shutil

    data, out, rc = _train_one_epoch(tmp_path, "--channels", "evidence", "--interpolation", "footprint")
    assert rc == 0
    card = json.loads((out / "axialnet.json").read_text())
    ev = [c for c in card["preprocessing"]["channels"] if c["stat"] == "evidence"]
    assert len(ev) == 7 and card["architecture"]["in_channels"] == 11
    assert "--channels evidence" in card["training"]["recipe"]
    assert load_model(out / "axialnet.safetensors", device="cpu").model.in_channels == 11
    # without organ maps the classical segmentation gates them, as at inference
    shutil.rmtree(data / "organs")
    assert train_main(["--data", str(data), "--out", str(tmp_path / "out2"), "--epochs", "1",
                       "--channels", "evidence", *TINY]) == 0


@pytest.mark.parametrize("name", CHANNEL_SETS)
def test_every_channel_set_makes_a_card_the_loader_accepts(name):
    """`ctcam train --channels NAME` writes a card at the end of the run; the card must pass
    the loader's checks (the depth set's 17 channels once failed them after a whole run)."""
    from engine.cli.train import check_card_ahead, parse_args

    check_card_ahead(parse_args(["--out", "unused", "--channels", name]))


def test_a_recipe_the_card_refuses_fails_before_any_data_is_made(tmp_path, monkeypatch, capsys):
    from engine.cli import train as train_cli
    from engine.model import card_inputs

    monkeypatch.setattr(card_inputs, "MAX_CHANNELS", 16)
    called = []
    monkeypatch.setattr(train_cli.training, "train", lambda cfg: called.append(cfg))
    rc = train_cli.main(["--out", str(tmp_path / "m"), "--cache", str(tmp_path / "c"),
                         "--channels", "evidence_depth"])
    assert rc == 2 and not called and not (tmp_path / "c").exists()
    assert "preprocessing.channels must be a list of 1..16" in capsys.readouterr().err
