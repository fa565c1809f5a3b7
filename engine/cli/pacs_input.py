"""``ctcam explain --pacs URL --study UID [--series UID]``: retrieve the series into the local
cache (engine/pacs), then explain it like a DICOM folder."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("PACS (DICOMweb)")
    g.add_argument("--pacs", default=None, metavar="URL",
                   help="DICOMweb root of a PACS, e.g. http://localhost:8042/dicom-web; "
                        "with --study (and --series) instead of an input path")
    g.add_argument("--study", default=None,
                   help="StudyInstanceUID(s) to retrieve from --pacs (comma-separated: a batch)")
    g.add_argument("--pacs-query", default=None, metavar="KEY=VALUE,...",
                   help="explain every study a QIDO search finds (a batch): keys PatientName "
                        "(wildcards * ?), PatientID, StudyDate (YYYYMMDD or FROM-TO), "
                        "ModalitiesInStudy; e.g. PatientID=123,StudyDate=20260101-20261231")
    g.add_argument("--pacs-user", default=None,
                   help="user name for the PACS (password from $CTCAM_PACS_PASSWORD)")
    g.add_argument("--pacs-cache", default=None,
                   help="folder for retrieved series (default ~/.cache/ctcam/pacs)")
    g.add_argument("--dicom-out", default=None, metavar="DIR",
                   help="also write the results as DICOM objects (organ SEG, heat-map Parametric "
                        "Maps, findings SR) into DIR, for Slicer/OHIF (one scan only)")
    g.add_argument("--pacs-send", action="store_true",
                   help="store those DICOM objects on the --pacs server (STOW-RS); never automatic")


def usage_problem(args: argparse.Namespace) -> str | None:
    if args.pacs_send and args.pacs is None:
        return "--pacs-send needs --pacs URL"
    several = bool(args.pacs_query) or "," in (args.study or "")
    if (args.dicom_out or args.pacs_send) and (args.batch or args.cluster or len(args.input) > 1
                                               or several):
        return "--dicom-out and --pacs-send work on one scan"
    if args.pacs is None:
        if args.study:
            return "--study needs --pacs URL"
        return None if args.input else "give an input path, or --pacs URL --study UID"
    if args.input:
        return "give either input paths or --pacs, not both"
    if not args.study and not args.pacs_query:
        return "--pacs needs --study UID (the study to explain) or --pacs-query"
    if args.study and args.pacs_query:
        return "give --study or --pacs-query, not both"
    if args.series and (args.pacs_query or "," in (args.study or "")):
        return "--series works with one --study"
    return None


QUERY_KEYS = {"patientname": "patient_name", "patientid": "patient_id",
              "modalitiesinstudy": "modality"}


def parse_query(text: str) -> dict[str, str]:
    """``"PatientID=1,StudyDate=20260101-20261231"`` -> PacsClient.search_studies keywords."""
    from engine.pacs import PacsError

    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        k = key.strip().lower()
        if not sep or not value.strip():
            raise PacsError(f"--pacs-query: {part!r} is not KEY=VALUE.")
        if k == "studydate":
            lo, _, hi = value.strip().partition("-")
            out["date_from"], out["date_to"] = lo, hi if "-" in value else lo
        elif k in QUERY_KEYS:
            out[QUERY_KEYS[k]] = value.strip()
        else:
            raise PacsError(f"--pacs-query: unknown key {key.strip()!r}; use PatientName, "
                            "PatientID, StudyDate or ModalitiesInStudy.")
    return out


def _client(args: argparse.Namespace):
    """The --pacs server, with --pacs-user and the password from $CTCAM_PACS_PASSWORD."""
    from engine.pacs import PacsClient

    return PacsClient(args.pacs, user=args.pacs_user, password=os.environ.get("CTCAM_PACS_PASSWORD"))


def retrieve_all(args: argparse.Namespace) -> list[Path]:
    """Every study's CT series (``--study`` list or ``--pacs-query``) in the local cache; a
    study without exactly one CT series is reported with a ``warning:`` line and skipped."""
    from engine.pacs import PacsError, SeriesCache

    client = _client(args)
    if args.pacs_query:
        studies = [s.uid for s in client.search_studies(**parse_query(args.pacs_query))]
        if not studies:
            raise PacsError(f"PACS {args.pacs}: no study matches --pacs-query {args.pacs_query!r}.")
    else:
        studies = [s.strip() for s in args.study.split(",") if s.strip()]
    cache, folders = SeriesCache(args.pacs_cache), []
    for n, study in enumerate(studies, start=1):
        try:
            series = client.choose_series(study, args.series)
            folders.append(client.retrieve(series, cache))
        except PacsError as exc:
            if len(studies) == 1:
                raise
            print(f"warning: skipped study {study}: {exc}", file=sys.stderr)
        if not args.quiet:
            print(f"\rretrieved {n}/{len(studies)} studies", end="", file=sys.stderr, flush=True)
    if not args.quiet:
        print(file=sys.stderr)
    if not folders:
        raise PacsError(f"PACS {args.pacs}: none of the {len(studies)} studies has a CT series "
                        "ctcam can read.")
    return folders


def dicom_results(args: argparse.Namespace, result, labels) -> list[Path]:
    """Write (--dicom-out) and/or store (--pacs-send) the DICOM result objects; the paths
    written.  Raises CTCamError (DicomOutError, PacsError) with the reason."""
    import tempfile

    from engine.dicom_out import build_objects, write_objects

    volume = result.extra["volume"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.dicom_out) if args.dicom_out else Path(tmp)
        objects = build_objects(result, volume, work, labels=labels)
        paths = write_objects(objects, work) if args.dicom_out else []
        if args.pacs_send:
            _client(args).store(objects)
            if not args.quiet:
                print(f"stored {len(objects)} DICOM object(s) on {args.pacs}", file=sys.stderr)
    return paths
