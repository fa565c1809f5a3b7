"""Small fuzzing: random or damaged bytes either load or raise a CTCamError, never anything else.

Bounded (60 examples per property, small files) so it stays a few seconds; docs/reliability.md asks for
heavier fuzzing later.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import CTCamError
from engine.io import load
from engine.io.dicom import write_dicom_series
from engine.io.nifti import write_volume
from engine.volume import CTVolume

FUZZ = settings(
    max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def _small_volume() -> CTVolume:
    rng = np.random.default_rng(1)
    affine = np.diag([0.8, 0.7, 2.0, 1.0])
    return CTVolume(rng.integers(-1024, 1500, (6, 5, 4)).astype(np.int16), affine)


def _valid_bytes() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        vol = _small_volume()
        return {
            ".nii": write_volume(d / "a.nii", vol, orientation="LPS").read_bytes(),
            ".nii.gz": write_volume(d / "a.nii.gz", vol).read_bytes(),
            ".dcm": write_dicom_series(d / "s", vol)[0].read_bytes(),
        }


VALID = _valid_bytes()


def _load_or_ctcam_error(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(d) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            vol = load(path)
        except CTCamError as exc:
            assert str(exc) and "\n" not in str(exc)
            return
        assert vol.hu.dtype == np.int16 and vol.hu.ndim == 3
        assert np.all(np.isfinite(vol.affine))


@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".nii", ".nii.gz", ".dcm", ".bin"]))
def test_random_bytes(data, suffix):
    _load_or_ctcam_error(data, suffix)


@FUZZ
@given(
    suffix=st.sampled_from(sorted(VALID)),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_damaged_valid_files(suffix, edits, cut):
    """Overwrite a few bytes (mostly in the header) of a valid file and/or truncate it."""
    data = bytearray(VALID[suffix])
    for pos, value in edits:
        data[pos % min(len(data), 700)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    _load_or_ctcam_error(bytes(data), suffix)


@FUZZ
@given(
    which=st.integers(0, 3),
    edits=st.lists(st.tuples(st.integers(0, 100_000), st.integers(0, 255)), min_size=1, max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 100_000)),
)
def test_damaged_slice_in_a_series_folder(which, edits, cut):
    """One damaged file among the 4 slices of a series: the folder loads or is refused cleanly."""
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = write_dicom_series(Path(d), _small_volume(), uid_seed="fuzz")
        data = bytearray(paths[which].read_bytes())
        for pos, value in edits:
            data[pos % len(data)] = value
        if cut is not None:
            data = data[: cut % (len(data) + 1)]
        paths[which].write_bytes(bytes(data))
        try:
            vol = load(Path(d))
        except CTCamError as exc:
            assert "\n" not in str(exc)
        else:
            assert vol.hu.ndim == 3 and np.all(np.isfinite(vol.affine))
