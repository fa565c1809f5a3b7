"""Longer fuzz run of the NIfTI reader, the DICOM reader and the model-card/weights loader.

    python tools/fuzz.py --seconds 300                 # all targets, time split evenly
    python tools/fuzz.py --seconds 120 --target dicom  # one target

Uses the same Hypothesis strategies and checks as the CI tests (``tests/engine/
fuzz_support.py``): every example must load or raise a documented CTCamError, answer within
the time limit and stay within the memory bound.  Unlike CI it is randomised (a fresh seed
per round, no example database), keeps going after a failure, and prints how many examples
ran and the outcome counts per exception type.  Exit code 1 when any example failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "engine"))


def targets() -> dict:
    """name -> (Hypothesis strategy of cases, target function) of each fuzz target."""
    import fuzz_cards
    import fuzz_dicom
    import fuzz_support as fs

    return {"nifti": (fs.nifti_cases, fs.run_nifti), "dicom": (fuzz_dicom.dicom_cases, fuzz_dicom.run_dicom),
            "card": (fuzz_cards.card_cases, fuzz_cards.run_card)}


def run_target(name: str, seconds: float, seed: int) -> dict:
    import fuzz_support as fs
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    strategy, target = targets()[name]
    counts: collections.Counter = collections.Counter()
    failures: dict[str, dict] = {}
    deadline = time.monotonic() + seconds
    rounds = 0

    @settings(max_examples=50, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def one(case):
        if time.monotonic() > deadline:
            return
        try:
            counts[target(case) or "skipped (not writable)"] += 1
        except fs.FuzzFailure as exc:
            key = str(exc).split(":")[0][:80]
            counts[f"FAILURE: {key}"] += 1
            failures.setdefault(key, {"message": str(exc)[:300], "case": repr(case)[:2000]})

    rng = random.Random(seed)
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        hseed(rng.getrandbits(64))(one)()
        rounds += 1
    wall = time.monotonic() - t0
    n = sum(counts.values())
    return {"target": name, "examples": n, "seconds": round(wall, 1),
            "per_second": round(n / wall, 1) if wall else 0.0,
            "outcomes": dict(counts.most_common()), "failures": failures}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="total time budget")
    p.add_argument("--target", choices=["nifti", "dicom", "card", "all"], default="all")
    p.add_argument("--seed", type=int, default=None, help="seed of the run (default: random)")
    p.add_argument("--json", default=None, help="also write the report to this JSON file")
    a = p.parse_args(argv)
    warnings.simplefilter("ignore")
    import fuzz_support as fs

    names = list(targets()) if a.target == "all" else [a.target]
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    print(f"fuzzing {', '.join(names)} for {a.seconds:.0f} s (seed {seed}); limits: "
          f"{fs.TIME_LIMIT_S} s per example, {fs.HEAP_LIMIT >> 20} MiB heap, "
          f"{fs.RSS_LIMIT >> 20} MiB RSS growth", flush=True)
    reports = []
    for i, name in enumerate(names):
        r = run_target(name, a.seconds / len(names), seed + i)
        reports.append(r)
        print(f"\n{name}: {r['examples']} examples in {r['seconds']} s "
              f"({r['per_second']}/s)", flush=True)
        for outcome, n in r["outcomes"].items():
            print(f"  {n:7d}  {outcome}")
        for key, f in r["failures"].items():
            print(f"  FAILURE {key}\n    {f['message']}\n    {f['case'][:400]}")
    if a.json:
        Path(a.json).write_text(json.dumps({"seed": seed, "reports": reports}, indent=2))
    return 1 if any(r["failures"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
