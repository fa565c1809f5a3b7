"""Fuzz targets shared by the bounded CI fuzz tests (``test_fuzz_*.py``) and ``tools/fuzz.py``.

Each target takes a *case* drawn from a Hypothesis strategy (a mutation of a valid file),
writes it to a temporary folder, runs the real loader on it and returns the outcome: ``"ok"``
or the name of the :class:`engine.errors.CTCamError` subclass raised.  Anything else is a
:class:`FuzzFailure`:

* another exception escaped (a bug: users must only ever see our messages);
* no answer within :data:`TIME_LIMIT_S` (a hang; enforced with ``SIGALRM``, raised as a
  ``BaseException`` so a broad ``except Exception`` in a reader cannot swallow it);
* Python-heap peak (``tracemalloc``, which numpy reports to) above :data:`HEAP_LIMIT`, or
  process peak RSS growing by more than :data:`RSS_LIMIT` (torch allocations): every valid
  input here decodes to well under 1 MiB, so more means a header was trusted before the
  file was shown to hold that much.

Mutation families
-----------------
NIfTI: a header field (``dim``, ``pixdim``, ``datatype``, ``vox_offset``, ``scl_*``,
q/sform ...) set to an extreme or random value, then optional byte edits and truncation,
stored as ``.nii`` or ``.nii.gz``, or a gzip bomb (a few hundred KB that really decompress
to hundreds of MB of zeros).  DICOM: a 3-slice series where elements (Rows, Bits*,
Rescale*, PixelSpacing, ImagePositionPatient, ...) of one or all files get raw bytes or
text, are deleted, or the transfer syntax changes, then byte edits/truncation of one file.
Model card: JSON-tree edits (replace / delete / add a value anywhere) or text edits,
including deep nesting and huge numbers, loaded with ``load_model`` and used by
``preprocess``.  Weights: byte edits/truncation of the safetensors file with the card's
sha256 updated, so the parser itself is exercised.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import resource
import signal
import tempfile
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from engine.errors import CTCamError
from engine.volume import CTVolume

TIME_LIMIT_S = 10.0
HEAP_LIMIT = 48 << 20
RSS_LIMIT = 400 << 20


class FuzzFailure(AssertionError):
    """A fuzz input made a loader misbehave (see the module docstring)."""


class Hang(BaseException):  # noqa: N818 - not an error users see; BaseException on purpose
    """Raised by the alarm when a target runs past the time limit."""


@contextlib.contextmanager
def time_bound(seconds: float):
    def alarm(signum, frame):
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def outcome_of(fn: Callable[[], Any], check: Callable[[Any], None] | None = None) -> str:
    """Run ``fn``; return "ok" or the CTCamError class name; raise FuzzFailure otherwise."""
    rss0 = _rss()
    tracemalloc.start()
    try:
        with time_bound(TIME_LIMIT_S), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = fn()
        outcome = "ok"
    except CTCamError as exc:
        msg = str(exc)
        if not msg.strip():
            raise FuzzFailure(f"{type(exc).__name__} with an empty message") from exc
        outcome = type(exc).__name__
        value = None
    except Hang:
        raise FuzzFailure(f"no answer within {TIME_LIMIT_S} s (hang)") from None
    except Exception as exc:
        raise FuzzFailure(f"{type(exc).__name__} escaped: {exc}") from exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if peak > HEAP_LIMIT:
        raise FuzzFailure(f"allocated {peak / 2**20:.0f} MiB (Python heap) for a tiny input")
    if _rss() - rss0 > RSS_LIMIT:
        raise FuzzFailure(f"peak memory grew by {(_rss() - rss0) / 2**20:.0f} MiB for a tiny input")
    if outcome == "ok" and check is not None:
        check(value)
    return outcome


def check_volume(vol: CTVolume) -> None:
    if not (isinstance(vol, CTVolume) and vol.hu.dtype == np.int16 and vol.hu.ndim == 3):
        raise FuzzFailure(f"loader returned {vol!r}")
    if not np.all(np.isfinite(vol.affine)) or abs(np.linalg.det(vol.affine[:3, :3])) <= 0:
        raise FuzzFailure(f"loaded volume has a degenerate affine {vol.affine.tolist()}")


# -- valid seeds ---------------------------------------------------------------------------------
def seed_volume() -> CTVolume:
    rng = np.random.default_rng(7)
    aff = np.array([[0.0, -0.8, 0.0, 20.0], [0.75, 0.0, 0.0, -30.0], [0.0, 0.0, 2.5, 100.0],
                    [0, 0, 0, 1]])
    return CTVolume(rng.integers(-1024, 1400, (7, 6, 5)).astype(np.int16), aff)


_SEEDS: dict[str, Any] = {}


def card_volume() -> CTVolume:
    """A volume big enough to preprocess onto the fuzz model's grid."""
    if "card_volume" not in _SEEDS:
        hu = np.full((40, 36, 30), -1000, np.int16)
        hu[5:35, 5:31, 3:27] = 40
        hu[8:18, 10:26, 6:24] = -850
        aff = np.diag([8.0, 8.0, 10.0, 1.0])
        aff[:3, 3] = [-160, -140, -150]
        _SEEDS["card_volume"] = CTVolume(hu, aff)
    return _SEEDS["card_volume"]


