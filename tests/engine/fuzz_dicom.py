"""DICOM fuzz target (see fuzz_support's docstring): a 3-slice series where elements of one
or all files get raw bytes or text, are deleted, or the transfer syntax changes, then byte
edits / truncation of one file; read with ``engine.io.load``."""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from fuzz_support import apply_bytes, byte_edits, check_volume, cuts, dicom_seed, outcome_of
from hypothesis import strategies as st

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
