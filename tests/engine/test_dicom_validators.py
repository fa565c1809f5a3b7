"""The DICOM series ctcam writes pass dciodvfy (dicom3tools) with 0 errors and
are converted by dcm2niix into exactly one volume with the geometry ctcam's reader gives.

Both tools are Debian packages installed by ``tools/setup.sh``; the tests that need them skip
(with the reason) only where they are not installed.  One timestamp per series is checked
without them too.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import nibabel as nib
import numpy as np
import pydicom
import pytest

import engine.io.dicom_write as dicom_write
from engine.io import load
from engine.io.dicom_write import write_dicom_series
from engine.volume import CTVolume

TIME_TAGS = ("StudyDate", "StudyTime", "SeriesDate", "SeriesTime", "ContentDate", "ContentTime")


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian package {package}; `bash tools/setup.sh` as "
                    f"root, or `apt-get install {package}`)")
    return path


class _TickingClock(dt.datetime):
    """``now()`` advances one second per call: a slow write that crosses second boundaries."""

    calls = 0

    @classmethod
    def now(cls, tz=None):
        cls.calls += 1
        return dt.datetime(2026, 3, 1, 23, 59, 58) + dt.timedelta(seconds=cls.calls)


@pytest.fixture
def ticking_clock(monkeypatch):
    _TickingClock.calls = 0
    fake = type("FakeDatetimeModule", (), {"datetime": _TickingClock})
    monkeypatch.setattr(dicom_write, "_dt", fake)
    return _TickingClock


def _oblique(vol: CTVolume, degrees: float = 12.0) -> CTVolume:
    t = np.deg2rad(degrees)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    affine = vol.affine.copy()
    affine[:3, :3] = rot @ affine[:3, :3]
    return CTVolume(vol.hu, affine, {})


SERIES = {  # name -> (volume transform, writer keywords)
    "lps": (lambda v: v, {}),
    "lpi-signed": (lambda v: v, {"orientation": "LPI", "signed": True}),
    "ras": (lambda v: v, {"orientation": "RAS"}),
    "oblique": (_oblique, {}),
}


@pytest.fixture(params=sorted(SERIES))
def written(request, tmp_path, io_volume, ticking_clock):
    """A series written while the clock ticks, and the volume it holds."""
    make, kw = SERIES[request.param]
    vol = make(io_volume)
    folder = tmp_path / request.param
    paths = write_dicom_series(folder, vol, uid_seed=request.param, **kw)
    return folder, paths, vol


def test_one_timestamp_per_series(written, ticking_clock):
    _, paths, _ = written
    values = {tag: {str(getattr(pydicom.dcmread(p, stop_before_pixels=True), tag)) for p in paths}
              for tag in TIME_TAGS}
    assert all(len(v) == 1 for v in values.values()), values
    assert ticking_clock.calls == 1  # taken once, not per file
    ds = pydicom.dcmread(paths[0], stop_before_pixels=True)
    assert (ds.StudyDate, ds.StudyTime) == ("20260301", "235959")
    assert ds.BodyPartExamined == "CHEST"


def test_given_timestamp_is_used(tmp_path, io_volume):
    when = dt.datetime(2025, 12, 31, 8, 30, 5)
    paths = write_dicom_series(tmp_path, io_volume, when=when)
    for p in (paths[0], paths[-1]):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        assert (ds.SeriesDate, ds.SeriesTime, ds.ContentTime) == ("20251231", "083005", "083005")


def _dciodvfy(path) -> tuple[list[str], list[str]]:
    run = subprocess.run([_tool("dciodvfy", "dicom3tools"), str(path)], capture_output=True,
                         text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error")], [ln for ln in lines if ln.startswith("Warning")]


def test_dciodvfy_reports_no_errors(written):
    _, paths, _ = written
    errors: dict[str, list[str]] = {}
    for p in paths:
        err, _ = _dciodvfy(p)
        if err:
            errors[p.name] = err
    assert not errors, f"{len(errors)} of {len(paths)} files fail dciodvfy: {next(iter(errors.items()))}"


def test_dciodvfy_sees_the_error_it_used_to(tmp_path, io_volume):
    """The check is real: without BodyPartExamined dciodvfy reports the Laterality error."""
    paths = write_dicom_series(tmp_path, io_volume)
    ds = pydicom.dcmread(paths[0])
    del ds.BodyPartExamined
    ds.save_as(tmp_path / "no_body_part.dcm")
    err, _ = _dciodvfy(tmp_path / "no_body_part.dcm")
    assert any("Laterality" in e for e in err), err


def _canonical(img: nib.Nifti1Image) -> tuple[np.ndarray, np.ndarray]:
    img = nib.as_closest_canonical(img)
    return np.asarray(img.get_fdata(dtype=np.float64)), img.affine


def test_dcm2niix_one_volume_with_ctcam_geometry(written, tmp_path):
    folder, paths, vol = written
    out = tmp_path / "nii"
    out.mkdir()
    run = subprocess.run([_tool("dcm2niix", "dcm2niix"), "-z", "n", "-b", "n", "-f", "%s_%t",
                          "-o", str(out), str(folder)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "varies" not in run.stdout  # "Slices not stacked: Study Date/Time ... varies"
    volumes = sorted(out.glob("*.nii"))
    assert len(volumes) == 1, [v.name for v in volumes]

    ours = load(folder)  # ctcam's reader: canonical RAS+ array order, affine voxel -> RAS mm
    data, affine = _canonical(nib.load(str(volumes[0])))  # dcm2niix writes RAS; reorder to RAS+
    assert data.shape == ours.shape == vol.shape
    np.testing.assert_allclose(np.linalg.norm(affine[:3, :3], axis=0), ours.spacing, atol=1e-3)
    np.testing.assert_allclose(affine, ours.affine, atol=1e-3)
    np.testing.assert_allclose(ours.affine, vol.affine, atol=1e-3)
    assert np.array_equal(np.rint(data).astype(np.int32), ours.hu.astype(np.int32))


def test_dcm2niix_split_is_what_a_per_file_clock_did(tmp_path, io_volume, ticking_clock):
    """Control: files whose times differ (as a per-file clock wrote them) are split by
    dcm2niix, so the one-volume check above would catch a regression."""
    paths = write_dicom_series(tmp_path / "s", io_volume)
    half = len(paths) // 2
    for p in paths[half:]:
        ds = pydicom.dcmread(p)
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "000001"
        ds.save_as(p)
    out = tmp_path / "nii"
    out.mkdir()
    subprocess.run([_tool("dcm2niix", "dcm2niix"), "-z", "n", "-b", "n", "-f", "%s_%t",
                    "-o", str(out), str(tmp_path / "s")], capture_output=True, text=True,
                   timeout=120, check=True)
    assert len(list(out.glob("*.nii"))) == 2


def test_ctcam_phantom_dicom_passes_both_tools(tmp_path, capsys):
    """The user's command end to end: ``ctcam phantom --dicom``."""
    from engine.cli import main as ctcam

    dciodvfy, dcm2niix = _tool("dciodvfy", "dicom3tools"), _tool("dcm2niix", "dcm2niix")
    case = tmp_path / "case"
    assert ctcam(["phantom", "--seed", "5", "--out", str(case), "--size", "model", "--dicom"]) == 0
    capsys.readouterr()
    files = sorted((case / "dicom").glob("*.dcm"))
    assert len(files) == 64
    for p in files:
        run = subprocess.run([dciodvfy, str(p)], capture_output=True, text=True, timeout=60)
        assert "Error" not in run.stdout + run.stderr, (p.name, run.stderr)
    out = tmp_path / "nii"
    out.mkdir()
    subprocess.run([dcm2niix, "-z", "n", "-b", "n", "-f", "%s_%t", "-o", str(out),
                    str(case / "dicom")], capture_output=True, text=True, timeout=120, check=True)
    volumes = list(out.glob("*.nii"))
    assert len(volumes) == 1
    data, affine = _canonical(nib.load(str(volumes[0])))
    nifti = load(case / "case.nii.gz")
    assert data.shape == nifti.shape
    np.testing.assert_allclose(affine, nifti.affine, atol=1e-3)
    assert np.array_equal(np.rint(data).astype(np.int32), nifti.hu.astype(np.int32))


