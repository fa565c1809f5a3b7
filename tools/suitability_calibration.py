"""Calibrate engine.suitability on phantoms: print every check's value per case.

    .venv/bin/python tools/suitability_calibration.py [--seeds 0-11] [--model-size 4]

Chests (phantoms of size "small" and "model", the demo) must pass; the non-chest cases of
``tools/suitability_cases.py`` (abdomen, above the lungs, upper chest only, water-filled
lungs, MR, tiny crop, a head-like CT) must fail with the right reasons.  The figures are in
docs/suitability.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import suitability  # noqa: E402
from engine.model.card import read_card  # noqa: E402
from engine.organs import segment  # noqa: E402
from engine.phantom import generate  # noqa: E402
from engine.resources import bundled_model_paths, demo_case_path  # noqa: E402
from tools import suitability_cases as cases  # noqa: E402


def row(name: str, vol, card) -> dict:
    res = suitability.assess(vol, segment(vol).labelmap, card)
    c = res["checks"]
    out = {"case": name, "ok": res["ok"], "lungs": c["lungs"]["value"], "heart": c["heart"]["value"],
           "coverage": c["coverage"]["value"], "acq": c["acquisition"]["value"], "hu": c["hu"]["value"],
           "reasons": res["reasons"]}
    print(json.dumps(out), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0-11")
    ap.add_argument("--model-size", type=int, default=4, help="phantoms of size 'model'")
    ap.add_argument("--crops", type=int, default=3, help="phantoms to make the bad cases from")
    args = ap.parse_args(argv)
    lo, hi = (int(v) for v in args.seeds.split("-"))
    card = read_card(bundled_model_paths()[1])
    from engine.io import load

    rows = [row("demo", load(demo_case_path()), card)]
    for seed in range(lo, hi + 1):
        case = generate(seed, size="small")
        rows.append(row(f"small-{seed}", case.volume, card))
        if seed - lo < args.crops:
            for maker in (cases.abdomen_crop, cases.above_lungs_crop, cases.upper_chest_crop,
                          cases.tiny_crop, cases.water_lungs, cases.as_mr):
                rows.append(row(f"{maker.__name__}-{seed}", maker(case), card))
    for seed in range(lo, lo + args.model_size):
        rows.append(row(f"model-{seed}", generate(seed, size="model").volume, card))
    rows.append(row("head_like", cases.head_like(), card))
    bad = [r["case"] for r in rows if r["ok"] != (r["case"].startswith(("demo", "small", "model")))]
    print("wrong verdicts:", bad or "none")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
