"""Per-stage times and peak memory of the explain pipeline on a large scan (docs/performance.md).

A full-size phantom of 512 x 512 x 400 voxels is written once as NIfTI (``--scan`` reuses a
file).  A fresh child process then imports the engine, loads the bundled model and runs one
warm-up pipeline on a small phantom: its resident memory at that point is the *baseline*
(interpreter + libraries + model).  The peak-memory counter is reset
(``/proc/self/clear_refs``) and the pipeline runs from the file: load -> organs ->
preprocess -> predict.  Printed, side by side:

* each stage's wall time;
* the peak resident memory above the baseline, the scan's int16 size, and their ratio;
  target: peak above baseline <= 3x the scan's int16 size.

Usage: python benchmarks/pipeline_memory.py [--shape 512 512 400] [--scan FILE] [--threads N]
Linux only (reads /proc/self/status).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 3.0


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(scan: str, threads: int) -> None:
    """Runs in a fresh interpreter; prints one JSON line."""
    import torch

    torch.set_num_threads(threads)
    from engine.phantom import generate
    from engine.pipeline import explain_scan, get_model, run

    get_model(None, "cpu")
    run(explain_scan(generate(1, size="small").volume, device="cpu"))  # warm-up, small scan
    baseline = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    t = time.perf_counter()
    result = run(explain_scan(scan, device="cpu"))
    total = time.perf_counter() - t
    peak = _status_kib("VmHWM")
    vol = result.extra["volume"]
    print(json.dumps({
        "shape": list(vol.shape), "timings": result.timings, "total_s": total,
        "baseline_mib": baseline / 1024, "peak_mib": peak / 1024,
        "int16_mib": vol.hu.size * 2 / 2**20, "organ_message": result.extra["organ_message"],
    }))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=3, default=(512, 512, 400))
    ap.add_argument("--scan", help="an existing NIfTI/DICOM scan instead of a phantom")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.threads)
        return 0
    with tempfile.TemporaryDirectory(prefix="ctcam-bench-") as tmp:
        scan = a.scan
        if scan is None:
            from engine.io.nifti import write_volume
            from engine.phantom import generate

            t = time.perf_counter()
            case = generate(7, size="full", shape=tuple(a.shape))
            scan = str(write_volume(Path(tmp) / "scan.nii.gz", case.volume))
            del case
            print(f"phantom {tuple(a.shape)} written in {time.perf_counter() - t:.1f} s: {scan}")
        out = subprocess.run([sys.executable, __file__, "--child", scan, "--threads",
                              str(a.threads)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"scan {r['shape']}  int16 size {r['int16_mib']:.0f} MiB  ({r['organ_message']})")
    print(f"{'stage':<12}{'seconds':>10}")
    for k, v in r["timings"].items():
        print(f"{k:<12}{v:>10.2f}")
    print(f"{'total':<12}{r['total_s']:>10.2f}")
    above = r["peak_mib"] - r["baseline_mib"]
    ratio = above / r["int16_mib"]
    print(f"baseline (interpreter + model) {r['baseline_mib']:.0f} MiB, peak {r['peak_mib']:.0f} "
          f"MiB, above baseline {above:.0f} MiB = {ratio:.2f}x the scan's int16 size "
          f"(target <= {TARGET_RATIO:.0f}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
