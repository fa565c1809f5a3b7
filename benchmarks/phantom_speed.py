"""Phantom generation speed, one core (docs/performance.md).

Prints the time per case, side by side with its target and the ratio:

* model size (96 x 96 x 64, the training grid, generated on the fly): target < 0.3 s;
* full size at 512 x 512 x 300: target < 10 s;
* small size (256 x 256 x ~110, tests and the demo), for reference.

Usage: python benchmarks/phantom_speed.py [--model-cases 20] [--full-cases 2]
Threads are pinned to one (OMP_NUM_THREADS=1 etc.) before numpy is imported.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from engine.phantom import generate  # noqa: E402


def _times(n: int, **kw) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds per case (CPU time is what one core spends; on a shared
    machine the wall clock also counts time waiting for a core)."""
    wall, cpu = [], []
    for seed in range(n):
        t, c = time.perf_counter(), time.process_time()
        generate(1000 + seed, **kw)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model-cases", type=int, default=20)
    p.add_argument("--small-cases", type=int, default=3)
    p.add_argument("--full-cases", type=int, default=2)
    a = p.parse_args(argv)
    generate(0, "model")  # warm imports and caches
    rows = [
        ("model 96x96x64", _times(a.model_cases, size="model"), 0.3),
        ("small 256x256xN", _times(a.small_cases, size="small"), None),
        ("full 512x512x300", _times(a.full_cases, size="full", shape=(512, 512, 300)), 10.0),
    ]
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'case':<20}{'n':>4}{'wall med s':>12}{'cpu med s':>11}{'cpu max s':>11}{'target s':>10}{'cpu/target':>12}")
    for name, (wall, cpu), target in rows:
        med = statistics.median(cpu)
        tgt = f"{target:.2f}" if target else "-"
        ratio = f"{med / target:.2f}" if target else "-"
        print(f"{name:<20}{len(cpu):>4}{statistics.median(wall):>12.3f}{med:>11.3f}{max(cpu):>11.3f}{tgt:>10}{ratio:>12}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
