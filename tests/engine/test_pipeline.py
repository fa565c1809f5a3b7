"""The pipeline generator and `ctcam explain` on a tiny saved model (not the bundled one)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from engine.cli import main as ctcam
from engine.errors import Cancelled
from engine.io.nifti import write_nifti
from engine.labels import LABELS, ORGAN_CODES
from engine.model import AxialNet, new_card, save_model
from engine.pipeline import explain_scan, run
from engine.volume import CTVolume

PREP = {"shape": [32, 32, 12], "spacing_mm": [10.0, 10.0, 20.0], "hu_window": [-1000, 800],
        "mean": 0.2, "centre": "body", "interpolation": "trilinear", "outside_hu": -1000}
ARCH = dict(stem_width=4, widths=(4, 8), strides=(1, 2), reduce_widths=(4,))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch.manual_seed(1)
    net = AxialNet(len(LABELS), PREP["shape"], **ARCH).eval()
    with torch.no_grad():  # make the head non-trivial
        net.head.bias.copy_(torch.linspace(-1, 1, len(LABELS)))
    d = tmp_path_factory.mktemp("model")
    w, _ = save_model(net, new_card(net, LABELS, ORGAN_CODES, PREP), d)
    return w


def _scan() -> CTVolume:
    hu = np.full((40, 36, 30), -1000, np.int16)
    ii, jj = np.meshgrid(np.arange(40), np.arange(36), indexing="ij")
    body = ((ii - 20) / 17) ** 2 + ((jj - 18) / 14) ** 2 < 1
    hu[body] = 40
    hu[6:18, 8:28, 5:25] = -850  # patient's left lung (low i = toward patient's left)
    hu[22:34, 8:28, 5:25] = -850
    aff = np.diag([8.0, 8.0, 10.0, 1.0])
    aff[:3, 3] = [-160, -140, -150]
    organs = np.zeros(hu.shape, np.uint8)
    organs[6:18, 8:28, 5:25] = 3
    organs[22:34, 8:28, 5:25] = 1
    return CTVolume(hu, aff, {"source_path": "test"}), organs


def test_pipeline_yields_progress_and_returns_consistent_result(tiny_model):
    vol, organs = _scan()
    seen = []
    res = run(explain_scan(vol, organs=organs, model=tiny_model), seen.append)
    fr = [p.fraction for p in seen]
    assert fr == sorted(fr) and fr[-1] == pytest.approx(1.0)
    assert [p.stage for p in seen][:2] == ["organs", "model"]
    n = len(LABELS)
    assert res.probabilities.shape == (n,) and np.all((res.probabilities > 0) & (res.probabilities < 1))
    np.testing.assert_allclose(res.probabilities, 1 / (1 + np.exp(-res.logits)), rtol=1e-5)
    for m in ("hirescam", "gradcam"):
        assert res.maps[m].shape[0] == n
    # HiResCAM sums to logit - bias (the faithfulness identity) through the whole pipeline
    sums = res.maps["hirescam"].reshape(n, -1).sum(1)
    np.testing.assert_allclose(sums, res.logits - res.biases, atol=1e-3, rtol=1e-3)
    assert set(res.timings) >= {"load", "organs", "model", "preprocess", "predict"}
    assert res.organ_map is organs
    assert res.device == "CPU"


def test_pipeline_cancel_flag_raises_cancelled(tiny_model):
    vol, organs = _scan()
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 1

    with pytest.raises(Cancelled):
        run(explain_scan(vol, organs=organs, model=tiny_model, cancel=cancel))


def test_explain_cli_writes_findings_and_maps_in_scan_geometry(tiny_model, tmp_path):
    vol, organs = _scan()
    scan = write_nifti(tmp_path / "scan.nii.gz", vol.hu, vol.affine)
    org = write_nifti(tmp_path / "organs.nii.gz", organs, vol.affine)
    out = tmp_path / "out"
    rc = ctcam(["explain", str(scan), "--out", str(out), "--raw", "--model", str(tiny_model),
                "--organs", str(org), "--quiet", "--maps", "scan"])
    assert rc == 0
    data = json.loads((out / "findings.json").read_text())
    assert [d["name"] for d in data["labels"]] == list(LABELS)
    assert {"name", "organ", "abnormality", "probability", "logit", "bias"} <= set(data["labels"][0])
    assert "predict" in data["timing"]
    img = nib.load(out / "maps" / "hirescam" / "left_lung__nodule.nii.gz")
    assert img.shape == vol.shape
    np.testing.assert_allclose(img.affine, vol.affine, atol=1e-4)
    raw = nib.load(out / "raw" / "gradcam" / "heart__cardiomegaly.nii.gz")
    assert raw.shape == (8, 8, 4)
    assert len(list((out / "maps").rglob("*.nii.gz"))) == 2 * len(LABELS)


def test_explain_cli_bad_input_exits_2_with_one_error_line(tmp_path, capsys):
    bad = tmp_path / "notes.nii.gz"
    bad.write_bytes(b"this is not a scan")
    rc = ctcam(["explain", str(bad), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and "notes.nii.gz" in err[0]


def test_scan_far_smaller_than_a_chest_runs_with_a_warning(tiny_model, tmp_path, capsys):
    from engine.findings import findings_dict

    vol, organs = _scan()
    res = run(explain_scan(vol, organs=organs, model=tiny_model))
    assert res.extra["warnings"] == [] and findings_dict(res)["warnings"] == []
    small = CTVolume(vol.hu[15:25, 10:20, 10:13].copy(), vol.affine, {"source_path": "crop.nii"})
    res = run(explain_scan(small, organs=False, model=tiny_model))
    (w,) = res.extra["warnings"]
    assert w.startswith("crop.nii covers only 80 x 80 x 30 mm") and "320 x 320 x 240 mm" in w
    assert findings_dict(res)["warnings"] == [w]
    # the CLI says it on stderr and still writes its output
    path = tmp_path / "crop.nii.gz"
    write_nifti(path, small.hu, small.affine)
    assert ctcam(["explain", str(path), "--out", str(tmp_path / "o"), "--model", str(tiny_model),
                  "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and "covers only 80 x 80 x 30 mm" in err
    data = json.loads((tmp_path / "o" / "findings.json").read_text())
    assert "not meaningful" in data["warnings"][0]


def test_explain_cli_lists_a_label_without_an_operating_point_as_no_call(tiny_model, tmp_path, capsys):
    """The card of model 3.3 makes no call for one label: the CLI's summary said so with a
    KeyError before (found by running it on a converted DICOM series)."""
    import shutil

    d = tmp_path / "model"
    shutil.copytree(tiny_model.parent, d)
    card_path = next(d.glob("*.json"))
    card = json.loads(card_path.read_text())
    top = list(LABELS)[-5:]  # the head's bias makes these the five most probable
    card["metrics"] = {"test": {"operating_point": {
        "probability": {top[-1]: 0.01, top[-2]: 0.99},
        "not_called": {top[-3]: "validation AUROC 0.70 is under 0.75"}}}}
    card_path.write_text(json.dumps(card))
    vol, organs = _scan()
    scan = write_nifti(tmp_path / "scan.nii.gz", vol.hu, vol.affine)
    org = write_nifti(tmp_path / "organs.nii.gz", organs, vol.affine)
    assert ctcam(["explain", str(scan), "--out", str(tmp_path / "o"), "--organs", str(org),
                  "--model", str(d / tiny_model.name)]) == 0
    err = capsys.readouterr().err
    lines = {ln.split()[1]: ln for ln in err.splitlines() if ln[:6].strip().replace(".", "").isdigit()}
    assert "POSITIVE (>= 0.01)" in lines[top[-1]]
    assert "POSITIVE" not in lines[top[-2]]  # under its threshold
    assert lines[top[-3]].endswith("no call")
