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
    g.add_argument("--study", default=None, help="StudyInstanceUID to retrieve from --pacs")
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
    if (args.dicom_out or args.pacs_send) and (args.batch or args.cluster or len(args.input) > 1):
        return "--dicom-out and --pacs-send work on one scan"
    if args.pacs is None:
        if args.study:
            return "--study needs --pacs URL"
        return None if args.input else "give an input path, or --pacs URL --study UID"
    if args.input:
        return "give either input paths or --pacs, not both"
    if not args.study:
        return "--pacs needs --study UID (the study to explain)"
    return None


def retrieve(args: argparse.Namespace) -> Path:
    """The local folder of the chosen series (PacsError on failure)."""
    from engine.pacs import PacsClient, SeriesCache

    client = PacsClient(args.pacs, user=args.pacs_user,
                        password=os.environ.get("CTCAM_PACS_PASSWORD"))
    series = client.choose_series(args.study, args.series)

    def progress(p) -> None:
        if not args.quiet:
            print(f"\r{p.message}", end="", file=sys.stderr, flush=True)

    folder = client.retrieve(series, SeriesCache(args.pacs_cache), progress=progress)
    if not args.quiet:
        print(f"\rretrieved series {series.uid} ({series.description or 'no description'}) "
              f"into {folder}", file=sys.stderr)
    return folder


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
            from engine.pacs import PacsClient

            client = PacsClient(args.pacs, user=args.pacs_user,
                                password=os.environ.get("CTCAM_PACS_PASSWORD"))
            client.store(objects)
            if not args.quiet:
                print(f"stored {len(objects)} DICOM object(s) on {args.pacs}", file=sys.stderr)
    return paths
