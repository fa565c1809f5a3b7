"""What ``ctcam explain INPUT... --out DIR`` explains: turning inputs into scan jobs.

Rules (also in ``docs/batch.md``)
---------------------------------
* A **file** ending in ``.csv`` is a *list*: one scan per row, column ``path`` (required),
  optional ``id`` and ``organs`` (an organ label-map file, or ``none`` to skip the organ
  map).  Relative paths are relative to the CSV file's folder.  Each row is exactly one scan
  (a NIfTI file, a DICOM file or a DICOM series folder).
* Any other **file** is one scan (NIfTI or DICOM; the reader tells which by content).
* A **folder that directly holds at least one DICOM file** is a DICOM series folder: one
  scan, or one scan per series when it holds several series (ids get ``_s<number>``).
  Its sub-folders belong to it (the DICOM reader looks into them).
* Any other **folder** is a *collection*: every NIfTI file in it (by name, ``.nii`` /
  ``.nii.gz``, or by content) is one scan and every sub-folder is expanded by these same
  rules.  Other files (notes, spreadsheets, images) are ignored; hidden files and folders
  (name starting with ``.``) too, and so are the output folder and any folder holding a
  ``.ctcam-output`` marker (ctcam's own outputs).  An input folder that is such an output
  folder, or is (or lies inside) the ``--out`` folder, is refused.  Symbolic links to folders are followed,
  each real folder once (a link to a parent cannot loop); only regular files are opened.
* Scan ids (the output sub-folder names) are the file name without its extension, or the
  folder name; inside a collection the path relative to the collection joined with ``__``.
  Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``.  Repeated
  derived ids get ``-2``, ``-3``, ... in input order; repeated ids given in a CSV ``id``
  column are a usage error.

A path that does not exist is not a usage error: it becomes a job that fails (and is
reported in ``errors.csv``) so that one typo does not stop a long batch.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CTCamError

NIFTI_SUFFIXES = (".nii.gz", ".nii")
STRIP_SUFFIXES = (".nii.gz", ".nii", ".dcm", ".dicom", ".ima", ".img", ".gz")
RESERVED_IDS = {"errors.csv", "scans.csv"}


class BatchInputError(CTCamError):
    """The batch inputs cannot be understood (bad CSV, repeated explicit ids, nothing found)."""


@dataclass(frozen=True)
class ScanJob:
    """One scan to explain.

    ``organs``: None (use the batch default), ``"none"`` (no organ map) or a label-map path.
    ``series``: SeriesInstanceUID for a folder that holds several series.
    """

    id: str
    path: str
    organs: str | None = None
    series: str | None = None


def safe_id(text: str) -> str:
    """A file-system-safe scan id: ``[A-Za-z0-9._-]``, no leading dot, at most 120 chars."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip()).lstrip(".")
    s = s[:120] or "scan"
    return f"{s}_" if s.lower() in RESERVED_IDS else s


def stem_of(path: Path) -> str:
    name = path.name
    low = name.lower()
    for suf in STRIP_SUFFIXES:
        if low.endswith(suf) and len(name) > len(suf):
            return name[: -len(suf)]
    return name


def _looks_like_dicom(path: Path) -> bool:
    from engine.io.dicom_scan import looks_like_dicom

    return looks_like_dicom(path)


def _looks_like_nifti(path: Path) -> bool:
    if path.name.lower().endswith(NIFTI_SUFFIXES):
        return True
    from engine.io.sniff import detect_format

    return detect_format(path) == "nifti"


#: Written into every output folder, so that discovery never takes ctcam's outputs for scans.
OUTPUT_MARKER = ".ctcam-output"


def _visible_children(folder: Path) -> list[Path] | None:
    """Sorted non-hidden entries; None when the folder cannot be listed."""
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError:
        return None


class _Walk:
    """Discovery state: real folders already visited (symbolic links to a folder or one of
    its parents are followed once), and output folders never to look into."""

    def __init__(self, exclude: list[Path]) -> None:
        self.seen: set[tuple[int, int]] = set()
        self.exclude = [p.resolve() for p in exclude]

    def enter(self, folder: Path) -> bool:
        try:
            st = folder.stat()
            real = folder.resolve()
        except OSError:
            return True  # unreadable: let the reader say so (recorded as a failed scan)
        if (st.st_dev, st.st_ino) in self.seen:
            return False
        self.seen.add((st.st_dev, st.st_ino))
        if any(real == ex or real.is_relative_to(ex) for ex in self.exclude):
            return False
        return not (folder / OUTPUT_MARKER).exists()


def is_dicom_folder(folder: Path) -> bool:
    """True when ``folder`` directly holds at least one DICOM file."""
    return any(p.is_file() and _looks_like_dicom(p) for p in _visible_children(folder) or [])


def _dicom_jobs(folder: Path, base_id: str) -> list[ScanJob]:
    """One job per series of a DICOM folder (one job when it cannot be listed)."""
    from engine.io import list_series

    try:
        series = list_series(folder)
    except CTCamError:
        return [ScanJob(base_id, str(folder))]  # the reader reports the problem when it runs
    if len(series) <= 1:
        return [ScanJob(base_id, str(folder))]
    jobs = []
    for n, s in enumerate(series, start=1):
        num = s.series_number if s.series_number is not None else n
        jobs.append(ScanJob(f"{base_id}_s{num}", str(folder), series=s.uid))
    return jobs


