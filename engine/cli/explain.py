"""``ctcam explain INPUT... --out DIR``: explain scans headless (the work is done by the
batch library, :mod:`engine.batch`; this module parses, checks and reports).

One scan (one NIfTI/DICOM file or one DICOM series folder): writes ``DIR/findings.json`` and
``DIR/maps/<method>/<organ>__<abnormality>.nii.gz`` (raw signed values, units: logit
contribution) on the model's map grid with its exact affine, or with ``--maps scan``
resampled onto the scan's own grid; with ``--raw`` also ``DIR/raw/<method>/...`` on the
model grid.  Bad input: exit 2 and one ``error:`` line on stderr.

Several scans (several inputs, a folder of scans, or a CSV list with a ``path`` column and
optional ``id`` and ``organs``; ``--batch`` forces this for one scan): the same outputs
plus ``summary.png`` in ``DIR/<scan id>/``, ``DIR/errors.csv`` for scans that failed and
``DIR/scans.csv`` for all.  A progress bar goes to stderr; complete scans are skipped when
the command is run again; ``--cluster local|tcp://host:port`` runs one Dask task per scan.
Exit code: 0 all scans done, 1 some failed (see errors.csv), 2 bad usage.  Input rules:
docs/batch.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.errors import CTCamError, naming
from engine.export import MAP_GRIDS
from engine.results import METHODS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ctcam explain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="*",
                   help="NIfTI/DICOM file, DICOM series folder, folder of scans or CSV list "
                        "(or --pacs URL --study UID)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--raw", action="store_true", help="also write model-grid maps to raw/")
    p.add_argument("--maps", choices=MAP_GRIDS, default="model",
                   help="grid of the maps/ NIfTI files: model (default: the model's map grid "
                        "with its exact affine, a few KB each; Slicer and ITK-SNAP resample on "
                        "display), scan (resampled onto the scan grid, 20-120 MB each, about "
                        "45 s for the demo's 38 maps) or none")
    p.add_argument("--report", action="store_true",
                   help="also write report.html: findings, operating points, suitability, key "
                        "slices with both methods on one scale, the model's caveat")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best)")
    p.add_argument("--series", default=None,
                   help="SeriesInstanceUID when a folder (or --pacs study) holds several "
                        "(one scan only)")
    p.add_argument("--model", default=None, help="weights .safetensors (card .json beside it)")
    p.add_argument("--organs", default=None,
                   help="organ label-map NIfTI (ctcam codes) for one scan; 'none' skips the "
                        "organ map (batch: 'auto' or 'none', per scan in the CSV 'organs' column)")
    p.add_argument("--labels", default=None, help="comma-separated labels to write maps for")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    p.add_argument("--batch", action="store_true",
                   help="use the batch layout (DIR/<id>/...) even for a single scan")
    p.add_argument("--cluster", default=None, metavar="local|ADDRESS",
                   help="run one Dask task per scan: 'local' or a scheduler address "
                        "(needs `pip install 'ctcam[cluster]'`)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes for --cluster local (default: one per GPU, else "
                        "half the CPU cores, at most 4)")
    p.add_argument("--quiet", action="store_true")
    return p


def _organs_single(value: str | None):
    if value is None or value.lower() == "auto":
        return None
    if value.lower() == "none":
        return False
    return value


def _single(args, labels, methods) -> int:
    def progress(p) -> None:
        if not args.quiet:
            print(f"\r[{p.fraction * 100:5.1f}%] {p.message[:60]:<60}", end="", file=sys.stderr)

    try:
        result = _single_atomic(args, labels, methods, progress)
    except (CTCamError, ValueError, OSError) as exc:
        if not args.quiet:
            print(file=sys.stderr)
        text = naming(str(exc), args.input[0], exc) if not isinstance(exc, OSError) else (
            f"cannot write the results into --out {args.out} ({exc}); check free space and "
            "permissions")
        print(f"error: {text}".replace("\n", " "), file=sys.stderr)
        return 2
    if not args.quiet:
        print(file=sys.stderr)  # end the progress line
    if args.dicom_out or args.pacs_send:
        from engine.cli import pacs_input

        try:
            pacs_input.dicom_results(args, result, labels)
        except (CTCamError, OSError) as exc:
            print(f"error: DICOM results: {exc}".replace("\n", " "), file=sys.stderr)
            return 2
    for w in result.extra.get("warnings", []):
        print(f"warning: {w}".replace("\n", " "), file=sys.stderr)
    from engine.suitability import UNSUITABLE

    for reason in (result.suitability or {}).get("reasons", []):
        print(f"warning: {UNSUITABLE.lower()}: {reason}".replace("\n", " "), file=sys.stderr)
    if not args.quiet:
        from engine.operating import decide, not_called, thresholds

        thr = thresholds(result.card)
        top = sorted(zip(result.probabilities, result.labels, strict=True), key=lambda t: -t[0])[:5]
        silent = not_called(result.card)
        for prob, lab in top:
            call = decide(float(prob), thr.get(lab.name))
            mark = (f"  POSITIVE (>= {thr[lab.name]:.2f})" if call
                    else "  no call" if lab.name in silent else "")
            print(f"{prob:6.3f}  {lab.name}{mark}", file=sys.stderr)
    print(str(Path(args.out) / "findings.json"))
    return 0


def _single_atomic(args, labels, methods, progress):
    """Check and lock --out, explain into a hidden folder inside it, then publish."""
    import shutil
    import uuid

    from engine.batch.outdir import OutputLock, check_targets, prepare, publish
    from engine.batch.records import clean_partials
    from engine.batch.scan import PARTIAL_PREFIX, explain_into

    out = prepare(args.out)
    check_targets(out)
    with OutputLock(out):
        clean_partials(out)  # left by a run that was killed
        tmp = out / f"{PARTIAL_PREFIX}single-{uuid.uuid4().hex[:8]}"
        try:
            result = explain_into(args.input[0], tmp, raw=args.raw, device=args.device,
                                 series=args.series, model=args.model,
                                 organs=_organs_single(args.organs), labels=labels,
                                 methods=methods, progress=progress, maps=args.maps,
                                 report=args.report)
            publish(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def _batch(args, labels, methods) -> int:
    from engine.batch.inputs import expand_inputs
    from engine.batch.progress import BatchProgress
    from engine.batch.run import run_batch
    from engine.batch.scan import BatchOptions

    organs = (args.organs or "auto").lower()
    if organs not in ("auto", "none"):
        print("error: --organs with several scans takes 'auto' or 'none'; give each scan's "
              "organ label map in a CSV list ('organs' column).", file=sys.stderr)
        return 2
    if args.series:
        print("error: --series selects a series of one DICOM folder; a folder with several "
              "series is split into one scan per series in a batch.", file=sys.stderr)
        return 2
    try:
        jobs = expand_inputs(args.input, exclude=[Path(args.out)])
    except CTCamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not jobs:
        print(f"error: no scans found in {', '.join(args.input)} (see docs/batch.md for what "
              "counts as a scan).", file=sys.stderr)
        return 2
    opts = BatchOptions(model=args.model, device=args.device,
                        labels=tuple(labels) if labels else None, methods=methods, raw=args.raw,
                        organs=organs, maps=args.maps, report=args.report)
    reporter = BatchProgress(len(jobs), enabled=not args.quiet)
    try:
        report = run_batch(jobs, args.out, opts, cluster=args.cluster, workers=args.workers,
                           reporter=reporter)
    except CTCamError as exc:
        print(f"\nerror: {exc}" if reporter.live else f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume (complete scans are "
              "skipped).", file=sys.stderr)
        return 130
    print(str(Path(args.out)))
    return report.exit_code


def main(argv: list[str] | None = None) -> int:
    from engine.batch.inputs import is_single_scan
    from engine.cli import pacs_input

    parser = build_parser()
    pacs_input.add_arguments(parser)
    args = parser.parse_args(argv)
    problem = pacs_input.usage_problem(args)
    if problem:
        parser.error(problem)
    if args.pacs:
        try:
            folders = pacs_input.retrieve_all(args)
            args.input, args.series = [str(f) for f in folders], None
            if len(folders) > 1 or args.pacs_query or "," in (args.study or ""):
                args.batch = True  # one folder per study: DIR/<series uid>/...
        except CTCamError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    labels = [s.strip() for s in args.labels.split(",") if s.strip()] if args.labels else None
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    if args.workers is not None and args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.batch or args.cluster or not is_single_scan(args.input):
        return _batch(args, labels, methods)
    return _single(args, labels, methods)