def nifti_seed() -> bytes:
    """Uncompressed NIfTI-1 bytes of the seed volume (stored LPS, qform and sform set)."""
    if "nifti" not in _SEEDS:
        from engine.io.nifti import write_volume

        with tempfile.TemporaryDirectory() as d:
            _SEEDS["nifti"] = write_volume(Path(d) / "s.nii", seed_volume(), orientation="LPS").read_bytes()
    return _SEEDS["nifti"]


def dicom_seed() -> list[bytes]:
    """A 5-slice DICOM series of the seed volume, one bytes object per file."""
    if "dicom" not in _SEEDS:
        from engine.io.dicom import write_dicom_series

        with tempfile.TemporaryDirectory() as d:
            paths = write_dicom_series(Path(d), seed_volume(), uid_seed="fuzz")
            _SEEDS["dicom"] = [p.read_bytes() for p in paths]
    return _SEEDS["dicom"]


PREP = {"shape": [16, 16, 6], "spacing_mm": [12.0, 12.0, 25.0], "hu_window": [-1000, 800],
        "mean": 0.2, "centre": "body", "interpolation": "trilinear", "outside_hu": -1000}
ARCH = dict(stem_width=2, widths=(2, 4), strides=(1, 2), reduce_widths=(2,))


def model_seed() -> tuple[bytes, dict[str, Any]]:
    """(safetensors bytes, card dict) of a tiny valid model."""
    if "model" not in _SEEDS:
        import torch

        from engine.labels import LABELS, ORGAN_CODES
        from engine.model import AxialNet, new_card, save_model

        torch.manual_seed(0)
        net = AxialNet(len(LABELS), PREP["shape"], **ARCH).eval()
        with tempfile.TemporaryDirectory() as d:
            w, c = save_model(net, new_card(net, LABELS, ORGAN_CODES, PREP), d)
            _SEEDS["model"] = (w.read_bytes(), json.loads(c.read_text()))
    return _SEEDS["model"]


# -- byte-level edits ----------------------------------------------------------------------------
byte_edits = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=4)
cuts = st.one_of(st.none(), st.integers(0, 1 << 20))


def apply_bytes(data: bytes, edits, cut, head: int | None = None) -> bytes:
    """Overwrite bytes (positions modulo ``head`` or the length) and truncate at ``cut``."""
    b = bytearray(data)
    for pos, val in edits:
        if b:
            b[pos % min(len(b), head or len(b))] = val
    if cut is not None:
        b = b[: cut % (len(b) + 1)]
    return bytes(b)


# -- NIfTI ---------------------------------------------------------------------------------------
_NIFTI_INT_FIELDS = ["dim", "datatype", "bitpix", "qform_code", "sform_code", "intent_code",
                     "xyzt_units", "dim_info", "sizeof_hdr", "slice_start", "slice_end"]