def _collection_jobs(folder: Path, prefix: list[str], walk: _Walk) -> list[ScanJob]:
    jobs: list[ScanJob] = []
    children = _visible_children(folder)
    if children is None:  # unreadable: one scan that fails with the reader's message
        return [ScanJob(safe_id("__".join(prefix) or folder.name), str(folder))]
    for child in children:
        parts = [*prefix, stem_of(child) if child.is_file() else child.name]
        cid = safe_id("__".join(parts))
        if child.is_dir():
            if not walk.enter(child):
                continue
            if _visible_children(child) is None:
                jobs.append(ScanJob(cid, str(child)))
            elif is_dicom_folder(child):
                jobs += _dicom_jobs(child, cid)
            else:
                jobs += _collection_jobs(child, parts, walk)
        elif child.is_file() and _looks_like_nifti(child):  # regular files only (no FIFOs)
            jobs.append(ScanJob(cid, str(child)))
    return jobs


def read_csv_list(path: Path) -> list[ScanJob]:
    """Jobs from a CSV list (columns ``path``, optional ``id`` and ``organs``)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            fields = [(f or "").strip().lower() for f in (reader.fieldnames or [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BatchInputError(f"{path}: cannot read the CSV list ({exc}). Save it as UTF-8 CSV.") from exc
    if "path" not in fields:
        raise BatchInputError(
            f"{path}: the CSV list needs a 'path' column (found: {', '.join(fields) or 'none'}); "
            "optional columns: id, organs."
        )
    base = path.parent
    jobs = []
    for n, row in enumerate(rows, start=2):
        extra = [v for v in row.pop(None, None) or [] if (v or "").strip()]  # past the header
        if extra:
            raise BatchInputError(
                f"{path}, line {n}: more fields than the header has columns ({', '.join(extra)}); "
                "quote paths that hold commas, or add the column to the header."
            )
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        p = row.get("path", "")
        if not p:
            raise BatchInputError(f"{path}, line {n}: empty 'path'. Give a scan path on every row.")
        scan = Path(p).expanduser()
        scan = scan if scan.is_absolute() else base / scan
        organs = row.get("organs") or None
        if organs and organs.lower() != "none":
            op = Path(organs).expanduser()
            organs = str(op if op.is_absolute() else base / op)
        elif organs:
            organs = "none"
        given = row.get("id") or ""
        jobs.append(ScanJob(safe_id(given) if given else "", str(scan), organs=organs))
    explicit = [j.id for j in jobs if j.id]
    dupes = sorted({i for i in explicit if explicit.count(i) > 1})
    if dupes:
        raise BatchInputError(f"{path}: repeated id(s) {', '.join(dupes)}; ids must be unique.")
    return [j if j.id else ScanJob(safe_id(stem_of(Path(j.path))), j.path, j.organs, j.series)
            for j in jobs]


def _refuse_output_folder(path: Path, exclude: list[Path]) -> None:
    """An input folder must not be ctcam's output: its heat maps would be taken for scans."""
    if (path / OUTPUT_MARKER).exists():
        raise BatchInputError(
            f"{path} is a ctcam output folder (it holds {OUTPUT_MARKER}); its heat maps are not "
            "scans. Give the folder that holds the scans."
        )
    real = path.resolve()
    for out in exclude:
        if real == out.resolve() or real.is_relative_to(out.resolve()):
            raise BatchInputError(
                f"the input folder {path} is the output folder --out {out} or lies inside it; "
                "choose an --out outside the scans' folder."
            )


def expand_input(item: str | Path, exclude: list[Path] | None = None) -> list[ScanJob]:
    """The jobs one command-line input stands for (see the module docstring); folders in
    ``exclude`` (the output folder) and folders holding OUTPUT_MARKER are never searched."""
    path = Path(item).expanduser()
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_csv_list(path)
    if path.is_dir():
        _refuse_output_folder(path, exclude or [])
        if is_dicom_folder(path):
            return _dicom_jobs(path, safe_id(path.resolve().name))
        walk = _Walk(exclude or [])
        walk.enter(path)
        return _collection_jobs(path, [], walk)
    return [ScanJob(safe_id(stem_of(path)), str(path))]  # a file, or a missing path (fails later)


def is_single_scan(inputs: list[str]) -> bool:
    """True when the inputs are exactly one scan: one file (not a CSV) or one DICOM folder."""
    if len(inputs) != 1:
        return False
    path = Path(inputs[0]).expanduser()
    if path.is_dir():
        return is_dicom_folder(path)
    return path.suffix.lower() != ".csv"


def expand_inputs(inputs: list[str], exclude: list[Path] | None = None) -> list[ScanJob]:
    """Jobs for all inputs, ids made unique (``-2``, ``-3`` ... in input order)."""
    jobs: list[ScanJob] = []
    for item in inputs:
        jobs += expand_input(item, exclude)
    seen: dict[str, int] = {}
    taken = {j.id for j in jobs}
    out = []
    for j in jobs:
        key = j.id.lower()
        if key in seen:
            n = seen[key] + 1
            while f"{j.id}-{n}" in taken:
                n += 1
            seen[key] = n
            new = f"{j.id}-{n}"
            taken.add(new)
            j = ScanJob(new, j.path, j.organs, j.series)
        else:
            seen[key] = 1
        out.append(j)
    return out
