"""Results as DICOM objects (docs/pacs.md) (SEG, Parametric Map, SR via highdicom): dciodvfy
reports 0 errors, highdicom reads them back with the geometry and values ctcam computed, and
they go to a real Orthanc with STOW-RS and come back."""

from __future__ import annotations

import json
import shutil
import subprocess

import highdicom as hd
import numpy as np
import pydicom
import pytest
from orthanc_server import orthanc
from test_batch import make_scan, make_tiny_model

from engine.cli import main as ctcam
from engine.io import load
from engine.io.dicom import write_dicom_series
from engine.io.nifti import write_nifti
from engine.pacs import PacsClient
from engine.volume import canonicalize

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def explained(model, tmp_path_factory):
    """A DICOM series explained with --dicom-out (organ map given), and what it produced."""
    root = tmp_path_factory.mktemp("dicom_out")
    vol, organs = make_scan(2)
    write_dicom_series(root / "ct", vol, uid_seed="dicom-out")
    write_nifti(root / "organs.nii.gz", organs, vol.affine)
    rc = ctcam(["explain", str(root / "ct"), "--out", str(root / "out"), "--model", model,
                "--organs", str(root / "organs.nii.gz"), "--quiet", "--dicom-out",
                str(root / "dcm"), "--labels", "left_lung/nodule", "--maps", "scan"])
    assert rc == 0
    files = {}
    for p in sorted((root / "dcm").glob("*.dcm")):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        files[ds.SeriesDescription if ds.Modality not in ("SEG", "SR") else ds.Modality] = p
    return root, load(root / "ct"), organs, files


def _ras_volume(v: hd.Volume):
    """A highdicom volume (frames, rows, cols; LPS; any frame order) as ctcam's canonical
    (i, j, k) RAS+ array and affine, so it compares voxel for voxel with ctcam's arrays."""
    perm = np.eye(4)[:, [2, 1, 0, 3]]
    arr, aff = np.transpose(v.array, (2, 1, 0)), LPS @ v.affine @ perm
    return canonicalize(arr, aff)


def test_every_object_passes_dciodvfy(explained):
    path = shutil.which("dciodvfy")
    if path is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools; bash tools/setup.sh)")
    _, _, _, files = explained
    # SEG, one Parametric Map per method for the one label asked for, SR
    assert set(files) == {"SEG", "SR", "ctcam hirescam left_lung/nodule", "ctcam gradcam left_lung/nodule"}
    for modality, p in files.items():
        run = subprocess.run([path, str(p)], capture_output=True, text=True, timeout=60)
        errors = [ln for ln in (run.stdout + run.stderr).splitlines() if ln.startswith("Error")]
        assert not errors, (modality, errors[:3])


def test_seg_holds_the_organ_map_in_place(explained):
    _, vol, organs, files = explained
    seg = hd.seg.segread(files["SEG"])
    labels = {int(d.SegmentNumber): d.SegmentLabel for d in seg.SegmentSequence}
    assert set(labels.values()) == {"Right lung", "Left lung"}
    arr, aff = _ras_volume(seg.get_volume(combine_segments=True))
    np.testing.assert_allclose(aff, vol.affine, atol=1e-3)
    left = [n for n, name in labels.items() if name == "Left lung"][0]
    assert np.array_equal(arr == left, organs == 3)


def test_parametric_map_values_are_the_map_at_those_points(explained):
    import nibabel as nib

    root, vol, _, files = explained
    ds = pydicom.dcmread(files["ctcam hirescam left_lung/nodule"])
    ct = pydicom.dcmread(next((root / "ct").glob("*.dcm")))
    assert ds.FrameOfReferenceUID == ct.FrameOfReferenceUID
    arr, aff = _ras_volume(hd.pm.ParametricMap.from_dataset(ds).get_volume())
    img = nib.as_closest_canonical(nib.load(str(root / "out" / "maps" / "hirescam" / "left_lung__nodule.nii.gz")))
    # a small scan: the parametric map's grid is the scan grid, and its values are the same
    # model map sampled trilinearly as the scan-grid NIfTI of maps/
    np.testing.assert_allclose(aff, vol.affine, atol=1e-3)
    np.testing.assert_allclose(arr, np.asarray(img.dataobj), rtol=1e-5, atol=1e-7)
    assert np.abs(arr).max() > 0


def test_sr_carries_each_probability_and_references_the_series(explained):
    root, _, _, files = explained
    sr = pydicom.dcmread(files["SR"])
    doc = json.loads((root / "out" / "findings.json").read_text())
    probs = []
    for box in sr.ContentSequence:
        if box.ValueType != "CONTAINER":
            continue
        for item in box.ContentSequence:
            if item.ValueType == "NUM" and item.ConceptNameCodeSequence[0].CodeValue == "prob":
                probs.append(float(item.MeasuredValueSequence[0].NumericValue))
    assert probs == pytest.approx([r["probability"] for r in doc["labels"]], abs=1e-6)
    series = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    ct = pydicom.dcmread(next((root / "ct").glob("*.dcm")))
    assert series.SeriesInstanceUID == ct.SeriesInstanceUID


def test_a_nifti_scan_gets_its_ct_written_as_the_referenced_series(model, tmp_path, capsys):
    vol, _ = make_scan(3)
    write_nifti(tmp_path / "scan.nii.gz", vol.hu, vol.affine)
    rc = ctcam(["explain", str(tmp_path / "scan.nii.gz"), "--out", str(tmp_path / "o"), "--model",
                model, "--organs", "none", "--quiet", "--dicom-out", str(tmp_path / "d")])
    assert rc == 0, capsys.readouterr().err
    ct = load(tmp_path / "d" / "source_ct")
    assert np.array_equal(ct.hu, vol.hu)
    sr = pydicom.dcmread(next(p for p in (tmp_path / "d").glob("*_sr.dcm")))
    ref = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == pydicom.dcmread(next((tmp_path / "d" / "source_ct").glob("*.dcm"))).SeriesInstanceUID


def test_send_back_to_the_pacs_and_read_the_seg_from_it(model, tmp_path, capsys):
    vol, organs = make_scan(4)
    files = write_dicom_series(tmp_path / "ct", vol, uid_seed="send-back")
    write_nifti(tmp_path / "organs.nii.gz", organs, vol.affine)
    with orthanc(tmp_path / "orthanc") as url:
        client = PacsClient(url)
        client.store([pydicom.dcmread(p) for p in files])
        study = pydicom.dcmread(files[0]).StudyInstanceUID
        rc = ctcam(["explain", "--pacs", url, "--study", study, "--out", str(tmp_path / "o"),
                    "--model", model, "--organs", str(tmp_path / "organs.nii.gz"), "--quiet",
                    "--pacs-send", "--pacs-cache", str(tmp_path / "cache")])
        assert rc == 0, capsys.readouterr().err
        series = {s.modality: s for s in client.list_series(study)}
        assert {"CT", "SEG", "SR"} <= set(series)
        seg_ds = next(client._client.iter_series(study, series["SEG"].uid))
        seg = hd.seg.Segmentation.from_dataset(seg_ds)
        arr, aff = _ras_volume(seg.get_volume(combine_segments=True))
        np.testing.assert_allclose(aff, vol.affine, atol=1e-3)
        assert np.array_equal(arr > 0, organs > 0)
