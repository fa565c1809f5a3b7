"""Time and Dice of the classical organ segmentation (engine.organs.segment) on a
256 x 256 x 100 and a 512 x 512 x 400 phantom, beside another revision's segmentation.

Targets: <= 1 s and <= 2 s, Dice unchanged.  ``--baseline REV`` runs the segmentation of a
git revision (``engine/organs.py`` or the ``engine/organs/`` package at REV) on the same
scans, side by side.  The phantoms (seed 7) are generated once and cached in ``--cache``.

Usage: python benchmarks/organ_speed.py [--baseline REV] [--repeat 3] [--cache DIR]
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCANS = {"256 x 256 x 100": ("small", (256, 256, 100), 1.0), "512 x 512 x 400": ("full", (512, 512, 400), 2.0)}
ORGANS = {"right": 1, "heart": 2, "left": 3}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 2.0 * float((a & b).sum()) / s if s else 1.0


def baseline_segment(rev: str):
    """``segment`` of ``engine.organs`` at git revision ``rev`` (extracted to a temp folder)."""
    out = Path(tempfile.mkdtemp(prefix="ctcam_organs_"))
    files = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", rev, "engine/organs.py", "engine/organs/"],
                           check=True, capture_output=True, text=True).stdout.split()
    if not files:
        raise SystemExit(f"no engine/organs at {rev}")
    pkg = out / "organs_baseline"
    pkg.mkdir()
    for f in files:
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{f}"], check=True, capture_output=True, text=True).stdout
        name = "__init__.py" if f == "engine/organs.py" else Path(f).name
        (pkg / name).write_text(text.replace("engine.organs.", "organs_baseline."))
    sys.path.insert(0, str(out))
    return importlib.import_module("organs_baseline").segment


def load_case(cache: Path, size: str, shape):
    from engine.volume import CTVolume

    f = cache / f"phantom7_{'x'.join(map(str, shape))}.npz"
    if not f.exists():
        from engine.phantom import generate

        c = generate(7, size, shape=shape)
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(f, hu=c.volume.hu, affine=c.volume.affine, organs=c.organs)
    d = np.load(f)
    return CTVolume(d["hu"], d["affine"], {}), d["organs"]


def run(fn, volume, truth, repeat: int):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        res = fn(volume)
        times.append(time.perf_counter() - t)
    return min(times), [dice(res.labelmap == c, truth == c) for c in ORGANS.values()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", help="git revision to compare with (e.g. HEAD~3)")
    p.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ctcam_organ_speed")
    a = p.parse_args(argv)
    from engine.organs import segment
    from engine.volume import CTVolume

    impls = {"now": segment}
    if a.baseline:
        impls = {a.baseline: baseline_segment(a.baseline), **impls}
    warm = CTVolume(np.full((64, 64, 32), -1000, np.int16), np.eye(4), {})
    for fn in impls.values():
        fn(warm)  # imports (scipy.spatial, ...) outside the timings
    print(f"{'scan':<17}{'code':<10}{'time s':>8}{'target':>8}" + "".join(f"{k:>8}" for k in ORGANS))
    for name, (size, shape, target) in SCANS.items():
        volume, truth = load_case(a.cache, size, shape)
        for label, fn in impls.items():
            t, d = run(fn, volume, truth, a.repeat)
            print(f"{name:<17}{label:<10}{t:>8.2f}{target:>8.1f}" + "".join(f"{x:>8.3f}" for x in d), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
