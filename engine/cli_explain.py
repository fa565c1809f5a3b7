"""``ctcam explain INPUT --out DIR [--raw] [--device D]``: explain one scan headless.

Writes ``DIR/findings.json`` and ``DIR/maps/<method>/<organ>__<abnormality>.nii.gz`` in the
scan's own geometry (raw signed values, units: logit contribution); with ``--raw`` also
``DIR/raw/<method>/...`` on the model grid with the model-grid affine.  Bad input: exit 2
and one ``error:`` line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.errors import CTCamError
from engine.results import METHODS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ctcam explain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="NIfTI file or DICOM series folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--raw", action="store_true", help="also write model-grid maps")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best)")
    p.add_argument("--series", default=None, help="SeriesInstanceUID when a folder holds several")
    p.add_argument("--model", default=None, help="weights .safetensors (card .json beside it)")
    p.add_argument("--organs", default=None, help="organ label-map NIfTI (ctcam codes)")
    p.add_argument("--labels", default=None, help="comma-separated labels to write maps for")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    p.add_argument("--quiet", action="store_true")
    return p


def explain_one(input_path: str | Path, out: str | Path, *, raw: bool = False,
                device: str | None = None, series: str | None = None, model=None,
                organs=None, labels=None, methods=METHODS, progress=None):
    """Explain one scan into ``out``; returns the ExplainResult."""
    from engine.export import write_findings_json, write_maps
    from engine.pipeline import explain_scan, run

    result = run(explain_scan(input_path, model=model, device=device, series=series,
                              organs=organs), progress)
    out = Path(out)
    volume = result.extra["volume"]
    write_maps(result, volume, out / "maps", labels=labels, methods=methods)
    if raw:
        write_maps(result, volume, out / "raw", labels=labels, methods=methods, raw=True)
    write_findings_json(result, out / "findings.json", input=str(input_path),
                        organ_map=result.extra.get("organ_message"))
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    labels = args.labels.split(",") if args.labels else None
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())

    def progress(p) -> None:
        if not args.quiet:
            print(f"\r[{p.fraction * 100:5.1f}%] {p.message[:60]:<60}", end="", file=sys.stderr)

    try:
        result = explain_one(args.input, args.out, raw=args.raw, device=args.device,
                             series=args.series, model=args.model, organs=args.organs,
                             labels=labels, methods=methods, progress=progress)
    except (CTCamError, ValueError) as exc:
        if not args.quiet:
            print(file=sys.stderr)
        print(f"error: {exc}".replace("\n", " "), file=sys.stderr)
        return 2
    if not args.quiet:
        print(file=sys.stderr)
        top = sorted(zip(result.probabilities, result.labels, strict=True), key=lambda t: -t[0])[:5]
        for prob, lab in top:
            print(f"{prob:6.3f}  {lab.name}", file=sys.stderr)
    print(str(Path(args.out) / "findings.json"))
    return 0
