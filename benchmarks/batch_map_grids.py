"""Batch output per scan for each ``--maps`` choice (scan, model, none), side by side.

The same full-size phantom scans (512 x 512, clinical slice spacing) go through ``ctcam
explain --batch`` once per choice with the same model; for each choice this prints the bytes
written per scan (whole scan folder and maps/ alone), the seconds per scan and the write
stage's seconds (from each findings.json), and the ratios to ``scan`` (today's layout).

Usage: python benchmarks/batch_map_grids.py [--scans 2] [--size full] [--organs none]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scans", type=int, default=2)
    p.add_argument("--size", default="full", help="phantom size (engine.phantom.generate)")
    p.add_argument("--organs", default="none", help="organ map choice of ctcam explain")
    args = p.parse_args(argv)

    from engine.cli import main as ctcam
    from engine.io.nifti import write_nifti
    from engine.phantom import generate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shapes = []
        for i in range(args.scans):
            case = generate(5000 + i, size=args.size)
            shapes.append(case.volume.shape)
            write_nifti(root / "scans" / f"case{i}.nii.gz", case.volume.hu, case.volume.affine)
        print(f"{args.scans} scan(s): {', '.join(' x '.join(map(str, s)) for s in shapes)}")
        rows = {}
        for choice in ("scan", "model", "none"):
            out = root / f"out-{choice}"
            t0 = time.perf_counter()
            rc = ctcam(["explain", str(root / "scans"), "--batch", "--maps", choice, "--out",
                        str(out), "--organs", args.organs, "--quiet"])
            wall = time.perf_counter() - t0
            if rc != 0:
                print(f"{choice}: ctcam explain exited {rc}")
                return 1
            folders = [d for d in out.iterdir() if (d / "findings.json").is_file()]
            with (out / "scans.csv").open(newline="") as f:
                write_s = [float(r["write_s"] or 0) for r in csv.DictReader(f) if r["status"] == "done"]
            maps = [_bytes(d / "maps") if (d / "maps").exists() else 0 for d in folders]
            rows[choice] = dict(bytes=sum(_bytes(d) for d in folders) / len(folders),
                                maps=sum(maps) / len(folders), seconds=wall / len(folders),
                                write=sum(write_s) / len(folders))
        ref = rows["scan"]
        print(f"{'--maps':8} {'MB/scan':>9} {'maps MB':>9} {'s/scan':>8} {'write s':>8}  "
              "size vs scan  time vs scan")
        for choice, r in rows.items():
            print(f"{choice:8} {r['bytes'] / 1e6:9.2f} {r['maps'] / 1e6:9.2f} {r['seconds']:8.2f} "
                  f"{r['write']:8.2f}  {r['bytes'] / ref['bytes']:11.4f}  "
                  f"{r['seconds'] / ref['seconds']:11.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
