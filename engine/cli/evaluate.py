"""``ctcam evaluate --out DIR``: AUROC and OrganIoU per method, base vs mask-loss model
(docs/training.md).  The evaluation itself is :func:`engine.evaluate.evaluate`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from engine import evaluate as evaluation
from engine.errors import CTCamError
from engine.resources import bundled_model_paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ctcam evaluate", description=evaluation.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for evaluation.json and evaluation.md")
    p.add_argument("--n-cases", type=int, default=200, help="held-out test phantoms")
    p.add_argument("--n-val", type=int, default=200,
                   help="validation phantoms for thresholds and the calibration")
    p.add_argument("--base", nargs=2, metavar=("WEIGHTS", "CARD"), help="base model (no mask loss)")
    p.add_argument("--mask", nargs=2, metavar=("WEIGHTS", "CARD"), help="mask-loss model")
    p.add_argument("--cache", help="folder for cached preprocessed phantoms")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--update-cards", action="store_true", help="write test metrics into the cards")
    p.add_argument("--only", choices=("base", "mask"), help="score one model now (kept in OUT/partial-*.json)")
    a = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    models = {
        "base": tuple(Path(v) for v in a.base) if a.base else evaluation.base_model_paths(),
        "mask": tuple(Path(v) for v in a.mask) if a.mask else bundled_model_paths(),
    }
    if a.only:
        models = {a.only: models[a.only]}

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    try:
        result = evaluation.evaluate(models, Path(a.out), a.n_cases, a.n_val, a.cache, a.workers, a.device, log)  # type: ignore[arg-type]
        if a.update_cards:
            evaluation.update_cards(result, models)  # type: ignore[arg-type]
    except CTCamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({n: {"macro_auroc": round(r["macro_auroc"], 4), "organ_iou": r["organ_iou"]}
                      for n, r in result["models"].items()}))
    return 0
