"""Every message names the file and says what is really wrong."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from test_batch import make_tiny_model

from engine.batch import inputs as batch_inputs
from engine.cli import main as ctcam
from engine.errors import naming
from engine.io import errors as E
from engine.io import limits, load
from engine.io.dicom import write_dicom_series
from engine.io.dicom_pixels import read_pixels
from engine.io.nifti import write_nifti
from engine.model.card import read_card


def test_errors_raised_on_arrays_still_name_the_scan(tmp_path, capsys):
    model = make_tiny_model(tmp_path / "m")
    scan = write_nifti(tmp_path / "tiny2.nii.gz", np.zeros((2, 2, 2), np.int16),
                       np.diag([0.1, 0.1, 0.1, 1]))
    rc = ctcam(["explain", str(scan), "--model", model, "--out", str(tmp_path / "o"),
                "--organs", "none", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "tiny2.nii.gz" in err[0], err
    assert naming("volume too small", "/x/a.nii") == "/x/a.nii: volume too small"
    assert naming("/x/a.nii: bad", "/x/a.nii") == "/x/a.nii: bad"


def test_hdr_img_pair_is_named_as_such(tmp_path):
    nib.save(nib.Nifti1Pair(np.zeros((8, 8, 8), np.int16), np.eye(4)), tmp_path / "pair.hdr")
    for name in ("pair.hdr", "pair.img"):
        with pytest.raises(E.NiftiPairError) as err:
            load(tmp_path / name)
        assert name in str(err.value) and ".hdr/.img" in str(err.value)
        assert "truncated" not in str(err.value)


def test_unreadable_file_and_folder_are_called_unreadable(tmp_path, monkeypatch):
    f = tmp_path / "scan.nii.gz"
    f.write_bytes(b"x" * 400)

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(limits, "open", denied, raising=False)
    monkeypatch.setattr(limits.os, "scandir", denied)
    for path in (f, tmp_path):
        with pytest.raises(E.UnreadablePathError) as err:
            load(path)
        assert str(path) in str(err.value) and "Permission denied" in str(err.value)


def test_unreadable_sub_folder_becomes_a_failing_scan(tmp_path, monkeypatch):
    (tmp_path / "locked").mkdir()
    (tmp_path / "open").mkdir()
    real = batch_inputs._visible_children
    monkeypatch.setattr(batch_inputs, "_visible_children",
                        lambda d: None if d.name == "locked" else real(d))
    jobs = batch_inputs.expand_inputs([str(tmp_path)])
    assert [j.id for j in jobs] == ["locked"]


def test_5d_image_is_called_5d(tmp_path):
    path = tmp_path / "five.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((6, 6, 6, 2, 3), np.int16), np.eye(4)), path)
    with pytest.raises(E.FourDimensionalError) as err:
        load(path)
    assert "a 5D image" in str(err.value) and "6 volumes" in str(err.value)


def test_missing_card_message_names_no_option_that_does_not_exist(tmp_path):
    from engine.model.errors import ModelCardError

    with pytest.raises(ModelCardError) as err:
        read_card(tmp_path / "m.json")
    assert "--card" not in str(err.value) and "--weights" not in str(err.value)
    assert "m.json" in str(err.value) and "same name" in str(err.value)


def test_undecodable_12_bit_jpeg_extended_names_the_decoder(tmp_path, io_volume):
    path = write_dicom_series(tmp_path / "s", io_volume)[0]
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.51"
    ds.BitsStored = 12
    ds.PixelData = encapsulate([b"\xff\xd8" + bytes(100)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(E.CorruptFileError) as err:
        read_pixels(path)
    text = str(err.value)
    assert path.name in text and "12 bits stored" in text and "pylibjpeg-libjpeg" in text


def test_dicom_truncated_to_1kb_is_not_called_a_report(tmp_path, io_volume):
    files = write_dicom_series(tmp_path / "s", io_volume)
    files[0].write_bytes(files[0].read_bytes()[:1024])
    for p in files[1:]:
        p.unlink()
    with pytest.raises(E.VolumeReadError) as err:
        load(files[0])
    text = str(err.value)
    assert files[0].name in text and "e.g. a report" not in text
    assert "truncated" in text or "damaged" in text
