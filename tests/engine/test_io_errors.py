"""One test per user-facing failure of volume reading, on files the tests make.

Each failure must be its own CTCamError subclass whose one-line message names the file (or
folder), says what is wrong and what to do.
"""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLosslessSV1

import engine.io.dicom_pixels as dicom_pixels
from engine.errors import CTCamError
from engine.io import errors as E
from engine.io import load
from engine.io.dicom import write_dicom_series
from engine.io.nifti import write_nifti, write_volume
from engine.volume import CTVolume


def assert_good_message(exc: CTCamError, *names: str) -> None:
    text = str(exc)
    assert "\n" not in text
    for name in names:
        assert name in text, f"{name!r} not in {text!r}"
    assert len(text) > 40


def edit(path, **changes) -> None:
    """Rewrite one DICOM file with some attributes changed (None deletes)."""
    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture
def io_series(tmp_path, io_volume):
    return write_dicom_series(tmp_path / "series", io_volume)


# -- files that are not what they claim -----------------------------------------------------------
def test_missing_path(tmp_path):
    with pytest.raises(E.PathNotFoundError) as err:
        load(tmp_path / "nope.nii.gz")
    assert_good_message(err.value, "nope.nii.gz", "no such")


def test_unknown_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a scan\n" * 30)
    with pytest.raises(E.UnknownFileError) as err:
        load(path)
    assert_good_message(err.value, "notes.txt", "not a NIfTI or DICOM", ".nii")


def test_folder_without_dicom(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(E.UnknownFileError) as err:
        load(tmp_path)
    assert_good_message(err.value, str(tmp_path), "no DICOM image", "2 file(s)")


def test_nifti_name_with_garbage_header(tmp_path):
    path = tmp_path / "scan.nii"
    path.write_bytes(bytes(range(256)) * 3)
    with pytest.raises(E.CorruptFileError) as err:
        load(path)
    assert_good_message(err.value, "scan.nii", "NIfTI")


def test_truncated_nifti(tmp_path, io_volume):
    path = write_volume(tmp_path / "t.nii", io_volume)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(E.TruncatedFileError) as err:
        load(path)
    assert_good_message(err.value, "t.nii", "truncated", "bytes")


def test_truncated_nifti_gz(tmp_path, io_volume):
    path = write_volume(tmp_path / "t.nii.gz", io_volume)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(E.CorruptFileError) as err:  # TruncatedFileError is a CorruptFileError
        load(path)
    assert isinstance(err.value, E.TruncatedFileError)
    assert_good_message(err.value, "t.nii.gz", "ends early")


def test_truncated_dicom_slice(io_series):
    data = io_series[4].read_bytes()
    io_series[4].write_bytes(data[:-500])
    with pytest.raises(E.TruncatedFileError) as err:
        load(io_series[0].parent)
    assert_good_message(err.value, io_series[4].name, "truncated")


@pytest.mark.parametrize("alone", [True, False])
def test_corrupt_dicom_header(io_series, alone):
    """A slice cut inside its header: pydicom still parses a stub without any image attributes."""
    io_series[3].write_bytes(io_series[3].read_bytes()[:700])
    for p in io_series[4:] + io_series[:3]:
        p.unlink()
    with pytest.raises(E.CorruptFileError) as err:
        load(io_series[3] if alone else io_series[3].parent)
    assert_good_message(err.value, io_series[3].name, "no SeriesInstanceUID", "damaged")


# -- not a 3D volume --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(32, 28), (32, 28, 1), (1, 28, 20)])
def test_nifti_2d_or_single_slice(tmp_path, shape):
    path = tmp_path / "slice.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(shape, np.int16), np.eye(4)), path)
    with pytest.raises(E.NotAVolumeError) as err:
        load(path)
    assert_good_message(err.value, "slice.nii.gz", "not a 3D CT volume")


def test_dicom_single_slice(tmp_path, io_series):
    for p in io_series[1:]:
        p.unlink()
    with pytest.raises(E.NotAVolumeError) as err:
        load(io_series[0].parent)
    assert_good_message(err.value, "single image", "whole series")


def test_nifti_4d(tmp_path):
    path = tmp_path / "dyn.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 6, 3), np.int16), np.eye(4)), path)
    with pytest.raises(E.FourDimensionalError) as err:
        load(path)
    assert_good_message(err.value, "dyn.nii.gz", "4D", "3 volumes")


def test_dicom_4d_series(tmp_path, io_volume):
    write_dicom_series(tmp_path / "p1", io_volume, uid_seed="same")
    io_volume.hu[:] += 10
    write_dicom_series(tmp_path / "p2", io_volume, uid_seed="same")  # same series UID
    with pytest.raises(E.FourDimensionalError) as err:
        load(tmp_path)
    assert_good_message(err.value, "2 images at each of 20 slice positions", "one phase")


# -- values and header plausibility -----------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values(tmp_path, io_volume, bad):
    data = io_volume.hu.astype(np.float32)
    data[4, 5, 6] = bad
    path = write_nifti(tmp_path / "nan.nii.gz", data, io_volume.affine)
    with pytest.raises(E.NonFiniteValuesError) as err:
        load(path)
    assert_good_message(err.value, "nan.nii.gz", "NaN or infinite")


def write_header_only(path, shape, zooms=(1.0, 1.0, 1.0), dtype=np.int16):
    """A NIfTI header announcing ``shape`` followed by a few bytes (never the full data)."""
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(dtype)
    hdr.set_data_shape(shape)
    hdr.set_zooms(zooms)
    hdr.set_sform(np.diag([*zooms, 1.0]), code=1)
    hdr["vox_offset"] = 352
    path.write_bytes(hdr.binaryblock + bytes(4) + bytes(64))


def test_absurd_dimensions_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.nii"
    write_header_only(path, (30000, 30000, 30000))  # 2.7e13 voxels: allocating would fail
    with pytest.raises(E.ImplausibleDimensionsError) as err:
        load(path)
    assert_good_message(err.value, "huge.nii", "30000", "damaged")


def test_absurd_dimensions_gz(tmp_path):
    path = tmp_path / "huge.nii.gz"
    raw = tmp_path / "raw.nii"
    write_header_only(raw, (9000, 512, 512))
    path.write_bytes(gzip.compress(raw.read_bytes()))
    with pytest.raises(E.ImplausibleDimensionsError):
        load(path)


def test_absurd_dicom_dimensions_refused_before_reading_pixels(io_series):
    for p in io_series:
        edit(p, Rows=9000, Columns=9000)  # pixel data left as is: never decoded
    with pytest.raises(E.ImplausibleDimensionsError) as err:
        load(io_series[0].parent)
    assert_good_message(err.value, "9000", "damaged")


@pytest.mark.parametrize("zooms", [(1.0, 1.0, 0.0), (1.0, 1e6, 1.0)])
def test_absurd_spacing(tmp_path, zooms):
    path = tmp_path / "sp.nii"
    write_nifti(path, np.zeros((8, 8, 6), np.int16), np.diag([*zooms, 1.0]))
    with pytest.raises(E.ImplausibleSpacingError) as err:
        load(path)
    assert_good_message(err.value, "sp.nii", "spacing", "mm")


def test_absurd_dicom_pixel_spacing(io_series):
    for p in io_series:
        edit(p, PixelSpacing=[0, 0.8])
    with pytest.raises(E.ImplausibleSpacingError) as err:
        load(io_series[0].parent)
    assert_good_message(err.value, "spacing", "mm")


def test_complex_nifti_refused(tmp_path):
    path = tmp_path / "c.nii"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 6), np.complex64), np.eye(4)), path)
    with pytest.raises(E.UnsupportedPixelTypeError) as err:
        load(path)
    assert_good_message(err.value, "c.nii", "complex")