_NIFTI_FLOAT_FIELDS = ["pixdim", "vox_offset", "scl_slope", "scl_inter", "quatern_b",
                       "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z",
                       "srow_x", "srow_y", "srow_z", "cal_max", "cal_min"]
_INTERESTING_INTS = [0, 1, -1, 2, 3, 4, 5, 7, 8, 16, 32, 64, 128, 255, 256, 512, 768, 1024,
                     2048, 4096, 8192, 8193, 16384, 32767, -32768, 348, 540]
_INTERESTING_FLOATS = [0.0, -0.0, 1.0, -1.0, 1e-30, 1e30, 3.4e38, -3.4e38, float("nan"),
                       float("inf"), float("-inf"), 0.5, 352.0, 351.0, 1e9]

nifti_values = st.one_of(
    st.sampled_from(_INTERESTING_INTS), st.integers(-32768, 32767),
    st.sampled_from(_INTERESTING_FLOATS),
    st.floats(width=32, allow_nan=True, allow_infinity=True),
)


@dataclass(frozen=True)
class NiftiCase:
    fields: tuple  # ((field name, index into array fields, value), ...)
    edits: tuple
    cut: int | None
    gz: bool
    bomb: int = 0  # > 0: a gzip bomb, 1024 x 1024 x bomb int16 zeros (2 MiB per slice)


nifti_cases = st.builds(
    NiftiCase,
    fields=st.lists(st.tuples(st.sampled_from(_NIFTI_INT_FIELDS + _NIFTI_FLOAT_FIELDS),
                              st.integers(0, 7), nifti_values), max_size=3).map(tuple),
    edits=byte_edits.map(tuple), cut=cuts, gz=st.booleans(),
    bomb=st.sampled_from([0] * 8 + [130, 300]),
)

_ZEROS_MEMBER: list[bytes] = []


def gzip_bomb(header: bytes, shape: tuple[int, int, int]) -> bytes:
    """A .nii.gz whose header announces ``shape`` int16 and whose data really decompresses to
    that many zero bytes, built cheaply as concatenated gzip members of 1 MiB of zeros each
    (about 1 KB compressed per MiB)."""
    import nibabel as nib

    hdr = np.frombuffer(header[:348], dtype=nib.nifti1.header_dtype.newbyteorder("<")).copy()
    hdr["dim"][0, :4] = (3, *shape)
    hdr["dim"][0, 4:] = 1
    hdr["datatype"], hdr["bitpix"], hdr["vox_offset"] = 4, 16, 352
    if not _ZEROS_MEMBER:
        _ZEROS_MEMBER.append(gzip.compress(bytes(1 << 20), compresslevel=9, mtime=0))
    n_mib = int(np.prod(shape)) * 2 >> 20
    return gzip.compress(hdr.tobytes() + bytes(4), mtime=0) + _ZEROS_MEMBER[0] * n_mib


def nifti_bytes(case: NiftiCase) -> bytes:
    import nibabel as nib

    data = nifti_seed()
    if case.bomb:
        return gzip_bomb(data, (1024, 1024, case.bomb))
    hdr = np.frombuffer(data[:348], dtype=nib.nifti1.header_dtype.newbyteorder("<")).copy()
    for field, index, value in case.fields:
        base = hdr.dtype[field].base
        if base.kind in "iu":
            info = np.iinfo(base)
            value = int(np.clip(np.nan_to_num(value, nan=0, posinf=info.max, neginf=info.min),
                                info.min, info.max))
        with np.errstate(over="ignore", invalid="ignore"):
            if hdr[field].ndim > 1:
                hdr[field][0, index % hdr[field].shape[1]] = value
            else:
                hdr[field] = value
    raw = apply_bytes(hdr.tobytes() + data[348:], case.edits, case.cut, head=len(data))
    return gzip.compress(raw, mtime=0) if case.gz else raw


def run_nifti(case: NiftiCase) -> str:
    from engine.io import load

    blob = nifti_bytes(case)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("f.nii.gz" if case.gz or case.bomb else "f.nii")
        path.write_bytes(blob)
        return outcome_of(lambda: load(path), check_volume)
