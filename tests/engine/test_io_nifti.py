"""NIfTI reading/writing: orientations, sform/qform choice, scaling, exact affines."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

from engine.io import load
from engine.io.errors import MissingOrientationWarning
from engine.io.nifti import read_nifti, write_nifti, write_volume
from engine.io.orient import reorient
from engine.volume import canonicalize


def patch_header(path, **fields) -> None:
    """Overwrite header fields of an uncompressed .nii in place (what nib.save would redo)."""
    with open(path, "r+b") as f:
        hdr = nib.Nifti1Header.from_fileobj(f)
        for key, value in fields.items():
            hdr[key] = value
        f.seek(0)
        f.write(hdr.binaryblock)


ORIENTATIONS = ["RAS", "LPS", "LAS", "PIR", "SLA", "IRP"]


def corners(vol) -> np.ndarray:
    """World coordinates of the 8 corner voxels, sorted so array order does not matter."""
    ijk = np.array(np.meshgrid(*[[0, n - 1] for n in vol.shape], indexing="ij")).reshape(3, -1).T
    w = vol.world(ijk)
    return w[np.lexsort(w.T[::-1])]


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_round_trip_any_stored_orientation(tmp_path, io_volume, io_centroid, orientation):
    path = write_volume(tmp_path / f"v_{orientation}.nii.gz", io_volume, orientation=orientation)
    stored = nib.load(str(path))
    assert "".join(nib.aff2axcodes(stored.affine)) == orientation
    vol = load(path)
    assert vol.meta["source_format"] == "nifti"
    assert vol.meta["source_orientation"] == orientation
    assert vol.axcodes == ("R", "A", "S")
    assert vol.hu.dtype == np.int16
    np.testing.assert_array_equal(vol.hu, io_volume.hu)
    np.testing.assert_allclose(vol.affine, io_volume.affine, atol=1e-4)
    np.testing.assert_allclose(corners(vol), corners(io_volume), atol=1e-3)
    # the left-side lesion stays on the patient's left (smaller x than the body centre)
    c = io_centroid(vol)
    np.testing.assert_allclose(c, io_centroid(io_volume), atol=1e-3)
    assert c[0] < vol.center_world()[0] - 5


def test_oblique_permuted_affine_kept_exactly(tmp_path, io_volume, io_centroid):
    """A 12-degree rotation plus an axis permutation: reoriented exactly, never resampled."""
    t = np.radians(12)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    perm = np.array([[0, 0, -1], [1, 0, 0], [0, 1, 0]])  # i->A, j->S, k->L
    affine = np.eye(4)
    affine[:3, :3] = rot @ perm @ np.diag([0.7, 0.9, 2.0])
    affine[:3, 3] = [30.0, -12.5, 8.25]
    data = np.transpose(io_volume.hu, (1, 2, 0))
    write_nifti(tmp_path / "oblique.nii", data, affine)
    vol = read_nifti(tmp_path / "oblique.nii")
    want_hu, want_aff = canonicalize(data, affine)
    np.testing.assert_array_equal(vol.hu, want_hu)
    np.testing.assert_allclose(vol.affine, want_aff, atol=1e-4)
    assert vol.axcodes == ("R", "A", "S")
    idx = np.argwhere(data == 300)
    want_centroid = (idx @ affine[:3, :3].T + affine[:3, 3]).mean(axis=0)
    np.testing.assert_allclose(io_centroid(vol), want_centroid, atol=1e-3)


def test_sform_preferred_over_qform(tmp_path, io_volume):
    img = nib.Nifti1Image(io_volume.hu, io_volume.affine)
    other = io_volume.affine.copy()
    other[:3, 3] += 100.0
    img.set_qform(other, code=1)
    img.set_sform(io_volume.affine, code=2)
    nib.save(img, tmp_path / "both.nii")
    vol = read_nifti(tmp_path / "both.nii")
    np.testing.assert_allclose(vol.affine, io_volume.affine, atol=1e-4)


def test_qform_only(tmp_path, io_volume):
    lps_data, lps_aff = reorient(io_volume.hu, io_volume.affine, "LPS")
    img = nib.Nifti1Image(lps_data, None)
    img.set_qform(lps_aff, code=1)
    img.set_sform(np.eye(4) * 7, code=0)  # present but code 0: must be ignored
    nib.save(img, tmp_path / "qform.nii.gz")
    assert nib.load(tmp_path / "qform.nii.gz").header["sform_code"] == 0
    vol = read_nifti(tmp_path / "qform.nii.gz")
    assert vol.meta["source_orientation"] == "LPS"
    np.testing.assert_array_equal(vol.hu, io_volume.hu)
    np.testing.assert_allclose(vol.affine, io_volume.affine, atol=1e-4)


def test_scl_slope_and_inter_applied(tmp_path, io_volume):
    stored = ((io_volume.hu.astype(np.int32) + 1024) * 2).astype(np.uint16)  # HU = s*0.5 - 1024
    nib.save(nib.Nifti1Image(stored, io_volume.affine), tmp_path / "scaled.nii")
    patch_header(tmp_path / "scaled.nii", scl_slope=0.5, scl_inter=-1024.0)  # nibabel.save resets
    raw = nib.load(tmp_path / "scaled.nii")
    assert raw.header.get_data_dtype() == np.uint16
    assert (raw.dataobj.slope, raw.dataobj.inter) == (0.5, -1024.0)
    vol = read_nifti(tmp_path / "scaled.nii")
    np.testing.assert_array_equal(vol.hu, io_volume.hu)


def test_float_data_rounded_to_int16(tmp_path, io_volume):
    data = io_volume.hu.astype(np.float32) + 0.3
    data[1, 1, 1] = -999.6
    write_nifti(tmp_path / "f.nii.gz", data, io_volume.affine)
    vol = read_nifti(tmp_path / "f.nii.gz")
    assert vol.hu.dtype == np.int16
    assert vol.hu[1, 1, 1] == -1000
    np.testing.assert_array_equal(vol.hu[2:], io_volume.hu[2:])


def test_spatial_units_in_metres_converted_to_mm(tmp_path, io_volume):
    img = nib.Nifti1Image(
        io_volume.hu, io_volume.affine / np.array([1000, 1000, 1000, 1.0])[:, None]
    )
    img.header.set_xyzt_units("meter")
    img.set_sform(img.affine, code=1)
    nib.save(img, tmp_path / "m.nii")
    vol = read_nifti(tmp_path / "m.nii")
    np.testing.assert_allclose(vol.affine, io_volume.affine, atol=1e-3)


def test_no_orientation_in_header_warns(tmp_path, io_volume):
    img = nib.Nifti1Image(io_volume.hu, np.diag([0.9, 0.8, 2.5, 1]))
    img.set_sform(None, code=0)
    img.set_qform(None, code=0)
    nib.save(img, tmp_path / "bare.nii")
    with pytest.warns(MissingOrientationWarning):
        vol = read_nifti(tmp_path / "bare.nii")
    assert any("neither sform nor qform" in w for w in vol.meta["warnings"])
    np.testing.assert_allclose(vol.spacing, (0.9, 0.8, 2.5), atol=1e-6)


def test_singleton_fourth_axis_is_accepted(tmp_path, io_volume):
    nib.save(nib.Nifti1Image(io_volume.hu[..., None], io_volume.affine), tmp_path / "t1.nii")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vol = read_nifti(tmp_path / "t1.nii")
    np.testing.assert_array_equal(vol.hu, io_volume.hu)


@pytest.mark.parametrize(
    "dtype,values",
    [(np.float32, np.linspace(-1, 1, 32 * 28 * 20)), (np.uint8, np.arange(32 * 28 * 20) % 4)],
)
def test_write_nifti_any_array_exact_affine_in_sform_and_qform(tmp_path, io_volume, dtype, values):
    data = values.reshape(32, 28, 20)
    aff = reorient(io_volume.hu, io_volume.affine, "LPI")[1]
    path = write_nifti(tmp_path / "map.nii.gz", data, aff, dtype=dtype)
    img = nib.load(str(path))
    assert img.get_data_dtype() == np.dtype(dtype)
    sform, scode = img.header.get_sform(coded=True)
    qform, qcode = img.header.get_qform(coded=True)
    assert (int(scode), int(qcode)) == (1, 1)
    np.testing.assert_allclose(sform, aff, atol=1e-5)
    np.testing.assert_allclose(qform, aff, atol=1e-5)
    np.testing.assert_allclose(np.asanyarray(img.dataobj), data.astype(dtype))


def test_write_nifti_sheared_affine_only_in_sform(tmp_path):
    aff = np.array([[1.0, 0.3, 0, 0], [0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]])
    write_nifti(tmp_path / "shear.nii", np.zeros((3, 4, 5), np.float32), aff)
    hdr = nib.load(tmp_path / "shear.nii").header
    assert int(hdr["qform_code"]) == 0 and int(hdr["sform_code"]) == 1
    np.testing.assert_allclose(hdr.get_sform(), aff, atol=1e-6)


def test_write_nifti_bool_becomes_uint8_and_leaves_no_temp_file(tmp_path):
    mask = np.zeros((4, 5, 6), bool)
    mask[1:3, 2, 3] = True
    write_nifti(tmp_path / "mask.nii.gz", mask, np.eye(4))
    assert [p.name for p in tmp_path.iterdir()] == ["mask.nii.gz"]
    img = nib.load(tmp_path / "mask.nii.gz")
    assert img.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), mask.astype(np.uint8))


def test_progress_over_slabs_and_cancel(tmp_path, io_volume):
    path = write_volume(tmp_path / "p.nii.gz", io_volume)
    seen: list[float] = []
    read_nifti(path, progress=lambda f, m: seen.append(f))
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == 1.0

    from engine.errors import Cancelled

    with pytest.raises(Cancelled):
        read_nifti(path, cancel=lambda: len(seen) > 2, progress=lambda f, m: seen.append(f))


def test_invalid_sform_code_reset_with_warning_and_qform_used(tmp_path, io_volume):
    path = write_volume(tmp_path / "bad_code.nii", io_volume, orientation="LPS")
    patch_header(path, sform_code=77)
    from engine.io.errors import HeaderRepairedWarning

    with pytest.warns(HeaderRepairedWarning, match="sform_code 77"):
        vol = read_nifti(path)
    np.testing.assert_allclose(vol.affine, io_volume.affine, atol=1e-4)
    np.testing.assert_array_equal(vol.hu, io_volume.hu)