# -- series assembly -----------------------------------------------------------------------------------
def test_mixed_sizes(io_series):
    ds = pydicom.dcmread(io_series[3])
    ds.Rows, ds.Columns = 14, 16
    ds.PixelData = np.zeros((14, 16), np.uint16).tobytes()
    ds.save_as(io_series[3], enforce_file_format=True)
    with pytest.raises(E.MixedSeriesError) as err:
        load(io_series[0].parent)
    assert_good_message(err.value, "mixes image sizes", "28x32 (19 images)", "14x16 (1 images)")


def test_mixed_orientations(io_series):
    edit(io_series[3], ImageOrientationPatient=[1, 0, 0, 0, 0, -1])  # a coronal image
    with pytest.raises(E.MixedSeriesError) as err:
        load(io_series[0].parent)
    assert_good_message(err.value, "mixes slice orientations", io_series[3].name)


def test_duplicate_slice_is_mixed(io_series):
    ipp = pydicom.dcmread(io_series[6]).ImagePositionPatient
    edit(io_series[7], ImagePositionPatient=ipp)
    with pytest.raises(E.MixedSeriesError) as err:
        load(io_series[0].parent)
    assert_good_message(err.value, "same position", "duplicate")


def test_missing_slice_gap_named(io_series):
    io_series[9].unlink()
    io_series[10].unlink()
    with pytest.raises(E.IncompleteSeriesError) as err:
        load(io_series[0].parent)
    # slices sit at z = 40 + 2.5 k; slices 9 and 10 (z 62.5, 65) are gone
    assert_good_message(
        err.value, "about 2 slice(s) missing between 60.00 and 67.50 mm", io_series[8].name
    )


