"""DICOM series reading/writing: LPS handling, slice order, series choice, multi-frame, progress."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from engine.errors import Cancelled
from engine.io import iter_load, list_series, load
from engine.io.dicom import read_dicom, write_dicom_enhanced, write_dicom_series
from engine.io.errors import SpacingResampledWarning
from engine.results import Progress


def corner_world(vol) -> np.ndarray:
    ijk = np.array(np.meshgrid(*[[0, n - 1] for n in vol.shape], indexing="ij")).reshape(3, -1).T
    w = vol.world(ijk)
    return w[np.lexsort(w.T[::-1])]


# LPS: the usual axial DICOM (feet to head); LPI: numbered head to feet; RAS/RPI: flipped
# in-plane axes; ASL / PIR: sagittal-acquired slices.
@pytest.mark.parametrize("orientation", ["LPS", "LPI", "RAS", "RPI", "ASL", "PIR"])
def test_series_round_trip_hu_and_world(tmp_path, io_volume, io_centroid, orientation):
    paths = write_dicom_series(tmp_path / "s", io_volume, orientation=orientation)
    slice_axis = {"R": 0, "L": 0, "A": 1, "P": 1, "S": 2, "I": 2}[orientation[2]]
    assert len(paths) == io_volume.shape[slice_axis]
    vol = load(tmp_path / "s")
    assert vol.meta["source_format"] == "dicom"
    assert vol.meta["source_orientation"] == orientation
    assert vol.meta["modality"] == "CT" and vol.meta["warnings"] == []
    assert vol.axcodes == ("R", "A", "S")
    np.testing.assert_array_equal(vol.hu, io_volume.hu)
    np.testing.assert_allclose(corner_world(vol), corner_world(io_volume), atol=1e-3)
    c = io_centroid(vol)
    np.testing.assert_allclose(c, io_centroid(io_volume), atol=1e-3)
    assert c[0] < vol.center_world()[0] - 5  # lesion on the patient's left


def test_written_files_are_lps_ct_with_rescale(tmp_path, io_volume):
    paths = write_dicom_series(
        tmp_path / "s", io_volume, series_description="chest", patient_id="P7"
    )
    ds = pydicom.dcmread(paths[0])
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert (ds.Modality, ds.SeriesDescription, ds.PatientID) == ("CT", "chest", "P7")
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
    assert ds.PixelRepresentation == 0  # uint16: every HU >= -1024
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    # first pixel = the patient's right-anterior corner: RAS (13.9, 10.6) -> LPS (-13.9, -10.6)
    x_right, y_front = -14.0 + 31 * 0.9, -11.0 + 27 * 0.8
    np.testing.assert_allclose(
        [float(v) for v in ds.ImagePositionPatient], [-x_right, -y_front, 40.0], atol=1e-9
    )
    uids = {pydicom.dcmread(p).SOPInstanceUID for p in paths}
    assert len(uids) == len(paths)
    assert pydicom.dcmread(paths[1]).SeriesInstanceUID == ds.SeriesInstanceUID


def test_signed_storage_and_values_below_minus_1024(tmp_path, io_volume):
    io_volume.hu[3, 3, 3] = -2000
    write_dicom_series(tmp_path / "s", io_volume)
    assert pydicom.dcmread(next((tmp_path / "s").iterdir())).PixelRepresentation == 1
    np.testing.assert_array_equal(load(tmp_path / "s").hu, io_volume.hu)


def test_reproducible_uids(tmp_path, io_volume):
    a = write_dicom_series(tmp_path / "a", io_volume, uid_seed="case-1")
    b = write_dicom_series(tmp_path / "b", io_volume, uid_seed="case-1")
    assert pydicom.dcmread(a[4]).SOPInstanceUID == pydicom.dcmread(b[4]).SOPInstanceUID


def test_rescale_slope_and_intercept_per_file(tmp_path, io_volume):
    paths = write_dicom_series(tmp_path / "s", io_volume)
    ds = pydicom.dcmread(paths[5])
    stored = ds.pixel_array.astype(np.int32) - 1024  # HU
    ds.RescaleSlope, ds.RescaleIntercept = 0.5, -2000  # HU = 0.5 * s - 2000
    ds.PixelData = ((stored + 2000) * 2).astype(np.uint16).tobytes()
    ds.save_as(paths[5], enforce_file_format=True)
    np.testing.assert_array_equal(load(tmp_path / "s").hu, io_volume.hu)


def test_enhanced_multiframe(tmp_path, io_volume, io_centroid):
    path = write_dicom_enhanced(tmp_path / "enh.dcm", io_volume, orientation="LPI")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert int(ds.NumberOfFrames) == io_volume.shape[2]
    assert "PerFrameFunctionalGroupsSequence" in ds
    for vol in (load(path), load(tmp_path)):  # the file itself, or its folder
        assert vol.meta["enhanced"] is True
        assert vol.meta["source_orientation"] == "LPI"
        np.testing.assert_array_equal(vol.hu, io_volume.hu)
        np.testing.assert_allclose(corner_world(vol), corner_world(io_volume), atol=1e-3)
        assert io_centroid(vol)[0] < vol.center_world()[0]


def test_single_classic_file_opens_its_series(tmp_path, io_volume):
    paths = write_dicom_series(tmp_path / "s", io_volume)
    write_dicom_series(tmp_path / "s" / "other", io_volume, series_description="other")
    vol = load(paths[7])
    assert vol.meta["series_uid"] == pydicom.dcmread(paths[7]).SeriesInstanceUID
    np.testing.assert_array_equal(vol.hu, io_volume.hu)


def test_multiple_series_listed_and_selected(tmp_path, io_volume):
    write_dicom_series(tmp_path / "a", io_volume, series_description="soft", series_number=2)
    bone = io_volume.hu.copy()
    bone[bone > 200] = 1000
    from engine.volume import CTVolume

    write_dicom_series(
        tmp_path / "b",
        CTVolume(bone, io_volume.affine),
        series_description="bone",
        series_number=3,
        modality="CT",
    )
    (tmp_path / "notes.txt").write_text("not dicom")
    infos = list_series(tmp_path)
    assert [s.description for s in infos] == ["soft", "bone"]
    assert all(s.n_slices == 20 and s.shape == (32, 28, 20) and s.modality == "CT" for s in infos)
    vol = load(tmp_path, series=infos[1].uid)
    assert vol.meta["series_description"] == "bone"
    np.testing.assert_array_equal(vol.hu, bone)
    assert load(tmp_path, series="2").meta["series_description"] == "soft"  # by SeriesNumber


def test_slightly_uneven_spacing_resampled_with_warning(tmp_path, io_volume):
    paths = write_dicom_series(tmp_path / "s", io_volume)
    ds = pydicom.dcmread(paths[10])
    ipp = [float(v) for v in ds.ImagePositionPatient]
    ds.ImagePositionPatient = [ipp[0], ipp[1], ipp[2] + 0.2]  # 8% of the 2.5 mm spacing
    ds.save_as(paths[10], enforce_file_format=True)
    with pytest.warns(SpacingResampledWarning):
        vol = load(tmp_path / "s")
    assert vol.meta["resampled"] is True
    assert any("resampled" in w for w in vol.meta["warnings"])
    assert vol.shape == io_volume.shape
    np.testing.assert_allclose(vol.spacing, io_volume.spacing, atol=1e-6)
    np.testing.assert_array_equal(vol.hu[..., :10], io_volume.hu[..., :10])  # before the shift
    # target slice 10 lies 0.2 mm before the shifted slice: mostly slice 9 and 10 blended
    w = 0.2 / 2.7
    expect = np.rint(w * io_volume.hu[..., 9] + (1 - w) * io_volume.hu[..., 10])
    np.testing.assert_allclose(vol.hu[..., 10], expect, atol=1)


def test_rle_compressed_series_is_decoded(tmp_path, io_volume):
    paths = write_dicom_series(tmp_path / "s", io_volume)
    for p in paths[:3]:
        ds = pydicom.dcmread(p)
        ds.compress(RLELossless)
        ds.save_as(p, enforce_file_format=True)
    assert pydicom.dcmread(paths[0]).file_meta.TransferSyntaxUID == RLELossless
    np.testing.assert_array_equal(load(tmp_path / "s").hu, io_volume.hu)


def test_progress_monotone_and_cancel(tmp_path, io_volume):
    write_dicom_series(tmp_path / "s", io_volume)
    seen: list[tuple[float, str]] = []
    read_dicom(tmp_path / "s", progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert len(fractions) >= 20  # at least one step per file
    assert fractions == sorted(fractions) and fractions[0] >= 0 and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in seen)

    calls = []
    with pytest.raises(Cancelled):
        load(tmp_path / "s", progress=lambda f, m: calls.append(f), cancel=lambda: len(calls) >= 5)
    assert len(calls) == 5


def test_iter_load_yields_progress_returns_volume_and_can_be_closed(tmp_path, io_volume):
    write_dicom_series(tmp_path / "s", io_volume)
    gen = iter_load(tmp_path / "s")
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            vol = stop.value
            break
    assert all(isinstance(s, Progress) and s.stage == "load" for s in steps)
    np.testing.assert_array_equal(vol.hu, io_volume.hu)

    gen = iter_load(tmp_path / "s")
    next(gen), next(gen)
    gen.close()  # the consumer stops: no error, generator finished
    with pytest.raises(StopIteration):
        next(gen)


def test_oblique_series_round_trip(tmp_path, io_volume):
    """Oblique slices (rotated 12 degrees about two axes): exact to DICOM's 16-char decimals."""
    from engine.volume import CTVolume

    a, b = np.radians(12), np.radians(-7)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    affine = io_volume.affine.copy()
    affine[:3, :3] = rz @ rx @ io_volume.affine[:3, :3]
    oblique = CTVolume(io_volume.hu.copy(), affine)
    write_dicom_series(tmp_path / "s", oblique, orientation="LPS")
    vol = load(tmp_path / "s")
    np.testing.assert_array_equal(vol.hu, oblique.hu)
    np.testing.assert_allclose(vol.affine, oblique.affine, atol=1e-6)


def test_series_labels_say_what_a_radiologist_recognises(tmp_path, io_volume):
    write_dicom_series(tmp_path / "a", io_volume, series_description="chest 2.5", series_number=3)
    write_dicom_series(tmp_path / "b", io_volume, series_number=4, uid_seed="b", series_description="")
    from engine.io.dicom import list_series

    labels = sorted(s.label() for s in list_series(tmp_path))
    sp = io_volume.spacing[2]
    assert labels[0].startswith(f"Series 3: chest 2.5 — CT, {io_volume.shape[2]} images, "
                                f"slices every {sp:.3g} mm, {io_volume.shape[0]} x {io_volume.shape[1]}")
    assert labels[1].startswith("Series 4: no description — CT")
    assert all(lab.endswith("]") and "[1." in lab for lab in labels)  # the UID last
