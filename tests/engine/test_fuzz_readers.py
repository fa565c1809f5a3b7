"""Bounded property-based fuzzing of the NIfTI and DICOM readers (docs/reliability.md).

Mutations of *valid* files (header fields set to extreme values, elements replaced or
deleted, transfer syntax mislabelled, bytes overwritten, truncation) either load a sane
volume or raise a documented CTCamError: never another exception, never a hang, never an
allocation the file cannot back (see ``fuzz_support``).  Random byte strings are covered by
``test_io_fuzz.py``.  Longer runs: ``python tools/fuzz.py --seconds 300``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from fuzz_dicom import DicomCase, dicom_cases, run_dicom
from fuzz_support import FuzzFailure, NiftiCase, nifti_cases, outcome_of, run_nifti
from hypothesis import HealthCheck, example, given, settings

from engine.io.errors import CorruptFileError

CI = settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@CI
@given(case=nifti_cases)
# regression: 8000 x 8000 x 5 announced by a 1 KB .nii.gz allocated 730 MiB before reading
@example(NiftiCase(fields=(("dim", 1, 8000), ("dim", 2, 8000)), edits=(), cut=None, gz=True))
@example(NiftiCase(fields=(("dim", 1, 8000), ("dim", 2, 8000)), edits=(), cut=None, gz=False))
@example(NiftiCase(fields=(("pixdim", 1, float("nan")), ("vox_offset", 0, 1e9)), edits=(),
                   cut=None, gz=False))
@example(NiftiCase(fields=(("dim", 0, 4), ("dim", 4, 32767)), edits=(), cut=None, gz=True))
# regression: a 600 KB gzip bomb really decompressing to 630 MB passed the deflate
# ratio check and was read into memory
@example(NiftiCase(fields=(), edits=(), cut=None, gz=True, bomb=300))
def test_nifti_mutations_load_or_raise_ctcam_error(case):
    run_nifti(case)


@settings(CI, max_examples=100)
@given(case=dicom_cases)
# regressions: damaged element lengths made pydicom allocate 0.8-1 GiB for 1 KB files
@example(DicomCase(edits=(), syntax=None, file=4,
                   byte_edits=((18738, 204), (647823, 152), (1557, 205), (618, 203)), cut=None))
@example(DicomCase(edits=((0x00080008, ("bytes", b"\xc5\x06"), False),
                          (0x00200052, ("text", "CT"), False),
                          (0x00280006, ("bytes", b"?:\x90$C\xeb\xdbc\xc6D\xc8\xe0"), False)),
                   syntax=None, file=0,
                   byte_edits=((206, 167), (736, 145), (13184, 128), (124778, 255)), cut=None))
@example(DicomCase(edits=((0x00280010, ("bytes", (65535).to_bytes(2, "little")), True),
                          (0x00280011, ("bytes", (65535).to_bytes(2, "little")), True)),
                   syntax=None, file=0, byte_edits=(), cut=None))
@example(DicomCase(edits=(), syntax="1.2.840.10008.1.2.2", file=2, byte_edits=(), cut=None))
# regression (tools/fuzz.py): an integral but huge RescaleSlope overflowed int64 (OverflowError)
@example(DicomCase(edits=((0x00281053, ("text", "1e308"), False),), syntax=None, file=1,
                   byte_edits=(), cut=None))
# regression: a 130 KB file claiming 10^8 frames built one record per frame (hang)
@example(DicomCase(edits=((0x00280008, ("text", "99999999"), False),), syntax=None, file=0,
                   byte_edits=(), cut=None))
@example(DicomCase(edits=((0x00280008, ("text", "2000"), True),), syntax="1.2.840.10008.1.2.4.50",
                   file=0, byte_edits=(), cut=None))
def test_dicom_mutations_load_or_raise_ctcam_error(case):
    run_dicom(case)


# -- the harness itself can fail ------------------------------------------------------------------
def test_harness_flags_foreign_exceptions_hangs_and_big_allocations(monkeypatch):
    import fuzz_support

    def bad_file():
        raise CorruptFileError("x.dcm: damaged")

    assert outcome_of(bad_file) == "CorruptFileError"
    with pytest.raises(FuzzFailure, match="ZeroDivisionError escaped"):
        outcome_of(lambda: 1 / 0)
    with pytest.raises(FuzzFailure, match="empty message"):
        outcome_of(lambda: (_ for _ in ()).throw(CorruptFileError("")))
    with pytest.raises(FuzzFailure, match="MiB"):
        outcome_of(lambda: np.ones(80 << 20, np.uint8))
    monkeypatch.setattr(fuzz_support, "TIME_LIMIT_S", 0.2)

    def hang():
        try:
            time.sleep(5)
        except Exception:  # a reader's broad except must not swallow the alarm
            pass

    with pytest.raises(FuzzFailure, match="hang"):
        outcome_of(hang)