def test_strongly_uneven_spacing_refused(io_series):
    ipp = [float(v) for v in pydicom.dcmread(io_series[10]).ImagePositionPatient]
    edit(io_series[10], ImagePositionPatient=[ipp[0], ipp[1], ipp[2] + 0.8])  # 32% off
    with pytest.raises(E.UnevenSpacingError) as err:
        load(io_series[0].parent)
    assert_good_message(err.value, "varies too much", "median of 2.500 mm")


def test_missing_position(io_series):
    edit(io_series[2], ImagePositionPatient=None)
    with pytest.raises(E.MissingGeometryError) as err:
        load(io_series[0].parent)
    assert_good_message(err.value, io_series[2].name, "ImagePositionPatient")


def test_missing_pixel_data(io_series):
    edit(io_series[5], PixelData=None)
    with pytest.raises(E.MissingPixelDataError) as err:
        load(io_series[0].parent)
    assert_good_message(err.value, io_series[5].name, "no pixel data")


def test_series_without_images(tmp_path, io_series):
    for p in io_series:
        edit(p, Rows=None, Columns=None, PixelData=None, Modality="SR")
    with pytest.raises(E.MissingPixelDataError) as err:
        load(io_series[0].parent)
    assert_good_message(err.value, "no image size", "SR")


def test_gantry_tilt_refused(io_series):
    shift = np.tan(np.radians(15)) * 2.5  # 15 degrees: each slice 0.67 mm further in y
    for k, p in enumerate(io_series):
        ipp = [float(v) for v in pydicom.dcmread(p).ImagePositionPatient]
        edit(p, ImagePositionPatient=[ipp[0], ipp[1] + k * shift, ipp[2]], GantryDetectorTilt=15)
    with pytest.raises(E.GantryTiltError) as err:
        load(io_series[0].parent)
    assert_good_message(err.value, "tilted gantry", "15.00 deg", "GantryDetectorTilt = 15")


def test_compressed_without_decoder_names_package(io_series, monkeypatch):
    monkeypatch.setattr(dicom_pixels, "decoder_available", lambda uid: False)
    for p in io_series:
        ds = pydicom.dcmread(p)
        ds.PixelData = encapsulate([b"\xff\xd8" + bytes(30) + b"\xff\xd9"])
        ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
        ds["PixelData"].VR = "OB"
        ds.save_as(p, enforce_file_format=True)
    with pytest.raises(E.MissingDecoderError) as err:
        load(io_series[0].parent)
    assert err.value.packages == ("pylibjpeg", "pylibjpeg-libjpeg")
    assert_good_message(err.value, "pip install pylibjpeg pylibjpeg-libjpeg", "JPEG Lossless")


def test_several_series_need_a_choice(tmp_path, io_volume):
    a = write_dicom_series(tmp_path / "a", io_volume, series_description="soft")
    write_dicom_series(tmp_path / "b", io_volume, series_description="lung")
    with pytest.raises(E.MultipleSeriesError) as err:
        load(tmp_path)
    uids = {s.uid for s in err.value.series}
    assert pydicom.dcmread(a[0]).SeriesInstanceUID in uids and len(uids) == 2
    assert_good_message(err.value, "2 series", "Series 1: soft", "Series 1: lung", "--series", *uids)
    with pytest.raises(E.SeriesNotFoundError) as err2:
        load(tmp_path, series="1.2.3.4")
    assert_good_message(err2.value, "1.2.3.4", "Series 1: soft")


# -- warnings: still opens ---------------------------------------------------------------------------
def test_non_ct_modality_warns_and_opens(io_series, io_volume):
    for p in io_series:
        edit(p, Modality="MR")
    with pytest.warns(E.NonCTModalityWarning, match="modality 'MR', not CT"):
        vol = load(io_series[0].parent)
    assert vol.meta["modality"] == "MR"
    assert any("not CT" in w for w in vol.meta["warnings"])
    np.testing.assert_array_equal(vol.hu, io_volume.hu)


def test_values_outside_int16_clipped_with_warning(tmp_path, io_volume):
    data = io_volume.hu.astype(np.float32)
    data[0, 0, 0] = 1e6
    path = write_nifti(tmp_path / "big.nii", data, io_volume.affine)
    with pytest.warns(E.ValuesClippedWarning):
        vol = load(path)
    assert vol.hu[0, 0, 0] == 32767


def test_every_error_is_a_ctcam_error_with_docs():
    classes = [
        c for c in vars(E).values() if isinstance(c, type) and issubclass(c, E.VolumeReadError)
    ]
    assert len(classes) >= 18
    for cls in classes:
        assert issubclass(cls, CTCamError) and cls.__doc__


def test_ctvolume_needs_3d():
    with pytest.raises(ValueError):
        CTVolume(np.zeros((3, 3), np.int16), np.eye(4))
