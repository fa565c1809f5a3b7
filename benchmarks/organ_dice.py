"""Dice of the classical organ segmentation (engine.organs.segment) against phantom truth
20 seeds at size "small", targets >= 0.95 per lung, >= 0.80 heart.

Prints per-seed Dice and time, then mean / min per organ beside the targets, for the
default label prevalence (0.3, so effusions, consolidations, masses are common) and, with
``--prevalence 0``, for healthy chests.

``--baseline REV`` also runs the segmentation of git revision REV on the same phantoms
and prints its Dice and time beside (per seed and in the summary).

Usage: python benchmarks/organ_dice.py [--seeds 20] [--prevalence 0.3] [--baseline REV]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from engine.organs import segment
from engine.phantom import generate

TARGETS = {"right lung": (1, 0.95), "heart": (2, 0.80), "left lung": (3, 0.95)}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 2.0 * float((a & b).sum()) / s if s else 1.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--prevalence", type=float, default=0.3)
    p.add_argument("--baseline", help="git revision to run beside (e.g. HEAD~3)")
    a = p.parse_args(argv)
    impls = {"now": segment}
    if a.baseline:
        from organ_speed import baseline_segment

        impls = {a.baseline: baseline_segment(a.baseline), **impls}
    rows: dict[str, list] = {k: [] for k in impls}
    print(f"{'seed':>5} {'code':<8}{'right':>8}{'heart':>8}{'left':>8}{'time s':>8}  findings")
    for seed in range(a.seeds):
        c = generate(seed, "small", prevalence=a.prevalence)
        for label, fn in impls.items():
            t = time.perf_counter()
            res = fn(c.volume)
            dt = time.perf_counter() - t
            d = [dice(res.labelmap == code, c.organs == code) for code, _ in TARGETS.values()]
            rows[label].append(d + [dt])
            print(f"{seed:>5} {label:<8}{d[0]:>8.3f}{d[1]:>8.3f}{d[2]:>8.3f}{dt:>8.2f}  {','.join(k for k, v in c.labels.items() if v)}")
    print(f"\nprevalence {a.prevalence}, {a.seeds} seeds, size small")
    print(f"{'organ':<12}{'code':<8}{'mean':>8}{'min':>8}{'target':>8}{'mean-target':>13}")
    for col, (name, (_, target)) in enumerate(list(TARGETS.items()) + [("time s", (0, float("nan")))]):
        for label in impls:
            arr = np.array(rows[label])[:, col]
            print(f"{name:<12}{label:<8}{arr.mean():>8.3f}{arr.min():>8.3f}{target:>8.2f}{arr.mean() - target:>+13.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
