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
to hundreds of MB of zeros, issue 12).  DICOM: a 3-slice series where elements (Rows, Bits*,
Rescale*, PixelSpacing, ImagePositionPatient, ...) of one or all files get raw bytes or
text, are deleted, or the transfer syntax changes, then byte edits/truncation of one file.
Model card: JSON-tree edits (replace / delete / add a value anywhere) or text edits,
including deep nesting and huge numbers, loaded with ``load_model`` and used by
``preprocess``.  Weights: byte edits/truncation of the safetensors file with the card's
sha256 updated, so the parser itself is exercised.
"""

from __future__ import annotations

import contextlib
import copy
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


# -- DICOM ---------------------------------------------------------------------------------------
_US = "US"
DICOM_TAGS: dict[int, str] = {
    0x00280010: _US, 0x00280011: _US, 0x00280100: _US, 0x00280101: _US, 0x00280102: _US,
    0x00280103: _US, 0x00280002: _US, 0x00280006: _US, 0x00280004: "CS", 0x00281052: "DS",
    0x00281053: "DS", 0x00280030: "DS", 0x00200032: "DS", 0x00200037: "DS", 0x00180050: "DS",
    0x00180088: "DS", 0x00181120: "DS", 0x00280008: "IS", 0x00200013: "IS", 0x00280034: "IS",
    0x0020000E: "UI", 0x00080016: "UI", 0x00200052: "UI", 0x00080060: "CS", 0x00080008: "CS",
    0x7FE00010: "OW",
}
TRANSFER_SYNTAXES = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.50",
                     "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1.99",
                     "1.2.3.4", ""]
_TEXT = ["", " ", "0", "-1", "1", "1e308", "-1e308", "1e400", "nan", "inf", "-inf", "1e-30",
         "0\\0", "1\\0\\0\\0\\1\\0", "0\\0\\0\\0\\0\\0", "1\\0\\0\\0\\0\\1", "1\\2\\3\\4\\5\\6\\7",
         "abc", "MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL", "CT", "MR",
         "1.2.3", "9" * 64, "-0", "+5", "1.5\\1.5", "0.1\\-0.1"]

dicom_values = st.one_of(
    st.sampled_from(_TEXT).map(lambda s: ("text", s)),
    st.text(alphabet="0123456789.-+eE\\ naif", max_size=24).map(lambda s: ("text", s)),
    st.integers(0, 65535).map(lambda v: ("bytes", v.to_bytes(2, "little"))),
    st.binary(max_size=12).map(lambda b: ("bytes", b)),
    st.just(("delete", None)),
)


@dataclass(frozen=True)
class DicomCase:
    edits: tuple  # ((tag, (kind, value), all_files), ...)
    syntax: str | None
    file: int
    byte_edits: tuple
    cut: int | None


dicom_cases = st.builds(
    DicomCase,
    edits=st.lists(st.tuples(st.sampled_from(sorted(DICOM_TAGS)), dicom_values, st.booleans()),
                   max_size=3).map(tuple),
    syntax=st.one_of(st.none(), st.sampled_from(TRANSFER_SYNTAXES)),
    file=st.integers(0, 4),
    byte_edits=byte_edits.map(tuple), cut=cuts,
)


def _set_raw(ds, tag: int, vr: str, kind: str, value) -> None:
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    t = Tag(tag)
    if kind == "delete":
        if t in ds:
            del ds[t]
        return
    raw = value.encode("latin-1", "replace") if kind == "text" else value
    if len(raw) % 2:
        raw += b"\x00" if vr in ("UI", "OW", _US) else b" "
    ds._dict[t] = RawDataElement(t, vr, len(raw), raw, 0, False, True)


def _patch_syntax(data: bytes, uid: str) -> bytes:
    """Claim another transfer syntax in the file meta without re-encoding the data set (so
    the file lies about its encoding, as damaged or mislabelled files do)."""
    import struct

    key = b"\x02\x00\x10\x00UI"
    at = data.find(key, 128)
    if at < 0:
        return data
    (old_len,) = struct.unpack_from("<H", data, at + 6)
    value = uid.encode() + (b"\x00" if len(uid) % 2 else b"")
    out = bytearray(data[: at + 6] + struct.pack("<H", len(value)) + value
                    + data[at + 8 + old_len:])
    glen = out.find(b"\x02\x00\x00\x00UL\x04\x00", 128)
    if glen >= 0:
        (g,) = struct.unpack_from("<I", out, glen + 8)
        struct.pack_into("<I", out, glen + 8, g + len(value) - old_len)
    return bytes(out)


def dicom_files(case: DicomCase) -> list[bytes] | None:
    """Mutated series (None when pydicom itself cannot write the combination)."""
    import io

    import pydicom

    out = []
    for n, blob in enumerate(dicom_seed()):
        mine = n == case.file
        todo = [(t, v) for t, v, every in case.edits if every or mine]
        if not todo and not (case.syntax and mine):
            out.append(blob)
            continue
        ds = pydicom.dcmread(io.BytesIO(blob))
        for tag, (kind, value) in todo:
            _set_raw(ds, tag, DICOM_TAGS[tag], kind, value)
        buf = io.BytesIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.save_as(buf, enforce_file_format=False, implicit_vr=False, little_endian=True)
        except Exception:
            return None
        data = buf.getvalue()
        out.append(_patch_syntax(data, case.syntax) if case.syntax is not None and mine else data)
    out[case.file] = apply_bytes(out[case.file], case.byte_edits, case.cut)
    return out


def run_dicom(case: DicomCase) -> str | None:
    """Outcome of loading the mutated series folder (None: case not writable, skip it)."""
    from engine.io import load

    files = dicom_files(case)
    if files is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "series"
        folder.mkdir()
        for n, blob in enumerate(files):
            (folder / f"IM{n:04d}.dcm").write_bytes(blob)
        return outcome_of(lambda: load(folder), check_volume)


# -- model card and weights ----------------------------------------------------------------------
def json_paths(obj, prefix=()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += json_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += json_paths(v, (*prefix, i))
    return out


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from([0, 1, -1, 3, 10**9]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["axialnet", "ctcam-model-card/1", "left_lung", "body", "volume"]),
)
json_values = st.recursive(
    json_scalars,
    lambda ch: st.one_of(st.lists(ch, max_size=4), st.dictionaries(st.text(max_size=6), ch, max_size=3)),
    max_leaves=8,
)
TEXT_SPLICES = ["[" * 100_000, "1" * 5000, "1e999", "-1e999", "NaN", "Infinity", "\ufeff",
                "\udcff", '"\\ud800"', "{", "}", "null", ",", '"', "\x00", "0" * 400]


@dataclass(frozen=True)
class CardCase:
    tree_edits: tuple  # ((path index, action, value), ...) action: replace | delete | add
    text_edit: tuple | None  # (position, splice text) applied to the JSON text
    weight_edits: tuple  # byte edits of the weights file (card sha256 follows)
    weight_cut: int | None


card_cases = st.builds(
    CardCase,
    tree_edits=st.lists(st.tuples(st.integers(0, 10_000),
                                  st.sampled_from(["replace", "delete", "add"]), json_values),
                        max_size=3).map(tuple),
    text_edit=st.one_of(st.none(), st.tuples(st.integers(0, 10_000), st.sampled_from(TEXT_SPLICES))),
    weight_edits=st.one_of(st.just(()), byte_edits.map(tuple)),
    weight_cut=st.one_of(st.none(), st.none(), cuts),
)


def _edit_tree(card: dict, edits) -> Any:
    card = copy.deepcopy(card)
    for idx, action, value in edits:
        paths = json_paths(card)
        path = paths[idx % len(paths)]
        if not path:
            card = value if action == "replace" else card
            continue
        parent = card
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if action == "replace":
            parent[key] = value
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[f"extra{idx}"] = value
        else:
            parent.insert(key, value)
    return card


def card_files(case: CardCase) -> tuple[bytes, bytes]:
    """(weights bytes, card text bytes) for a case."""
    from hashlib import sha256

    weights, card = model_seed()
    weights = apply_bytes(weights, case.weight_edits, case.weight_cut)
    card = copy.deepcopy(card)
    card["weights"]["sha256"] = sha256(weights).hexdigest()
    card = _edit_tree(card, case.tree_edits)
    text = json.dumps(card, allow_nan=True)
    if case.text_edit is not None:
        pos, splice = case.text_edit
        pos %= len(text) + 1
        text = text[:pos] + splice + text[pos:]
    return weights, text.encode("utf-8", "surrogatepass")


def run_card(case: CardCase) -> str:
    """read_card, load_model and preprocess (the card drives the model grid) on a mutation."""
    from engine.model import load_model, preprocess
    from engine.model.card import read_card

    weights, text = card_files(case)
    with tempfile.TemporaryDirectory() as d:
        w, c = Path(d) / "m.safetensors", Path(d) / "m.json"
        w.write_bytes(weights)
        c.write_bytes(text)

        def go():
            read_card(c)
            loaded = load_model(w, c, device="cpu")
            preprocess(card_volume(), loaded.card)
            return loaded

        return outcome_of(go)


# -- driver for tools/fuzz.py --------------------------------------------------------------------
TARGETS: dict[str, tuple[Any, Callable[[Any], str | None]]] = {
    "nifti": (nifti_cases, run_nifti),
    "dicom": (dicom_cases, run_dicom),
    "card": (card_cases, run_card),
}


