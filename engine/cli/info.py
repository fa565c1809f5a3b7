"""``ctcam info PATH [--series UID]``: describe a CT volume as one JSON object.

Prints ``{"shape", "spacing", "affine", "source_orientation", "hu_min", "hu_max",
"modality", ...}`` on stdout (spacing in mm, affine voxel -> RAS mm, in canonical RAS+ array
order).  On bad input it prints exactly one line starting with ``error:`` on stderr and
exits 2; warnings about the volume are listed in the JSON's ``warnings``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np

from engine.cli.parser import OneLineParser
from engine.errors import CTCamError


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="ctcam info", description=__doc__.splitlines()[0])
    p.add_argument("path", help="a .nii/.nii.gz file, a DICOM folder or a DICOM file")
    p.add_argument("--series", help="SeriesInstanceUID to read when a folder holds several")
    return p


def describe(vol) -> dict:
    """The JSON-ready summary of a CTVolume."""
    hu = vol.hu
    return {
        "shape": list(vol.shape),
        "spacing": [round(s, 6) for s in vol.spacing],
        "affine": np.round(vol.affine, 6).tolist(),
        "source_orientation": vol.meta.get("source_orientation"),
        "hu_min": int(hu.min()),
        "hu_max": int(hu.max()),
        "modality": vol.meta.get("modality"),
        "source_format": vol.meta.get("source_format"),
        "series_uid": vol.meta.get("series_uid"),
        "warnings": list(vol.meta.get("warnings", [])),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from engine.io import load  # after argument parsing: --help stays fast

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # recorded in meta["warnings"] instead
            vol = load(args.path, series=args.series)
    except CTCamError as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in ctcam: still one line, distinct exit code
        print(
            f"error: unexpected internal failure ({type(exc).__name__}: {exc}); please report "
            "it with the file that caused it",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(describe(vol)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