@pytest.mark.parametrize("name", sorted(SERIES))
def test_enhanced_ct_passes_dciodvfy_and_dcm2niix_reads_ctcam_geometry(name, tmp_path, io_volume):
    """The enhanced multi-frame writer: 0 errors and 0 warnings from dciodvfy, and dcm2niix
    converts it into one volume with the voxels and geometry ctcam's reader gives."""
    from engine.io.dicom_enhanced import write_dicom_enhanced

    make, kw = SERIES[name]
    vol = make(io_volume)
    path = write_dicom_enhanced(tmp_path / "enh" / "enh.dcm", vol, uid_seed=name, **kw)
    err, warn = _dciodvfy(path)
    assert not err and not warn, (err + warn)[:5]
    out = tmp_path / "nii"
    out.mkdir()
    run = subprocess.run([_tool("dcm2niix", "dcm2niix"), "-z", "n", "-b", "n", "-f", "%s_%t",
                          "-o", str(out), str(path.parent)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    volumes = sorted(out.glob("*.nii"))
    assert len(volumes) == 1, [v.name for v in volumes]
    ours = load(path)
    data, affine = _canonical(nib.load(str(volumes[0])))
    assert data.shape == ours.shape == vol.shape
    np.testing.assert_allclose(affine, ours.affine, atol=1e-3)
    np.testing.assert_allclose(ours.affine, vol.affine, atol=1e-3)
    assert np.array_equal(np.rint(data).astype(np.int32), ours.hu.astype(np.int32))


def test_dciodvfy_sees_a_missing_enhanced_macro(tmp_path, io_volume):
    """Control: without the CT X-ray details macro dciodvfy reports the missing sequence."""
    from engine.io.dicom_enhanced import write_dicom_enhanced

    path = write_dicom_enhanced(tmp_path / "enh.dcm", io_volume)
    ds = pydicom.dcmread(path)
    del ds.SharedFunctionalGroupsSequence[0].CTXRayDetailsSequence
    ds.save_as(tmp_path / "broken.dcm")
    err, _ = _dciodvfy(tmp_path / "broken.dcm")
    assert any("CTXRayDetailsSequence" in e for e in err), err
