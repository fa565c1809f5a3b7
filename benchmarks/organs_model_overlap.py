"""Organ map and model loading one after the other vs at the same time (engine.pipeline's
OVERLAP_MODEL_LOAD), in a fresh interpreter per run as in the viewer's model process.

The demo scan is explained from a CTVolume (its reading is not timed) with its organs
segmented and with its shipped organ map; printed side by side, best of ``--repeat``
alternating runs: the organ stage, the model's own load, the wait for the model after the
organs, and organs + model (what the user waits for before preprocessing starts).

Usage: python benchmarks/organs_model_overlap.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys


def child(overlap: bool, organs: str) -> None:
    import time

    t0 = time.perf_counter()
    import engine.pipeline as pipeline
    from engine.io import load
    from engine.resources import demo_case_path, demo_organs_path

    volume = load(str(demo_case_path()))
    pipeline.OVERLAP_MODEL_LOAD = overlap
    gen = pipeline.explain_scan(volume, device="cpu", organs=str(demo_organs_path()) if organs == "shipped" else None)
    r = pipeline.run(gen)
    t = r.timings
    print(json.dumps({"organs": t["organs"], "model_load": t.get("model_load", t["model"]), "wait": t["model"],
                      "both": t["organs"] + t["model"], "process": time.perf_counter() - t0}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        child(a.child[0] == "1", a.child[1])
        return 0
    best: dict[tuple[str, str], dict] = {}
    for _ in range(a.repeat):
        for organs in ("segmented", "shipped"):
            for overlap in ("0", "1"):
                out = subprocess.run([sys.executable, __file__, "--child", overlap, organs], check=True,
                                     capture_output=True, text=True).stdout.strip().splitlines()[-1]
                r = json.loads(out)
                key = (organs, "overlapped" if overlap == "1" else "sequential")
                if key not in best or r["both"] < best[key]["both"]:
                    best[key] = r
    print(f"{'organ map':<11}{'loading':<12}{'organs s':>9}{'model load s':>13}{'wait s':>8}{'organs+model s':>15}")
    for (organs, mode), r in best.items():
        print(f"{organs:<11}{mode:<12}{r['organs']:>9.2f}{r['model_load']:>13.2f}{r['wait']:>8.2f}{r['both']:>15.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
