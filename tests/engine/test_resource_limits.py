"""Claims in a header are checked against the bytes present before
anything is allocated (DICOM NumberOfFrames, NIfTI gzip bombs, organ label maps)."""

from __future__ import annotations

import gzip
import tracemalloc

import numpy as np
import pydicom
import pytest
from fuzz_support import gzip_bomb, nifti_seed

from engine.io import errors as E
from engine.io import load, nifti_limits
from engine.io.dicom import write_dicom_series
from engine.io.nifti import write_nifti
from engine.organs import OrganMapError, from_labelmap


def _bounded(fn, heap=32 << 20):
    """The reader refuses (VolumeReadError, one line) having allocated under ``heap`` bytes:
    it decided from the header, before reading the data (memory, not wall clock, is the
    test: timing belongs in benchmarks/)."""
    tracemalloc.start()
    try:
        with pytest.raises(E.VolumeReadError) as err:
            fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < heap, f"{peak / 2**20:.0f} MiB allocated before refusing"
    assert "\n" not in str(err.value)
    return err.value


@pytest.mark.parametrize("frames,cls", [("99999999", E.ImplausibleDimensionsError),
                                        ("4000", E.TruncatedFileError),
                                        ("-3", E.CorruptFileError)])
def test_dicom_frame_claims_checked_against_file_size(tmp_path, io_volume, frames, cls):
    files = write_dicom_series(tmp_path / "s", io_volume)
    ds = pydicom.dcmread(files[0])
    ds.NumberOfFrames = frames
    ds.save_as(files[0], enforce_file_format=True)
    err = _bounded(lambda: load(files[0].parent))
    assert isinstance(err, cls)
    assert files[0].name in str(err) and "frames" in str(err).lower() or "NumberOfFrames" in str(err)


def test_gzip_bomb_refused_before_decompressing(tmp_path):
    bomb = tmp_path / "bomb.nii.gz"
    bomb.write_bytes(gzip_bomb(nifti_seed(), (1024, 1024, 300)))  # 629 MB of zeros in ~600 KB
    assert bomb.stat().st_size < 1 << 20
    err = _bounded(lambda: load(bomb))
    assert isinstance(err, E.ImplausibleDimensionsError)
    assert "bomb.nii.gz" in str(err) and "compression bomb" in str(err) and "gunzip" in str(err)


def test_gzip_bomb_as_organ_map_refused(tmp_path, io_volume):
    bomb = tmp_path / "organs.nii.gz"
    bomb.write_bytes(gzip_bomb(nifti_seed(), (1024, 1024, 300)))
    with pytest.raises(OrganMapError, match="compression bomb"):
        from_labelmap(bomb, io_volume)


def test_image_data_above_the_documented_limit_refused(tmp_path, io_volume, monkeypatch):
    path = write_nifti(tmp_path / "big.nii", io_volume.hu, io_volume.affine)
    monkeypatch.setattr(nifti_limits, "MAX_IMAGE_BYTES", 10_000)
    err = _bounded(lambda: load(path))
    assert isinstance(err, E.ImplausibleDimensionsError) and "big.nii" in str(err)


def test_honest_scans_and_label_maps_still_load(tmp_path, io_volume):
    for name in ("a.nii", "a.nii.gz"):
        vol = load(write_nifti(tmp_path / name, io_volume.hu, io_volume.affine))
        assert np.array_equal(vol.hu, io_volume.hu)


def test_capped_stream_never_reads_past_the_limit(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(bytes(5000)))
    with gzip.open(path, "rb") as raw:
        s = nifti_limits.CappedStream(raw, path)
        assert len(s.read(100)) == 100
        s.limit = 1000
        assert len(s.read()) == 900 and s.read(10) == b""
        with pytest.raises(E.TruncatedFileError):
            s.seek(4000)
