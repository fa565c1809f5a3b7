"""``ctcam explain --maps scan|model|none``: the grid the maps/ NIfTI files are written on."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from test_batch import make_scan, make_tiny_model

from engine.cli import main as ctcam
from engine.io.nifti import write_nifti


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    vol, _ = make_scan(0)
    path = tmp_path_factory.mktemp("scans") / "case0.nii.gz"
    write_nifti(path, vol.hu, vol.affine)
    return path, vol


def _explain(capsys, *args):
    rc = ctcam(["explain", *map(str, args), "--organs", "none", "--quiet",
                "--labels", "heart/cardiomegaly", "--methods", "hirescam"])
    capsys.readouterr()
    return rc


def _map(folder):
    files = sorted((folder / "maps").rglob("*.nii.gz"))
    assert [f.relative_to(folder / "maps").as_posix() for f in files] == [
        "hirescam/heart__cardiomegaly.nii.gz"]
    return nib.load(str(files[0]))


def test_one_scan_on_the_scan_grid_when_asked(model, scan, tmp_path, capsys):
    path, vol = scan
    assert _explain(capsys, path, "--model", model, "--out", tmp_path / "o", "--maps", "scan") == 0
    img = _map(tmp_path / "o")
    assert img.shape == vol.shape
    np.testing.assert_allclose(img.affine, vol.affine, atol=1e-4)
    prov = json.loads((tmp_path / "o" / "findings.json").read_text())["provenance"]
    assert prov["maps"] == "scan"
    assert _explain(capsys, path, "--model", model, "--out", tmp_path / "d") == 0  # default
    assert all(a < b for a, b in zip(_map(tmp_path / "d").shape, vol.shape))


def test_batch_defaults_to_the_model_grid_with_its_exact_affine(model, scan, tmp_path, capsys):
    path, vol = scan
    assert _explain(capsys, path, "--batch", "--model", model, "--out", tmp_path / "b") == 0
    img = _map(tmp_path / "b" / "case0")
    doc = json.loads((tmp_path / "b" / "case0" / "findings.json").read_text())
    assert doc["provenance"]["maps"] == "model"
    assert all(a < b for a, b in zip(img.shape, vol.shape))  # the coarse map grid itself
    # and the scan-grid choice of the same scan is the model-grid map resampled (same peak place)
    assert _explain(capsys, path, "--batch", "--maps", "scan", "--model", model,
                    "--out", tmp_path / "s") == 0
    full = _map(tmp_path / "s" / "case0")
    assert full.shape == vol.shape
    m = np.asarray(img.dataobj)
    peak = img.affine @ [*np.unravel_index(np.argmax(m), m.shape), 1]
    f = np.asarray(full.dataobj)
    peak_full = full.affine @ [*np.unravel_index(np.argmax(f), f.shape), 1]
    cell = np.linalg.norm(img.affine[:3, :3], axis=0)
    assert np.all(np.abs(peak - peak_full)[:3] <= cell)


def test_none_writes_findings_only_and_a_changed_choice_is_redone(model, scan, tmp_path, capsys):
    path, _ = scan
    out = tmp_path / "n"
    assert _explain(capsys, path, "--batch", "--maps", "none", "--model", model, "--out", out) == 0
    assert (out / "case0" / "findings.json").is_file() and not (out / "case0" / "maps").exists()
    # resuming with another choice redoes the scan (its provenance differs)
    assert _explain(capsys, path, "--batch", "--maps", "model", "--model", model, "--out", out) == 0
    assert _map(out / "case0").shape
