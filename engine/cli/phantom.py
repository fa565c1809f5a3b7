"""``ctcam phantom --seed N --out DIR [--dicom] [--size small|full|model] [--prevalence P]``.

Writes one synthetic chest CT with its ground truth (layout in :mod:`engine.phantom.case`)
and prints one JSON line: the output folder, shape, spacing and the present labels.
"""

from __future__ import annotations

import argparse
import json
import sys

from engine.cli.parser import OneLineParser
from engine.errors import CTCamError

MAX_SEED = 2**63 - 1  # any non-negative integer numpy's SeedSequence takes; bounded for JSON


def _seed(text: str) -> int:
    try:
        v = int(text.strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_SEED}, got {v}")
    return v


def _prevalence(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="ctcam phantom", description="Write a synthetic chest CT with exact ground truth.")
    p.add_argument("--seed", type=_seed, required=True,
                   help="random seed, a whole number >= 0 (same seed, same case)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--size", choices=("small", "full", "model"), default="small",
                   help="small: 256x256 at 2.5-3 mm slices (default); full: 512x512 at 0.625-5 mm; model: 96x96x64")
    p.add_argument("--prevalence", type=_prevalence, default=0.3, help="probability that each of the 19 labels is present (default 0.3)")
    p.add_argument("--dicom", action="store_true", help="also write DIR/dicom/ as a CT series")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from engine.phantom import generate

    try:
        case = generate(args.seed, args.size, prevalence=args.prevalence)
        case.write(args.out, dicom=args.dicom)
    except CTCamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write the phantom to {args.out}: {exc.strerror or exc}. Choose a writable folder.", file=sys.stderr)
        return 2
    print(json.dumps({
        "out": str(args.out),
        "seed": case.seed,
        "shape": list(case.volume.shape),
        "spacing": [round(s, 4) for s in case.volume.spacing],
        "present": case.present,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
