"""``ctcam info``: one JSON object on success; exit 2 and one ``error:`` line on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from engine.cli import main as ctcam
from engine.io.dicom import list_series, write_dicom_series
from engine.io.nifti import write_volume


def run_info(capsys, *args) -> tuple[int, str, str]:
    code = ctcam(["info", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_info_nifti_json(tmp_path, io_volume, capsys):
    path = write_volume(tmp_path / "scan.nii.gz", io_volume, orientation="LPS")
    code, out, err = run_info(capsys, path)
    assert code == 0 and err == ""
    info = json.loads(out)
    assert {
        "shape",
        "spacing",
        "affine",
        "source_orientation",
        "hu_min",
        "hu_max",
        "modality",
    } <= set(info)
    assert info["shape"] == [32, 28, 20]
    np.testing.assert_allclose(info["spacing"], [0.9, 0.8, 2.5], atol=1e-5)
    np.testing.assert_allclose(info["affine"], io_volume.affine, atol=1e-4)
    assert info["source_orientation"] == "LPS"
    assert (info["hu_min"], info["hu_max"]) == (int(io_volume.hu.min()), int(io_volume.hu.max()))


def test_info_dicom_series_choice(tmp_path, io_volume, capsys):
    write_dicom_series(tmp_path / "a", io_volume, series_description="a", orientation="LPI")
    write_dicom_series(tmp_path / "b", io_volume, series_description="b", modality="MR")
    code, out, err = run_info(capsys, tmp_path)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "--series" in err

    uids = {s.description: s.uid for s in list_series(tmp_path)}
    code, out, err = run_info(capsys, tmp_path, "--series", uids["a"])
    info = json.loads(out)
    assert code == 0 and info["modality"] == "CT" and info["source_orientation"] == "LPI"
    assert info["series_uid"] == uids["a"]

    code, out, err = run_info(capsys, tmp_path, "--series", uids["b"])
    info = json.loads(out)
    assert code == 0 and err == ""  # the warning goes into the JSON, not onto stderr
    assert info["modality"] == "MR" and any("not CT" in w for w in info["warnings"])


@pytest.mark.parametrize(
    "make",
    [
        lambda d: d / "missing.nii",
        lambda d: (d / "junk.bin").write_bytes(b"\x00junk" * 100) and d / "junk.bin",
        lambda d: (d / "x.nii.gz").write_bytes(b"\x1f\x8b\x08garbage") and d / "x.nii.gz",
    ],
    ids=["missing", "unknown", "corrupt-gzip"],
)
def test_info_bad_input_exit_2_one_line(tmp_path, capsys, make):
    code, out, err = run_info(capsys, make(tmp_path))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1


def test_info_usage_error_one_line(capsys):
    code = None
    with pytest.raises(SystemExit) as exc:
        ctcam(["info"])
    code = exc.value.code
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


def test_info_as_a_real_command(tmp_path, io_volume):
    """The installed console entry, end to end, in a fresh interpreter (no traceback)."""
    path = write_volume(tmp_path / "scan.nii", io_volume)
    ok = subprocess.run(
        [sys.executable, "-m", "engine.cli", "info", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["shape"] == [32, 28, 20]
    (tmp_path / "bad.nii").write_bytes(b"not a nifti")
    bad = subprocess.run(
        [sys.executable, "-m", "engine.cli", "info", str(tmp_path / "bad.nii")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
    assert "Traceback" not in bad.stderr
